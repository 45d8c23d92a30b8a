"""IMAP sync against a real Dovecot: real-format replies, an out-of-office and a DSN appended to the INBOX."""

from __future__ import annotations

import datetime as dt

import pytest

from outreach.inbound.imap import ImapAuthFailed, ImapUnavailable, mailbox_sync
from outreach.models import Event, EventKind, MailboxStatus, Reply, ReplyIntent, ReplyKind, Unsubscribe
from outreach.tests.dovecot import Dovecot
from prospects.models import Activity, Notification, Prospect, Suppression, WebhookMessage
from prospects.tests.factories import WebhookEndpointFactory

from .conftest import fixture_mail, imap_mailbox, sent_message


@pytest.fixture
def inbox(tenant, dovecot: Dovecot):
    """A mailbox reading Dovecot, six sent messages, and their answers in the INBOX beside the user's own mail."""
    mailbox = imap_mailbox(tenant.org, dovecot)
    sent = {
        "ada": sent_message(mailbox, email="ada@prospect.test", owner=tenant.member),
        "charles": sent_message(mailbox, email="charles@analytical.test", company_name="Analytical Engines"),
        "mary": sent_message(mailbox, email="mary@prospect.test"),
        "emmy": sent_message(mailbox, email="emmy@prospect.test"),
        "alan": sent_message(mailbox, email="alan@prospect.test"),
        "gone": sent_message(mailbox, email="gone@prospect.test"),
    }
    # The user's own mail: one already read, one flagged; neither is ours.
    dovecot.append([fixture_mail("unrelated_newsletter.eml")], flags="\\Seen")
    dovecot.append([fixture_mail("unrelated_reply.eml")], flags="\\Flagged")
    dovecot.append(
        [
            fixture_mail("gmail_interested.eml", message=sent["ada"]),
            fixture_mail("outlook_referral.eml", message=sent["charles"]),
            fixture_mail("apple_unsubscribe.eml", message=sent["mary"]),
            fixture_mail("broken_headers_de.eml", message=sent["emmy"]),
            fixture_mail("exchange_out_of_office.eml", message=sent["alan"]),
            fixture_mail("postfix_dsn_5_1_1.eml", message=sent["gone"]),
        ]
    )
    return mailbox, sent


def _replies(tenant) -> dict[str, Reply]:
    return {r.from_email or r.bounced_email: r for r in Reply.objects.unscoped().filter(org=tenant.org)}


def test_sync_records_each_kind_and_leaves_the_mail_as_it_was(tenant, dovecot, inbox) -> None:
    mailbox, sent = inbox
    before = dovecot.flags()
    result = mailbox_sync(mailbox=mailbox)
    assert (result.new_uids, result.stored) == (8, 6)

    replies = Reply.objects.unscoped().filter(org=tenant.org)
    by_message = {r.message_id: r for r in replies}
    assert len(by_message) == 6
    ada, charles, mary, emmy, alan, gone = (by_message[sent[k].pk] for k in sent)
    assert (ada.kind, ada.matched_by, ada.intent) == (ReplyKind.REPLY, "in-reply-to", ReplyIntent.INTERESTED)
    assert "Can we talk on Thursday?" in ada.body_clean and "A short note" not in ada.body_clean
    assert "A short note" in ada.body_text  # the original is kept
    assert (charles.matched_by, charles.intent) == ("references", ReplyIntent.REFERRAL)  # Exchange's commas
    assert (mary.intent, emmy.matched_by) == (ReplyIntent.UNSUBSCRIBE, "subject")  # "AW:" without headers
    assert (alan.kind, alan.return_date) == (ReplyKind.AUTO_REPLY, dt.date(2026, 12, 14))
    assert (gone.kind, gone.bounce_status, gone.bounce_hard, gone.matched_by) == (
        ReplyKind.BOUNCE,
        "5.1.1",
        True,
        "dsn",
    )
    assert {r.source for r in replies} == {"imap"} and all(r.imap_uid for r in replies)

    # Every message the user had is still there, with exactly the flags it had (nothing marked read).
    after = dovecot.flags()
    assert after.keys() == before.keys() and len(after) == 8
    assert all("\\Seen" not in after[uid] for uid in after if "\\Seen" not in before[uid])
    assert {uid: flags - {"\\Recent"} for uid, flags in after.items()} == {
        uid: flags - {"\\Recent"} for uid, flags in before.items()
    }
    mailbox.refresh_from_db()
    assert mailbox.imap_last_uid == max(after) and mailbox.imap_uidvalidity == dovecot.uidvalidity()
    assert mailbox.imap_synced_at is not None and mailbox.imap_sync_error == ""


def test_sync_acts_on_replies(tenant, dovecot, inbox) -> None:
    mailbox, sent = inbox
    mailbox_sync(mailbox=mailbox)
    events = Event.objects.unscoped().filter(org=tenant.org)
    assert sorted(events.values_list("kind", flat=True)) == sorted(
        [EventKind.REPLIED] * 4 + [EventKind.AUTO_REPLIED, EventKind.BOUNCED]
    )
    auto = events.get(kind=EventKind.AUTO_REPLIED)
    assert auto.message_id == sent["alan"].pk and auto.meta["return_date"] == "2026-12-14"
    bounce = events.get(kind=EventKind.BOUNCED)
    assert bounce.meta["hard"] is True and bounce.meta["status"] == "5.1.1"

    ada = Prospect.objects.unscoped().get(pk=sent["ada"].prospect_id)
    assert (ada.stage, ada.replies) == ("replied", 1)
    alan = Prospect.objects.unscoped().get(pk=sent["alan"].prospect_id)
    assert (alan.stage, alan.replies) == ("new", 0)  # an auto-reply is never a reply
    gone = Prospect.objects.unscoped().get(pk=sent["gone"].prospect_id)
    assert gone.email_status == "invalid" and "5.1.1" in gone.email_check["reason"]

    suppressed = set(Suppression.objects.unscoped().filter(org=tenant.org).values_list("value", flat=True))
    assert suppressed == {"mary@prospect.test", "gone@prospect.test"}
    [unsubscribe] = Unsubscribe.objects.unscoped().filter(org=tenant.org)
    assert (unsubscribe.email, unsubscribe.method) == ("mary@prospect.test", "reply")

    # The colleague named in Charles's reply is a new prospect, linked from the reply.
    charles_reply = Reply.objects.unscoped().get(org=tenant.org, message=sent["charles"])
    grace = Prospect.objects.unscoped().get(org=tenant.org, email_normalized="grace.hopper@analytical.test")
    assert charles_reply.referral["prospect_id"] == grace.pk
    assert "referral" in grace.source_detail and grace.company_name == "Analytical Engines"

    # Ada's owner is told; prospects without an owner go to the admins.
    notes = Notification.objects.unscoped().filter(org=tenant.org, kind="reply_received")
    [ada_note] = notes.filter(user=tenant.member)
    assert ada_note.title == f"{ada} replied: Re: Quick question" and "Thursday" in ada_note.body
    assert ada_note.url == f"/inbox/{Reply.objects.unscoped().get(message=sent['ada']).pk}/"
    assert notes.filter(user=tenant.owner).count() == notes.filter(user=tenant.admin).count() == 3
    assert notes.count() == 7  # four human replies; no note for the out-of-office or the bounce
    assert (
        Activity.objects.unscoped()
        .filter(prospect=ada, kind="reply_intent", data__intent="interested")
        .exists()
    )


def test_second_sync_adds_nothing_and_a_new_uidvalidity_rereads_without_duplicates(
    tenant, dovecot, inbox
) -> None:
    mailbox, sent = inbox
    mailbox_sync(mailbox=mailbox)
    again = mailbox_sync(mailbox=mailbox)
    assert (again.new_uids, again.bodies, again.stored, again.reread) == (0, 0, 0, False)

    dovecot.uidvalidity_change()
    reread = mailbox_sync(mailbox=mailbox)
    assert reread.reread and reread.new_uids == 8 and reread.stored == 0
    assert Reply.objects.unscoped().filter(org=tenant.org).count() == 6
    assert Event.objects.unscoped().filter(org=tenant.org).count() == 6
    assert Prospect.objects.unscoped().get(pk=sent["ada"].prospect_id).replies == 1
    mailbox.refresh_from_db()
    assert mailbox.imap_uidvalidity == dovecot.uidvalidity()

    # Mail arriving later is picked up alone.
    late = sent_message(mailbox, email="late@prospect.test")
    dovecot.append([fixture_mail("gmail_interested.eml", message=late).replace(b"CAH7x9f2", b"LATE0001")])
    later = mailbox_sync(mailbox=mailbox)
    assert (later.new_uids, later.stored) == (1, 1)


def test_unmatched_mail_is_not_stored_and_not_downloaded(tenant, dovecot) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot)
    sent_message(mailbox, email="ada@prospect.test")
    dovecot.append([fixture_mail("unrelated_newsletter.eml"), fixture_mail("unrelated_reply.eml")])
    result = mailbox_sync(mailbox=mailbox)
    assert (result.new_uids, result.bodies, result.stored) == (2, 0, 0)
    assert not Reply.objects.unscoped().filter(org=tenant.org).exists()


def test_another_orgs_sent_message_is_not_matched(tenant, other_tenant, dovecot) -> None:
    ours = imap_mailbox(tenant.org, dovecot)
    theirs = imap_mailbox(other_tenant.org, dovecot)
    their_message = sent_message(theirs, email="ada@prospect.test")
    dovecot.append([fixture_mail("gmail_interested.eml", message=their_message)])
    assert mailbox_sync(mailbox=ours).stored == 0
    assert not Reply.objects.unscoped().filter(org=tenant.org).exists()


def test_refused_login_is_stored_and_pauses_the_mailbox(tenant, dovecot) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot)
    mailbox.imap_password = "wrong"
    mailbox.save()
    with pytest.raises(ImapAuthFailed):
        mailbox_sync(mailbox=mailbox)
    mailbox.refresh_from_db()
    assert mailbox.imap_sync_error.startswith("The IMAP server refused the login: [AUTHENTICATIONFAILED]")
    assert mailbox.status == MailboxStatus.PAUSED and "IMAP" in mailbox.paused_reason
    assert Notification.objects.unscoped().filter(org=tenant.org, kind="mailbox_paused").count() == 2


def test_unreachable_server_is_stored_for_a_retry(tenant, dovecot) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot)
    dovecot.process.terminate()
    dovecot.process.wait(timeout=10)
    with pytest.raises(ImapUnavailable):
        mailbox_sync(mailbox=mailbox)
    mailbox.refresh_from_db()
    assert mailbox.imap_sync_error.startswith(f"Could not read 127.0.0.1:{dovecot.port}")
    assert mailbox.status == MailboxStatus.ACTIVE  # a network problem does not pause sending


def test_reply_received_webhook_is_queued_with_the_reply(tenant, dovecot) -> None:
    endpoint = WebhookEndpointFactory(org=tenant.org, events=["reply.received"])
    mailbox = imap_mailbox(tenant.org, dovecot)
    message = sent_message(mailbox, email="ada@prospect.test")
    dovecot.append([fixture_mail("gmail_interested.eml", message=message)])
    mailbox_sync(mailbox=mailbox)
    [hook] = WebhookMessage.objects.unscoped().filter(org=tenant.org, endpoint=endpoint)
    assert hook.event_type == "reply.received"
    data = hook.payload["data"]
    assert (data["from"], data["intent"], data["message_id"]) == (
        "ada@prospect.test",
        "interested",
        message.pk,
    )
    assert data["prospect"]["email"] == "ada@prospect.test" and "Thursday" in data["body"]


def test_sync_of_a_locked_mailbox_does_nothing(tenant, dovecot) -> None:
    from django.core.cache import cache

    mailbox = imap_mailbox(tenant.org, dovecot)
    cache.add(f"outreach:imap-sync:{mailbox.pk}", "someone-else", timeout=60)
    assert mailbox_sync(mailbox=mailbox).skipped == "locked"
