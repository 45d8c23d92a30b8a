"""Putting prospects into a campaign, and taking them out.

Every way in (by hand, in bulk, the API, the entry rules) goes through `enrollment_create_many`, which answers per
prospect `enrolled` or `skipped` with the reason. A prospect is never enrolled without an email, with an email
checked undeliverable, when suppressed or marked do-not-contact, when it already replied, or (for an exclusive
campaign) while it is active in another campaign.

The campaign row is locked while a batch is placed, which serialises concurrent enrollers (two workers pulling
entry rules, a user and the API) so the daily cap of new prospects holds: each enrollment gets the day its first
email goes out (`starts_on`, the campaign timezone's date), and a day that is full pushes the rest to the next.
The variant (weighted, from a hash of campaign and prospect, so the same person always draws the same letter) and
the mailbox (least loaded) are chosen once and kept for the whole sequence.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from outreach.models import Mailbox, MailboxStatus, Message, MessageStatus
from outreach.services import MessageStateError, message_cancel
from prospects.models import Activity, Prospect, Stage, Suppression, SuppressionKind
from prospects.timezones import prospect_timezone

from .models import (
    Campaign,
    CampaignStatus,
    Enrollment,
    EnrollmentState,
    Step,
    StopReason,
)
from .scheduler.timing import Window, next_in_window, send_time_after

if TYPE_CHECKING:
    from accounts.models import User

REPLIED_STAGES = (Stage.REPLIED, Stage.MEETING)
LIVE_STATES = (EnrollmentState.ACTIVE, EnrollmentState.PAUSED)
SKIP_REASONS = {
    "not_found": "No such prospect.",
    "no_email": "No email address.",
    "undeliverable": "The email address was checked undeliverable.",
    "suppressed": "On the suppression list.",
    "do_not_contact": "Marked do not contact.",
    "replied": "Already replied.",
    "active_elsewhere": "Already active in another campaign.",
    "already_enrolled": "Already in this campaign.",
    "campaign_archived": "The campaign is archived.",
}


@dataclass(frozen=True)
class EnrollOutcome:
    prospect_id: int
    status: str  # enrolled | skipped
    reason: str = ""  # a SKIP_REASONS key
    enrollment: Enrollment | None = None

    @property
    def message(self) -> str:
        return SKIP_REASONS.get(self.reason, "")


# --- eligibility -------------------------------------------------------------------------------------------------


def suppressed_emails(prospects: Iterable[Prospect]) -> set[str]:
    """The normalised emails among `prospects` that the organisation's suppression list covers (one query)."""
    emails = {p.email_normalized for p in prospects if p.email_normalized}
    if not emails:
        return set()
    domains = {e.rsplit("@", 1)[1] for e in emails}
    hashes = {Suppression.hash_email(e): e for e in emails}
    rows = Suppression.objects.filter(
        Q(kind=SuppressionKind.EMAIL, value__in=emails)
        | Q(kind=SuppressionKind.EMAIL_HASH, value__in=list(hashes))
        | Q(kind=SuppressionKind.DOMAIN, value__in=domains)
    ).values_list("kind", "value")
    hit: set[str] = set()
    for kind, value in rows:
        if kind == SuppressionKind.EMAIL:
            hit.add(value)
        elif kind == SuppressionKind.EMAIL_HASH:
            hit.add(hashes[value])
        else:
            hit.update(e for e in emails if e.endswith("@" + value))
    return hit


def skip_reason(prospect: Prospect, *, suppressed: set[str], active_elsewhere: set[int]) -> str:
    """Why `prospect` may not be enrolled ("" when it may)."""
    if not prospect.email_normalized:
        return "no_email"
    if prospect.email_status == "invalid":
        return "undeliverable"
    if prospect.email_normalized in suppressed:
        return "suppressed"
    if prospect.do_not_contact:
        return "do_not_contact"
    # Until the engagement issue records replies as events, a reply shows as the prospect's stage.
    if prospect.stage in REPLIED_STAGES:
        return "replied"
    if prospect.pk in active_elsewhere:
        return "active_elsewhere"
    return ""


def _active_elsewhere(campaign: Campaign, prospect_ids: Sequence[int]) -> set[int]:
    if not campaign.exclusive:
        return set()
    return set(
        Enrollment.objects.filter(prospect_id__in=prospect_ids, state__in=LIVE_STATES)
        .exclude(campaign=campaign)
        .values_list("prospect_id", flat=True)
    )


# --- choices kept for the whole sequence -------------------------------------------------------------------------


def variant_slot_for(*, campaign_id: int, prospect_id: int, weights: Sequence[int]) -> int:
    """A weighted choice that is the same every time for the same (campaign, prospect)."""
    total = sum(max(w, 0) for w in weights)
    if total <= 0:
        return 0
    digest = hashlib.sha256(f"variant:{campaign_id}:{prospect_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for slot, weight in enumerate(weights):
        point -= max(weight, 0)
        if point < 0:
            return slot
    return len(weights) - 1


def campaign_window(campaign: Campaign, *, country: str | None = None) -> Window:
    holiday_country = (country or campaign.holiday_country or None) if campaign.skip_holidays else None
    return Window.of(
        days=campaign.send_days,
        start=campaign.window_start,
        end=campaign.window_end,
        holiday_country=holiday_country,
    )


def enrollment_window(enrollment: Enrollment) -> Window:
    from prospects.timezones import prospect_country

    campaign = enrollment.campaign
    country = prospect_country(enrollment.prospect) if campaign.skip_holidays else None
    return campaign_window(campaign, country=country)


class _MailboxPicker:
    """Least-loaded active mailbox of the campaign; counts move as the batch is placed."""

    def __init__(self, campaign: Campaign) -> None:
        self.mailboxes = list(campaign.mailboxes.filter(status=MailboxStatus.ACTIVE).order_by("id"))
        loads = (
            Enrollment.objects.filter(campaign=campaign, state__in=LIVE_STATES)
            .values("mailbox_id")
            .annotate(n=Count("id"))
        )
        self.load: Counter[int] = Counter({row["mailbox_id"]: row["n"] for row in loads if row["mailbox_id"]})

    def pick(self) -> Mailbox | None:
        if not self.mailboxes:
            return None
        mailbox = min(self.mailboxes, key=lambda m: (self.load[m.pk], m.pk))
        self.load[mailbox.pk] += 1
        return mailbox


class _StartPlanner:
    """Gives each new enrollment its first send time, keeping at most `daily_new_limit` starts per day."""

    def __init__(self, campaign: Campaign, first_step: Step | None, now: dt.datetime) -> None:
        self.campaign, self.first_step, self.now = campaign, first_step, now
        self.zone = zoneinfo.ZoneInfo(campaign.timezone)
        today = now.astimezone(self.zone).date()
        rows = (
            Enrollment.objects.filter(campaign=campaign, starts_on__gte=today)
            .values("starts_on")
            .annotate(n=Count("id"))
        )
        self.starts: Counter[dt.date] = Counter(
            {row["starts_on"]: row["n"] for row in rows if row["starts_on"]}
        )

    def _first_send(self, after: dt.datetime, zone: str, window: Window) -> dt.datetime:
        step = self.first_step
        if step is None:
            return next_in_window(after, zone=zone, window=window)
        return send_time_after(
            after, delay_amount=step.delay_amount, delay_unit=step.delay_unit, zone=zone, window=window
        )

    def place(self, *, zone: str, window: Window) -> tuple[dt.datetime, dt.date]:
        cap = self.campaign.daily_new_limit
        after = self.now
        for _ in range(3660):
            send_at = self._first_send(after, zone, window)
            day = send_at.astimezone(self.zone).date()
            if not cap or self.starts[day] < cap:
                self.starts[day] += 1
                return send_at, day
            # That day is full: start looking at the next campaign-timezone midnight.
            after = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=self.zone)
        raise ValueError("no day with room for a new enrollment within ten years")


# --- enrolling ---------------------------------------------------------------------------------------------------


def _first_step(campaign: Campaign) -> Step | None:
    return campaign.steps.prefetch_related("variants").order_by("order", "id").first()


def _load_prospects(prospect_ids: Sequence[int]) -> dict[int, Prospect]:
    rows = Prospect.objects.select_related("company").filter(pk__in=prospect_ids)
    return {p.pk: p for p in rows}


def enrollment_create_many(
    *,
    campaign: Campaign,
    prospect_ids: Sequence[int],
    source: str = "manual",
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> list[EnrollOutcome]:
    """Enroll each prospect or say why not; one outcome per id, in the order given."""
    ids = list(dict.fromkeys(int(i) for i in prospect_ids))
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == CampaignStatus.ARCHIVED:
            return [EnrollOutcome(pid, "skipped", "campaign_archived") for pid in ids]
        prospects = _load_prospects(ids)
        existing = set(
            Enrollment.objects.filter(campaign=campaign, prospect_id__in=ids).values_list(
                "prospect_id", flat=True
            )
        )
        suppressed = suppressed_emails(prospects.values())
        elsewhere = _active_elsewhere(campaign, ids)
        first_step = _first_step(campaign)
        weights = [v.weight for v in first_step.variants.all()] if first_step else []
        planner = _StartPlanner(campaign, first_step, now)
        mailboxes = _MailboxPicker(campaign)
        outcomes: list[EnrollOutcome] = []
        new: list[Enrollment] = []
        for pid in ids:
            prospect = prospects.get(pid)
            if prospect is None:
                outcomes.append(EnrollOutcome(pid, "skipped", "not_found"))
                continue
            if pid in existing:
                outcomes.append(EnrollOutcome(pid, "skipped", "already_enrolled"))
                continue
            reason = skip_reason(prospect, suppressed=suppressed, active_elsewhere=elsewhere)
            if reason:
                outcomes.append(EnrollOutcome(pid, "skipped", reason))
                continue
            enrollment = _new_enrollment(
                campaign, prospect, first_step, weights, planner, mailboxes, source=source, now=now
            )
            new.append(enrollment)
            outcomes.append(EnrollOutcome(pid, "enrolled", enrollment=enrollment))
        Enrollment.objects.bulk_create(new)
        _record_activity(campaign, new, actor=actor, now=now)
    return outcomes


def _new_enrollment(
    campaign: Campaign,
    prospect: Prospect,
    first_step: Step | None,
    weights: list[int],
    planner: _StartPlanner,
    mailboxes: _MailboxPicker,
    *,
    source: str,
    now: dt.datetime,
) -> Enrollment:
    zone, zone_source = prospect_timezone(prospect, fallback=campaign.timezone)
    enrollment = Enrollment(
        org_id=campaign.org_id,
        campaign=campaign,
        prospect=prospect,
        source=source,
        current_step=first_step,
        mailbox=mailboxes.pick(),
        variant_slot=variant_slot_for(campaign_id=campaign.pk, prospect_id=prospect.pk, weights=weights),
        timezone=zone,
        timezone_source=zone_source,
        enrolled_at=now,
        updated_at=now,
    )
    enrollment.prospect = prospect
    window = enrollment_window(enrollment)
    enrollment.next_send_at, enrollment.starts_on = planner.place(zone=zone, window=window)
    return enrollment


def _record_activity(
    campaign: Campaign, enrollments: list[Enrollment], *, actor: User | None, now: dt.datetime
) -> None:
    Activity.objects.bulk_create(
        [
            Activity(
                org_id=campaign.org_id,
                prospect_id=e.prospect_id,
                kind="campaign_enrolled",
                actor=actor,
                summary=f"Enrolled in campaign “{campaign.name}”"[:500],
                data={"campaign_id": campaign.pk},
                created_at=now,
            )
            for e in enrollments
        ]
    )


def enrollment_reschedule_unstarted(*, campaign: Campaign, now: dt.datetime | None = None) -> int:
    """Give enrollments that have not sent their first email a fresh start day (on launch and resume), so days
    that passed while the campaign was a draft or paused do not all fall due at once over the daily cap."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        unstarted = list(
            Enrollment.objects.select_related("prospect__company", "campaign")
            .filter(
                campaign=campaign, state=EnrollmentState.ACTIVE, steps_sent=0, current_message__isnull=True
            )
            .order_by("starts_on", "enrolled_at", "id")
        )
        Enrollment.objects.filter(pk__in=[e.pk for e in unstarted]).update(starts_on=None)
        planner = _StartPlanner(campaign, _first_step(campaign), now)
        for enrollment in unstarted:
            enrollment.campaign = campaign
            window = enrollment_window(enrollment)
            enrollment.next_send_at, enrollment.starts_on = planner.place(
                zone=enrollment.timezone, window=window
            )
            enrollment.updated_at = now
        Enrollment.objects.bulk_update(unstarted, ["next_send_at", "starts_on", "updated_at"])
    return len(unstarted)


# --- leaving -----------------------------------------------------------------------------------------------------


def _cancel_pending(message_id: int | None, reason: str) -> None:
    if message_id is None:
        return
    message = Message.objects.unscoped().filter(pk=message_id).first()
    if message is None or message.status not in (
        MessageStatus.DRAFT,
        MessageStatus.APPROVED,
        MessageStatus.QUEUED,
    ):
        return
    # Claimed for sending meanwhile: the send guard re-checks the enrollment right before the call.
    with contextlib.suppress(MessageStateError):
        message_cancel(message=message, reason=reason)


def enrollment_stop(*, enrollment: Enrollment, reason: str, now: dt.datetime | None = None) -> bool:
    """Stop a live enrollment and cancel its unsent message; False when it had already ended."""
    now = now or timezone.now()
    stopped = (
        Enrollment.objects.unscoped()
        .filter(pk=enrollment.pk, state__in=LIVE_STATES)
        .update(
            state=EnrollmentState.STOPPED, stop_reason=reason, next_send_at=None, ended_at=now, updated_at=now
        )
    )
    if stopped:
        _cancel_pending(enrollment.current_message_id, f"Enrollment stopped: {StopReason(reason).label}")
    enrollment.refresh_from_db()
    return bool(stopped)


# In the hold text of an enrollment whose message is `unknown` (a crash mid-send): once a person or the ESP's records
# settle the message as sent, the enrollment goes on by itself (scheduler.advance); "send it again" passes the guard.
UNKNOWN_HOLD_MARK = "may or may not have reached the recipient"


def enrollment_hold(*, enrollment: Enrollment, reason: str, now: dt.datetime | None = None) -> None:
    """Hold an enrollment with a reason a user can act on (it sends nothing until resumed)."""
    now = now or timezone.now()
    Enrollment.objects.unscoped().filter(pk=enrollment.pk, state=EnrollmentState.ACTIVE).update(
        state=EnrollmentState.PAUSED,
        hold_reason=reason[:2000],
        next_send_at=None,
        claimed_until=None,
        updated_at=now,
    )
    enrollment.refresh_from_db()


def enrollment_resume(*, enrollment: Enrollment, now: dt.datetime | None = None) -> bool:
    """Release a held enrollment. Without a message its current step is tried again at the next moment in its
    window; after a failed or possibly-delivered (`unknown`) message it goes on with the next step, never resending."""
    from .scheduler.advance import enrollment_move_on

    now = now or timezone.now()
    if enrollment.state != EnrollmentState.PAUSED:
        return False
    if enrollment.current_message_id:
        enrollment_move_on(enrollment=enrollment, after=now, sent=False, now=now)
    else:
        Enrollment.objects.unscoped().filter(pk=enrollment.pk, state=EnrollmentState.PAUSED).update(
            state=EnrollmentState.ACTIVE, hold_reason="", next_send_at=now, updated_at=now
        )
    enrollment.refresh_from_db()
    return enrollment.state != EnrollmentState.PAUSED
