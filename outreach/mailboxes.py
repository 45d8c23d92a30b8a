"""Mailbox health: pausing with the admins told, the bounce threshold, and "Test connection"."""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
import socket
import ssl
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from .models import Mailbox, MailboxKind, Security
from .sending import transport
from .services import mailbox_pause

IMAP_TIMEOUT = 20


def _admins(org_id: int) -> list[tuple[int, str]]:
    from accounts.models import Membership, Role

    return list(
        Membership.objects.unscoped()
        .filter(org_id=org_id, role__in=[Role.OWNER, Role.ADMIN], user__is_active=True)
        .values_list("user_id", "user__email")
    )


def mailbox_pause_and_notify(*, mailbox: Mailbox, reason: str) -> bool:
    """Pause the mailbox and tell its organisation's admins in the app and by email; once per pause."""
    from prospects.models import Notification

    if not mailbox_pause(mailbox=mailbox, reason=reason):
        return False
    admins = _admins(mailbox.org_id)
    title = f"Mailbox {mailbox.from_email} paused"
    body = f"{reason}\n\nNothing is sent from it until it is resumed in Settings → Mailboxes."
    url = reverse("mailbox_detail", args=[mailbox.pk])
    Notification.objects.unscoped().bulk_create(
        [
            Notification(
                org_id=mailbox.org_id, user_id=user_id, kind="mailbox_paused", title=title, body=body, url=url
            )
            for user_id, _ in admins
        ]
    )
    recipients = [email for _, email in admins if email]
    if recipients:
        link = settings.SITE_URL + url
        transaction.on_commit(
            lambda: send_mail(
                f"[Leadgen] {title}", f"{body}\n\n{link}\n", None, recipients, fail_silently=True
            )
        )
    return True


def mailbox_check_bounces(*, mailbox: Mailbox, sent: int, bounced: int) -> bool:
    """Pause the mailbox when its bounce rate passes `OUTREACH_BOUNCE_PAUSE_RATE` over at least
    `OUTREACH_BOUNCE_MIN_SENT` sends. The engagement issue counts bounces and calls this; True when it paused."""
    if mailbox.is_paused or sent < settings.OUTREACH_BOUNCE_MIN_SENT:
        return False
    rate = bounced / sent
    if rate < settings.OUTREACH_BOUNCE_PAUSE_RATE:
        return False
    return mailbox_pause_and_notify(
        mailbox=mailbox,
        reason=f"{bounced} of the last {sent} messages bounced ({rate:.0%}); the limit is "
        f"{settings.OUTREACH_BOUNCE_PAUSE_RATE:.0%}. Check the list's addresses before resuming.",
    )


# --- test connection -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    service: str  # "SMTP", "IMAP" or the ESP's name
    ok: bool
    detail: str


class GuardedIMAP(imaplib.IMAP4):
    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return transport.vetted_connection(self.host, self.port, timeout)


class GuardedIMAPSSL(imaplib.IMAP4_SSL):
    # IMAP4_SSL calls IMAP4._create_socket by name (not through super()), so the wrapping is repeated here.
    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = transport.vetted_connection(self.host, self.port, timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def smtp_check(*, mailbox: Mailbox) -> Check:
    try:
        smtp = transport.smtp_open(
            host=mailbox.smtp_host,
            port=mailbox.smtp_port,
            security=mailbox.smtp_security,
            username=mailbox.smtp_username,
            password=mailbox.smtp_password,
            timeout=IMAP_TIMEOUT,
        )
    except transport.HostRefused as exc:
        return Check("SMTP", False, exc.detail)
    except transport.NotDelivered as exc:  # the name does not resolve, or nothing answers
        return Check("SMTP", False, f"Could not reach {mailbox.smtp_host}:{mailbox.smtp_port}: {exc}")
    except smtplib.SMTPResponseException as exc:
        return Check("SMTP", False, f"The server answered: {exc.smtp_code} {_text(exc.smtp_error)}")
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        return Check("SMTP", False, f"Could not talk to {mailbox.smtp_host}:{mailbox.smtp_port}: {exc}")
    try:
        greeting = "logged in" if mailbox.smtp_username else "connected (no login configured)"
        return Check("SMTP", True, f"{mailbox.smtp_host}:{mailbox.smtp_port} {greeting}.")
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def imap_check(*, mailbox: Mailbox) -> Check:
    host, port = mailbox.imap_host, mailbox.imap_port
    try:
        if mailbox.imap_security == Security.TLS:
            client: imaplib.IMAP4 = GuardedIMAPSSL(
                host, port, ssl_context=ssl.create_default_context(), timeout=IMAP_TIMEOUT
            )
        else:
            client = GuardedIMAP(host, port, timeout=IMAP_TIMEOUT)
            if mailbox.imap_security == Security.STARTTLS:
                client.starttls(ssl_context=ssl.create_default_context())
    except transport.HostRefused as exc:
        return Check("IMAP", False, exc.detail)
    except transport.NotDelivered as exc:  # the name does not resolve, or nothing answers
        return Check("IMAP", False, f"Could not reach {host}:{port}: {exc}")
    except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
        return Check("IMAP", False, f"Could not talk to {host}:{port}: {exc}")
    try:
        client.login(mailbox.imap_username, mailbox.imap_password)
    except imaplib.IMAP4.error as exc:
        return Check("IMAP", False, f"The server answered: {_text(exc.args[0] if exc.args else exc)}")
    except OSError as exc:
        return Check("IMAP", False, f"Could not talk to {host}:{port}: {exc}")
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return Check("IMAP", True, f"{host}:{port} logged in as {mailbox.imap_username}.")


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def mailbox_test(*, mailbox: Mailbox) -> list[Check]:
    """Log in to each configured server and report each answer; the server's own words on failure."""
    if mailbox.kind == MailboxKind.ESP:
        # ESP APIs have no side-effect-free login common to all five; the key is checked by the first send.
        name = mailbox.get_esp_display() or "ESP"
        ok = bool(mailbox.esp and mailbox.esp_api_key)
        checks = [Check(name, ok, "API key stored." if ok else "Choose an ESP and enter its API key.")]
    else:
        checks = (
            [smtp_check(mailbox=mailbox)]
            if mailbox.smtp_host
            else [Check("SMTP", False, "No SMTP host set.")]
        )
    if mailbox.imap_host:
        checks.append(imap_check(mailbox=mailbox))
    return checks
