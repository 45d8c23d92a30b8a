"""The inbox as a rep uses it: the list and its tabs and filters, paging, the thread, answering, outcomes."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory
from outreach.inbox import services
from outreach.models import Message, MessageStatus, Reply, ReplyIntent, ReplyKind
from outreach.tests.factories import MailboxFactory, MessageFactory, ReplyFactory
from prospects.models import Outcome, Stage
from prospects.tests.factories import ProspectFactory

pytestmark = pytest.mark.django_db


def _sent(tenant, *, prospect=None, mailbox=None, **kwargs) -> Message:
    prospect = prospect or ProspectFactory(org=tenant.org)
    mailbox = mailbox or MailboxFactory(org=tenant.org)
    return MessageFactory(
        mailbox=mailbox,
        prospect=prospect,
        to_email=prospect.email,
        status=MessageStatus.SENT,
        sent_at=timezone.now() - dt.timedelta(days=1),
        **kwargs,
    )


def _reply(tenant, **kwargs) -> Reply:
    message = kwargs.pop("message", None) or _sent(tenant)
    return ReplyFactory(message=message, **kwargs)


def test_inbox_lists_human_replies_and_keeps_machine_mail_in_its_own_tab(tenant) -> None:
    human = _reply(tenant, subject="Re: Pricing for Acme", intent=ReplyIntent.INTERESTED)
    ooo = _reply(tenant, kind=ReplyKind.AUTO_REPLY, subject="Out of office: back Monday")
    bounce = _reply(tenant, kind=ReplyKind.BOUNCE, subject="Undeliverable: hello", bounce_hard=True)
    page = tenant.member_client.get("/inbox/").content.decode()
    assert human.subject in page and "Interested" in page
    assert ooo.subject not in page and bounce.subject not in page
    automatic = tenant.member_client.get("/inbox/?tab=automatic").content.decode()
    assert ooo.subject in automatic and bounce.subject in automatic and human.subject not in automatic
    assert "Bounced (address does not exist)" in automatic


def test_list_query_count_does_not_grow_with_rows(tenant, django_assert_max_num_queries) -> None:
    campaign = CampaignFactory(org=tenant.org)
    for _ in range(20):
        _reply(tenant, campaign_id=campaign.pk, intent=ReplyIntent.NOT_NOW)
    with django_assert_max_num_queries(12):
        response = tenant.member_client.get("/inbox/")
    assert response.status_code == 200
    assert response.content.decode().count('href="/inbox/') >= 20
    with django_assert_max_num_queries(12):
        tenant.member_client.get("/inbox/", {"campaign": campaign.pk}, HTTP_HX_REQUEST="true")


def test_filters_narrow_the_list_over_htmx(tenant) -> None:
    owner_prospect = ProspectFactory(org=tenant.org, owner=tenant.member)
    box = MailboxFactory(org=tenant.org, from_email="sales@acme.test")
    campaign = CampaignFactory(org=tenant.org, name="Spring outreach")
    by_owner = _reply(tenant, message=_sent(tenant, prospect=owner_prospect), subject="Re: owned")
    by_box = _reply(tenant, message=_sent(tenant, mailbox=box), subject="Re: via sales box")
    in_campaign = _reply(tenant, campaign_id=campaign.pk, subject="Re: campaign one")
    not_interested = _reply(tenant, intent=ReplyIntent.NOT_INTERESTED, subject="Re: no thanks")
    read = _reply(tenant, subject="Re: already read", read_at=timezone.now())
    everything = {r.subject for r in (by_owner, by_box, in_campaign, not_interested, read)}

    def shown(**params: object) -> set[str]:
        response = tenant.member_client.get("/inbox/", params, HTTP_HX_REQUEST="true")
        body = response.content.decode()
        assert "<html" not in body  # the partial only
        return {subject for subject in everything if subject in body}

    assert shown() == everything
    assert shown(owner=tenant.member.pk) == {by_owner.subject}
    assert shown(mailbox=box.pk) == {by_box.subject}
    assert shown(campaign=campaign.pk) == {in_campaign.subject}
    assert shown(intent="not_interested") == {not_interested.subject}
    assert shown(unread="on") == everything - {read.subject}
    page = tenant.member_client.get("/inbox/").content.decode()
    assert "Spring outreach" in page and "sales@acme.test" in page  # the filter choices


def test_keyset_pages_show_every_reply_once_newest_first(tenant) -> None:
    now = timezone.now()
    replies = [
        _reply(tenant, subject=f"Re: number {i:02d}", received_at=now - dt.timedelta(minutes=i))
        for i in range(30)
    ]
    first = tenant.member_client.get("/inbox/").content.decode()
    seen_first = re.findall(r"Re: number (\d\d)", first)
    assert seen_first == [f"{i:02d}" for i in range(25)]
    cursor = re.search(r'id="older"[^>]*|href="[^"]*cursor=([^"&]+)"', first)
    older = re.search(r'href="/inbox/\?cursor=([^"]+)" id="older"', first)
    assert cursor and older
    second = tenant.member_client.get(f"/inbox/?cursor={older.group(1)}").content.decode()
    assert re.findall(r"Re: number (\d\d)", second) == [f"{i:02d}" for i in range(25, 30)]
    assert 'id="older"' not in second
    assert len(replies) == 30
    # A tampered cursor shows the first page rather than an error.
    assert tenant.member_client.get("/inbox/?cursor=forged").status_code == 200


def test_thread_shows_the_conversation_in_order_and_marks_read(tenant) -> None:
    prospect = ProspectFactory(org=tenant.org, first_name="Ada", last_name="Lovelace")
    opener = _sent(tenant, prospect=prospect, subject="Quick idea for Acme", body_text="Hi Ada, the opener.")
    follow = MessageFactory(
        mailbox=opener.mailbox,
        prospect=prospect,
        to_email=prospect.email,
        status=MessageStatus.SENT,
        sent_at=timezone.now() - dt.timedelta(hours=5),
        subject="Re: Quick idea for Acme",
        body_text="Hi Ada, the follow-up.",
        in_reply_to=opener.message_id,
        references=opener.message_id,
    )
    reply = ReplyFactory(
        message=follow,
        body_text="Yes, call me Tuesday.\n\nOn Mon, Sam wrote:\n> Hi Ada, the follow-up.",
        body_clean="Yes, call me Tuesday.",
        references=f"{opener.message_id} {follow.message_id}",
    )
    assert tenant.member_client.get("/inbox/unread/").content.decode().count(">1<") == 1
    page = tenant.member_client.get(f"/inbox/{reply.pk}/").content.decode()
    assert page.index("the opener.") < page.index("the follow-up.") < page.index("Yes, call me Tuesday.")
    assert "Show the whole email (with quoted history)" in page and "&gt; Hi Ada, the follow-up." in page
    reply.refresh_from_db()
    assert reply.read_at is not None and reply.read_by == tenant.member
    assert "<mark" not in tenant.member_client.get("/inbox/unread/").content.decode()
    tenant.member_client.post(f"/inbox/{reply.pk}/unread/")
    reply.refresh_from_db()
    assert reply.read_at is None


def test_answer_is_one_message_in_the_thread_from_the_same_mailbox(tenant) -> None:
    reply = _reply(tenant, subject="Re: Quick idea", references="<root@sender.test>, <step2@sender.test>")
    page = tenant.member_client.get(f"/inbox/{reply.pk}/").content.decode()
    number = re.search(r'name="number" value="(\d+)"', page).group(1)
    data = {"body": "Great, Tuesday 10:00 works.", "number": number}
    response = tenant.member_client.post(f"/inbox/{reply.pk}/answer/", data)
    assert response.status_code == 302
    again = tenant.member_client.post(f"/inbox/{reply.pk}/answer/", data, follow=True)
    assert "was not sent twice" in again.content.decode()
    [answer] = Message.objects.unscoped().filter(origin="inbox")
    assert answer.send_key == f"inbox-reply:{reply.pk}:1"
    assert answer.mailbox == reply.mailbox and answer.to_email == reply.from_email
    assert answer.subject == "Re: Quick idea" and answer.status == MessageStatus.QUEUED
    assert answer.in_reply_to == reply.rfc_message_id
    assert answer.references.split() == [
        reply.message.message_id,
        "<root@sender.test>",
        "<step2@sender.test>",
        reply.rfc_message_id,
    ]
    assert answer.body_text.startswith("Great, Tuesday 10:00 works.") and "> Sounds good" in answer.body_text
    # The next form counts on: a second, different answer is a second message.
    page = tenant.member_client.get(f"/inbox/{reply.pk}/").content.decode()
    assert 'name="number" value="2"' in page and "answered from the inbox" in page


def test_empty_answer_is_refused_with_the_reason(tenant) -> None:
    reply = _reply(tenant)
    response = tenant.member_client.post(f"/inbox/{reply.pk}/answer/", {"body": "  ", "number": 1})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    assert not Message.objects.unscoped().filter(origin="inbox").exists()


@pytest.mark.parametrize(
    ("button", "stage", "result", "reason"),
    [
        ("meeting", Stage.MEETING, None, None),
        ("won", Stage.WON, "won", ""),
        ("lost", Stage.LOST, "lost", ""),
        ("not_interested", Stage.LOST, "lost", "not interested"),
    ],
)
def test_outcome_buttons_feed_the_scoring_loop(tenant, button, stage, result, reason) -> None:
    reply = _reply(tenant)
    response = tenant.member_client.post(f"/inbox/{reply.pk}/outcome/", {"outcome": button}, follow=True)
    assert "Recorded for" in response.content.decode()
    prospect = reply.prospect
    prospect.refresh_from_db()
    assert prospect.stage == stage
    outcomes = list(
        Outcome.objects.unscoped().filter(prospect=prospect).values_list("result", "reason", "source")
    )
    assert outcomes == ([] if result is None else [(result, reason, "inbox")])


def test_unknown_outcome_changes_nothing(tenant) -> None:
    reply = _reply(tenant)
    response = tenant.member_client.post(f"/inbox/{reply.pk}/outcome/", {"outcome": "maybe"}, follow=True)
    assert "must be one of" in response.content.decode()
    assert not Outcome.objects.unscoped().exists()


def test_other_org_gets_404(tenant, other_tenant) -> None:
    reply = _reply(tenant, subject="Re: secret deal")
    assert other_tenant.owner_client.get(f"/inbox/{reply.pk}/").status_code == 404
    assert (
        other_tenant.owner_client.post(f"/inbox/{reply.pk}/answer/", {"body": "x", "number": 1}).status_code
        == 404
    )
    assert (
        other_tenant.owner_client.post(f"/inbox/{reply.pk}/outcome/", {"outcome": "won"}).status_code == 404
    )
    assert "secret deal" not in other_tenant.owner_client.get("/inbox/").content.decode()
    reply.refresh_from_db()
    assert reply.read_at is None


def test_answer_service_reuses_the_send_key(tenant) -> None:
    reply = _reply(tenant)
    with tenant.scope():
        first, created = services.inbox_reply_send(reply=reply, user=tenant.member, body="One", number=1)
        second, created_again = services.inbox_reply_send(
            reply=reply, user=tenant.member, body="One", number=1
        )
    assert created and not created_again and first.pk == second.pk


def test_thread_query_count_does_not_grow_with_the_conversation(
    tenant, django_assert_max_num_queries
) -> None:
    opener = _sent(tenant)
    latest = opener
    for i in range(6):
        latest = MessageFactory(
            mailbox=opener.mailbox,
            prospect=opener.prospect,
            to_email=opener.to_email,
            status=MessageStatus.SENT,
            sent_at=timezone.now() - dt.timedelta(hours=10 - i),
            in_reply_to=latest.message_id,
            references=f"{opener.message_id} {latest.message_id}",
        )
        ReplyFactory(message=latest, received_at=timezone.now() - dt.timedelta(hours=9 - i))
    reply = Reply.objects.unscoped().filter(message=latest).get()
    with django_assert_max_num_queries(14):
        page = tenant.member_client.get(f"/inbox/{reply.pk}/").content.decode()
    assert page.count('class="thread-item') == 13
