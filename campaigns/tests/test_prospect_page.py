"""The prospect page shows every campaign and email for that person, and the timezone campaigns send in."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse

from campaigns.enrollment import enrollment_create_many, enrollment_stop
from campaigns.models import Enrollment, StopReason
from campaigns.scheduler.dispatch import dispatch_run
from campaigns.services import campaign_launch
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from outreach.tests.factories import MailboxFactory
from prospects.tests.factories import ProspectFactory

XSS = '<script>alert("x")</script>'


def _html(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.django_db
def test_prospect_page_loads_campaigns_and_emails_and_shows_the_effective_timezone(tenant: Tenant) -> None:
    berliner = ProspectFactory(org=tenant.org, location="Berlin, Germany", timezone="")
    unknown = ProspectFactory(org=tenant.org, location="", timezone="")
    page = _html(tenant.member_client.get(reverse("prospect_detail", args=[berliner.pk])))
    assert "Europe/Berlin (inferred from location)" in page
    assert f'hx-get="{reverse("prospect_campaigns", args=[berliner.pk])}"' in page
    assert f'hx-get="{reverse("prospect_messages", args=[berliner.pk])}"' in page
    set_zone = ProspectFactory(org=tenant.org, timezone="Asia/Tokyo", location="Berlin, Germany")
    assert "Asia/Tokyo (set on the prospect)" in _html(
        tenant.member_client.get(reverse("prospect_detail", args=[set_zone.pk]))
    )
    assert "timezone not known" in _html(
        tenant.member_client.get(reverse("prospect_detail", args=[unknown.pk]))
    )


@pytest.mark.django_db
def test_campaigns_partial_shows_state_step_next_send_in_their_time_and_stop_reason(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    # A 09:00-17:00 window on weekdays, so the next send is a real local time, not "now".
    running = campaign_with_steps(
        tenant.org,
        mailboxes=[mailbox],
        steps=2,
        name=f"Spring {XSS}",
        window_start=dt.time(9, 0),
        window_end=dt.time(17, 0),
        send_days=[1, 2, 3, 4, 5],
        exclusive=False,
    )
    removed = campaign_with_steps(tenant.org, mailboxes=[mailbox], name="Old push", exclusive=False)
    person = ProspectFactory(org=tenant.org, location="Berlin, Germany", timezone="")
    with tenant.scope():
        enrollment_create_many(campaign=running, prospect_ids=[person.pk])
        enrollment_create_many(campaign=removed, prospect_ids=[person.pk])
        campaign_launch(campaign=running)
        stopped = Enrollment.objects.get(campaign=removed)
        enrollment_stop(enrollment=stopped, reason=StopReason.REMOVED)
        active = Enrollment.objects.get(campaign=running)
    assert active.timezone == "Europe/Berlin" and active.next_send_at is not None
    local = active.next_send_at.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert dt.time(9, 0) <= local.time() <= dt.time(17, 0)

    body = _html(
        tenant.member_client.get(reverse("prospect_campaigns", args=[person.pk]), HTTP_HX_REQUEST="true")
    )
    assert "<html" not in body and XSS not in body and "Spring &lt;script&gt;" in body
    assert "Old push" in body and "Removed by a user" in body and "Stopped" in body
    assert "1 of 2" in body
    assert f"{local:%a} {local.day} {local:%b %H:%M}" in body and "Europe/Berlin" in body

    # Once the first email exists, the emails partial lists it with its status.
    dispatch_run(now=active.next_send_at + dt.timedelta(seconds=1))
    emails = _html(tenant.member_client.get(reverse("prospect_messages", args=[person.pk])))
    assert "Queued" in emails and "hello" in emails.lower()


@pytest.mark.django_db
def test_a_prospect_in_no_campaign_says_how_to_add_one(tenant: Tenant) -> None:
    person = ProspectFactory(org=tenant.org)
    body = _html(tenant.member_client.get(reverse("prospect_campaigns", args=[person.pk])))
    assert "Not in any campaign" in body and "Add to campaign" in body


@pytest.mark.django_db
def test_another_orgs_prospect_campaigns_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    person = ProspectFactory(org=tenant.org)
    campaign = campaign_with_steps(tenant.org, mailboxes=[MailboxFactory(org=tenant.org)], name="Secret plan")
    with tenant.scope():
        enrollment_create_many(campaign=campaign, prospect_ids=[person.pk])
    for name in ("prospect_campaigns", "prospect_messages"):
        response = other_tenant.member_client.get(reverse(name, args=[person.pk]))
        assert response.status_code == 404 and b"Secret plan" not in response.content
