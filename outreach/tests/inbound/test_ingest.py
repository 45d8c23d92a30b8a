"""reply_ingest on its own (what the ESP inbound webhooks call too): idempotent, quiet on mail that is not ours, and
a bounded number of queries per reply (a 10,000-message first sync runs it hundreds of times)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from outreach.inbound.services import IngestContext, reply_ingest, reply_ingest_result
from outreach.models import Event, Reply, ReplyKind
from outreach.tests.factories import MailboxFactory
from prospects.models import Prospect

from .conftest import fixture_mail, sent_message


def test_the_same_mail_twice_is_one_reply(tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org, from_email="sam@sender.test")
    message = sent_message(mailbox, email="ada@prospect.test")
    raw = fixture_mail("gmail_interested.eml", message=message)
    first = reply_ingest(mailbox=mailbox, raw=raw, source="esp")
    second = reply_ingest_result(mailbox=mailbox, raw=raw, source="imap", imap_uid=9)
    assert first is not None and second.reply == first and not second.created
    assert Reply.objects.unscoped().filter(org=tenant.org).count() == 1
    assert Event.objects.unscoped().filter(org=tenant.org).count() == 1
    assert Prospect.objects.unscoped().get(pk=message.prospect_id).replies == 1
    assert first.source == "esp" and first.kind == ReplyKind.REPLY


def test_mail_that_is_not_ours_is_not_stored(tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org, from_email="sam@sender.test")
    sent_message(mailbox, email="ada@prospect.test")
    for name in ("unrelated_newsletter.eml", "unrelated_reply.eml"):
        assert reply_ingest(mailbox=mailbox, raw=fixture_mail(name), source="imap") is None
    # A DSN for an address we never wrote to is not ours either.
    assert reply_ingest(mailbox=mailbox, raw=fixture_mail("postfix_dsn_5_1_1.eml"), source="imap") is None
    assert not Reply.objects.unscoped().filter(org=tenant.org).exists()


def test_mail_without_a_message_id_lands_once(tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org, from_email="sam@sender.test")
    message = sent_message(mailbox, email="ada@prospect.test")
    raw = fixture_mail("broken_headers_de.eml", message=message)
    raw = b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"Message-ID:"))
    first = reply_ingest(mailbox=mailbox, raw=raw, source="imap")
    assert first is not None and first.rfc_message_id.endswith("@no-message-id.invalid>")
    assert reply_ingest(mailbox=mailbox, raw=raw, source="imap") == first


def test_queries_per_reply_are_bounded(tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org, from_email="sam@sender.test")
    messages = [sent_message(mailbox, email=f"p{n}@prospect.test") for n in range(3)]
    context = IngestContext(tenant.org.pk)
    counts = []
    for n, message in enumerate(messages):
        raw = fixture_mail("gmail_interested.eml", message=message).replace(b"CAH7x9f2", b"Q%d" % n)
        with CaptureQueriesContext(connection) as queries:
            assert reply_ingest_result(mailbox=mailbox, raw=raw, source="imap", context=context).created
        counts.append(len(queries))
    # The first reply of a sync also reads the admins, the webhook endpoints and the Slack setting.
    assert counts[1] == counts[2] and counts[2] <= 16, counts
