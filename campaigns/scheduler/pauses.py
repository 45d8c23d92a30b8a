"""Out-of-office pauses and soft-bounce retries: engagement that delays an enrollment without stopping it.

- An auto-reply since the enrollment began moves its next send to the day after the return date the reply gives
  (or `Campaign.ooo_pause_days` after it arrived when it gives none), in the recipient's timezone, at the first
  moment of their send window. Only `next_send_at` (and the step's message, if it was made but not sent) move, so
  when the time comes the dispatcher goes on at the step it had reached, by itself. An auto-reply is never a reply.
- A soft bounce (4.x.x: mailbox full, server busy) of the step the enrollment sent last puts it back on that step,
  due `SOFT_BOUNCE_RETRY` later in the window; the dispatcher makes the step again under the send key
  `enrollment:<id>:step:<step id>:retry:<n>` (a new key, so it is a new message, still exactly one per attempt), at
  most `MAX_STEP_RETRIES` times. Only while the next step's message is not made yet: once it is, that mail goes
  instead. A hard bounce stops the enrollment (stops.py); outreach counts repeated soft bounces as hard.

`replies_seen_id` is the highest Reply id applied: a conditional UPDATE on it claims each batch of new replies, so
two pulls never apply the same one twice.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, When
from django.utils import timezone

from leadgen.tenancy import org_scope
from outreach.models import Message, MessageStatus, Reply, ReplyKind

from ..enrollment import enrollment_window
from ..models import Enrollment, EnrollmentState, Step
from .timing import next_in_window

# A message made for a step but not yet handed to a worker: a pause moves it too.
NOT_SENT = (MessageStatus.DRAFT, MessageStatus.APPROVED, MessageStatus.QUEUED)
SOFT_BOUNCE_RETRY = dt.timedelta(hours=24)
MAX_STEP_RETRIES = 2
DELAYING = Q(kind=ReplyKind.AUTO_REPLY) | Q(kind=ReplyKind.BOUNCE, bounce_hard=False)


def pause_candidates() -> QuerySet[Enrollment]:
    """Active enrollments, across every org, with an auto-reply or soft bounce since they began not applied yet."""
    newer = Reply.objects.unscoped().filter(
        DELAYING,
        org_id=OuterRef("org_id"),
        prospect_id=OuterRef("prospect_id"),
        id__gt=OuterRef("replies_seen_id"),
        received_at__gte=OuterRef("enrolled_at"),
    )
    return Enrollment.objects.unscoped().filter(Exists(newer), state=EnrollmentState.ACTIVE)


def resume_at(*, reply: Reply, enrollment: Enrollment) -> dt.datetime:
    """When sending may go on after this auto-reply: the window's opening on the day after the return date."""
    zone = zoneinfo.ZoneInfo(enrollment.timezone)
    if reply.return_date is not None:
        day = reply.return_date + dt.timedelta(days=1)
    else:
        day = reply.received_at.astimezone(zone).date() + dt.timedelta(
            days=enrollment.campaign.ooo_pause_days
        )
    start = dt.datetime.combine(day, dt.time(0, 0), tzinfo=zone)
    return next_in_window(start, zone=zone, window=enrollment_window(enrollment))


def _pause(enrollment: Enrollment, replies: list[Reply], now: dt.datetime) -> bool:
    until = max(resume_at(reply=reply, enrollment=enrollment) for reply in replies)
    if enrollment.paused_until and enrollment.paused_until > until:
        until = enrollment.paused_until
    local = until.astimezone(zoneinfo.ZoneInfo(enrollment.timezone))
    text = f"Out of office: the next email waits until {local:%a %d %b %Y, %H:%M} ({enrollment.timezone})."
    moved = (
        Enrollment.objects.unscoped()
        .filter(pk=enrollment.pk, state=EnrollmentState.ACTIVE)
        .update(
            paused_until=until,
            next_send_at=Case(When(next_send_at__lt=until, then=until), default=F("next_send_at")),
            updated_at=now,
        )
    )
    if moved and enrollment.current_message_id:
        # The engine claims only messages due by now, so moving `scheduled_at` holds it; one already being sent
        # has gone (the pause came too late for it, as it would for a person).
        Message.objects.unscoped().filter(
            pk=enrollment.current_message_id, status__in=NOT_SENT, scheduled_at__lt=until
        ).update(scheduled_at=until, hold_reason=text, updated_at=now)
    return bool(moved)


def _bounced_step(enrollment: Enrollment, bounce: Reply) -> Step | None:
    """The step whose sent message bounced, when it is the enrollment's last one sent and may be tried again."""
    message = bounce.message
    prefix = f"enrollment:{enrollment.pk}:step:"
    if message is None or message.status != MessageStatus.SENT or not message.send_key.startswith(prefix):
        return None
    step_id = int(message.send_key.removeprefix(prefix).split(":", 1)[0])
    newer_sent = Message.objects.unscoped().filter(
        org_id=enrollment.org_id,
        send_key__startswith=prefix,
        status=MessageStatus.SENT,
        sent_at__gt=message.sent_at,
    )
    if enrollment.current_message_id is not None or newer_sent.exists():
        return None  # the next step's mail is made or gone: it goes instead
    return Step.objects.unscoped().filter(pk=step_id, campaign_id=enrollment.campaign_id).first()


def _retry(enrollment: Enrollment, bounce: Reply, now: dt.datetime) -> bool:
    """Put the enrollment back on the bounced step, due a day later in its window, under a new send key."""
    step = _bounced_step(enrollment, bounce)
    if step is None:
        return False
    attempts = Message.objects.unscoped().filter(
        org_id=enrollment.org_id, send_key__startswith=f"enrollment:{enrollment.pk}:step:{step.pk}"
    )
    retry = attempts.count()
    if retry > MAX_STEP_RETRIES:
        return False
    when = next_in_window(
        max(bounce.received_at + SOFT_BOUNCE_RETRY, now),
        zone=enrollment.timezone,
        window=enrollment_window(enrollment),
    )
    moved = (
        Enrollment.objects.unscoped()
        .filter(
            pk=enrollment.pk,
            state=EnrollmentState.ACTIVE,
            current_message__isnull=True,
            current_step_id=enrollment.current_step_id,
        )
        .update(
            current_step=step,
            step_retries=retry,
            steps_sent=Case(When(steps_sent__gt=0, then=F("steps_sent") - 1), default=0),
            next_send_at=when,
            updated_at=now,
        )
    )
    return bool(moved)


def enrollment_pause_apply(*, enrollment: Enrollment, now: dt.datetime | None = None) -> str:
    """Apply the enrollment's new auto-replies and soft bounces: "paused", "retried", "seen", "none" or "raced"."""
    now = now or timezone.now()
    replies = list(
        Reply.objects.unscoped()
        .filter(
            DELAYING,
            org_id=enrollment.org_id,
            prospect_id=enrollment.prospect_id,
            id__gt=enrollment.replies_seen_id,
            received_at__gte=enrollment.enrolled_at,
        )
        .select_related("message")
        .order_by("id")
    )
    if not replies:
        return "none"
    claimed = (
        Enrollment.objects.unscoped()
        .filter(pk=enrollment.pk, replies_seen_id=enrollment.replies_seen_id)
        .update(replies_seen_id=replies[-1].pk)
    )
    if not claimed:
        return "raced"
    outcome = "seen"
    bounces = [reply for reply in replies if reply.kind == ReplyKind.BOUNCE]
    if bounces and _retry(enrollment, bounces[-1], now):
        outcome = "retried"
        enrollment.refresh_from_db()
    autos = [reply for reply in replies if reply.kind == ReplyKind.AUTO_REPLY]
    if autos and _pause(enrollment, autos, now):
        outcome = "paused"
    enrollment.refresh_from_db()
    return outcome


def pauses_run(*, now: dt.datetime | None = None, batch: int = 1000) -> int:
    """Every org: apply new auto-replies and soft bounces to their enrollments; returns how many were delayed."""
    now = now or timezone.now()
    delayed = 0
    rows = pause_candidates().select_related("campaign", "prospect").order_by("id")[:batch]
    for enrollment in rows:
        with org_scope(enrollment.org_id):
            if enrollment_pause_apply(enrollment=enrollment, now=now) in ("paused", "retried"):
                delayed += 1
    return delayed
