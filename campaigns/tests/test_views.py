"""Campaign pages as a user sees them: list (counts without N+1), builder with preview, enrollments, review, add."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.enrollment import enrollment_create_many
from campaigns.models import Campaign, Enrollment
from campaigns.scheduler.dispatch import dispatch_run
from campaigns.services import campaign_launch
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from outreach.models import Message, MessageStatus
from outreach.tests.factories import MailboxFactory
from prospects.tests.factories import ProspectFactory

XSS = '<script>alert("x")</script>'


def _html(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.django_db
def test_list_shows_counts_with_a_fixed_number_of_queries(
    tenant: Tenant, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    mailbox = MailboxFactory(org=tenant.org)
    for i in range(12):
        campaign = campaign_with_steps(tenant.org, mailboxes=[mailbox], name=f"Camp {i} {XSS}")
        people = [ProspectFactory(org=tenant.org) for _ in range(2)]
        with tenant.scope():
            enrollment_create_many(campaign=campaign, prospect_ids=[p.pk for p in people])
            campaign_launch(campaign=campaign)
    dispatch_run()
    tenant.member_client.get(reverse("campaign_list"))  # warm the session
    with django_assert_max_num_queries(8):
        body = _html(tenant.member_client.get(reverse("campaign_list")))
    assert body.count("<tr>") == 13 and XSS not in body and "&lt;script&gt;" in body


@pytest.mark.django_db
def test_new_campaign_builder_save_and_add_step(tenant: Tenant) -> None:
    MailboxFactory(org=tenant.org)
    client = tenant.member_client
    response = client.post(reverse("campaign_new"), {"name": "Spring push"})
    with tenant.scope():
        campaign = Campaign.objects.get(name="Spring push")
    assert response.status_code == 302 and response.url == reverse("campaign_detail", args=[campaign.pk])
    page = _html(client.get(response.url))
    assert "Step 1" in page and "Preview for the chosen prospect" in page
    form = {
        "name": "Spring push",
        "timezone": "Europe/Berlin",
        "send_days": ["1", "2", "3", "4", "5"],
        "window_start": "09:00",
        "window_end": "17:00",
        "daily_new_limit": "40",
        "stop_on": ["reply", "unsubscribe"],
        "exclusive": "on",
        "step-0-present": "1",
        "step-0-delay_amount": "0",
        "step-0-delay_unit": "hours",
        "step-0-thread": "new",
        "step-0-variant-0-present": "1",
        "step-0-variant-0-name": "A",
        "step-0-variant-0-subject": "Hi {{ first_name }}",
        "step-0-variant-0-body": "Hello",
        "step-0-variant-0-weight": "1",
    }
    added = _html(client.post(response.url, {**form, "action": "add_step"}))
    assert "Step 2" in added
    saved = client.post(response.url, {**form, "action": "save"})
    assert saved.status_code == 302
    campaign.refresh_from_db()
    assert campaign.timezone == "Europe/Berlin" and campaign.daily_new_limit == 40
    bad = _html(client.post(response.url, {**form, "timezone": "Nowhere/City", "action": "save"}))
    assert "IANA timezone" in bad


@pytest.mark.django_db
def test_live_preview_renders_for_the_chosen_prospect_and_names_empty_variables(tenant: Tenant) -> None:
    campaign = campaign_with_steps(tenant.org, mailboxes=[MailboxFactory(org=tenant.org)])
    ada = ProspectFactory(org=tenant.org, first_name="Ada", last_name=XSS)
    nameless = ProspectFactory(org=tenant.org, first_name="")
    url = reverse("campaign_preview", args=[campaign.pk])
    # The whole editor is posted; the button names its variant.
    fields = {
        "variant": "step-0-variant-1",
        "step-0-variant-0-subject": "Other variant",
        "step-0-variant-1-subject": "Hi {{ first_name }}",
        "step-0-variant-1-body": "Dear {{ full_name }}",
    }
    body = _html(tenant.member_client.post(url, {**fields, "prospect": ada.pk}, HTTP_HX_REQUEST="true"))
    assert "Hi Ada" in body and "<html" not in body and XSS not in body
    held = _html(tenant.member_client.post(url, {**fields, "prospect": nameless.pk}, HTTP_HX_REQUEST="true"))
    assert "would be held" in held and "first_name" in held
    evil = {**fields, "step-0-variant-1-body": "{% load static %}"}
    assert "not available" in _html(tenant.member_client.post(url, {**evil, "prospect": ada.pk}))


@pytest.mark.django_db
def test_add_to_campaign_from_the_prospect_list_shows_a_result_per_person(tenant: Tenant) -> None:
    campaign = campaign_with_steps(tenant.org, mailboxes=[MailboxFactory(org=tenant.org)])
    ok, dnc = ProspectFactory(org=tenant.org), ProspectFactory(org=tenant.org, do_not_contact=True)
    assert "Add to campaign" in _html(tenant.member_client.get(reverse("prospect_list")))
    chooser = _html(tenant.member_client.post(reverse("campaign_add"), {"ids": [ok.pk, dnc.pk]}))
    assert "Add 2 prospects to" in chooser
    result = _html(
        tenant.member_client.post(reverse("campaign_add"), {"ids": [ok.pk, dnc.pk], "campaign": campaign.pk})
    )
    assert "1 of 2 added" in result and "Not added: Marked do not contact." in result
    enrollments = _html(tenant.member_client.get(reverse("campaign_enrollments", args=[campaign.pk])))
    assert ok.email in enrollments and "fallback" in enrollments


@pytest.mark.django_db
def test_review_queue_edit_approve_and_bulk_reject(tenant: Tenant) -> None:
    campaign = campaign_with_steps(
        tenant.org, mailboxes=[MailboxFactory(org=tenant.org)], review_required=True
    )
    people = [ProspectFactory(org=tenant.org) for _ in range(3)]
    with tenant.scope():
        enrollment_create_many(campaign=campaign, prospect_ids=[p.pk for p in people])
        campaign_launch(campaign=campaign)
    dispatch_run()
    with tenant.scope():
        drafts = list(Message.objects.filter(status=MessageStatus.DRAFT).order_by("id"))
    page = _html(tenant.member_client.get(reverse("campaign_review", args=[campaign.pk])))
    assert all(d.to_email in page for d in drafts)
    tenant.member_client.post(
        reverse("review_act"),
        {"message": drafts[0].pk, "subject": "Edited subject", "body": "Edited body", "action": "approve"},
    )
    tenant.member_client.post(
        reverse("review_act"), {"ids": [drafts[1].pk, drafts[2].pk], "action": "reject"}
    )
    with tenant.scope():
        first = Message.objects.get(pk=drafts[0].pk)
        rest = set(
            Message.objects.filter(pk__in=[drafts[1].pk, drafts[2].pk]).values_list("status", flat=True)
        )
    assert (first.status, first.subject, first.edited_by_id) == (
        MessageStatus.QUEUED,
        "Edited subject",
        tenant.member.pk,
    )
    assert rest == {MessageStatus.CANCELLED}
    assert "Nothing to review" in _html(tenant.member_client.get(reverse("review_queue")))


@pytest.mark.django_db
def test_another_orgs_campaign_pages_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    campaign = campaign_with_steps(tenant.org, mailboxes=[MailboxFactory(org=tenant.org)])
    prospect = ProspectFactory(org=tenant.org)
    with tenant.scope():
        enrollment_create_many(campaign=campaign, prospect_ids=[prospect.pk])
        enrollment = Enrollment.objects.get()
    outsider = other_tenant.member_client
    for name in ("campaign_detail", "campaign_enrollments", "campaign_review"):
        assert outsider.get(reverse(name, args=[campaign.pk])).status_code == 404
    assert outsider.post(reverse("campaign_pause", args=[campaign.pk])).status_code == 404
    assert (
        outsider.post(
            reverse("enrollment_action", args=[campaign.pk, enrollment.pk]), {"action": "stop"}
        ).status_code
        == 404
    )
    assert (
        outsider.post(reverse("campaign_add"), {"ids": [prospect.pk], "campaign": campaign.pk}).status_code
        == 404
    )
    assert "Sweep" not in _html(outsider.get(reverse("campaign_list"))) and campaign.name not in _html(
        outsider.get(reverse("campaign_list"))
    )
