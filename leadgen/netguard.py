"""SSRF guard: fetch a URL that came from users or prospect data without reaching internal networks.

Every address a host name resolves to is vetted, and the socket is then opened to the vetted address itself (the
URL's host still goes out as the Host header and TLS SNI), so a DNS answer that changes between check and connect
(rebinding) cannot slip through. Redirects are followed by hand and every hop is checked again. Body size, redirect
count and time are bounded.

Tests that need a local server pass `allow_loopback_for_tests=True` (or set `settings.NETGUARD_ALLOW_LOOPBACK`) and widen
`allowed_ports`; production never sets either, so loopback and non-web ports stay blocked.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from django.conf import settings

USER_AGENT = "LeadgenBot/0.1 (+https://github.com/leadgen)"
DEFAULT_PORTS: frozenset[int] = frozenset({80, 443})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
# getaddrinfo has no timeout of its own; a few threads let us stop waiting on a stuck resolver.
_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="netguard-dns")


class FetchError(Exception):
    """The fetch did not produce a response: network error, timeout, too many redirects."""


class BlockedURL(FetchError):
    """The URL (or a redirect it led to) points somewhere we must not connect to."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchTimeout(FetchError):
    """The connect/read timeout or the total time budget ran out."""


class TooManyRedirects(FetchError):
    pass


@dataclass(frozen=True)
class FetchResult:
    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    redirects: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"' ")
        return None


@dataclass(frozen=True)
class _Policy:
    allow_loopback: bool
    allowed_ports: frozenset[int]


# -- address vetting -----------------------------------------------------------------------------------------------


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, including the legacy numeric forms resolvers still accept.

    `2130706433`, `0177.0.0.1`, `0x7f.0.0.1` and `127.1` all mean 127.0.0.1 to inet_aton (and so to getaddrinfo).
    """
    host = host.strip("[]")
    if "%" in host:  # IPv6 zone id (fe80::1%eth0): the zone does not change which address it is
        host = host.split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _v4_block_reason(ip: ipaddress.IPv4Address, policy: _Policy) -> str | None:
    if ip.is_loopback:
        return None if policy.allow_loopback else "loopback address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_link_local:
        return "link-local address (cloud metadata lives here)"
    if ip in _SHARED_ADDRESS_SPACE:
        return "shared address space (100.64.0.0/10)"
    if ip.is_private:
        return "private address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_reserved:
        return "reserved address"
    if not ip.is_global:
        return "non-global address"
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """IPv6 forms that carry an IPv4 address which a gateway or the kernel may end up connecting to."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    packed = int(ip)
    if packed >> 32 == 0 and packed > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return "IPv4-compatible", ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if ip in _NAT64_WELL_KNOWN:
        return "NAT64", ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def ip_block_reason(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why we refuse to connect to `ip`, or None when it is a public address."""
    policy = _Policy(allow_loopback=allow_loopback, allowed_ports=DEFAULT_PORTS)
    return _ip_block_reason(ip, policy)


def _ip_block_reason(ip: IPAddress, policy: _Policy) -> str | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_block_reason(ip, policy)
    embedded = _embedded_v4(ip)
    if embedded is not None:
        form, v4 = embedded
        # Loopback is only allowed in its plain form: tests never need ::ffff:127.0.0.1.
        inner = _v4_block_reason(v4, _Policy(allow_loopback=False, allowed_ports=policy.allowed_ports))
        if inner is not None:
            return f"{form} IPv6 address embedding a {inner}"
        if form in ("IPv4-mapped", "IPv4-compatible"):
            return None
    if ip.is_loopback:
        return None if policy.allow_loopback else "loopback address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_site_local:
        return "site-local address"
    if ip in ipaddress.ip_network("fc00::/7"):
        return "unique-local address"
    if ip in _NAT64_LOCAL_USE:
        return "local-use NAT64 address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_private:
        return "private address"
    if ip.is_reserved:
        return "reserved address"
    if not ip.is_global and embedded is None:
        return "non-global address"
    return None


def _resolve(host: str, port: int, timeout: float | None) -> list[tuple[Any, ...]]:
    future = _resolver_pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise FetchTimeout(f"DNS lookup for {host} timed out") from None
    except socket.gaierror as exc:
        raise FetchError(f"DNS lookup for {host} failed: {exc}") from None


def vetted_addresses(
    host: str, port: int, policy: _Policy, timeout: float | None = None
) -> list[tuple[Any, ...]]:
    """getaddrinfo answers for host, all of them safe; raises BlockedURL if any one is not.

    Rejecting on any bad answer (not only the first) matters: a client may otherwise fall back to the internal one.
    """
    infos = _resolve(host, port, timeout)
    if not infos:
        raise FetchError(f"DNS lookup for {host} returned no address")
    for info in infos:
        sockaddr = info[4]
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = _ip_block_reason(ip, policy)
        if reason is not None:
            raise BlockedURL(f"{host} resolves to {ip}: {reason}")
    return infos


def check_url(
    url: str, *, allow_loopback: bool = False, allowed_ports: Collection[int] = DEFAULT_PORTS
) -> None:
    """Raise BlockedURL when url is unsafe on its face (scheme, port, literal address). DNS is checked at connect."""
    _check_url(url, _Policy(allow_loopback=allow_loopback, allowed_ports=frozenset(allowed_ports)))


def _is_localhost_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _check_url(url: str, policy: _Policy) -> httpx.URL:
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise BlockedURL(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedURL(f"scheme {scheme or '(none)'!r} is not allowed")
    host = parts.hostname or ""
    if not host:
        raise BlockedURL("URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise BlockedURL("invalid port") from None
    literal = parse_ip_literal(host)
    if literal is not None:
        reason = _ip_block_reason(literal, policy)
        if reason is not None:
            raise BlockedURL(f"{host}: {reason}")
    elif _is_localhost_name(host) and not policy.allow_loopback:
        raise BlockedURL(f"{host} is a loopback name")
    if port not in policy.allowed_ports:
        raise BlockedURL(f"port {port} is not allowed")
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise BlockedURL(f"invalid URL: {exc}") from None
    if (
        host.isascii()
        and parsed.host.strip("[]") != host.strip("[]")
        and parse_ip_literal(parsed.host) is None
    ):
        # urllib and httpx disagree on the host: refuse rather than guess which one the socket would use.
        raise BlockedURL("ambiguous host")
    return parsed


# -- transport: httpcore with a network backend that connects only to vetted addresses -----------------------------


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, policy: _Policy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if port not in self._policy.allowed_ports:
            raise BlockedURL(f"port {port} is not allowed")
        infos = vetted_addresses(host, port, self._policy, timeout)
        last_error: Exception | None = None
        for info in infos:
            # A literal address: the stdlib connects without another DNS lookup, so what we vetted is what we reach.
            address = str(info[4][0])
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                last_error = exc
        raise httpcore.ConnectError(f"could not connect to {host}:{port}: {last_error}")

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise BlockedURL("unix sockets are not allowed")


_HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.RequestError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.NetworkError, httpx.NetworkError),
)


def _as_httpx_error(exc: Exception, request: httpx.Request) -> Exception:
    for core_type, httpx_type in _HTTPCORE_ERRORS:
        if isinstance(exc, core_type):
            return httpx_type(str(exc), request=request)
    return exc


class _Stream(httpx.SyncByteStream):
    def __init__(self, core_stream: Iterable[bytes], request: httpx.Request) -> None:
        self._core_stream = core_stream
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._core_stream
        except httpcore.TimeoutException as exc:
            raise _as_httpx_error(exc, self._request) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise _as_httpx_error(exc, self._request) from exc

    def close(self) -> None:
        close = getattr(self._core_stream, "close", None)
        if close is not None:
            close()


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """One verifying client context per process: loading the CA bundle costs ~50 ms, far more than a local call."""
    return ssl.create_default_context()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport whose every TCP connection goes to an address the policy allows. Never uses proxies."""

    def __init__(
        self, *, allow_loopback: bool = False, allowed_ports: Collection[int] = DEFAULT_PORTS
    ) -> None:
        policy = _Policy(allow_loopback=allow_loopback, allowed_ports=frozenset(allowed_ports))
        self._pool = httpcore.ConnectionPool(
            ssl_context=default_ssl_context(),
            network_backend=_GuardedBackend(policy),
            max_connections=4,
            retries=0,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]
            extensions=request.extensions,
        )
        try:
            core_response = self._pool.handle_request(core_request)
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise _as_httpx_error(exc, request) from exc
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_Stream(core_response.stream, request),  # type: ignore[arg-type]
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


# -- the fetch ------------------------------------------------------------------------------------------------------


def _setting_allow_loopback() -> bool:
    return bool(getattr(settings, "NETGUARD_ALLOW_LOOPBACK", False))


def _setting_ports() -> frozenset[int]:
    return frozenset(getattr(settings, "NETGUARD_ALLOWED_PORTS", DEFAULT_PORTS))


def guarded_get(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int = 5,
    allow_loopback_for_tests: bool | None = None,
    allowed_ports: Collection[int] | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    headers: dict[str, str] | None = None,
) -> FetchResult:
    """GET url through the guard. Raises BlockedURL, FetchTimeout, TooManyRedirects or FetchError.

    `timeout` is the total budget over all hops; a single socket read may overrun it by at most `read_timeout`.
    A body over `max_bytes` is cut there and `truncated` is set.
    """
    policy = _Policy(
        allow_loopback=_setting_allow_loopback()
        if allow_loopback_for_tests is None
        else allow_loopback_for_tests,
        allowed_ports=_setting_ports() if allowed_ports is None else frozenset(allowed_ports),
    )
    deadline = time.monotonic() + timeout
    connect_timeout = min(timeout, 5.0) if connect_timeout is None else connect_timeout
    read_timeout = min(timeout, 5.0) if read_timeout is None else read_timeout
    request_headers = {
        "User-Agent": USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
        # Compressed bodies could expand past max_bytes inside one decoded chunk; ask for the plain bytes.
        "Accept-Encoding": "identity",
        **(headers or {}),
    }
    current = url
    redirects: list[str] = []
    # The transport is used without httpx.Client: the client would parse Location headers itself (and fail on the
    # numeric forms we want to classify), and would read proxy settings from the environment.
    with GuardedTransport(
        allow_loopback=policy.allow_loopback, allowed_ports=policy.allowed_ports
    ) as transport:
        while True:
            target = _check_url(current, policy)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchTimeout(f"time budget of {timeout:g}s spent before {current}")
            hop_timeout = httpx.Timeout(
                connect=min(connect_timeout, remaining),
                read=min(read_timeout, remaining),
                write=min(read_timeout, remaining),
                pool=min(connect_timeout, remaining),
            )
            request = httpx.Request(
                "GET", target, headers=request_headers, extensions={"timeout": hop_timeout.as_dict()}
            )
            try:
                response = transport.handle_request(request)
            except httpx.TimeoutException as exc:
                raise FetchTimeout(f"{current}: {exc or type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"{current}: {exc or type(exc).__name__}") from exc
            response.request = request
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    if len(redirects) >= max_redirects:
                        raise TooManyRedirects(f"more than {max_redirects} redirects from {url}")
                    redirects.append(current)
                    try:
                        current = urljoin(current, location.strip())
                    except ValueError as exc:
                        raise BlockedURL(f"invalid redirect target: {exc}") from None
                    continue
                body, truncated = _read_capped(response, max_bytes, deadline, current)
                return FetchResult(
                    url=url,
                    final_url=current,
                    status=response.status_code,
                    headers={k.lower(): v for k, v in response.headers.items()},
                    body=body,
                    truncated=truncated,
                    redirects=redirects,
                )
            finally:
                response.close()


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float, url: str) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            take = chunk[: max_bytes - size]
            chunks.append(take)
            size += len(take)
            if size >= max_bytes:
                # Only truncated if more was on its way; a body of exactly max_bytes is complete.
                more = len(chunk) > len(take) or _has_more(response)
                return b"".join(chunks), more
            if time.monotonic() > deadline:
                raise FetchTimeout(f"{url}: time budget spent while reading the body")
    except httpx.TimeoutException as exc:
        raise FetchTimeout(f"{url}: {exc or type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {exc or type(exc).__name__}") from exc
    return b"".join(chunks), False


def _has_more(response: httpx.Response) -> bool:
    length = response.headers.get("content-length")
    if length is not None and length.isdigit():
        return int(length) > response.num_bytes_downloaded
    return True


# -- user-supplied POST targets (outbound webhooks, Slack) ----------------------------------------------------------

POST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def url_validate(url: str) -> None:
    """Raise ValidationError when a user-supplied URL points somewhere we must not post to."""
    from django.core.exceptions import ValidationError

    try:
        check_url(url, allow_loopback=_setting_allow_loopback(), allowed_ports=_setting_ports())
    except BlockedURL as exc:
        raise ValidationError(f"This address cannot be used: {exc.reason}.") from None


def guarded_post(url: str, *, body: str, headers: dict[str, str]) -> int:
    """POST to a user-supplied URL: vetted addresses only, no redirects, no proxies, timeouts; the answer's body is
    not read (a hostile endpoint cannot make us download anything). Returns the status code."""
    allow_loopback, ports = _setting_allow_loopback(), _setting_ports()
    check_url(url, allow_loopback=allow_loopback, allowed_ports=ports)
    transport = GuardedTransport(allow_loopback=allow_loopback, allowed_ports=ports)
    with (
        httpx.Client(
            transport=transport,
            timeout=POST_TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        ) as client,
        client.stream("POST", url, content=body.encode(), headers=headers) as response,
    ):
        return response.status_code
