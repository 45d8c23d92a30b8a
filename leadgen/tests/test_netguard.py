"""The SSRF guard: an attacker-chosen URL never reaches loopback, private, link-local or metadata addresses."""

from __future__ import annotations

import socket
import time

import pytest

from leadgen.netguard import BlockedURL, FetchTimeout, TooManyRedirects, guarded_get, ip_block_reason

pytest_plugins = ["leadgen.tests.fake_web"]

LIMITS = {"max_bytes": 100_000, "timeout": 3.0}

SSRF_CORPUS = [
    # loopback
    "http://127.0.0.1/",
    "http://127.0.0.1:443/",
    "https://127.8.9.10/",
    "http://localhost/",
    "http://LOCALHOST./admin",
    "http://app.localhost/",
    # RFC 1918
    "http://10.0.0.1/",
    "http://10.255.255.254/",
    "http://172.16.0.1/",
    "http://172.31.255.1/",
    "http://192.168.1.1/",
    # link-local and cloud metadata
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://169.254.0.1/",
    # shared address space, unspecified, multicast, reserved, broadcast
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    # IPv6
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fd12:3456:789a::1]/",
    "http://[ff02::1]/",
    # IPv4-mapped / -compatible / 6to4 / Teredo / NAT64 forms of internal IPv4 addresses
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",  # Teredo client 10.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::127.0.0.1]/",
    # numeric host forms resolvers accept
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://017700000001/",
    "http://2852039166/",  # 169.254.169.254
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://10.1/",
    # credentials trick: the host is what follows the last @
    "http://example.com@127.0.0.1/",
    # non-HTTP schemes
    "file:///etc/passwd",
    "file://localhost/etc/passwd",
    "ftp://example.com/file",
    "gopher://127.0.0.1:6379/_INFO",
    "data:text/html,<script>alert(1)</script>",
    "dict://127.0.0.1:11211/stat",
    "ldap://127.0.0.1/",
    "javascript:alert(1)",
    "//example.com/",
    "",
    # non-web ports
    "http://example.com:22/",
    "http://example.com:6379/",
    "https://example.com:8443/",
]


@pytest.mark.parametrize("url", SSRF_CORPUS)
def test_internal_targets_and_other_schemes_are_blocked(url):
    with pytest.raises(BlockedURL) as excinfo:
        guarded_get(url, **LIMITS)
    assert excinfo.value.reason


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("2002:808:808::1", None),  # 6to4 of a public address
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("::ffff:7f00:1", "IPv4-mapped"),
        ("64:ff9b::a00:1", "NAT64"),
    ],
)
def test_ip_classification(address, expected):
    import ipaddress

    reason = ip_block_reason(ipaddress.ip_address(address))
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


def _hostile_dns(monkeypatch, answers: dict[str, list[str]], calls: list[str] | None = None):
    """Patch the stdlib resolver (not our code) to answer like an attacker's DNS server would."""
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if calls is not None:
            calls.append(host)
        if host in answers:
            out = []
            for ip in answers[host]:
                if ":" in ip:
                    out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
                else:
                    out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["10.1.2.3"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["fd00::1"],
        ["93.184.216.34", "127.0.0.1"],  # one bad answer among good ones is enough to refuse
    ],
)
def test_dns_name_resolving_to_internal_address_is_blocked(monkeypatch, answers):
    _hostile_dns(monkeypatch, {"internal.attacker.example": answers})
    with pytest.raises(BlockedURL) as excinfo:
        guarded_get("http://internal.attacker.example/", **LIMITS)
    assert "resolves to" in excinfo.value.reason


def test_loopback_is_blocked_by_default_even_with_a_listening_server(fake_web, settings):
    fake_web.route("/", "<title>secret admin</title>")
    settings.NETGUARD_ALLOW_LOOPBACK = False
    with pytest.raises(BlockedURL):
        guarded_get(fake_web.url("/"), **LIMITS)
    assert fake_web.requests == []


def test_non_web_port_is_blocked_even_when_loopback_is_allowed(fake_web):
    fake_web.route("/", "hello")
    with pytest.raises(BlockedURL, match="port"):
        guarded_get(fake_web.url("/"), allow_loopback_for_tests=True, allowed_ports=[80, 443], **LIMITS)
    assert fake_web.requests == []


def test_happy_path_returns_status_headers_and_body(fake_web):
    fake_web.route(
        "/page", "<h1>hi</h1>", headers={"X-Thing": "1", "Content-Type": "text/html; charset=utf-8"}
    )
    result = guarded_get(fake_web.url("/page"), **LIMITS)
    assert result.status == 200
    assert result.body == b"<h1>hi</h1>"
    assert result.truncated is False
    assert result.headers["x-thing"] == "1"
    assert result.content_type == "text/html"
    assert result.charset == "utf-8"
    assert result.final_url == result.url == fake_web.url("/page")
    _path, headers = fake_web.requests[0]
    assert headers["User-Agent"].startswith("LeadgenBot/")


def test_connects_to_the_vetted_address_without_resolving_again(fake_web, monkeypatch):
    """DNS rebinding: the name is resolved once, and the socket goes to exactly that answer."""
    fake_web.route("/", "ok")
    calls: list[str] = []
    _hostile_dns(monkeypatch, {"rebind.attacker.example": ["127.0.0.1"]}, calls)
    url = f"http://rebind.attacker.example:{fake_web.port}/"
    result = guarded_get(url, **LIMITS)
    assert result.body == b"ok"
    assert calls.count("rebind.attacker.example") == 1
    _path, headers = fake_web.requests[0]
    assert headers["Host"] == f"rebind.attacker.example:{fake_web.port}"


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.0.1:80/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://0xa9fea9fe/",  # 169.254.169.254
        "http://012.0.0.1/",  # 10.0.0.1
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "http://metadata.attacker.example/",
        "http://[::1",
        "//169.254.169.254/",  # scheme-relative
    ],
)
def test_redirect_to_internal_address_is_blocked_at_the_hop(fake_web, monkeypatch, location):
    _hostile_dns(monkeypatch, {"metadata.attacker.example": ["169.254.169.254"]})
    fake_web.redirect("/go", location)
    with pytest.raises(BlockedURL):
        guarded_get(fake_web.url("/go"), **LIMITS)
    assert fake_web.paths_requested() == ["/go"]


def test_redirect_to_an_allowed_server_is_followed_and_reported(fake_web_pair):
    first, second = fake_web_pair
    first.redirect("/old", second.url("/moved"), status=301)
    second.redirect("/moved", "/final", status=307)
    second.route("/final", "landed")
    result = guarded_get(first.url("/old"), **LIMITS)
    assert result.body == b"landed"
    assert result.final_url == second.url("/final")
    assert result.redirects == [first.url("/old"), second.url("/moved")]


def test_redirect_loop_stops_at_max_redirects(fake_web):
    fake_web.redirect("/a", "/b")
    fake_web.redirect("/b", "/a")
    with pytest.raises(TooManyRedirects):
        guarded_get(fake_web.url("/a"), max_redirects=3, **LIMITS)
    assert len(fake_web.requests) == 4


def test_large_body_is_cut_at_max_bytes(fake_web):
    fake_web.route("/big", b"x" * 65_536, repeat=40)  # 2.5 MiB
    result = guarded_get(fake_web.url("/big"), max_bytes=100_000, timeout=5)
    assert result.truncated is True
    assert len(result.body) == 100_000


def test_body_of_exactly_max_bytes_is_not_truncated(fake_web):
    fake_web.route("/exact", b"y" * 5000)
    result = guarded_get(fake_web.url("/exact"), max_bytes=5000, timeout=5)
    assert result.truncated is False
    assert len(result.body) == 5000


def test_server_that_never_answers_times_out(fake_web):
    fake_web.route("/slow", "late", delay=3)
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        guarded_get(fake_web.url("/slow"), max_bytes=1000, timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_trickling_server_is_stopped_by_the_total_budget(fake_web):
    """Each byte arrives before the read timeout, but the whole body would take 10 s."""
    fake_web.route("/trickle", b"z" * 50, chunk_size=1, chunk_delay=0.2)
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        guarded_get(fake_web.url("/trickle"), max_bytes=1000, timeout=1.0, read_timeout=0.5)
    assert time.monotonic() - started < 2.0


def test_proxy_environment_is_ignored(fake_web, monkeypatch):
    """A proxy would resolve the host itself, out of the guard's sight."""
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.9.9.9:3128")
    fake_web.route("/", "direct")
    assert guarded_get(fake_web.url("/"), **LIMITS).body == b"direct"
