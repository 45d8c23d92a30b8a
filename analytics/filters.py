"""The filters every analytics page and API route share: a date range, an ICP, a campaign, an industry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

DEFAULT_DAYS = 30
MAX_DAYS = 731


class FilterError(ValueError):
    """A filter value the user can correct: the message names it."""


@dataclass(frozen=True)
class Filters:
    start: dt.date  # inclusive, UTC days
    end: dt.date  # inclusive
    icp_id: int | None = None
    campaign_id: int | None = None
    industry: str = ""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> Filters:
        """The period of the same length just before, for the trend."""
        return Filters(
            start=self.start - dt.timedelta(days=self.days),
            end=self.start - dt.timedelta(days=1),
            icp_id=self.icp_id,
            campaign_id=self.campaign_id,
            industry=self.industry,
        )

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) as UTC moments."""
        start = dt.datetime.combine(self.start, dt.time(0), tzinfo=dt.UTC)
        return start, dt.datetime.combine(self.end, dt.time(0), tzinfo=dt.UTC) + dt.timedelta(days=1)

    def query(self) -> dict[str, str]:
        """As GET parameters, for links and CSV exports that keep the filters."""
        out = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.icp_id:
            out["icp"] = str(self.icp_id)
        if self.campaign_id:
            out["campaign"] = str(self.campaign_id)
        if self.industry:
            out["industry"] = self.industry
        return out


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"'{name}' must be a date like 2026-11-30.") from None


def _id(value: str, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise FilterError(f"'{name}' must be a number.")
    return int(value)


def filters_parse(params: Mapping[str, Any], *, today: dt.date | None = None) -> Filters:
    """Filters from GET parameters `from`, `to` (dates), `icp`, `campaign`, `industry`; the last 30 days by default."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    end = _date(params["to"], "to") if params.get("to") else today
    start = _date(params["from"], "from") if params.get("from") else end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise FilterError("'from' must be on or before 'to'.")
    if (end - start).days + 1 > MAX_DAYS:
        raise FilterError(f"The date range can be at most {MAX_DAYS} days.")
    return Filters(
        start=start,
        end=end,
        icp_id=_id(str(params.get("icp") or ""), "icp"),
        campaign_id=_id(str(params.get("campaign") or ""), "campaign"),
        industry=str(params.get("industry") or "")[:60],
    )
