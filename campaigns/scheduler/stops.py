"""Stop rules: what ends an enrollment, checked by the pull (every tick) and again right before each send.

Data comes from below, pulled, never pushed up: the prospect's stage (a reply or a booked meeting moves it),
do-not-contact, the suppression list, outreach's `Unsubscribe` rows, the email status (a hard bounce marks it
invalid), and outreach's engagement rows since the enrollment began (`engagement_stop_reason`): a human reply, a
reply asking to be taken off the list, a hard bounce, a human click when the campaign stops on clicks. Bot and
machine clicks (`Event.is_bot`) never stop anything: security scanners click every link of every mail.

Auto-replies never stop anything: `pauses.py` moves the next send to after the person's return instead.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import Combinable

from outreach.models import Event, EventKind, Reply, ReplyIntent, ReplyKind, Unsubscribe
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


def _replies(enrollment: Enrollment) -> QuerySet[Reply]:
    return Reply.objects.unscoped().filter(org_id=enrollment.org_id, prospect_id=enrollment.prospect_id)


def engagement_stop_reason(enrollment: Enrollment) -> str:
    """A stop from outreach's Reply and Event rows since `enrollment.enrolled_at`, or "" (two to four queries).

    An unsubscribe request by reply counts whenever it came, whatever the rules (the law, like Unsubscribe rows);
    a reply, a hard bounce, a colleague's reply and a human click count from the enrollment's start on, by the
    campaign's rules."""
    campaign, since = enrollment.campaign, enrollment.enrolled_at
    rules = set(campaign.stop_on)
    found = list(
        _replies(enrollment)
        .filter(
            Q(kind=ReplyKind.REPLY, intent=ReplyIntent.UNSUBSCRIBE)
            | Q(kind=ReplyKind.REPLY, received_at__gte=since)
            | Q(kind=ReplyKind.BOUNCE, bounce_hard=True, received_at__gte=since)
        )
        .values_list("kind", "intent")[:20]
    )
    if any(intent == ReplyIntent.UNSUBSCRIBE for kind, intent in found if kind == ReplyKind.REPLY):
        return StopReason.UNSUBSCRIBED
    if StopRule.REPLY in rules and any(kind == ReplyKind.REPLY for kind, _ in found):
        return StopReason.REPLIED
    if StopRule.BOUNCE in rules and any(kind == ReplyKind.BOUNCE for kind, _ in found):
        return StopReason.BOUNCED
    company_id = enrollment.prospect.company_id
    if campaign.stop_company and StopRule.REPLY in rules and company_id:
        colleague = Reply.objects.unscoped().filter(
            org_id=enrollment.org_id,
            prospect__company_id=company_id,
            kind=ReplyKind.REPLY,
            received_at__gte=since,
        )
        if colleague.exclude(prospect_id=enrollment.prospect_id).exists():
            return StopReason.COMPANY_REPLIED
    if StopRule.CLICK in rules and _human_clicks(enrollment).exists():
        return StopReason.CLICKED
    return ""


def _human_clicks(enrollment: Enrollment) -> QuerySet[Event]:
    """Clicks by a person (never a scanner's) on this campaign's mail since the enrollment began."""
    return Event.objects.unscoped().filter(
        org_id=enrollment.org_id,
        prospect_id=enrollment.prospect_id,
        campaign_id=enrollment.campaign_id,
        kind=EventKind.CLICKED,
        is_bot=False,
        at__gte=enrollment.enrolled_at,
    )


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


def _engagement_candidates() -> Combinable:
    """Enrollments whose engagement rows may stop them (as SQL: each is checked again one by one)."""
    replies = Reply.objects.unscoped().filter(org_id=OuterRef("org_id"), prospect_id=OuterRef("prospect_id"))
    since = Q(received_at__gte=OuterRef("enrolled_at"))
    human_click = Event.objects.unscoped().filter(
        org_id=OuterRef("org_id"),
        prospect_id=OuterRef("prospect_id"),
        campaign_id=OuterRef("campaign_id"),
        kind=EventKind.CLICKED,
        is_bot=False,
        at__gte=OuterRef("enrolled_at"),
    )
    colleague = Reply.objects.unscoped().filter(
        since,
        org_id=OuterRef("org_id"),
        prospect__company_id=OuterRef("prospect__company_id"),
        kind=ReplyKind.REPLY,
    )
    return (
        Exists(replies.filter(kind=ReplyKind.REPLY, intent=ReplyIntent.UNSUBSCRIBE))
        | Q(campaign__stop_on__contains=[StopRule.REPLY])
        & Exists(replies.filter(since, kind=ReplyKind.REPLY))
        | Q(campaign__stop_on__contains=[StopRule.BOUNCE])
        & Exists(replies.filter(since, kind=ReplyKind.BOUNCE, bounce_hard=True))
        | Q(campaign__stop_on__contains=[StopRule.CLICK]) & Exists(human_click)
        | Q(campaign__stop_company=True, campaign__stop_on__contains=[StopRule.REPLY])
        & Q(prospect__company_id__isnull=False)
        & Exists(colleague)
    )


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
        & Exists(colleague_replied)
        | _engagement_candidates(),
        state__in=LIVE_STATES,
    )
