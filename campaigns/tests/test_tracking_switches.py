"""Campaign tracking switches: on by default, copied into each message, "first email as plain text" for step 1,
editable through the API and the builder form."""

from __future__ import annotations

import json

import pytest

from campaigns.enrollment import enrollment_create_many
from campaigns.models import Campaign
from campaigns.scheduler.dispatch import dispatch_run
from campaigns.services import campaign_launch
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from outreach.models import Message
from outreach.tests.factories import MailboxFactory
from prospects.tests.factories import ProspectFactory


def _launched(tenant: Tenant, **fields):  # type: ignore[no-untyped-def]
    tenant.org.postal_address = "1 Main Street, Springfield"
    tenant.org.save()
    campaign = campaign_with_steps(tenant.org, mailboxes=[MailboxFactory(org=tenant.org)], steps=2, **fields)
    with tenant.scope():
        enrollment_create_many(campaign=campaign, prospect_ids=[ProspectFactory(org=tenant.org).pk])
        campaign_launch(campaign=campaign)
    return campaign


@pytest.mark.django_db
def test_new_campaigns_track_opens_and_clicks() -> None:
    field = Campaign._meta.get_field
    assert (field("track_opens").default, field("track_clicks").default) == (True, True)
    assert field("first_email_plain").default is False


@pytest.mark.django_db
def test_dispatch_copies_the_switches_into_the_message(tenant: Tenant) -> None:
    _launched(tenant, track_opens=True, track_clicks=False, first_email_plain=True)
    assert dispatch_run()["created"] == 1
    [message] = Message.objects.unscoped().filter(org=tenant.org)
    assert message.meta["track_opens"] is True and message.meta["track_clicks"] is False
    assert message.meta["plain"] is True  # step 1 of a "first email as plain text" campaign


@pytest.mark.django_db
def test_api_fields(tenant: Tenant) -> None:
    api = tenant.api()
    body = {"name": "Q4", "steps": [{"variants": [{"name": "A", "subject": "Hi", "body": "Hello"}]}]}
    created = api.post("/api/v1/campaigns", data=json.dumps(body), content_type="application/json").json()
    assert (created["track_opens"], created["track_clicks"], created["first_email_plain"]) == (
        True,
        True,
        False,
    )
    patch = {"track_opens": False, "first_email_plain": True}
    changed = api.patch(
        f"/api/v1/campaigns/{created['id']}", data=json.dumps(patch), content_type="application/json"
    ).json()
    assert (changed["track_opens"], changed["track_clicks"], changed["first_email_plain"]) == (
        False,
        True,
        True,
    )


@pytest.mark.django_db
def test_builder_form_has_the_checkboxes(tenant: Tenant) -> None:
    campaign = campaign_with_steps(tenant.org)
    html = tenant.member_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    for name, label in [
        ("track_opens", "Count opens"),
        ("track_clicks", "Count link clicks"),
        ("first_email_plain", "Send the first email as plain text"),
    ]:
        assert f'name="{name}"' in html and label in html
