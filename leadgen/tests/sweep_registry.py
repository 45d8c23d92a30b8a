"""What the cross-tenant sweep needs to build every id-bearing URL.

Each URL kwarg that names a tenant object maps to a function that creates such an object in the given tenant
and returns (value for the URL, a text that appears on list pages for that object). A route with a kwarg missing
here fails the sweep: register a factory when you add a route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.tests.factories import InvitationFactory, MembershipFactory, UserFactory, apikey_for

Factory = Callable[[Any], tuple[Any, str]]


def _membership(tenant: Any) -> tuple[Any, str]:
    user = UserFactory()
    return MembershipFactory(org=tenant.org, user=user).pk, user.email


def _invitation(tenant: Any) -> tuple[Any, str]:
    invitation = InvitationFactory(org=tenant.org)
    return invitation.pk, invitation.email


def _apikey(tenant: Any) -> tuple[Any, str]:
    key, _ = apikey_for(tenant.org, name=f"sweep key {tenant.org.slug}")
    return key.pk, key.name


def _prospect(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import ProspectFactory

    prospect = ProspectFactory(org=tenant.org, first_name="Sweepmarker", last_name=tenant.org.slug)
    return prospect.pk, prospect.email


def _company(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import CompanyFactory

    company = CompanyFactory(org=tenant.org, name=f"Sweepco {tenant.org.slug}")
    return company.pk, company.name


ID_FACTORIES: dict[str, Factory] = {
    "membership_id": _membership,
    "invitation_id": _invitation,
    "apikey_id": _apikey,
    "prospect_id": _prospect,
    "company_id": _company,
}

# Kwargs that carry signed tokens, not ids: such routes are public by design and checked by their own tests.
PUBLIC_KWARGS = {"token": "signed, expiring invitation links"}
PUBLIC_KWARGS["form_key"] = "lead form keys: public web-form endpoints, tested in test_hooks.py"
PUBLIC_KWARGS["source_key"] = "lead-source public ids: signed Meta/Google webhooks, tested in test_hooks.py"

# Route prefixes outside tenant data: Django's staff admin and allauth's own signed-key pages.
EXEMPT_PREFIXES = ("admin/", "accounts/")


def register(kwarg: str, factory: Factory) -> None:
    ID_FACTORIES[kwarg] = factory


def _lead_form(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import LeadFormFactory

    lead_form = LeadFormFactory(org=tenant.org, name=f"Sweepform {tenant.org.slug}")
    return lead_form.pk, lead_form.name


def _suppression(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import SuppressionFactory

    entry = SuppressionFactory(org=tenant.org, value=f"sweep-suppressed@{tenant.org.slug}.test")
    return entry.pk, entry.value


register("lead_form_id", _lead_form)
register("suppression_id", _suppression)


def _saved_view(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import SavedViewFactory

    # The owner's view: the sweep's control request is made by the owner of org A.
    saved = SavedViewFactory(org=tenant.org, user=tenant.owner, name=f"Sweepview {tenant.org.slug}")
    return saved.pk, saved.name


register("saved_view_id", _saved_view)


def _import(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import ImportFactory

    job = ImportFactory(org=tenant.org, original_name=f"sweepimport-{tenant.org.slug}.csv")
    return job.pk, job.original_name


if "import_id" not in ID_FACTORIES:
    register("import_id", _import)


def _icp(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import ICPFactory

    icp = ICPFactory(org=tenant.org, name=f"Sweepicp {tenant.org.slug}")
    return icp.pk, icp.name


register("icp_id", _icp)


def _webhook_endpoint(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import WebhookEndpointFactory

    endpoint = WebhookEndpointFactory(org=tenant.org, url=f"https://hooks.{tenant.org.slug}.example/sweep")
    return endpoint.pk, endpoint.url


def _discovery_run(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import DiscoveryRunFactory

    run = DiscoveryRunFactory(org=tenant.org, icp__name=f"Sweepdiscovery {tenant.org.slug}", status="done")
    return run.pk, run.icp.name


register("webhook_endpoint_id", _webhook_endpoint)
register("discovery_run_id", _discovery_run)


def _mailbox(tenant: Any) -> tuple[Any, str]:
    from outreach.tests.factories import MailboxFactory

    mailbox = MailboxFactory(org=tenant.org, name=f"Sweepbox {tenant.org.slug}")
    return mailbox.pk, mailbox.name


def _message(tenant: Any) -> tuple[Any, str]:
    from outreach.models import MessageStatus
    from outreach.tests.factories import MailboxFactory, MessageFactory

    mailbox = MailboxFactory(org=tenant.org)
    message = MessageFactory(
        mailbox=mailbox, status=MessageStatus.DRAFT, subject=f"Sweepmail {tenant.org.slug}"
    )
    return message.pk, message.subject


register("mailbox_id", _mailbox)
register("message_id", _message)
PUBLIC_KWARGS["unsubscribe_token"] = (
    "signed per-message unsubscribe tokens, tested in outreach/tests/test_unsubscribe.py"
)
PUBLIC_KWARGS["tracking_token"] = (
    "signed open/click tracking tokens, tested in outreach/tests/tracking/test_handlers.py (a token of one "
    "organisation never reaches another's message)"
)
PUBLIC_KWARGS["webhook_token"] = (
    "per-mailbox HMAC tokens of ESP webhooks, signed by the ESP too; tested in "
    "outreach/tests/inbound/test_esp_webhooks.py (a hook touches only its own mailbox's messages)"
)
PUBLIC_KWARGS["hook_kind"] = "inbound | tracking, beside an ESP webhook_token"


def _campaign(tenant: Any) -> tuple[Any, str]:
    from campaigns.tests.factories import CampaignFactory

    campaign = CampaignFactory(org=tenant.org, name=f"Sweepcampaign {tenant.org.slug}")
    return campaign.pk, campaign.name


def _enrollment(tenant: Any) -> tuple[Any, str]:
    """An enrollment in the tenant's newest sweep campaign, so `/campaigns/<id>/enrollments/<id>` pairs match."""
    from campaigns.models import Campaign, Enrollment
    from campaigns.tests.factories import CampaignFactory
    from prospects.tests.factories import ProspectFactory

    campaign = Campaign.objects.unscoped().filter(org=tenant.org, name__startswith="Sweepcampaign").order_by(
        "-id"
    ).first() or CampaignFactory(org=tenant.org, name=f"Sweepcampaign {tenant.org.slug}")
    prospect = ProspectFactory(org=tenant.org, first_name="Sweepenrolled")
    enrollment = Enrollment.objects.unscoped().create(
        org=tenant.org, campaign=campaign, prospect=prospect, timezone="UTC", timezone_source="fallback"
    )
    return enrollment.pk, prospect.email


register("campaign_id", _campaign)
register("enrollment_id", _enrollment)


def _reply(tenant: Any) -> tuple[Any, str]:
    """A human reply to a sent message of the tenant (the inbox's thread, answer and outcome routes)."""
    from outreach.tests.factories import MailboxFactory, MessageFactory, ReplyFactory
    from prospects.tests.factories import ProspectFactory

    prospect = ProspectFactory(org=tenant.org, first_name="Sweepreplier")
    message = MessageFactory(
        mailbox=MailboxFactory(org=tenant.org), prospect=prospect, to_email=prospect.email, status="sent"
    )
    reply = ReplyFactory(message=message, subject=f"Sweepreply {tenant.org.slug}")
    return reply.pk, reply.subject


register("reply_id", _reply)


def _meeting_profile(tenant: Any) -> Any:
    """The owner's booking profile (the sweep's control requests are the owner's; these pages are per user)."""
    from campaigns.meetings.services import profile_ensure

    with tenant.scope():
        return profile_ensure(org=tenant.org, user=tenant.owner)


def _meeting_type(tenant: Any) -> tuple[Any, str]:
    from campaigns.meetings.models import MeetingType

    profile = _meeting_profile(tenant)
    meeting_type = MeetingType.objects.unscoped().create(
        org=tenant.org, profile=profile, name=f"Sweepmeet {tenant.org.slug}", slug=f"sweep-{tenant.org.slug}"
    )
    return meeting_type.pk, meeting_type.name


def _date_override(tenant: Any) -> tuple[Any, str]:
    import datetime as dt

    from campaigns.meetings.models import DateOverride

    profile = _meeting_profile(tenant)
    override = DateOverride.objects.unscoped().create(
        org=tenant.org, profile=profile, date=dt.date(2031, 1, 2)
    )
    return override.pk, f"sweep-override-{override.pk}"


def _meeting(tenant: Any) -> tuple[Any, str]:
    import datetime as dt

    from django.utils import timezone

    from campaigns.meetings.models import Meeting, MeetingType

    profile = _meeting_profile(tenant)
    meeting_type = MeetingType.objects.unscoped().filter(profile=profile).order_by("id").first()
    starts = timezone.now() + dt.timedelta(days=2, minutes=7 * Meeting.objects.unscoped().count())
    meeting = Meeting.objects.unscoped().create(
        org=tenant.org,
        host=tenant.owner,
        meeting_type=meeting_type,
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=5),
        visitor_name=f"Sweepvisitor {tenant.org.slug}",
        visitor_email=f"visitor@{tenant.org.slug}.test",
    )
    return meeting.pk, meeting.visitor_name


register("meeting_type_id", _meeting_type)
register("date_override_id", _date_override)
register("meeting_id", _meeting)
PUBLIC_KWARGS["host_slug"] = (
    "public booking pages by a host's slug, tested in campaigns/tests/meetings/test_views.py"
)
PUBLIC_KWARGS["type_slug"] = PUBLIC_KWARGS["host_slug"]
PUBLIC_KWARGS["manage_token"] = "signed per-meeting tokens, tested in campaigns/tests/meetings/test_views.py"
PUBLIC_KWARGS["crm_hook_key"] = "signed HubSpot webhook keys, tested in prospects/tests/crm/test_hooks.py"
PUBLIC_KWARGS["outcome_hook_key"] = "signed outcome hook keys, tested in prospects/tests/crm/test_hooks.py"
