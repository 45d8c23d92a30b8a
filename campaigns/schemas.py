"""API schemas of campaigns: the issue's fields, plus `delay_business_days`/`ai_mode` (optional) on steps."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

StopRule = Literal["reply", "bounce", "unsubscribe", "meeting", "click"]
DEFAULT_STOP_RULES: tuple[StopRule, ...] = ("reply", "bounce", "unsubscribe", "meeting")


class ScheduleIn(Schema):
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], min_length=1, max_length=7)
    start: str = "09:00"
    end: str = "17:00"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("use HH:MM, e.g. 09:00")
        return value


class VariantIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=40)
    subject: str = Field(default="", max_length=500)
    body: str = Field(min_length=1, max_length=20_000)
    weight: int = Field(default=1, ge=0, le=100)


class StepIn(Schema):
    model_config = ConfigDict(extra="forbid")

    delay_hours: int = Field(default=0, ge=0, le=24 * 365)
    delay_business_days: int | None = Field(default=None, ge=0, le=260)
    thread: Literal["new", "reply"] = "new"
    ai_personalise: bool = False
    ai_mode: Literal["opening_line", "whole"] = "opening_line"
    variants: list[VariantIn] = Field(min_length=1, max_length=5)


class CampaignIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    icp_id: int | None = None
    mailbox_ids: list[int] = Field(default_factory=list)
    timezone: str = "UTC"
    schedule: ScheduleIn = Field(default_factory=ScheduleIn)
    review_required: bool = False
    track_opens: bool = True
    track_clicks: bool = True
    first_email_plain: bool = False
    stop_on: list[StopRule] = Field(default_factory=lambda: list(DEFAULT_STOP_RULES))
    # An out-of-office reply with no return date holds the next email this many days.
    ooo_pause_days: int = Field(default=7, ge=1, le=90)
    steps: list[StepIn] = Field(default_factory=list, max_length=20)


class CampaignPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    icp_id: int | None = None
    mailbox_ids: list[int] | None = None
    timezone: str | None = None
    schedule: ScheduleIn | None = None
    review_required: bool | None = None
    track_opens: bool | None = None
    track_clicks: bool | None = None
    first_email_plain: bool | None = None
    stop_on: list[StopRule] | None = None
    ooo_pause_days: int | None = Field(default=None, ge=1, le=90)
    steps: list[StepIn] | None = Field(default=None, max_length=20)


class VariantOut(Schema):
    id: int
    name: str
    subject: str
    body: str
    weight: int


class StepOut(Schema):
    id: int
    delay_hours: int
    delay_business_days: int | None
    thread: str
    ai_personalise: bool
    ai_mode: str
    variants: list[VariantOut]

    @staticmethod
    def resolve_delay_hours(obj: Any) -> int:
        return obj.delay_amount if obj.delay_unit == "hours" else 0

    @staticmethod
    def resolve_delay_business_days(obj: Any) -> int | None:
        return obj.delay_amount if obj.delay_unit == "business_days" else None

    @staticmethod
    def resolve_variants(obj: Any) -> list[Any]:
        return list(obj.variants.all())


class ScheduleOut(Schema):
    days: list[int]
    start: str
    end: str


class CampaignOut(Schema):
    id: int
    name: str
    status: str
    icp_id: int | None
    mailbox_ids: list[int]
    timezone: str
    schedule: ScheduleOut
    review_required: bool
    track_opens: bool
    track_clicks: bool
    first_email_plain: bool
    stop_on: list[str]
    ooo_pause_days: int
    steps: list[StepOut]
    created_at: dt.datetime
    launched_at: dt.datetime | None

    @staticmethod
    def resolve_mailbox_ids(obj: Any) -> list[int]:
        return sorted(m.pk for m in obj.mailboxes.all())

    @staticmethod
    def resolve_schedule(obj: Any) -> dict[str, Any]:
        return {
            "days": sorted(obj.send_days),
            "start": obj.window_start.strftime("%H:%M"),
            "end": obj.window_end.strftime("%H:%M"),
        }

    @staticmethod
    def resolve_steps(obj: Any) -> list[Any]:
        return list(obj.steps.all())


class CampaignListOut(Schema):
    items: list[CampaignOut]
    next_cursor: str | None


class EnrollIn(Schema):
    prospect_ids: list[int] = Field(min_length=1, max_length=1000)


class EnrollResultOut(Schema):
    prospect_id: int
    status: Literal["enrolled", "skipped"]
    reason: str | None = None
    enrollment_id: int | None = None


class EnrollOut(Schema):
    results: list[EnrollResultOut]


class EnrollmentOut(Schema):
    id: int
    prospect_id: int
    email: str
    state: str
    stop_reason: str
    current_step: int | None
    next_send_at: dt.datetime | None
    variant: str | None
    mailbox_id: int | None

    @staticmethod
    def resolve_email(obj: Any) -> str:
        return str(obj.prospect.email)

    @staticmethod
    def resolve_current_step(obj: Any) -> int | None:
        return obj.current_step.number if obj.current_step_id and obj.current_step else None

    @staticmethod
    def resolve_variant(obj: Any) -> str | None:
        return getattr(obj, "variant_name", None)


class EnrollmentListOut(Schema):
    items: list[EnrollmentOut]
    next_cursor: str | None
