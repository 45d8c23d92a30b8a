"""The push half of the scheduler: due enrollments become outreach Messages.

`due_claim` takes a batch of due enrollments across every organisation in one statement (`FOR UPDATE SKIP LOCKED`
inside an UPDATE that sets a lease; `= ANY(ARRAY(...))` so the outer UPDATE looks rows up by primary key instead
of hashing the whole table), so two beat runs or two workers never take the same row; a run that crashes
leaves leases that expire. `enrollment_prepare` then renders the current step's variant for the prospect and asks
outreach for the message with the send key `enrollment:<id>:step:<step id>`: a second ask (a crash between the
message and the enrollment update, a retried task) returns the same message, so a step can never be sent twice.
A template variable that comes out empty holds the enrollment with the reason; nothing containing `{{` is made.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from leadgen.tenancy import org_scope
from outreach.compose.templates import TemplateRenderError, template_context, template_render
from outreach.models import Message, MessageStatus
from outreach.services import message_create
from prospects.models import Prospect, Qualification

from ..enrollment import enrollment_hold, enrollment_stop, enrollment_window
from ..meetings.links import booking_link_for
from ..models import Campaign, Enrollment, EnrollmentState, Step, Thread, Variant
from .stops import stop_reason_for
from .timing import next_in_window

logger = logging.getLogger(__name__)

_CLAIM_SQL = """
UPDATE campaigns_enrollment AS e SET claimed_until = %(lease)s
WHERE e.id = ANY(ARRAY(
    SELECT d.id FROM campaigns_enrollment AS d
    JOIN campaigns_campaign AS c ON c.id = d.campaign_id
    WHERE d.state = 'active' AND d.next_send_at IS NOT NULL AND d.next_send_at <= %(horizon)s
      AND (d.claimed_until IS NULL OR d.claimed_until < %(now)s)
      AND c.status = 'active'
    ORDER BY d.next_send_at
    LIMIT %(batch)s
    FOR UPDATE OF d SKIP LOCKED
))
RETURNING e.id, e.org_id
"""


def due_claim(*, now: dt.datetime, batch: int, lease_seconds: int = 300) -> list[tuple[int, int]]:
    """Claim up to `batch` due enrollments of active campaigns, every org; returns (enrollment id, org id)."""
    horizon = now + dt.timedelta(seconds=settings.CAMPAIGN_PREPARE_AHEAD_SECONDS)
    params: dict[str, Any] = {
        "lease": now + dt.timedelta(seconds=lease_seconds),
        "horizon": horizon,
        "now": now,
        "batch": batch,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]


@dataclass
class Prepared:
    subject: str
    body: str
    extra: dict[str, Any] = field(default_factory=dict)


class Hold(Exception):
    """The enrollment cannot go on until a person fixes something; the message says what."""


def variant_for(step: Step, slot: int) -> Variant | None:
    variants = list(step.variants.all())
    return variants[slot % len(variants)] if variants else None


def kept_hooks(prospect: Prospect, icp_id: int | None) -> list[dict[str, Any]]:
    """The prospect's grounded hooks from its judgement against the campaign's ICP (else its best ICP)."""
    qualifications = Qualification.objects.filter(prospect=prospect)
    wanted = icp_id or prospect.icp_id
    chosen = qualifications.filter(icp_id=wanted).first() if wanted else None
    chosen = chosen or qualifications.order_by("-score").first()
    return list(chosen.hooks) if chosen else []


def render_step(
    *, enrollment: Enrollment, step: Step, variant: Variant, previous: Message | None
) -> Prepared:
    """Subject and body for this prospect; Hold when a variable is empty or the template is broken."""
    prospect, campaign = enrollment.prospect, enrollment.campaign
    context = template_context(
        prospect=prospect, mailbox=enrollment.mailbox, hooks=kept_hooks(prospect, campaign.icp_id)
    )
    if "booking_link" in variant.body or "booking_link" in variant.subject:
        context["booking_link"] = booking_link_for(
            user_id=campaign.owner_id,
            org_id=campaign.org_id,
            prospect_id=prospect.pk,
            send_key=enrollment.send_key(step),
        )
    subject_template = variant.subject
    if not subject_template.strip() and previous is not None:
        subject_template = ""  # a reply in thread without its own subject reuses the thread's
    where = f"step {step.number} (variant {variant.name})"
    try:
        subject = template_render(subject_template, context) if subject_template else None
        body = template_render(variant.body, context)
    except TemplateRenderError as exc:
        raise Hold(f"The template of {where} cannot be used: {exc}") from None
    missing = [*(subject.missing if subject else []), *body.missing]
    if "booking_link" in missing:
        raise Hold(
            f"{{{{ booking_link }}}} in {where} is empty: the campaign's owner offers no meeting type yet "
            "(Settings → Meetings), or the campaign has no owner."
        )
    if missing:
        names = ", ".join(f"{{{{ {m} }}}}" for m in dict.fromkeys(missing))
        raise Hold(
            f"{names} is empty for this prospect in {where}: fill it in on the prospect, or give the "
            f'variable a fallback such as {{{{ {missing[0]}|default:"there" }}}}.'
        )
    subject_text = subject.text.strip() if subject else ""
    if not subject_text and previous is not None:
        subject_text = (
            previous.subject if previous.subject.lower().startswith("re:") else f"Re: {previous.subject}"
        )
    if not subject_text:
        raise Hold(f"The subject of {where} is empty.")
    prepared = Prepared(subject=subject_text, body=body.text.strip() + "\n")
    if step.ai_personalise:
        prepared = _ai_draft(enrollment, step, variant, context, prepared)
    return prepared


def _ai_draft(
    enrollment: Enrollment, step: Step, variant: Variant, context: dict[str, Any], plain: Prepared
) -> Prepared:
    from outreach.compose import draft_compose

    draft = draft_compose(
        prospect=enrollment.prospect,
        subject_template=variant.subject or plain.subject,
        body_template=variant.body,
        sender_context=context["sender"],
        mode=step.ai_mode,  # type: ignore[arg-type]
        hooks=kept_hooks(enrollment.prospect, enrollment.campaign.icp_id),
    )
    if draft.hold_reason:
        raise Hold(draft.hold_reason)
    keys: tuple[str, ...] = (
        "model",
        "prompt_version",
        "locale",
        "rules_broken",
        "rejected",
        "regenerated",
        "fell_back",
    )
    keys += ("dropped_claims", "dropped", "input_tokens", "output_tokens", "cost_usd", "cache_key", "cached")
    notes = {key: getattr(draft, key) for key in keys if hasattr(draft, key)}
    extra = {
        "ai_subject": draft.subject,
        "ai_body": draft.body,
        "draft_provider": getattr(draft, "provider", ""),
        "draft_notes": _jsonable(notes),
    }
    return Prepared(subject=draft.subject, body=draft.body, extra=extra)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _previous_message(enrollment: Enrollment) -> Message | None:
    prefix = f"enrollment:{enrollment.pk}:step:"
    return (
        Message.objects.filter(send_key__startswith=prefix, status=MessageStatus.SENT)
        .order_by("-sent_at", "-id")
        .first()
    )


def _threading(step: Step, previous: Message | None) -> dict[str, str]:
    if step.thread != Thread.REPLY or previous is None:
        return {}
    references = " ".join([*previous.references.replace(",", " ").split(), previous.message_id])
    return {"in_reply_to": previous.message_id, "references": references}


def enrollment_prepare(*, enrollment_id: int, now: dt.datetime | None = None) -> str:
    """Make the current step's message for one claimed enrollment (in its org's scope). Returns what happened."""
    now = now or timezone.now()
    enrollment = (
        Enrollment.objects.select_related("campaign", "prospect__company", "current_step", "mailbox")
        .filter(pk=enrollment_id, state=EnrollmentState.ACTIVE)
        .first()
    )
    if enrollment is None or enrollment.next_send_at is None:
        return "gone"
    try:
        return _prepare(enrollment, now)
    finally:
        Enrollment.objects.filter(pk=enrollment.pk).update(claimed_until=None)


def _prepare(enrollment: Enrollment, now: dt.datetime) -> str:
    campaign: Campaign = enrollment.campaign
    step = enrollment.current_step
    if step is None:
        Enrollment.objects.filter(pk=enrollment.pk).update(
            state=EnrollmentState.FINISHED, next_send_at=None, ended_at=now, updated_at=now
        )
        return "finished"
    reason = stop_reason_for(enrollment)
    if reason:
        enrollment_stop(enrollment=enrollment, reason=reason, now=now)
        return "stopped"
    if enrollment.mailbox is None:
        mailbox = campaign.mailboxes.order_by("id").first()
        if mailbox is None:
            enrollment_hold(
                enrollment=enrollment, reason="The campaign has no mailbox to send from.", now=now
            )
            return "held"
        enrollment.mailbox = mailbox
        Enrollment.objects.filter(pk=enrollment.pk, mailbox__isnull=True).update(mailbox=mailbox)
    variant = variant_for(step, enrollment.variant_slot)
    if variant is None:
        enrollment_hold(enrollment=enrollment, reason=f"Step {step.number} has no variant to send.", now=now)
        return "held"
    previous = _previous_message(enrollment)
    try:
        prepared = render_step(enrollment=enrollment, step=step, variant=variant, previous=previous)
    except Hold as hold:
        enrollment_hold(enrollment=enrollment, reason=str(hold), now=now)
        return "held"
    return _create_message(enrollment, step, variant, prepared, previous, now)


def _tracking_meta(campaign: Campaign, step: Step) -> dict[str, bool]:
    """The campaign's tracking switches as the message's own (outreach.tracking.links reads them at send time)."""
    return {
        "track_opens": campaign.track_opens,
        "track_clicks": campaign.track_clicks,
        "plain": campaign.first_email_plain and step.number == 1,
    }


def _create_message(
    enrollment: Enrollment,
    step: Step,
    variant: Variant,
    prepared: Prepared,
    previous: Message | None,
    now: dt.datetime,
) -> str:
    campaign = enrollment.campaign
    assert enrollment.next_send_at is not None and enrollment.mailbox is not None
    send_at = next_in_window(
        max(enrollment.next_send_at, now), zone=enrollment.timezone, window=enrollment_window(enrollment)
    )
    with transaction.atomic():
        message, created = message_create(
            org=campaign.org,
            send_key=enrollment.send_key(step),
            mailbox=enrollment.mailbox,
            to_email=enrollment.prospect.email,
            subject=prepared.subject,
            body_text=prepared.body,
            prospect=enrollment.prospect,
            status=MessageStatus.DRAFT if campaign.review_required else MessageStatus.QUEUED,
            scheduled_at=send_at,
            origin="campaign",
            campaign_id=campaign.pk,
            meta={
                "step": step.number,
                "variant": variant.name,
                "enrollment_id": enrollment.pk,
                **_tracking_meta(campaign, step),
            },
            **_threading(step, previous),
            **prepared.extra,
        )
        Enrollment.objects.filter(pk=enrollment.pk, state=EnrollmentState.ACTIVE).update(
            current_message=message, next_send_at=None, hold_reason="", updated_at=now
        )
    return "created" if created else "linked"


def dispatch_run(*, now: dt.datetime | None = None, batch: int | None = None) -> dict[str, int]:
    """One pass: claim due enrollments batch by batch and prepare each in its organisation's scope."""
    now = now or timezone.now()
    size = batch or settings.CAMPAIGN_DISPATCH_BATCH
    counts: dict[str, int] = {}
    claimed = due_claim(now=now, batch=size)
    for enrollment_id, org_id in claimed:
        with org_scope(org_id):
            try:
                outcome = enrollment_prepare(enrollment_id=enrollment_id, now=now)
            except Exception:
                logger.exception("campaigns: preparing enrollment %s failed", enrollment_id)
                outcome = "error"
        counts[outcome] = counts.get(outcome, 0) + 1
    counts["claimed"] = len(claimed)
    return counts
