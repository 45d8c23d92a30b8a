"""`{{ booking_link }}` in a campaign step: rendered by the scheduler for the campaign owner's first meeting type,
carrying a signed token of the prospect and the message; known to the step editor's checker."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from campaigns.enrollment import enrollment_create_many
from campaigns.meetings.models import BookingProfile, MeetingType
from campaigns.meetings.tokens import link_token_read
from campaigns.models import Enrollment, EnrollmentState, Variant
from campaigns.scheduler.dispatch import dispatch_run
from campaigns.services import campaign_launch
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from outreach.compose.templates import template_context, template_problems
from outreach.models import Message
from outreach.tests.factories import MailboxFactory
from prospects.tests.factories import ProspectFactory

BODY = "Hi {{ first_name }},\n\nPick a time that suits you: {{ booking_link }}\n"


def _campaign(tenant: Tenant, owner):  # type: ignore[no-untyped-def]
    mailbox = MailboxFactory(org=tenant.org)
    campaign = campaign_with_steps(tenant.org, mailboxes=[mailbox], owner=owner)
    with tenant.scope():
        Variant.objects.filter(step__campaign=campaign).update(body=BODY)
        ada = ProspectFactory(org=tenant.org, first_name="Ada", email="ada@engines.test")
        enrollment_create_many(campaign=campaign, prospect_ids=[ada.pk])
        campaign_launch(campaign=campaign)
    return campaign, ada


@pytest.mark.django_db
def test_the_link_names_the_prospect_and_the_message(
    tenant: Tenant, host_profile: BookingProfile, intro: MeetingType
) -> None:
    _, ada = _campaign(tenant, tenant.owner)
    assert dispatch_run()["created"] == 1
    with tenant.scope():
        message = Message.objects.get(prospect=ada)
    [url] = re.findall(r"https?://\S+", message.body_text)
    assert f"/book/{host_profile.slug}/{intro.slug}/?t=" in url
    target = link_token_read(url.split("?t=", 1)[1])
    assert target is not None
    assert (target.org_id, target.prospect_id, target.send_key) == (tenant.org.pk, ada.pk, message.send_key)


@pytest.mark.django_db
def test_an_owner_without_a_meeting_type_holds_the_enrollment_with_a_reason(tenant: Tenant) -> None:
    _, ada = _campaign(tenant, tenant.admin)  # the admin never opened Settings → Meetings
    assert dispatch_run()["held"] == 1
    with tenant.scope():
        enrollment = Enrollment.objects.get(prospect=ada)
        assert not Message.objects.exists()
    assert enrollment.state == EnrollmentState.PAUSED
    assert "the campaign's owner offers no meeting type yet (Settings → Meetings)" in enrollment.hold_reason


@pytest.mark.django_db
def test_the_step_editor_knows_the_variable(tenant: Tenant) -> None:
    with tenant.scope():
        sample = template_context(prospect=ProspectFactory(org=tenant.org), mailbox=None, hooks=[])
    assert template_problems(BODY, sample=sample) == []
    assert template_problems("{{ booking_lnk }}", sample=sample) == [
        "{{ booking_lnk }} is not a variable offered to email templates."
    ]


@pytest.mark.django_db
def test_the_live_preview_shows_the_booking_link(
    tenant: Tenant, host_profile: BookingProfile, intro: MeetingType
) -> None:
    campaign, ada = _campaign(tenant, tenant.owner)
    fields = {"variant": "step-0-variant-0", "step-0-variant-0-subject": "Hi", "step-0-variant-0-body": BODY}
    url = reverse("campaign_preview", args=[campaign.pk])
    body = tenant.member_client.post(
        url, {**fields, "prospect": ada.pk}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f"/book/{host_profile.slug}/{intro.slug}/?t=" in body and "would be held" not in body
