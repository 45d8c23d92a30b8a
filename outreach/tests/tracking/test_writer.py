"""The batch writer: hits become Events once, human ones add to the prospect's engagement, bots never do."""

from __future__ import annotations

import datetime as dt
import json

from django.test import Client
from django.utils import timezone

from outreach.models import Event
from outreach.tests.factories import MailboxFactory, MessageFactory
from outreach.tracking import buffer, writer
from outreach.tracking.tokens import token_make
from prospects.models import Activity, Prospect
from prospects.tests.factories import ProspectFactory

from . import fixtures as f

LINKS = ["https://acme.test/a", "https://acme.test/b"]


def _message(tenant, *, sent_ago: float = 3600, **kwargs):
    prospect = ProspectFactory(org=tenant.org)
    return MessageFactory(
        mailbox=MailboxFactory(org=tenant.org),
        prospect=prospect,
        status="sent",
        sent_at=timezone.now() - dt.timedelta(seconds=sent_ago),
        meta={"track_opens": True, "track_clicks": True, "links": LINKS},
        **kwargs,
    )


def _open(message, shape=f.HUMAN) -> None:
    token = token_make(kind="o", org_id=message.org_id, message_id=message.pk)
    Client().get(f"/t/o/{token}.gif", REMOTE_ADDR=shape["ip"], HTTP_USER_AGENT=shape["ua"])


def _click(message, index: int, shape=f.HUMAN) -> None:
    token = token_make(kind="c", org_id=message.org_id, message_id=message.pk, link_index=index)
    Client().get(f"/t/c/{token}", REMOTE_ADDR=shape["ip"], HTTP_USER_AGENT=shape["ua"])


def _raw() -> list[bytes]:
    return buffer.redis_client().lrange(buffer.key(buffer.BUFFER_KEY), 0, -1)


def test_human_open_and_click_become_events_and_engagement(tenant) -> None:
    message = _message(tenant)
    _open(message)
    _click(message, 1)
    totals = writer.events_flush()
    assert (totals["read"], totals["stored"]) == (2, 2) and buffer.buffer_length() == 0
    clicked, opened = Event.objects.unscoped().filter(message=message).order_by("kind")
    assert (clicked.kind, clicked.link_index, clicked.url, clicked.source) == (
        "clicked",
        1,
        LINKS[1],
        "redirect",
    )
    assert (opened.kind, opened.is_bot, opened.ip_prefix, opened.source) == (
        "opened",
        False,
        "203.0.113.0/24",
        "pixel",
    )
    assert opened.prospect_id == message.prospect_id and opened.user_agent == f.CHROME_MAC
    prospect = Prospect.objects.unscoped().get(pk=message.prospect_id)
    assert (prospect.human_opens, prospect.human_clicks) == (1, 1) and prospect.last_engaged_at is not None
    lines = set(Activity.objects.unscoped().filter(prospect=prospect).values_list("kind", "summary"))
    assert ("email_clicked", f"Clicked {LINKS[1]} in “Quick question”") in lines
    assert ("email_opened", "Opened “Quick question”") in lines


def test_bots_are_stored_with_their_reason_and_never_counted(tenant) -> None:
    message = _message(tenant)
    _open(message, f.APPLE_MPP)
    _click(message, 0, f.MIMECAST)
    writer.events_flush()
    events = {e.kind: e for e in Event.objects.unscoped().filter(message=message)}
    assert (events["opened"].is_bot, events["opened"].bot_kind) == (True, "machine")
    assert events["opened"].bot_reason.startswith("Apple Mail Privacy Protection proxy")
    assert (events["clicked"].bot_kind, events["clicked"].bot_reason) == ("scanner", "Mimecast network")
    prospect = Prospect.objects.unscoped().get(pk=message.prospect_id)
    assert (prospect.human_opens, prospect.human_clicks) == (0, 0)


def test_a_rerun_batch_never_doubles(tenant) -> None:
    """A crash after the insert's commit but before the trim: the next drain re-reads the batch and adds nothing."""
    message = _message(tenant)
    _open(message)
    _click(message, 0)
    hits = [json.loads(item) for item in _raw()]
    assert writer.hits_write(hits) == 2  # committed; the buffer was not trimmed
    totals = writer.events_flush()
    assert (totals["read"], totals["stored"]) == (2, 0) and buffer.buffer_length() == 0
    assert Event.objects.unscoped().filter(message=message).count() == 2
    prospect = Prospect.objects.unscoped().get(pk=message.prospect_id)
    assert (prospect.human_opens, prospect.human_clicks) == (1, 1)


def test_a_failed_write_leaves_the_batch_in_the_buffer(tenant) -> None:
    message = _message(tenant)
    _open(message)
    # A second drainer holding the lock: this one does nothing and loses nothing.
    buffer.redis_client().set(buffer.key(buffer.LOCK_KEY), "someone-else", ex=60)
    assert writer.events_flush()["busy"] == 1 and buffer.buffer_length() == 1
    buffer.redis_client().delete(buffer.key(buffer.LOCK_KEY))
    assert writer.events_flush()["stored"] == 1


def test_malformed_hits_are_logged_and_dropped(tenant, caplog) -> None:
    message = _message(tenant)
    buffer.redis_client().rpush(buffer.key(buffer.BUFFER_KEY), b"{not json", json.dumps({"k": "o"}))
    _open(message)
    totals = writer.events_flush()
    assert (totals["read"], totals["malformed"], totals["stored"]) == (3, 2, 1)
    assert "malformed hit" in caplog.text


def test_every_link_at_once_flags_the_clicks(tenant) -> None:
    message = _message(tenant)
    _click(message, 0)
    _click(message, 1)
    writer.events_flush()
    reasons = set(Event.objects.unscoped().filter(message=message).values_list("is_bot", "bot_reason"))
    assert reasons == {(True, "all 2 links clicked within 10 s")}
    assert Prospect.objects.unscoped().get(pk=message.prospect_id).human_clicks == 0


def test_click_right_after_sending_is_a_scanner(tenant) -> None:
    message = _message(tenant, sent_ago=2)
    _click(message, 0)
    writer.events_flush()
    event = Event.objects.unscoped().get(message=message)
    assert event.is_bot and event.bot_reason in ("clicked 2 s after sending", "clicked 3 s after sending")


def test_hit_for_another_orgs_message_is_dropped(tenant, other_tenant) -> None:
    theirs = _message(other_tenant)
    hit = {"id": "x1", "k": "o", "org": tenant.org.pk, "msg": theirs.pk, "at": 1.0e9, "ip": "", "ua": "x"}
    buffer.redis_client().rpush(buffer.key(buffer.BUFFER_KEY), json.dumps(hit))
    assert writer.events_flush()["stored"] == 0
    assert not Event.objects.unscoped().exists()


def test_sent_event_once_per_message(tenant) -> None:
    message = _message(tenant)
    assert writer.events_sent_record(messages=[message]) == 1
    writer.events_sent_record(messages=[message])
    [sent] = Event.objects.unscoped().filter(message=message, kind="sent")
    assert (sent.external_id, sent.source) == (f"sent:{message.pk}", "smtp")
