"""The pull half of the scheduler: react to what outreach did with each enrollment's current message.

Sent → the next step, its send time computed from the real `sent_at`, or finished after the last step. Rejected in
review → stopped. Cancelled by outreach's own checks → stopped with the stop rule that explains it. Failed or
`unknown` (a crash mid-send) → held with the reason, never resent: resuming moves on to the next step.
Each move is a conditional UPDATE on (id, current message, active), so two pullers cannot both advance a row.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from leadgen.tenancy import org_scope
from outreach.models import Message, MessageStatus

from ..enrollment import UNKNOWN_HOLD_MARK, enrollment_hold, enrollment_stop, enrollment_window
from ..models import Enrollment, EnrollmentState, Step, StopReason
from .stops import stop_reason_for
from .timing import send_time_after

SETTLED = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.CANCELLED, MessageStatus.UNKNOWN)


def _next_step(step: Step) -> Step | None:
    return (
        Step.objects.filter(campaign_id=step.campaign_id, order__gt=step.order)
        .order_by("order", "id")
        .first()
    )


def enrollment_move_on(*, enrollment: Enrollment, after: dt.datetime, sent: bool, now: dt.datetime) -> str:
    """Leave the current step (sent or given up) for the next one, or finish."""
    step = enrollment.current_step
    following = _next_step(step) if step else None
    changes: dict[str, object] = {
        "current_message": None,
        "hold_reason": "",
        "step_retries": 0,
        "updated_at": now,
    }
    if sent:
        changes |= {"steps_sent": enrollment.steps_sent + 1, "last_sent_at": after}
    if following is None:
        changes |= {
            "state": EnrollmentState.FINISHED,
            "current_step": None,
            "next_send_at": None,
            "ended_at": now,
        }
    else:
        changes |= {
            "state": EnrollmentState.ACTIVE,
            "current_step": following,
            "next_send_at": send_time_after(
                after,
                delay_amount=following.delay_amount,
                delay_unit=following.delay_unit,
                zone=enrollment.timezone,
                window=enrollment_window(enrollment),
            ),
        }
    moved = Enrollment.objects.filter(
        pk=enrollment.pk,
        current_message_id=enrollment.current_message_id,
        state__in=(EnrollmentState.ACTIVE, EnrollmentState.PAUSED),
    ).update(**changes)
    if not moved:
        return "raced"
    return "finished" if following is None else "advanced"


def _held_text(message: Message, step_number: int) -> str:
    if message.status == MessageStatus.UNKNOWN:
        return (
            f"Step {step_number} {UNKNOWN_HOLD_MARK} (sending was interrupted), so it is not "
            "sent again. Settle it in the outbox, or resume to go on with the next step."
        )
    return f"Step {step_number} could not be sent: {message.error or 'the server refused it'}. Resuming skips it."


def enrollment_advance(*, enrollment: Enrollment, now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    message = enrollment.current_message
    if message is None or message.status not in SETTLED:
        return "waiting"
    step_number = enrollment.current_step.number if enrollment.current_step else 0
    if message.status == MessageStatus.SENT:
        return enrollment_move_on(enrollment=enrollment, after=message.sent_at or now, sent=True, now=now)
    if message.status == MessageStatus.CANCELLED:
        rejected = message.hold_reason.startswith("Rejected in review")
        reason = StopReason.REJECTED if rejected else (stop_reason_for(enrollment) or StopReason.CANCELLED)
        enrollment_stop(enrollment=enrollment, reason=reason, now=now)
        return "stopped"
    enrollment_hold(enrollment=enrollment, reason=_held_text(message, step_number), now=now)
    return "held"


def advance_run(*, now: dt.datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Every org: active enrollments whose current message has settled."""
    now = now or timezone.now()
    rows = list(
        Enrollment.objects.unscoped()
        .select_related("campaign", "prospect__company", "current_step", "current_message")
        .filter(
            Q(state=EnrollmentState.ACTIVE, current_message__status__in=SETTLED)
            # Held on an `unknown` message that was then settled as sent (or sent again): go on.
            | Q(
                state=EnrollmentState.PAUSED,
                current_message__status=MessageStatus.SENT,
                hold_reason__contains=UNKNOWN_HOLD_MARK,
            )
        )
        .order_by("id")[:batch]
    )
    counts: dict[str, int] = {}
    for enrollment in rows:
        with org_scope(enrollment.org_id), transaction.atomic():
            outcome = enrollment_advance(enrollment=enrollment, now=now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def stops_run(*, now: dt.datetime | None = None, batch: int = 1000) -> int:
    """Every org: stop live enrollments that a stop rule now ends (and cancel their unsent message)."""
    from .stops import stop_candidates

    now = now or timezone.now()
    stopped = 0
    rows = stop_candidates().select_related("campaign", "prospect__company").order_by("id")[:batch]
    for enrollment in rows:
        with org_scope(enrollment.org_id):
            reason = stop_reason_for(enrollment)
            if reason and enrollment_stop(enrollment=enrollment, reason=reason, now=now):
                stopped += 1
    return stopped
