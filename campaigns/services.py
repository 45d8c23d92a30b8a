"""Writes of campaigns: create and edit (with steps and variants), the status lifecycle, and the send guard.

Status: draft → active ⇄ paused → archived, each move a conditional UPDATE on the expected status. Pausing takes
effect at once without touching messages: the scheduler makes no new ones for a paused campaign, and outreach asks
`enrollment_send_guard` right before every send, which holds (keeps queued) the messages of a paused campaign.
Resuming sends nothing twice because each (enrollment, step) has one Message by its unique send key.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from outreach.compose.templates import TemplateRenderError, template_compile
from outreach.models import Mailbox, Message, MessageStatus
from prospects.models import ICP
from prospects.timezones import is_valid_timezone

from .enrollment import (
    LIVE_STATES,
    UNKNOWN_HOLD_MARK,
    enrollment_reschedule_unstarted,
    enrollment_stop,
    enrollment_window,
)
from .models import (
    AiMode,
    Campaign,
    CampaignStatus,
    DelayUnit,
    Enrollment,
    EnrollmentState,
    Step,
    StopReason,
    StopRule,
    Thread,
    Variant,
)
from .scheduler.stops import stop_reason_for
from .scheduler.timing import next_in_window

if TYPE_CHECKING:
    from accounts.models import Organization, User
    from outreach.sending.engine import SendHold

CAMPAIGN_FIELDS = (
    "name",
    "timezone",
    "send_days",
    "window_start",
    "window_end",
    "skip_holidays",
    "holiday_country",
    "daily_new_limit",
    "stop_on",
    "stop_company",
    "ooo_pause_days",
    "exclusive",
    "review_required",
    "track_opens",
    "track_clicks",
    "first_email_plain",
    "auto_enroll",
    "entry_tiers",
    "entry_min_score",
    "entry_stages",
    "entry_tags",
)
PAUSED_HOLD = "The campaign is paused."
MAX_STEPS = 20
MAX_VARIANTS = 5


@dataclass
class VariantData:
    name: str
    subject: str
    body: str
    weight: int = 1


@dataclass
class StepData:
    delay_amount: int = 0
    delay_unit: str = DelayUnit.HOURS
    thread: str = Thread.NEW
    ai_personalise: bool = False
    ai_mode: str = AiMode.OPENING_LINE
    variants: list[VariantData] = field(default_factory=list)


# --- validation --------------------------------------------------------------------------------------------------


def _check_template(text: str, where: str, errors: dict[str, list[str]]) -> None:
    try:
        template_compile(text)
    except TemplateRenderError as exc:
        errors.setdefault("steps", []).append(f"{where}: {exc}")


def _validate_steps(steps: Sequence[StepData], errors: dict[str, list[str]]) -> None:
    if len(steps) > MAX_STEPS:
        errors.setdefault("steps", []).append(f"At most {MAX_STEPS} steps.")
    for number, step in enumerate(steps, start=1):
        if step.delay_unit not in DelayUnit.values or step.thread not in Thread.values:
            errors.setdefault("steps", []).append(f"Step {number}: unknown delay unit or thread.")
        if step.ai_mode not in AiMode.values:
            errors.setdefault("steps", []).append(f"Step {number}: unknown AI mode.")
        if not step.variants:
            errors.setdefault("steps", []).append(f"Step {number} needs at least one variant.")
        if len(step.variants) > MAX_VARIANTS:
            errors.setdefault("steps", []).append(f"Step {number}: at most {MAX_VARIANTS} variants.")
        for variant in step.variants:
            where = f"Step {number}, variant {variant.name or '?'}"
            if not variant.body.strip():
                errors.setdefault("steps", []).append(f"{where}: the body is empty.")
            needs_subject = number == 1 or step.thread == Thread.NEW
            if needs_subject and not variant.subject.strip():
                errors.setdefault("steps", []).append(f"{where}: a new thread needs a subject.")
            _check_template(variant.subject, where, errors)
            _check_template(variant.body, where, errors)


def _validate(data: dict[str, Any], errors: dict[str, list[str]]) -> None:
    if "name" in data and not str(data["name"]).strip():
        errors.setdefault("name", []).append("A campaign needs a name.")
    if "timezone" in data and not is_valid_timezone(data["timezone"]):
        errors.setdefault("timezone", []).append("Use an IANA timezone name such as Europe/Berlin.")
    days = data.get("send_days")
    if days is not None and (not days or any(d not in range(1, 8) for d in days)):
        errors.setdefault("schedule", []).append("Send days are ISO weekdays 1 (Monday) to 7 (Sunday).")
    start, end = data.get("window_start"), data.get("window_end")
    if start is not None and end is not None and start >= end:
        errors.setdefault("schedule", []).append("The daily window must start before it ends.")
    stops = data.get("stop_on")
    if stops is not None and set(stops) - set(StopRule.values):
        errors.setdefault("stop_on", []).append(f"Stop rules are {', '.join(StopRule.values)}.")
    country = data.get("holiday_country")
    if country and not re.fullmatch(r"[A-Za-z]{2}", country):
        errors.setdefault("holiday_country", []).append("Use a two-letter country code.")


def _mailboxes(ids: Sequence[int] | None) -> list[Mailbox] | None:
    if ids is None:
        return None
    found = list(Mailbox.objects.filter(pk__in=ids))
    if len(found) != len(set(ids)):
        raise ValidationError({"mailbox_ids": "Unknown mailbox."})
    return found


def _icp(icp_id: int | None) -> ICP | None:
    if not icp_id:
        return None
    icp = ICP.objects.filter(pk=icp_id).first()
    if icp is None:
        raise ValidationError({"icp_id": "Unknown ICP."})
    return icp


# --- create and edit ---------------------------------------------------------------------------------------------


def campaign_create(
    *,
    org: Organization,
    owner: User | None,
    data: dict[str, Any],
    steps: Sequence[StepData] = (),
    mailbox_ids: Sequence[int] | None = None,
    icp_id: int | None = None,
) -> Campaign:
    errors: dict[str, list[str]] = {}
    _validate({"name": "", **data}, errors)
    _validate_steps(steps, errors)
    if errors:
        raise ValidationError(errors)
    mailboxes, icp = _mailboxes(mailbox_ids), _icp(icp_id)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            org=org, owner=owner, icp=icp, **{k: v for k, v in data.items() if k in CAMPAIGN_FIELDS}
        )
        if mailboxes:
            campaign.mailboxes.set(mailboxes)
        _save_steps(campaign, steps)
    return campaign


def campaign_update(
    *,
    campaign: Campaign,
    data: dict[str, Any],
    steps: Sequence[StepData] | None = None,
    mailbox_ids: Sequence[int] | None = None,
    icp_id: int | object | None = ...,
) -> Campaign:
    """Change what is given. Steps are matched by position, so enrollments keep their place in the sequence."""
    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("An archived campaign cannot be changed.")
    errors: dict[str, list[str]] = {}
    _validate(data, errors)
    if steps is not None:
        _validate_steps(steps, errors)
    if errors:
        raise ValidationError(errors)
    mailboxes = _mailboxes(mailbox_ids)
    with transaction.atomic():
        for key, value in data.items():
            if key in CAMPAIGN_FIELDS:
                setattr(campaign, key, value)
        if icp_id is not ...:
            campaign.icp = _icp(icp_id)  # type: ignore[arg-type]
        campaign.updated_at = timezone.now()
        campaign.save()
        if mailboxes is not None:
            campaign.mailboxes.set(mailboxes)
        if steps is not None:
            _save_steps(campaign, steps)
    return campaign


def _save_steps(campaign: Campaign, steps: Sequence[StepData]) -> None:
    existing = list(campaign.steps.order_by("order", "id"))
    removed = existing[len(steps) :]
    busy = (
        Enrollment.objects.filter(current_step__in=removed, state__in=LIVE_STATES).count() if removed else 0
    )
    if busy:
        raise ValidationError(
            {"steps": f"{busy} prospect(s) are on a step you removed: let them finish or stop them first."}
        )
    for step in removed:
        step.delete()
    for order, data in enumerate(steps):
        step = existing[order] if order < len(existing) else Step(org_id=campaign.org_id, campaign=campaign)
        step.order = order
        step.delay_amount, step.delay_unit, step.thread = data.delay_amount, data.delay_unit, data.thread
        step.ai_personalise, step.ai_mode = data.ai_personalise, data.ai_mode
        step.save()
        _save_variants(step, data.variants)


def _save_variants(step: Step, variants: Sequence[VariantData]) -> None:
    existing = list(step.variants.order_by("id"))
    for variant in existing[len(variants) :]:
        variant.delete()
    for index, data in enumerate(variants):
        variant = existing[index] if index < len(existing) else Variant(org_id=step.org_id, step=step)
        variant.name = (data.name or chr(ord("A") + index))[:40]
        variant.subject, variant.body, variant.weight = data.subject, data.body, max(0, data.weight)
        variant.save()


# --- lifecycle ---------------------------------------------------------------------------------------------------


def _move(campaign: Campaign, *, allowed: Sequence[str], **changes: Any) -> bool:
    changes.setdefault("updated_at", timezone.now())
    moved = Campaign.objects.filter(pk=campaign.pk, status__in=allowed).update(**changes)
    campaign.refresh_from_db()
    return bool(moved)


def launch_problems(campaign: Campaign) -> list[str]:
    problems = []
    steps = list(campaign.steps.prefetch_related("variants"))
    if not steps:
        problems.append("Add at least one step.")
    if any(not list(step.variants.all()) for step in steps):
        problems.append("Every step needs at least one variant.")
    if not campaign.mailboxes.exists():
        problems.append("Choose at least one mailbox to send from.")
    return problems


def campaign_launch(*, campaign: Campaign) -> Campaign:
    problems = launch_problems(campaign)
    if problems:
        raise ValidationError(" ".join(problems))
    now = timezone.now()
    if not _move(campaign, allowed=[CampaignStatus.DRAFT], status=CampaignStatus.ACTIVE, launched_at=now):
        raise ValidationError(
            f"Only a draft can be launched; this campaign is {campaign.get_status_display()}."
        )
    enrollment_reschedule_unstarted(campaign=campaign, now=now)
    return campaign


def campaign_pause(*, campaign: Campaign) -> Campaign:
    if not _move(
        campaign, allowed=[CampaignStatus.ACTIVE], status=CampaignStatus.PAUSED, paused_at=timezone.now()
    ):
        raise ValidationError(
            f"Only an active campaign can be paused; this one is {campaign.get_status_display()}."
        )
    return campaign


def campaign_resume(*, campaign: Campaign) -> Campaign:
    if not _move(campaign, allowed=[CampaignStatus.PAUSED], status=CampaignStatus.ACTIVE, paused_at=None):
        raise ValidationError(
            f"Only a paused campaign can be resumed; this one is {campaign.get_status_display()}."
        )
    enrollment_reschedule_unstarted(campaign=campaign)
    _release_paused_messages(campaign)
    return campaign


def _release_paused_messages(campaign: Campaign) -> None:
    """Messages the guard held while the campaign was paused become due again now (the guard then holds any that
    fall outside the recipient's window). Still queued, the same rows: nothing is made or sent twice.
    Outreach has no reschedule service yet, so this is one conditional UPDATE on queued rows (see the report)."""
    now = timezone.now()
    Message.objects.filter(
        campaign_id=campaign.pk, status=MessageStatus.QUEUED, hold_reason=PAUSED_HOLD, scheduled_at__gt=now
    ).update(scheduled_at=now, updated_at=now)


def campaign_archive(*, campaign: Campaign) -> Campaign:
    now = timezone.now()
    allowed = [CampaignStatus.DRAFT, CampaignStatus.ACTIVE, CampaignStatus.PAUSED]
    if not _move(campaign, allowed=allowed, status=CampaignStatus.ARCHIVED, archived_at=now):
        raise ValidationError("This campaign is already archived.")
    for enrollment in Enrollment.objects.filter(campaign=campaign, state__in=LIVE_STATES):
        enrollment_stop(enrollment=enrollment, reason=StopReason.ARCHIVED, now=now)
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    """Only a campaign that never sent may be deleted; others are archived (their messages are history)."""
    if Message.objects.filter(campaign_id=campaign.pk).exists():
        raise ValidationError("This campaign has messages; archive it instead.")
    campaign.delete()


# --- the send guard (outreach calls it right before every send) ---------------------------------------------------

# `:retry:<n>`: the step sent again after a soft bounce (scheduler/pauses.py).
_SEND_KEY = re.compile(r"^enrollment:(\d+):step:(\d+)(?::retry:\d+)?$")


def _hold(reason: str, retry_after: int) -> SendHold:
    from outreach.sending.engine import SendHold

    return SendHold(reason, retry_after=max(60, retry_after))


def enrollment_send_guard(message: Message) -> str | None:
    """None to send; a SendHold to keep it queued (paused campaign, held enrollment, outside the recipient's
    window); a plain reason to cancel it (enrollment stopped or finished, a stop rule hit, campaign archived)."""
    match = _SEND_KEY.match(message.send_key)
    if match is None:
        return None
    enrollment = (
        Enrollment.objects.unscoped()
        .select_related("campaign", "prospect__company")
        .filter(org_id=message.org_id, pk=int(match.group(1)))
        .first()
    )
    if enrollment is None:
        return "The campaign enrollment no longer exists."
    return (
        _campaign_reason(enrollment)
        or _enrollment_reason(enrollment, int(match.group(2)), message)
        or _window_hold(enrollment)
    )


def _campaign_reason(enrollment: Enrollment) -> str | None:
    campaign = enrollment.campaign
    if campaign.status == CampaignStatus.PAUSED:
        return _hold(PAUSED_HOLD, 600)
    if campaign.status != CampaignStatus.ACTIVE:
        return f"The campaign is {campaign.get_status_display().lower()}."
    return None


def _resent_after_unknown(enrollment: Enrollment, message: Message) -> bool:
    """The enrollment is held only because this very message was `unknown`, and a person chose to send it again."""
    return enrollment.current_message_id == message.pk and UNKNOWN_HOLD_MARK in enrollment.hold_reason


def _enrollment_reason(enrollment: Enrollment, step_id: int, message: Message) -> str | None:
    if enrollment.state == EnrollmentState.PAUSED and not _resent_after_unknown(enrollment, message):
        return _hold(f"The prospect is held in this campaign: {enrollment.hold_reason}", 600)
    if enrollment.state not in (EnrollmentState.ACTIVE, EnrollmentState.PAUSED):
        label = StopReason(enrollment.stop_reason).label if enrollment.stop_reason else enrollment.state
        return f"The enrollment has ended ({label})."
    if enrollment.current_step_id != step_id:
        return "This step is no longer the prospect's current step."
    reason = stop_reason_for(enrollment)
    if reason:
        enrollment_stop(enrollment=enrollment, reason=reason)
        return f"Stopped by a stop rule: {StopReason(reason).label}."
    return None


def _window_hold(enrollment: Enrollment, now: dt.datetime | None = None) -> str | None:
    now = now or timezone.now()
    opens = next_in_window(now, zone=enrollment.timezone, window=enrollment_window(enrollment))
    if opens <= now:
        return None
    local = opens.astimezone(zoneinfo.ZoneInfo(enrollment.timezone))
    return _hold(
        f"Waiting for the recipient's sending window ({local:%a %H:%M} {enrollment.timezone}).",
        int((opens - now).total_seconds()),
    )
