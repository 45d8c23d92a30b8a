"""Beat's polling through a real Celery worker, retries with backoff, and the IDLE runner, against a real Dovecot."""

from __future__ import annotations

import threading
import time

from outreach.inbound.imap import ImapUnavailable, mailbox_idle
from outreach.inbound.tasks import _backoff, mailbox_sync_task, mailboxes_sync_due
from outreach.models import MailboxStatus, Reply
from outreach.tests.factories import MailboxFactory
from prospects.routing.slack import slack_reply_message

from .conftest import fixture_mail, imap_mailbox, sent_message


def _wait_for(condition, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_beat_queues_every_imap_mailbox_and_the_worker_syncs_them(
    tenant, other_tenant, dovecot, celery_worker
) -> None:
    ours = imap_mailbox(tenant.org, dovecot)
    theirs = imap_mailbox(other_tenant.org, dovecot)
    MailboxFactory(org=tenant.org)  # no IMAP settings: never polled
    locked_out = imap_mailbox(tenant.org, dovecot, status=MailboxStatus.PAUSED)
    locked_out.imap_sync_error = (
        "The IMAP server refused the login: [AUTHENTICATIONFAILED] Authentication failed."
    )
    locked_out.save()
    ours_message = sent_message(ours, email="ada@prospect.test")
    theirs_message = sent_message(theirs, email="bob@prospect.test")
    dovecot.append(
        [
            fixture_mail("gmail_interested.eml", message=ours_message),
            fixture_mail("apple_unsubscribe.eml", message=theirs_message),
        ]
    )
    assert mailboxes_sync_due.apply().get() == 2  # a wrong password is not retried every minute
    assert _wait_for(lambda: Reply.objects.unscoped().count() == 2)
    assert Reply.objects.unscoped().get(org=tenant.org).message_id == ours_message.pk
    assert Reply.objects.unscoped().get(org=other_tenant.org).message_id == theirs_message.pk


def test_network_errors_retry_with_backoff(tenant, dovecot, settings) -> None:
    settings.OUTREACH_IMAP_RETRY_BACKOFF = 7
    mailbox = imap_mailbox(tenant.org, dovecot)
    dovecot.process.terminate()
    dovecot.process.wait(timeout=10)
    # Run in this process, Celery retries at once (countdowns are for a worker): every retry is spent, then it fails
    # with the network error, and the error stays on the mailbox for its page.
    result = mailbox_sync_task.apply(args=[tenant.org.pk, mailbox.pk])
    assert result.state == "FAILURE" and isinstance(result.result, ImapUnavailable)
    assert result.result.args[0].startswith(f"Could not read 127.0.0.1:{dovecot.port}")
    mailbox.refresh_from_db()
    assert "Could not read" in mailbox.imap_sync_error and mailbox.status == MailboxStatus.ACTIVE
    assert [_backoff(n) for n in range(4)] == [7, 14, 28, 56] and _backoff(20) == 3600
    assert mailbox_sync_task.max_retries == 6


def test_refused_login_is_not_retried(tenant, dovecot) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot, imap_password="wrong")
    assert mailbox_sync_task.apply(args=[tenant.org.pk, mailbox.pk]).get() == {"error": "auth"}
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.PAUSED


def test_idle_calls_back_when_mail_arrives(tenant, dovecot) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot)
    calls: list[float] = []
    stop = threading.Event()
    ended: list[str] = []
    thread = threading.Thread(
        target=lambda: ended.append(
            mailbox_idle(
                mailbox=mailbox, on_new=lambda: calls.append(time.monotonic()), stop=stop, slice_seconds=1
            )
        )
    )
    thread.start()
    try:
        assert _wait_for(lambda: len(calls) == 1)  # the catch-up call at the start
        before = dovecot.flags()
        dovecot.append([fixture_mail("unrelated_newsletter.eml")])
        assert _wait_for(lambda: len(calls) >= 2, timeout=10)  # the server announced the new message
    finally:
        stop.set()
        thread.join(timeout=10)
    assert ended == ["stopped"]
    assert all("\\Seen" not in flags for flags in dovecot.flags().values())
    assert len(dovecot.flags()) == len(before) + 1


def test_slack_reply_message_escapes_what_people_wrote() -> None:
    message = slack_reply_message(
        who="Ada <script>",
        subject="Re: <@channel> hi",
        snippet="a & b",
        intent="Read as: Interested",
        link="https://x/1",
    )
    assert message["text"] == "Ada &lt;script&gt; replied: Re: &lt;@channel&gt; hi"
    assert message["blocks"][1]["text"]["text"] == "a &amp; b"
    assert message["blocks"][2]["elements"][0]["text"] == "Read as: Interested"
