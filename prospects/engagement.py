"""A prospect's human email engagement: counters outreach adds to (opens, clicks, replies) and the score part they make.

Outreach sits above prospects, so it calls down here with what it recorded; prospects never reads outreach's
tables. Bot and machine events never arrive here: outreach filters them before calling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection

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


_ADD_SQL = """
UPDATE {table} AS p SET
    human_opens = p.human_opens + d.opens,
    human_clicks = p.human_clicks + d.clicks,
    replies = p.replies + d.replies,
    last_engaged_at = CASE WHEN d.last_at IS NULL THEN p.last_engaged_at
                           ELSE GREATEST(COALESCE(p.last_engaged_at, d.last_at), d.last_at) END
FROM unnest(%(ids)s::bigint[], %(opens)s::int[], %(clicks)s::int[], %(replies)s::int[], %(last)s::timestamptz[])
    AS d(id, opens, clicks, replies, last_at)
WHERE p.id = d.id AND p.org_id = %(org)s
RETURNING p.id
"""


def prospects_engagement_add(*, deltas: Mapping[int, EngagementDelta]) -> int:
    """Add human engagement to prospects of the current organisation and write their timeline lines. Returns the
    prospects updated.

    One UPDATE for every prospect of the call (the tracking writer passes a batch of hundreds): the increments are
    atomic, so concurrent batches never lose a count, and a prospect of another organisation is never touched."""
    org_id = require_org_id()
    if not deltas:
        return 0
    ids = list(deltas)
    params: dict[str, Any] = {
        "org": org_id,
        "ids": ids,
        "opens": [deltas[i].opens for i in ids],
        "clicks": [deltas[i].clicks for i in ids],
        "replies": [deltas[i].replies for i in ids],
        "last": [deltas[i].last_at for i in ids],
    }
    with connection.cursor() as cursor:
        cursor.execute(_ADD_SQL.format(table=connection.ops.quote_name(Prospect._meta.db_table)), params)
        updated = {row[0] for row in cursor.fetchall()}
    activities = [
        Activity(org_id=org_id, prospect_id=prospect_id, kind=kind, summary=summary[:500], data=data)
        for prospect_id in ids
        if prospect_id in updated
        for kind, summary, data in deltas[prospect_id].activities
    ]
    if activities:
        Activity.objects.bulk_create(activities)
    return len(updated)


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
