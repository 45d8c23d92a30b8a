from __future__ import annotations

from outreach.mailboxes import mailbox_test
from outreach.tests.factories import MailboxFactory

from .dovecot import Dovecot


def _checks(mailbox):
    return {c.service: c for c in mailbox_test(mailbox=mailbox)}


def test_smtp_and_imap_login_succeed(tenant, auth_peer, dovecot: Dovecot) -> None:
    mailbox = MailboxFactory(
        org=tenant.org,
        smtp_host=auth_peer.host,
        smtp_port=auth_peer.port,
        smtp_username="sam",
        smtp_password="s3cret-pass",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security="none",
        imap_username=dovecot.username,
        imap_password=dovecot.password,
    )
    checks = _checks(mailbox)
    assert checks["SMTP"].ok and "logged in" in checks["SMTP"].detail
    assert checks["IMAP"].ok and f"logged in as {dovecot.username}" in checks["IMAP"].detail


def test_failures_show_the_servers_own_words(tenant, auth_peer, dovecot: Dovecot) -> None:
    mailbox = MailboxFactory(
        org=tenant.org,
        smtp_host=auth_peer.host,
        smtp_port=auth_peer.port,
        smtp_username="sam",
        smtp_password="wrong",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security="none",
        imap_username=dovecot.username,
        imap_password="wrong",
    )
    checks = _checks(mailbox)
    assert not checks["SMTP"].ok and "535" in checks["SMTP"].detail
    assert "Authentication credentials invalid" in checks["SMTP"].detail
    assert not checks["IMAP"].ok and "[AUTHENTICATIONFAILED] Authentication failed." in checks["IMAP"].detail


def test_loopback_and_private_hosts_refused_unless_allowed(tenant, auth_peer, settings) -> None:
    settings.OUTREACH_ALLOW_LOOPBACK = False
    loopback = MailboxFactory(
        org=tenant.org, smtp_host=auth_peer.host, smtp_port=auth_peer.port, imap_host="10.0.0.5"
    )
    checks = _checks(loopback)
    assert not checks["SMTP"].ok and "loopback" in checks["SMTP"].detail
    assert not checks["IMAP"].ok and "private address" in checks["IMAP"].detail
    metadata = MailboxFactory(org=tenant.org, smtp_host="169.254.169.254", smtp_port=25)
    assert "link-local" in _checks(metadata)["SMTP"].detail


def test_connection_refused_is_reported(tenant) -> None:
    from .smtp_peer import free_port

    mailbox = MailboxFactory(org=tenant.org, smtp_host="127.0.0.1", smtp_port=free_port())
    check = _checks(mailbox)["SMTP"]
    assert not check.ok and "Could not talk to 127.0.0.1" in check.detail
