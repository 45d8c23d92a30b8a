"""Sequencing on top of outreach: campaigns, their steps and A/B variants, and enrollments (prospect x campaign).

An enrollment moves through its campaign's steps. At each step the scheduler creates exactly one outreach Message,
keyed `enrollment:<id>:step:<step id>`, then waits (`current_message` set, `next_send_at` empty) until outreach has
sent it, and only then computes the next send time from the real `sent_at`. So a pause, a resume, a crash or two
schedulers can never make a second message for the same step: the unique send key refuses it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Deferrable, Q
from django.utils.timezone import now

from leadgen.tenancy import OrgOwned


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class StopRule(models.TextChoices):
    REPLY = "reply", "Reply"
    BOUNCE = "bounce", "Bounce"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
    MEETING = "meeting", "Meeting booked"
    CLICK = "click", "Link click"


DEFAULT_STOP_RULES = [StopRule.REPLY, StopRule.BOUNCE, StopRule.UNSUBSCRIBE, StopRule.MEETING]


def _default_stop_rules() -> list[str]:
    return [str(rule) for rule in DEFAULT_STOP_RULES]


def _weekdays() -> list[int]:
    return [1, 2, 3, 4, 5]


class Campaign(OrgOwned):
    name = models.CharField(max_length=200)
    icp = models.ForeignKey(
        "prospects.ICP", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mailboxes = models.ManyToManyField("outreach.Mailbox", blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)

    # Schedule, applied in each recipient's own timezone; `timezone` is the fallback when none is known.
    timezone = models.CharField(max_length=64, default="UTC")
    send_days = ArrayField(models.PositiveSmallIntegerField(), default=_weekdays)  # ISO weekdays, 1 = Monday
    window_start = models.TimeField(default=dt.time(9, 0))
    window_end = models.TimeField(default=dt.time(17, 0))
    # Public holidays of the recipient's country (python-holidays); `holiday_country` when it is unknown.
    skip_holidays = models.BooleanField(default=False)
    holiday_country = models.CharField(max_length=2, blank=True)
    # New prospects starting the sequence per day (by the campaign timezone's date); 0 = no cap.
    daily_new_limit = models.PositiveIntegerField(default=50)

    stop_on = ArrayField(
        models.CharField(max_length=20, choices=StopRule.choices), default=_default_stop_rules
    )
    stop_company = models.BooleanField(default=False, help_text="A reply stops everyone at the same company.")
    # An out-of-office reply without a return date pauses the enrollment this many days (scheduler/pauses.py).
    ooo_pause_days = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    exclusive = models.BooleanField(default=True, help_text="Skip prospects active in another campaign.")
    review_required = models.BooleanField(default=False)
    # Tracking (outreach.tracking): copied into each message's meta by the dispatcher. "First email as plain
    # text" sends step 1 without an HTML part (no pixel, so no open is seen); its links are still tracked.
    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    first_email_plain = models.BooleanField(default=False)

    # Entry rules: with auto_enroll, the scheduler pulls matching prospects (the ICP above, tiers, score, ...).
    auto_enroll = models.BooleanField(default=False)
    entry_tiers = ArrayField(models.CharField(max_length=12), default=list, blank=True)
    entry_min_score = models.PositiveSmallIntegerField(null=True, blank=True)
    entry_stages = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    entry_tags = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    # Prospects scored after this moment are candidates on the next pull (the pull's high-water mark).
    entry_checked_at = models.DateTimeField(null=True, blank=True)

    launched_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["org", "status", "-created_at"], name="campaign_org_status"),
            # The entry-rule pull runs across orgs over active auto-enrolling campaigns.
            models.Index(
                fields=["entry_checked_at"],
                condition=Q(status="active", auto_enroll=True),
                name="campaign_auto_enroll",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_sending(self) -> bool:
        return self.status == CampaignStatus.ACTIVE


class DelayUnit(models.TextChoices):
    HOURS = "hours", "hours"
    BUSINESS_DAYS = "business_days", "business days"


class Thread(models.TextChoices):
    NEW = "new", "New thread"
    REPLY = "reply", "Reply in thread"


class AiMode(models.TextChoices):
    OPENING_LINE = "opening_line", "Opening line"
    WHOLE = "whole", "Whole email"


class Step(OrgOwned):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    # After the previous send (the first step: after enrollment).
    delay_amount = models.PositiveIntegerField(default=0)
    delay_unit = models.CharField(max_length=14, choices=DelayUnit.choices, default=DelayUnit.HOURS)
    thread = models.CharField(max_length=5, choices=Thread.choices, default=Thread.NEW)
    ai_personalise = models.BooleanField(default=False)
    ai_mode = models.CharField(max_length=12, choices=AiMode.choices, default=AiMode.OPENING_LINE)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            # Deferred, so steps can be renumbered inside one transaction.
            models.UniqueConstraint(
                fields=["campaign", "order"], name="step_unique_order", deferrable=Deferrable.DEFERRED
            )
        ]
        indexes = [models.Index(fields=["org", "campaign", "order"], name="step_org_campaign")]

    def __str__(self) -> str:
        return f"step {self.order}"

    @property
    def number(self) -> int:
        return self.order + 1

    @property
    def delay_hours(self) -> int:
        return self.delay_amount if self.delay_unit == DelayUnit.HOURS else self.delay_amount * 24


class Variant(OrgOwned):
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=40, default="A")
    subject = models.CharField(max_length=500, blank=True)
    body = models.TextField()
    weight = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["org", "step"], name="variant_org_step")]

    def __str__(self) -> str:
        return self.name


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Held"
    FINISHED = "finished", "Finished"
    STOPPED = "stopped", "Stopped"


class StopReason(models.TextChoices):
    REPLIED = "replied", "Replied"
    COMPANY_REPLIED = "company_replied", "Someone at the company replied"
    BOUNCED = "bounced", "Bounced"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    MEETING = "meeting", "Meeting booked"
    CLICKED = "clicked", "Clicked a link"
    SUPPRESSED = "suppressed", "On the suppression list"
    DO_NOT_CONTACT = "do_not_contact", "Marked do not contact"
    REMOVED = "removed", "Removed by a user"
    REJECTED = "rejected", "Draft rejected in review"
    CANCELLED = "cancelled", "Message cancelled"
    ARCHIVED = "archived", "Campaign archived"


class TimezoneSource(models.TextChoices):
    SET = "set", "set on the prospect"
    LOCATION = "location", "inferred from location"
    COMPANY_LOCATION = "company_location", "inferred from the company's location"
    FALLBACK = "fallback", "campaign's fallback"


class Enrollment(OrgOwned):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="enrollments")
    prospect = models.ForeignKey("prospects.Prospect", on_delete=models.CASCADE, related_name="enrollments")
    state = models.CharField(max_length=10, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE)
    stop_reason = models.CharField(max_length=20, choices=StopReason.choices, blank=True)
    # Why a held (paused) enrollment waits, in words a user can act on ("first_name is empty in step 1 (A)").
    hold_reason = models.TextField(blank=True)
    source = models.CharField(max_length=10, default="manual")  # manual | api | rules
    current_step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The current step's message once created; the scheduler waits for it to be sent before moving on.
    current_message = models.ForeignKey(
        "outreach.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    next_send_at = models.DateTimeField(null=True, blank=True)  # UTC; empty while a message is pending
    # Kept for the whole sequence so every step is one conversation from one sender.
    mailbox = models.ForeignKey("outreach.Mailbox", null=True, on_delete=models.SET_NULL, related_name="+")
    variant_slot = models.PositiveSmallIntegerField(default=0)
    timezone = models.CharField(max_length=64)
    timezone_source = models.CharField(max_length=20, choices=TimezoneSource.choices)
    # The campaign-timezone date the first step is scheduled on (what the daily cap of new prospects counts).
    starts_on = models.DateField(null=True, blank=True)
    steps_sent = models.PositiveSmallIntegerField(default=0)
    # Out of office (scheduler/pauses.py): nothing is sent before `paused_until`; `replies_seen_id` is the highest
    # auto-reply id applied, so each one pauses once.
    paused_until = models.DateTimeField(null=True, blank=True)
    replies_seen_id = models.BigIntegerField(default=0)
    # A soft bounce sends the step again later under a new send key (`…:retry:<n>`); back to 0 on the next step.
    step_retries = models.PositiveSmallIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # A scheduler run's claim; an expired lease (a crashed run) lets the next run take the row again.
    claimed_until = models.DateTimeField(null=True, blank=True)
    enrolled_at = models.DateTimeField(default=now)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "campaign", "prospect"], name="enrollment_unique_prospect_per_campaign"
            )
        ]
        indexes = [
            models.Index(fields=["org", "campaign", "state", "-enrolled_at"], name="enrollment_org_campaign"),
            models.Index(fields=["org", "prospect", "state"], name="enrollment_org_prospect"),
            models.Index(fields=["org", "campaign", "starts_on"], name="enrollment_org_starts_on"),
            # The scheduler's due query across every org: active, not waiting on a message, due by now.
            models.Index(
                fields=["next_send_at"],
                condition=Q(state="active", next_send_at__isnull=False),
                name="enrollment_due",
            ),
            # The pull: active enrollments waiting on their current message.
            models.Index(
                fields=["current_message"],
                condition=Q(state="active", current_message__isnull=False),
                name="enrollment_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prospect_id} in {self.campaign_id}"

    def send_key(self, step: Step) -> str:
        key = f"enrollment:{self.pk}:step:{step.pk}"
        return f"{key}:retry:{self.step_retries}" if self.step_retries else key

    @property
    def is_held(self) -> bool:
        return self.state == EnrollmentState.PAUSED


# The meetings wing keeps its models in its own module; imported here so Django registers them with this app.
from .meetings.models import (  # noqa: E402, F401
    BookingProfile,
    DateOverride,
    Meeting,
    MeetingStatus,
    MeetingType,
    WeeklyHours,
)
