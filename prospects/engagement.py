"""A prospect's human email engagement: counters outreach adds to (opens, clicks, replies) and the score part they make.

Outreach sits above prospects, so it calls down here with what it recorded; prospects never reads outreach's
tables. Bot and machine events never arrive here: outreach filters them before calling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.db.models.functions import Greatest

from leadgen.tenancy import require_org_id

from .models import Activity, Prospect

# Points per human event, capped at 100: a reply says far more than an open.
OPEN_POINTS = 10
CLICK_POINTS = 25
REPLY_POINTS = 60


@dataclass
class EngagementDelta:
    opens: int = 0
    clicks: int = 0
    replies: int = 0
    last_at: dt.datetime | None = None
    # Timeline lines to add for this prospect: (kind, summary, data).
    activities: tuple[tuple[str, str, dict[str, Any]], ...] = ()


def prospects_engagement_add(*, deltas: Mapping[int, EngagementDelta]) -> int:
    """Add human engagement to prospects of the current organisation (one UPDATE per prospect, atomic increments
    so concurrent batches never lose a count) and write their timeline lines. Returns the prospects updated."""
    org_id = require_org_id()
    updated = 0
    activities: list[Activity] = []
    for prospect_id, delta in deltas.items():
        changes: dict[str, Any] = {
            "human_opens": F("human_opens") + delta.opens,
            "human_clicks": F("human_clicks") + delta.clicks,
            "replies": F("replies") + delta.replies,
        }
        if delta.last_at is not None:
            changes["last_engaged_at"] = Greatest(F("last_engaged_at"), delta.last_at)
        rows = Prospect.objects.filter(pk=prospect_id).update(**changes)
        if rows and delta.last_at is not None:
            # GREATEST ignores NULL in PostgreSQL, so the first engagement sets the value.
            Prospect.objects.filter(pk=prospect_id, last_engaged_at__isnull=True).update(
                last_engaged_at=delta.last_at
            )
        updated += rows
        if rows:
            activities.extend(
                Activity(org_id=org_id, prospect_id=prospect_id, kind=kind, summary=summary[:500], data=data)
                for kind, summary, data in delta.activities
            )
    if activities:
        Activity.objects.bulk_create(activities)
    return updated


def engagement_score(prospect: Prospect) -> dict[str, Any]:
    """0 to 100 from human opens, clicks and replies (bots and machine opens never counted)."""
    points = (
        prospect.human_opens * OPEN_POINTS
        + prospect.human_clicks * CLICK_POINTS
        + prospect.replies * REPLY_POINTS
    )
    human_events = prospect.human_opens + prospect.human_clicks + prospect.replies
    return {
        "score": min(100, points),
        "human_events": human_events,
        "opens": prospect.human_opens,
        "clicks": prospect.human_clicks,
        "replies": prospect.replies,
        "note": "human opens, clicks and replies; bots and machine opens excluded"
        if human_events
        else "no engagement yet",
    }
