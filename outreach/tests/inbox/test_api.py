"""`/api/v1/events` and `/api/v1/replies`: fields, filters, keyset pages, the error shape, query counts, 404s."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from outreach.models import EventKind, MessageStatus, ReplyIntent, ReplyKind
from outreach.tests.factories import EventFactory, MailboxFactory, MessageFactory, ReplyFactory
from prospects.tests.factories import ProspectFactory

pytestmark = pytest.mark.django_db


def _sent(tenant, prospect=None):
    prospect = prospect or ProspectFactory(org=tenant.org)
    return MessageFactory(
        mailbox=MailboxFactory(org=tenant.org),
        prospect=prospect,
        to_email=prospect.email,
        status=MessageStatus.SENT,
    )


def test_events_list_with_bot_evidence_and_filters(tenant) -> None:
    message = _sent(tenant)
    human = EventFactory(message=message, kind=EventKind.OPENED)
    bot = EventFactory(
        message=message,
        kind=EventKind.CLICKED,
        is_bot=True,
        bot_kind="scanner",
        bot_reason="clicked 2 s after delivery (security scanner)",
        user_agent="Mozilla/5.0 (compatible; SafeLinks)",
    )
    other = EventFactory(message=_sent(tenant), kind=EventKind.OPENED)
    api = tenant.api()
    body = api.get("/api/v1/events", {"message_id": message.pk}).json()
    assert [item["id"] for item in body["items"]] == [bot.pk, human.pk]
    item = body["items"][0]
    assert {
        k: item[k] for k in ("kind", "message_id", "prospect_id", "is_bot", "bot_reason", "user_agent")
    } == {
        "kind": "clicked",
        "message_id": message.pk,
        "prospect_id": message.prospect_id,
        "is_bot": True,
        "bot_reason": "clicked 2 s after delivery (security scanner)",
        "user_agent": "Mozilla/5.0 (compatible; SafeLinks)",
    }
    assert item["at"]
    assert [i["id"] for i in api.get("/api/v1/events", {"kind": "opened"}).json()["items"]] == [
        other.pk,
        human.pk,
    ]
    by_prospect = api.get("/api/v1/events", {"prospect_id": other.prospect_id}).json()["items"]
    assert [i["id"] for i in by_prospect] == [other.pk]
    assert api.get("/api/v1/events", {"kind": "nonsense"}).status_code == 422


def test_events_keyset_pages_and_bad_cursor(tenant, django_assert_max_num_queries) -> None:
    message = _sent(tenant)
    ids = [EventFactory(message=message).pk for _ in range(7)]
    api = tenant.api()
    with django_assert_max_num_queries(6):
        first = api.get("/api/v1/events", {"limit": 5}).json()
    second = api.get("/api/v1/events", {"limit": 5, "cursor": first["next_cursor"]}).json()
    assert [i["id"] for i in first["items"] + second["items"]] == sorted(ids, reverse=True)
    assert second["next_cursor"] is None
    bad = api.get("/api/v1/events", {"cursor": "forged"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor" and bad.json()["detail"]


def test_replies_list_fields_filters_and_pages(tenant, django_assert_max_num_queries) -> None:
    now = timezone.now()
    replies = [
        ReplyFactory(
            message=_sent(tenant), received_at=now - dt.timedelta(minutes=i), intent=ReplyIntent.INTERESTED
        )
        for i in range(6)
    ]
    ooo = ReplyFactory(
        message=_sent(tenant), kind=ReplyKind.AUTO_REPLY, received_at=now - dt.timedelta(hours=1)
    )
    api = tenant.api()
    with django_assert_max_num_queries(6):
        first = api.get("/api/v1/replies", {"limit": 4}).json()
    rest = api.get("/api/v1/replies", {"limit": 4, "cursor": first["next_cursor"]}).json()
    assert [i["id"] for i in first["items"] + rest["items"]] == [r.pk for r in replies] + [ooo.pk]
    item = first["items"][0]
    reply = replies[0]
    assert item["from"] == reply.from_email and "sender" not in item
    assert (item["prospect_id"], item["message_id"], item["subject"], item["intent"]) == (
        reply.prospect_id,
        reply.message_id,
        reply.subject,
        "interested",
    )
    assert item["received_at"]
    assert [i["id"] for i in api.get("/api/v1/replies", {"kind": "auto_reply"}).json()["items"]] == [ooo.pk]
    assert len(api.get("/api/v1/replies", {"intent": "interested"}).json()["items"]) == 6
    assert api.get("/api/v1/replies", {"cursor": "x"}).json()["code"] == "invalid_cursor"


def test_reply_detail_has_the_thread(tenant, django_assert_max_num_queries) -> None:
    sent = _sent(tenant)
    reply = ReplyFactory(message=sent, body_clean="Yes please.")
    with django_assert_max_num_queries(6):
        body = tenant.api().get(f"/api/v1/replies/{reply.pk}").json()
    assert body["from"] == reply.from_email and body["body_clean"] == "Yes please."
    assert [(t["type"], t["id"], t["ours"]) for t in body["thread"]] == [
        ("message", sent.pk, True),
        ("reply", reply.pk, False),
    ]
    assert body["thread"][0]["from"] == sent.mailbox.from_email


def test_other_org_gets_404_and_sees_nothing(tenant, other_tenant) -> None:
    reply = ReplyFactory(message=_sent(tenant))
    EventFactory(message=reply.message)
    api = other_tenant.api()
    response = api.get(f"/api/v1/replies/{reply.pk}")
    assert response.status_code == 404 and "detail" in response.json()
    assert api.get("/api/v1/replies").json()["items"] == []
    assert api.get("/api/v1/events", {"message_id": reply.message_id}).json()["items"] == []
