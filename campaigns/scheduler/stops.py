"""Stop rules: what ends an enrollment, checked by the pull (every tick) and again right before each send.

Data comes from below, pulled, never pushed up: the prospect's stage (a reply or a booked meeting moves it, today by
hand or through the API, with the engagement issue from the inbox), do-not-contact, the suppression list,
outreach's `Unsubscribe` rows, and the email status (a hard bounce marks it invalid). `engagement_stop_reason` is
where the engagement issue's events (reply, bounce, click) plug in.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from outreach.models import Unsubscribe
from prospects.models import Prospect, Stage, Suppression, SuppressionKind

from ..models import Enrollment, EnrollmentState, StopReason, StopRule

REPLY_STAGES = (Stage.REPLIED, Stage.MEETING, Stage.WON, Stage.LOST)
LIVE_STATES = (EnrollmentState.ACTIVE, EnrollmentState.PAUSED)


def _unsubscribed(prospect: Prospect) -> bool:
    email = prospect.email_normalized
    return bool(email) and Unsubscribe.objects.filter(org_id=prospect.org_id, email__iexact=email).exists()


def _suppressed(prospect: Prospect) -> bool:
    from ..enrollment import suppressed_emails

    return bool(suppressed_emails([prospect]))


def _company_replied(enrollment: Enrollment) -> bool:
    prospect = enrollment.prospect
    if not prospect.company_id:
        return False
    return (
        Prospect.objects.filter(company_id=prospect.company_id, stage__in=REPLY_STAGES)
        .exclude(pk=prospect.pk)
        .exists()
    )


def engagement_stop_reason(enrollment: Enrollment) -> str:
    """Hook for the engagement issue: a reply, bounce or (when the campaign stops on it) click recorded as an
    outreach Event for this prospect since `enrollment.enrolled_at`. Until that model exists there is none."""
    return ""


def stop_reason_for(enrollment: Enrollment) -> str:
    """The StopReason that ends this enrollment now, or ""."""
    prospect, campaign = enrollment.prospect, enrollment.campaign
    rules = set(campaign.stop_on)
    if prospect.do_not_contact:
        return StopReason.DO_NOT_CONTACT
    # Unsubscribes and suppression stop every campaign, whatever its rules: the law, not a preference.
    if _unsubscribed(prospect):
        return StopReason.UNSUBSCRIBED
    if _suppressed(prospect):
        return StopReason.SUPPRESSED
    if StopRule.MEETING in rules and prospect.stage == Stage.MEETING:
        return StopReason.MEETING
    if StopRule.REPLY in rules and prospect.stage in REPLY_STAGES:
        return StopReason.REPLIED
    if StopRule.BOUNCE in rules and prospect.email_status == "invalid":
        return StopReason.BOUNCED
    if campaign.stop_company and StopRule.REPLY in rules and _company_replied(enrollment):
        return StopReason.COMPANY_REPLIED
    return engagement_stop_reason(enrollment)


def stop_candidates() -> QuerySet[Enrollment]:
    """Live enrollments, across every org, that some stop rule may end (each is checked again one by one)."""
    unsubscribed = Unsubscribe.objects.unscoped().filter(
        org_id=OuterRef("org_id"), email=OuterRef("prospect__email_normalized")
    )
    suppressed = Suppression.objects.unscoped().filter(
        org_id=OuterRef("org_id"), kind=SuppressionKind.EMAIL, value=OuterRef("prospect__email_normalized")
    )
    colleague_replied = Prospect.objects.unscoped().filter(
        org_id=OuterRef("org_id"), company_id=OuterRef("prospect__company_id"), stage__in=REPLY_STAGES
    )
    return Enrollment.objects.unscoped().filter(
        Q(prospect__do_not_contact=True)
        | Exists(unsubscribed)
        | Exists(suppressed)
        | Q(campaign__stop_on__contains=[StopRule.REPLY], prospect__stage__in=REPLY_STAGES)
        | Q(campaign__stop_on__contains=[StopRule.MEETING], prospect__stage=Stage.MEETING)
        | Q(campaign__stop_on__contains=[StopRule.BOUNCE], prospect__email_status="invalid")
        | Q(campaign__stop_company=True, campaign__stop_on__contains=[StopRule.REPLY])
        & Q(prospect__company_id__isnull=False)
        & Exists(colleague_replied),
        state__in=LIVE_STATES,
    )
