"""The message page's history: each hit with who made it (person, machine, bot) and why."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from outreach.models import Event
from outreach.tests.factories import MailboxFactory, MessageFactory


def _event(message, **kwargs) -> Event:
    return Event.objects.unscoped().create(org=message.org, message=message, **kwargs)


def test_history_shows_people_machines_and_bots_apart(tenant, django_assert_max_num_queries) -> None:
    message = MessageFactory(mailbox=MailboxFactory(org=tenant.org), status="sent", sent_at=timezone.now())
    at = timezone.now()
    _event(message, kind="sent", at=at)
    _event(
        message,
        kind="opened",
        at=at + dt.timedelta(seconds=4),
        is_bot=True,
        bot_kind="machine",
        bot_reason="Apple Mail Privacy Protection proxy (network)",
        ip_prefix="172.226.14.0/24",
        user_agent="Mozilla/5.0",
    )
    _event(
        message,
        kind="opened",
        at=at + dt.timedelta(hours=1),
        meta={"via": "Gmail image proxy"},
        user_agent="Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    )
    for n in range(30):
        _event(
            message,
            kind="clicked",
            at=at + dt.timedelta(seconds=2),
            is_bot=True,
            bot_kind="scanner",
            bot_reason="clicked 2 s after sending",
            url=f"https://acme.test/{n}",
            link_index=0,
        )
    with django_assert_max_num_queries(12):
        response = tenant.member_client.get(reverse("message_detail", args=[message.pk]))
    html = response.content.decode()
    assert response.status_code == 200 and "What happened to this email" in html
    assert "<strong>1</strong> opened by the person" in html and "<strong>1</strong> machine open" in html
    assert "<strong>30</strong> by security scanners and other bots" in html
    assert "Apple Mail Privacy Protection proxy (network)" in html and "through the Gmail image proxy" in html
    assert html.count("clicked 2 s after sending") == 30 and ">Machine<" in html and ">Bot<" in html


def test_history_of_another_orgs_message_is_404(tenant, other_tenant) -> None:
    theirs = MessageFactory(mailbox=MailboxFactory(org=other_tenant.org))
    _event(theirs, kind="opened")
    assert tenant.member_client.get(reverse("message_detail", args=[theirs.pk])).status_code == 404


def test_untracked_message_says_so(tenant) -> None:
    message = MessageFactory(mailbox=MailboxFactory(org=tenant.org))
    html = tenant.member_client.get(reverse("message_detail", args=[message.pk])).content.decode()
    assert "sent without open or click tracking" in html
