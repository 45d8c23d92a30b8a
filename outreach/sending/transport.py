"""Getting bytes to the mailbox's server: SMTP (smtplib, through the SSRF guard) or an ESP through django-anymail.

Every failure is sorted by what it says about delivery, because that decides whether sending again is safe:

* `NotDelivered` (retry later): nothing was handed over: connect, TLS, a 4xx to MAIL/RCPT/DATA, a 429/5xx API answer.
* `Rejected` (failed): the server refused the message for good (5xx).
* `AuthFailed`: the login was refused; the mailbox is paused. Nothing was handed over.
* `Ambiguous` (unknown): the connection broke after the message body started; it may have been delivered.

SMTP connections are kept per thread and mailbox for a short while, so a batch pays the handshake once.
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from leadgen import netguard
from outreach.models import Esp, Mailbox, Security

from . import mime

SMTP_TIMEOUT = 30
IDLE_SECONDS = 20


class TransportError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotDelivered(TransportError):
    pass


class Rejected(TransportError):
    pass


class AuthFailed(TransportError):
    pass


class Ambiguous(TransportError):
    pass


class HostRefused(NotDelivered):
    """The SSRF guard refused the mailbox's host."""


# --- guarded sockets ---------------------------------------------------------------------------------------------


def allow_loopback() -> bool:
    return bool(getattr(settings, "OUTREACH_ALLOW_LOOPBACK", False))


def vetted_connection(host: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to an address of `host` the SSRF guard allows (loopback only when settings allow it)."""
    policy = netguard._Policy(allow_loopback=allow_loopback(), allowed_ports=frozenset({port}))
    try:
        infos = netguard.vetted_addresses(host, port, policy, timeout)
    except netguard.BlockedURL as exc:
        raise HostRefused(f"{host} is not allowed: {exc.reason}") from None
    except netguard.FetchError as exc:
        raise NotDelivered(str(exc)) from None
    last: OSError | None = None
    for info in infos:
        try:
            return socket.create_connection((str(info[4][0]), port), timeout)
        except OSError as exc:
            last = exc
    raise OSError(f"could not connect to {host}:{port}: {last}")


class GuardedSMTP(smtplib.SMTP):
    """smtplib.SMTP whose socket goes to a vetted address; the host name stays for TLS (SNI, certificate)."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return vetted_connection(host, port, timeout)


class GuardedSMTPSSL(smtplib.SMTP_SSL, GuardedSMTP):
    """Implicit TLS (port 465): SMTP_SSL wraps the vetted socket of GuardedSMTP."""


def smtp_open(
    *, host: str, port: int, security: str, username: str, password: str, timeout: float = SMTP_TIMEOUT
) -> smtplib.SMTP:
    """Connected (and logged-in when a username is set) SMTP session. smtplib errors propagate."""
    # One verifying context per process (loading the CA bundle costs ~50 ms); plain-text sessions need none.
    context = netguard.default_ssl_context()
    if security == Security.TLS:
        smtp: smtplib.SMTP = GuardedSMTPSSL(host, port, timeout=timeout, context=context)
    else:
        smtp = GuardedSMTP(host, port, timeout=timeout)
    try:
        smtp.ehlo()
        if security == Security.STARTTLS:
            smtp.starttls(context=context)
            smtp.ehlo()
        if username:
            smtp.login(username, password)
    except BaseException:
        smtp.close()
        raise
    return smtp


# --- SMTP ----------------------------------------------------------------------------------------------------------


@dataclass
class _Pooled:
    smtp: smtplib.SMTP
    fingerprint: str
    last_used: float


_pool = threading.local()


def _fingerprint(mailbox: Mailbox) -> str:
    raw = f"{mailbox.smtp_host}|{mailbox.smtp_port}|{mailbox.smtp_security}|{mailbox.smtp_username}|{mailbox.smtp_password}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _connections() -> dict[int, _Pooled]:
    if not hasattr(_pool, "connections"):
        _pool.connections = {}
    return _pool.connections  # type: ignore[no-any-return]


def smtp_pool_close() -> None:
    for pooled in _connections().values():
        _quietly_close(pooled.smtp)
    _connections().clear()


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _session(mailbox: Mailbox) -> smtplib.SMTP:
    connections = _connections()
    fingerprint = _fingerprint(mailbox)
    pooled = connections.pop(mailbox.pk, None)
    if pooled and pooled.fingerprint == fingerprint and time.monotonic() - pooled.last_used < IDLE_SECONDS:
        return pooled.smtp
    if pooled:
        _quietly_close(pooled.smtp)
    try:
        return smtp_open(
            host=mailbox.smtp_host,
            port=mailbox.smtp_port,
            security=mailbox.smtp_security,
            username=mailbox.smtp_username,
            password=mailbox.smtp_password,
        )
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthFailed(_smtp_reply(exc.smtp_code, exc.smtp_error)) from None
    except HostRefused:
        raise
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise NotDelivered(f"could not connect to {mailbox.smtp_host}:{mailbox.smtp_port}: {exc}") from None


def _smtp_reply(code: int, text: bytes | str) -> str:
    body = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {body}".strip()


def _refused(code: int, text: bytes | str) -> TransportError:
    reply = _smtp_reply(code, text)
    return Rejected(reply) if 500 <= code < 600 else NotDelivered(reply)


def smtp_send(*, mailbox: Mailbox, envelope_from: str, to: str, raw: bytes) -> str:
    """Send `raw`; returns the server's reply to DATA (its 250 is the proof of delivery)."""
    smtp = _session(mailbox)
    try:
        reply = _transaction(smtp, envelope_from, to, raw)
    except NotDelivered as exc:
        _quietly_close(smtp)
        if "reconnect" not in exc.detail:
            raise
        # A pooled connection the server had closed: nothing was sent, one fresh connection is safe.
        smtp = _session(mailbox)
        reply = _transaction(smtp, envelope_from, to, raw)
    except TransportError:
        _quietly_close(smtp)
        raise
    _connections()[mailbox.pk] = _Pooled(smtp, _fingerprint(mailbox), time.monotonic())
    return reply


def _transaction(smtp: smtplib.SMTP, envelope_from: str, to: str, raw: bytes) -> str:
    try:
        code, text = smtp.mail(envelope_from)
        if code != 250:
            raise _refused(code, text)
        code, text = smtp.rcpt(to)
        if code not in (250, 251):
            raise _refused(code, text)
    except smtplib.SMTPServerDisconnected:
        raise NotDelivered("the server closed the connection before the message (reconnect)") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise NotDelivered(f"before the message: {exc}") from None
    try:
        code, text = smtp.data(raw)
    except smtplib.SMTPDataError as exc:
        raise _refused(exc.smtp_code, exc.smtp_error) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise Ambiguous(
            f"the connection broke while sending the message: {exc or type(exc).__name__}"
        ) from None
    if code != 250:
        raise _refused(code, text)
    return _smtp_reply(code, text)


# --- ESPs through anymail ------------------------------------------------------------------------------------------

ESP_BACKENDS = {
    Esp.SES: "anymail.backends.amazon_ses.EmailBackend",
    Esp.MAILGUN: "anymail.backends.mailgun.EmailBackend",
    Esp.POSTMARK: "anymail.backends.postmark.EmailBackend",
    Esp.SENDGRID: "anymail.backends.sendgrid.EmailBackend",
    Esp.BREVO: "anymail.backends.brevo.EmailBackend",
}


def esp_connection(mailbox: Mailbox) -> Any:
    """An anymail backend for the mailbox's ESP, with its key and the deployment's endpoint URL."""
    url = settings.OUTREACH_ESP_API_URLS.get(mailbox.esp, "")
    options: dict[str, Any] = dict(mailbox.esp_settings or {})
    if mailbox.esp == Esp.SES:
        access_key, _, secret = mailbox.esp_api_key.partition(":")
        session = {"aws_access_key_id": access_key, "aws_secret_access_key": secret}
        session["region_name"] = options.pop("region", "us-east-1")
        client = {"endpoint_url": url} if url else {}
        return get_connection(ESP_BACKENDS[Esp.SES], session_params=session, client_params=client, **options)
    if url:
        options["api_url"] = url
    if mailbox.esp == Esp.POSTMARK:
        return get_connection(ESP_BACKENDS[Esp.POSTMARK], server_token=mailbox.esp_api_key, **options)
    return get_connection(ESP_BACKENDS[Esp(mailbox.esp)], api_key=mailbox.esp_api_key, **options)


def esp_send(*, mailbox: Mailbox, email: EmailMultiAlternatives) -> str:
    """Send through the ESP's API; returns the ESP's message id."""
    from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused

    email.connection = esp_connection(mailbox)
    try:
        email.send()
    except AnymailRecipientsRefused as exc:
        raise Rejected(f"{mailbox.get_esp_display()} refused the recipient: {exc}") from None
    except AnymailAPIError as exc:
        raise _esp_error(mailbox, exc) from None
    except AnymailError as exc:
        raise Rejected(f"{mailbox.get_esp_display()}: {exc}") from None
    status = getattr(email, "anymail_status", None)
    return f"{mailbox.get_esp_display()} accepted: {getattr(status, 'message_id', '') or ''}".strip()


def _esp_error(mailbox: Mailbox, exc: Any) -> TransportError:
    import requests

    name = mailbox.get_esp_display()
    status = getattr(exc, "status_code", None)
    text = f"{name} answered {status}: {exc}" if status else f"{name}: {exc}"
    if status in (401, 403):
        return AuthFailed(text)
    if status is not None:
        return NotDelivered(text) if status == 429 or status >= 500 else Rejected(text)
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, requests.ConnectTimeout | requests.exceptions.SSLError) or (
        isinstance(cause, requests.ConnectionError) and "NewConnectionError" in repr(cause)
    ):
        return NotDelivered(text)
    return Ambiguous(text)


def message_deliver(*, mailbox: Mailbox, email: EmailMultiAlternatives) -> str:
    """Hand `email` to the mailbox's server; returns the server's acceptance. Raises a TransportError."""
    if mailbox.kind == "esp":
        return esp_send(mailbox=mailbox, email=email)
    raw = mime.smtp_bytes(email=email, mailbox=mailbox)
    return smtp_send(mailbox=mailbox, envelope_from=mailbox.from_email, to=email.to[0], raw=raw)
