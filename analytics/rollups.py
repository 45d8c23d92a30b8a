"""Keeping the daily rollups (analytics.models) equal to a direct count from events.

Two writers, serialised by one advisory lock:
- `rollups_advance` (beat, every few seconds, `events` queue) reads events and replies whose ids lie past the
  cursor, in id order, and adds them to their days. It stops short of ids younger than SETTLE_SECONDS: ids are
  handed out before commit, so a younger, lower id could still become visible after a higher one was read.
- `rollup_day_rebuild` (beat, hourly, for today and yesterday) deletes one organisation's day and counts it again
  from events up to the cursor, which corrects anything the incremental pass could not know (an intent relabelled
  after its reply was read, a prospect's segment changed, an event whose transaction outlived the settle time).

What a counter counts is defined once, in SQL (BUCKET): a message's first event of a bucket, first by id. Both
writers run the same statement, differing only in which events they look at, so they cannot disagree. So does
`rollups_rebuild_all`, the from-scratch build (a first deployment, a changed counter), one organisation's messages
at a time.

The funnel rollup (FunnelDaily, cohorts of people added on a day) is recounted from prospects, set-based, for the
cohorts a pass's events touched, those of prospects updated or enrolled since the last pass (`funnel_advance`),
and every cohort hourly (`funnel_rebuild`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from outreach.models import Event, Reply
from prospects.models import Prospect
from prospects.timezones import is_valid_timezone, location_place

from .models import (
    COUNTERS,
    FUNNEL_STAGES,
    CampaignDaily,
    FunnelDaily,
    HeatmapDaily,
    ProspectSegment,
    RollupCursor,
    SegmentDaily,
    SendTimeDaily,
)

CURSOR = "engagement"
LOCK_KEY = 812_012  # pg_advisory_xact_lock key shared by both writers
CHUNK = 20_000
SETTLE_SECONDS = 10
SIZE_BANDS = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (500, "201-500"),
    (1000, "501-1000"),
    (5000, "1001-5000"),
)

# Which counter an event adds to; NULL for traffic no counter takes (bot opens other than machine opens, bot events
# of other kinds). `{e}` is the event's alias.
BUCKET = """CASE
  WHEN {e}.kind = 'opened' AND NOT {e}.is_bot THEN 'opened'
  WHEN {e}.kind = 'opened' AND {e}.bot_kind = 'machine' THEN 'machine_opened'
  WHEN {e}.kind = 'clicked' AND NOT {e}.is_bot THEN 'clicked'
  WHEN {e}.kind = 'clicked' THEN 'bot_clicked'
  WHEN {e}.is_bot OR {e}.kind = 'opened' THEN NULL
  ELSE {e}.kind END"""

_FIRST_EVENTS = f"""
ev AS (
  SELECT e.id, e.org_id, e.at, e.message_id, e.prospect_id, e.campaign_id, {BUCKET.format(e="e")} AS bucket,
         (e.kind = 'bounced' AND COALESCE(e.meta->>'hard', '') IN ('true', '1')) AS hard
  FROM outreach_event e WHERE __EVENT_WHERE__
),
firsts AS (
  SELECT ev.id, ev.org_id, ev.at, ev.message_id, ev.prospect_id, ev.campaign_id, ev.bucket, ev.hard
  FROM ev WHERE ev.bucket IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM outreach_event p
    WHERE p.org_id = ev.org_id AND p.message_id = ev.message_id AND p.id < ev.id AND __PRIOR_WHERE__
      AND p.kind = (CASE WHEN ev.bucket IN ('opened', 'machine_opened') THEN 'opened'
                         WHEN ev.bucket IN ('clicked', 'bot_clicked') THEN 'clicked' ELSE ev.bucket END)
      AND {BUCKET.format(e="p")} = ev.bucket
  )
  UNION ALL
  SELECT r.id, r.org_id, r.received_at, r.message_id, r.prospect_id, r.campaign_id, 'positive', false
  FROM outreach_reply r
  WHERE __REPLY_WHERE__ AND r.kind = 'reply' AND r.intent = 'interested' AND r.message_id IS NOT NULL
    AND NOT EXISTS (
      SELECT 1 FROM outreach_reply p
      WHERE p.org_id = r.org_id AND p.message_id = r.message_id AND p.kind = 'reply'
        AND p.intent = 'interested' AND p.id < r.id
  )
),
rows AS (
  SELECT f.org_id, f.bucket, f.hard, f.at, COALESCE(f.prospect_id, m.prospect_id) AS prospect_id,
    (f.at AT TIME ZONE 'UTC')::date AS day,
    COALESCE(f.campaign_id, m.campaign_id, 0) AS campaign_id,
    CASE WHEN m.meta->>'step' ~ '^[0-9]{{1,4}}$' THEN (m.meta->>'step')::int ELSE 0 END AS step,
    LEFT(COALESCE(m.meta->>'variant', ''), 40) AS variant,
    m.mailbox_id,
    COALESCE(s.icp_id, 0) AS icp_id, COALESCE(s.tier, '') AS tier, COALESCE(s.seniority, '') AS seniority,
    COALESCE(s.department, '') AS department, COALESCE(s.industry, '') AS industry,
    COALESCE(s.size_band, '') AS size_band, COALESCE(s.country, '') AS country,
    COALESCE(m.sent_at, f.at) AT TIME ZONE COALESCE(NULLIF(en.timezone, ''), s.timezone, 'UTC') AS local_sent
  FROM firsts f
  JOIN outreach_message m ON m.id = f.message_id
  LEFT JOIN analytics_prospectsegment s
    ON s.org_id = f.org_id AND s.prospect_id = COALESCE(f.prospect_id, m.prospect_id)
  LEFT JOIN campaigns_enrollment en
    ON m.meta->>'enrollment_id' ~ '^[0-9]{{1,18}}$' AND en.id = (m.meta->>'enrollment_id')::bigint
)"""  # noqa: S608 (constants only; values are bound parameters)


def _sums() -> str:
    parts = [f"COUNT(*) FILTER (WHERE bucket = '{name}')" for name in COUNTERS if name != "hard_bounced"]
    parts.insert(COUNTERS.index("hard_bounced"), "COUNT(*) FILTER (WHERE bucket = 'bounced' AND hard)")
    return ", ".join(parts)


def _upsert(table: str, keys: Iterable[str], key_exprs: Iterable[str], constraint: str) -> str:
    keys, key_exprs = list(keys), list(key_exprs)
    columns = ", ".join(["org_id", *keys, *COUNTERS])
    updates = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in COUNTERS)
    group = ", ".join(["org_id", *key_exprs])
    return (
        f"INSERT INTO {table} ({columns}) SELECT org_id, {', '.join(key_exprs)}, {_sums()} FROM rows "  # noqa: S608
        f"GROUP BY {group} ON CONFLICT ON CONSTRAINT {constraint} DO UPDATE SET {updates} RETURNING 1"
    )


def _statement(event_where: str, reply_where: str, prior_where: str = "true") -> str:
    """The rollup statement over the events `event_where` selects (`e`) and the replies `reply_where` selects
    (`r`). `prior_where` may narrow the earlier events of the same messages (`p`) to a set that holds all of them
    (the from-scratch rebuild's message range), so the anti-join reads a chunk instead of the whole table."""
    campaign = _upsert(
        CampaignDaily._meta.db_table,
        ["day", "campaign_id", "step", "variant", "mailbox_id", "icp_id"],
        ["day", "campaign_id", "step", "variant", "mailbox_id", "icp_id"],
        "campaigndaily_key",
    )
    segment_keys = [
        "day",
        "campaign_id",
        "icp_id",
        "tier",
        "seniority",
        "department",
        "industry",
        "size_band",
    ]
    segment = _upsert(
        SegmentDaily._meta.db_table,
        [*segment_keys, "country"],
        [*segment_keys, "country"],
        "segmentdaily_key",
    )
    send_time = _upsert(
        SendTimeDaily._meta.db_table,
        ["day", "campaign_id", "icp_id", "industry", "weekday", "hour"],
        [
            "day",
            "campaign_id",
            "icp_id",
            "industry",
            "(EXTRACT(ISODOW FROM local_sent)::int - 1)",
            "EXTRACT(HOUR FROM local_sent)::int",
        ],
        "sendtimedaily_key",
    )
    heatmap = _upsert(
        HeatmapDaily._meta.db_table,
        ["day", "icp_id", "industry", "weekday", "hour"],
        [
            "day",
            "icp_id",
            "industry",
            "(EXTRACT(ISODOW FROM local_sent)::int - 1)",
            "EXTRACT(HOUR FROM local_sent)::int",
        ],
        "heatmapdaily_key",
    )
    funnel = f"""UPDATE {ProspectSegment._meta.db_table} s SET
        first_contacted_at = LEAST(s.first_contacted_at, x.contacted),
        first_opened_at = LEAST(s.first_opened_at, x.opened),
        first_replied_at = LEAST(s.first_replied_at, x.replied),
        first_positive_at = LEAST(s.first_positive_at, x.positive)
      FROM (SELECT org_id, prospect_id,
              MIN(at) FILTER (WHERE bucket = 'sent') AS contacted,
              MIN(at) FILTER (WHERE bucket = 'opened') AS opened,
              MIN(at) FILTER (WHERE bucket = 'replied') AS replied,
              MIN(at) FILTER (WHERE bucket = 'positive') AS positive
            FROM rows WHERE prospect_id IS NOT NULL GROUP BY org_id, prospect_id) x
      WHERE s.org_id = x.org_id AND s.prospect_id = x.prospect_id RETURNING 1"""  # noqa: S608
    head = "WITH " + (
        _FIRST_EVENTS.replace("__EVENT_WHERE__", event_where)
        .replace("__PRIOR_WHERE__", prior_where)
        .replace("__REPLY_WHERE__", reply_where)
    )
    return (
        f"{head}, a AS ({campaign}), b AS ({segment}), c AS ({send_time}), h AS ({heatmap}), d AS ({funnel}) "  # noqa: S608
        "SELECT (SELECT COUNT(*) FROM rows), (SELECT COUNT(*) FROM a), (SELECT COUNT(*) FROM b), "
        "(SELECT COUNT(*) FROM c)"
    )


# --- recipients' segments ------------------------------------------------------------------------------------------


def size_band(employees: int | None) -> str:
    if employees is None:
        return ""
    for upper, label in SIZE_BANDS:
        if employees <= upper:
            return label
    return "5000+"


def _clean(expr: str) -> str:
    """A label as the pages group it: whitespace runs to one space, trimmed, at most 60 characters."""
    return f"LEFT(BTRIM(REGEXP_REPLACE(COALESCE({expr}, ''), '\\s+', ' ', 'g')), 60)"


def _size_band_sql(expr: str) -> str:
    whens = " ".join(f"WHEN {expr} <= {upper} THEN '{label}'" for upper, label in SIZE_BANDS)
    return f"CASE WHEN {expr} IS NULL THEN '' {whens} ELSE '5000+' END"


# Texts the timezone and country are inferred from, per prospect `p` and company `c` (prospects.timezones' order).
_PLACE_TEXTS = (
    ("loc", "p.location"),
    (
        "field",
        "CASE WHEN jsonb_typeof(p.custom_fields->'country') = 'string' THEN p.custom_fields->>'country' END",
    ),
    ("company", "c.location"),
)


def _places(cursor: Any, scope: str, params: list[Any]) -> None:
    """Temp tables analytics_places (text → country, zone) and analytics_zones (valid IANA names) for the distinct
    texts of the prospects in scope: the inference runs in Python once per distinct text, not once per person."""
    values = ", ".join(f"('place', {expr})" for _, expr in _PLACE_TEXTS)
    cursor.execute(
        f"""SELECT DISTINCT v.kind, v.t FROM {Prospect._meta.db_table} p
            LEFT JOIN prospects_company c ON c.id = p.company_id
            CROSS JOIN LATERAL (VALUES {values}, ('zone', p.timezone)) v(kind, t)
            WHERE ({scope}) AND v.t <> ''""",  # noqa: S608
        params,
    )
    places, zones = [], []
    for kind, text in cursor.fetchall():
        if kind == "zone":
            if is_valid_timezone(text):
                zones.append((text,))
        elif (place := location_place(text)) is not None:
            places.append((text, place.country[:2], place.zone))
    for statement in (
        "DROP TABLE IF EXISTS analytics_places",
        "DROP TABLE IF EXISTS analytics_zones",
        "CREATE TEMP TABLE analytics_places (text text PRIMARY KEY, country text, zone text)",
        "CREATE TEMP TABLE analytics_zones (name text PRIMARY KEY)",
    ):
        cursor.execute(statement)
    if places:
        cursor.executemany("INSERT INTO analytics_places VALUES (%s, %s, %s)", places)
    if zones:
        cursor.executemany("INSERT INTO analytics_zones VALUES (%s)", zones)


def segments_refresh_where(scope: str, params: list[Any]) -> int:
    """Compute, set-based, the segment of each prospect in `scope` (SQL over `p`, the prospect, and `c`, its
    company) that has none yet or changed since. Returns the segments written."""
    table = ProspectSegment._meta.db_table
    joins = " ".join(
        f"LEFT JOIN analytics_places pl_{name} ON pl_{name}.text = {expr}" for name, expr in _PLACE_TEXTS
    )
    country = "COALESCE(" + ", ".join(f"pl_{name}.country" for name, _ in _PLACE_TEXTS) + ", '')"
    zone = "COALESCE(" + ", ".join(f"pl_{name}.zone" for name, _ in _PLACE_TEXTS) + ", 'UTC')"
    columns = "icp_id, tier, seniority, department, industry, size_band, country, timezone, computed_at"
    with connection.cursor() as cursor:
        _places(cursor, scope, params)
        cursor.execute(
            f"""INSERT INTO {table} (org_id, prospect_id, {columns})
            SELECT p.org_id, p.id, COALESCE(p.icp_id, 0), COALESCE(p.tier, ''), LOWER({_clean("p.seniority")}),
              LOWER({_clean("p.department")}), {_clean("c.industry")}, {_size_band_sql("c.employee_count")},
              {country}, CASE WHEN z.name IS NOT NULL THEN p.timezone ELSE {zone} END, statement_timestamp()
            FROM {Prospect._meta.db_table} p
            LEFT JOIN prospects_company c ON c.id = p.company_id
            LEFT JOIN {table} s ON s.org_id = p.org_id AND s.prospect_id = p.id
            LEFT JOIN analytics_zones z ON z.name = p.timezone
            {joins}
            WHERE ({scope}) AND (s.id IS NULL OR p.updated_at >= s.computed_at OR c.updated_at >= s.computed_at)
            ON CONFLICT (org_id, prospect_id) DO UPDATE SET """  # noqa: S608
            + ", ".join(f"{name} = EXCLUDED.{name}" for name in columns.split(", ")),
            params,
        )
        written = cursor.rowcount
        cursor.execute("DROP TABLE analytics_places")
        cursor.execute("DROP TABLE analytics_zones")
    return written


def segments_refresh(*, prospect_ids: Iterable[int]) -> int:
    """Compute the segment of each prospect that has none yet or changed since (across orgs: a task's batch)."""
    ids = sorted({pk for pk in prospect_ids if pk})
    if not ids:
        return 0
    return segments_refresh_where("p.id = ANY(%s)", [ids])


def _prospects_of(events: Any, replies: Any) -> set[int]:
    ids = set(events.exclude(prospect_id=None).values_list("prospect_id", flat=True).distinct())
    ids |= set(events.filter(prospect_id=None).values_list("message__prospect_id", flat=True).distinct())
    ids |= set(
        replies.exclude(message__prospect_id=None).values_list("message__prospect_id", flat=True).distinct()
    )
    return {pk for pk in ids if pk}


# --- the funnel: cohorts of people added on a day ----------------------------------------------------------------

# When a prospect `p` (with its segment `s`) has reached a stage, in FUNNEL_STAGES order.
REACHED = {
    "prospects": "true",
    "enriched": "(p.enriched_at IS NOT NULL OR p.stage <> 'new')",
    "qualified": "p.stage IN ('qualified', 'contacted', 'replied', 'meeting', 'won', 'lost')",
    "enrolled": "EXISTS (SELECT 1 FROM campaigns_enrollment en WHERE en.org_id = p.org_id AND en.prospect_id = p.id)",
    "contacted": "s.first_contacted_at IS NOT NULL",
    "opened": "s.first_opened_at IS NOT NULL",
    "replied": "s.first_replied_at IS NOT NULL",
    "interested": "s.first_positive_at IS NOT NULL",
    "meeting": "p.stage IN ('meeting', 'won')",
    "won": "p.stage = 'won'",
}
# Changes to prospects and enrollments are looked for this far behind the last pass (commit lag, clock skew).
FUNNEL_OVERLAP_SECONDS = 60
ENROLLMENT_OVERLAP_IDS = 1000


def funnel_counts_sql() -> str:
    """One COUNT per stage, of everyone who reached it or any later one (a reply with no tracked open was still
    read; a meeting booked from a form skipped the emails), over prospects `p` joined to their segments `s`."""
    conditions = [REACHED[name] for name in FUNNEL_STAGES]
    return ", ".join(
        "COUNT(*) FILTER (WHERE " + " OR ".join(conditions[index:]) + ")" for index in range(len(conditions))
    )


def funnel_refresh(cohorts_sql: str | None, params: list[Any]) -> int:
    """Count the cohorts `cohorts_sql` selects (rows of org_id, day; None: every cohort) again from prospects,
    set-based: a cohort is the people one organisation added on one UTC day. Returns the funnel rows written."""
    table, prospects = FunnelDaily._meta.db_table, Prospect._meta.db_table
    stages = ", ".join(FUNNEL_STAGES)
    day = "(p.created_at AT TIME ZONE 'UTC')::date"
    select = f"""INSERT INTO {table} (org_id, day, icp_id, {stages})
        SELECT p.org_id, {day}, COALESCE(p.icp_id, 0), {funnel_counts_sql()}
        FROM {{source}}
        LEFT JOIN {ProspectSegment._meta.db_table} s ON s.org_id = p.org_id AND s.prospect_id = p.id
        GROUP BY p.org_id, {day}, COALESCE(p.icp_id, 0)"""  # noqa: S608
    with connection.cursor() as cursor:
        if cohorts_sql is None:  # one pass over prospects, no cohort list to join
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (a constant)
            cursor.execute(select.format(source=f"{prospects} p"))
            return int(cursor.rowcount)
        cursor.execute("DROP TABLE IF EXISTS analytics_cohorts")
        cursor.execute(
            f"CREATE TEMP TABLE analytics_cohorts AS SELECT DISTINCT org_id, day FROM ({cohorts_sql}) c",  # noqa: S608
            params,
        )
        cursor.execute("ANALYZE analytics_cohorts")  # so the join below walks the (org, created_at) index
        cursor.execute(
            f"DELETE FROM {table} f USING analytics_cohorts c WHERE f.org_id = c.org_id AND f.day = c.day"  # noqa: S608
        )
        cursor.execute(
            select.format(
                source=f"""analytics_cohorts c JOIN {prospects} p ON p.org_id = c.org_id
                AND p.created_at >= c.day::timestamp AT TIME ZONE 'UTC'
                AND p.created_at < (c.day + 1)::timestamp AT TIME ZONE 'UTC'"""
            )
        )
        written = int(cursor.rowcount)
        cursor.execute("DROP TABLE analytics_cohorts")
    return written


def _cohorts_of_prospects() -> str:
    return (
        f"SELECT org_id, (created_at AT TIME ZONE 'UTC')::date AS day FROM {Prospect._meta.db_table} "  # noqa: S608
        "WHERE id = ANY(%s)"
    )


def _cohorts_changed_since() -> str:
    """Cohorts of prospects updated at or after a moment (per organisation, on the (org, updated_at) index) and of
    prospects enrolled past an enrollment id (on the primary key), so the beat never scans the prospect table."""
    from campaigns.models import Enrollment

    prospects = Prospect._meta.db_table
    return f"""SELECT p.org_id, (p.created_at AT TIME ZONE 'UTC')::date AS day
      FROM accounts_organization o JOIN {prospects} p ON p.org_id = o.id AND p.updated_at >= %s
      UNION ALL
      SELECT p.org_id, (p.created_at AT TIME ZONE 'UTC')::date
      FROM {Enrollment._meta.db_table} en JOIN {prospects} p ON p.id = en.prospect_id WHERE en.id > %s"""  # noqa: S608


def funnel_advance(*, now: dt.datetime | None = None) -> int:
    """The cohorts whose people changed since the last pass (stage, enrichment, ICP, a new enrollment), counted
    again; `rollups_advance` refreshes the cohorts of people its events touched, and the hourly rebuild counts
    every cohort again (a writer that changed a stage without touching `updated_at`)."""
    from campaigns.models import Enrollment

    now = now or timezone.now()
    with transaction.atomic():
        _lock()
        cursor = _cursor()
        top = Enrollment.objects.unscoped().order_by("-id").values_list("id", flat=True).first() or 0
        if cursor.funnel_at is None:  # first pass: every cohort
            refreshed = funnel_refresh(None, [])
        else:
            since = cursor.funnel_at - dt.timedelta(seconds=FUNNEL_OVERLAP_SECONDS)
            # Ids are handed out before commit: look again at the last ones, a lower id may have committed late.
            enrolled = max(0, cursor.enrollment_id - ENROLLMENT_OVERLAP_IDS)
            refreshed = funnel_refresh(_cohorts_changed_since(), [since, enrolled])
        RollupCursor.objects.filter(name=CURSOR).update(funnel_at=now, enrollment_id=top)
    return refreshed


def funnel_rebuild() -> int:
    """Every cohort of every organisation counted again from prospects (hourly: one GROUP BY over prospects)."""
    with transaction.atomic():
        _lock()
        return funnel_refresh(None, [])


# --- the two writers -----------------------------------------------------------------------------------------------

# A reply waits this long for its intent (the classifier runs right after it is stored) before the pass moves on.
INTENT_WAIT_SECONDS = 300


def _lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def _cursor() -> RollupCursor:
    RollupCursor.objects.get_or_create(name=CURSOR)
    return RollupCursor.objects.select_for_update().get(name=CURSOR)


def _run(event_where: str, reply_where: str, params: list[Any], prior_where: str = "true") -> int:
    """Params in statement order: the event filter's, the prior filter's, the reply filter's."""
    with connection.cursor() as cursor:
        cursor.execute(_statement(event_where, reply_where, prior_where), params)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _high(queryset: Any, low: int, young: Any) -> int:
    """The highest id past `low` (at most CHUNK on) below which every row is settled."""
    top = queryset.filter(id__gt=low).order_by("-id").values_list("id", flat=True).first()
    if top is None:
        return low
    high = min(top, low + CHUNK)
    first_young = (
        queryset.filter(young, id__gt=low, id__lte=high).order_by("id").values_list("id", flat=True).first()
    )
    return high if first_young is None else first_young - 1


def rollups_advance(*, max_chunks: int = 10, now: dt.datetime | None = None) -> dict[str, int]:
    """Add events and replies past the cursor to the rollups, CHUNK ids at a time, across every organisation."""
    from django.db.models import Q

    now = now or timezone.now()
    settled = now - dt.timedelta(seconds=SETTLE_SECONDS)
    done = {"chunks": 0, "counted": 0}
    for _ in range(max_chunks):
        with transaction.atomic():
            _lock()
            cursor = _cursor()
            event_high = _high(Event.objects.unscoped(), cursor.event_id, Q(created_at__gt=settled))
            unclassified = Q(
                kind="reply", intent="", created_at__gt=now - dt.timedelta(seconds=INTENT_WAIT_SECONDS)
            )
            reply_high = _high(
                Reply.objects.unscoped(), cursor.reply_id, Q(created_at__gt=settled) | unclassified
            )
            if event_high == cursor.event_id and reply_high == cursor.reply_id:
                break
            events = Event.objects.unscoped().filter(id__gt=cursor.event_id, id__lte=event_high)
            replies = Reply.objects.unscoped().filter(id__gt=cursor.reply_id, id__lte=reply_high)
            touched = _prospects_of(events, replies)
            segments_refresh(prospect_ids=touched)
            done["counted"] += _run(
                "e.id > %s AND e.id <= %s",
                "r.id > %s AND r.id <= %s",
                [cursor.event_id, event_high, cursor.reply_id, reply_high],
            )
            funnel_refresh(_cohorts_of_prospects(), [list(touched)])
            RollupCursor.objects.filter(name=CURSOR).update(
                event_id=event_high, reply_id=reply_high, updated_at=now
            )
            done["chunks"] += 1
    funnel_advance()  # its own clock: `now` may be shifted to settle test rows
    return done


def rollup_day_rebuild(*, org_id: int, day: dt.date) -> int:
    """Count one organisation's day again from events and replies up to the cursor (the rest is the next pass's)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    with transaction.atomic():
        _lock()
        cursor = _cursor()
        for model in (CampaignDaily, SegmentDaily, SendTimeDaily, HeatmapDaily):
            model.objects.unscoped().filter(org_id=org_id, day=day).delete()
        events = Event.objects.unscoped().filter(
            org_id=org_id, at__gte=start, at__lt=end, id__lte=cursor.event_id
        )
        replies = Reply.objects.unscoped().filter(
            org_id=org_id, received_at__gte=start, received_at__lt=end, id__lte=cursor.reply_id
        )
        touched = _prospects_of(events, replies)
        segments_refresh(prospect_ids=touched)
        counted = _run(
            "e.org_id = %s AND e.at >= %s AND e.at < %s AND e.id <= %s",
            "r.org_id = %s AND r.received_at >= %s AND r.received_at < %s AND r.id <= %s",
            [org_id, start, end, cursor.event_id, org_id, start, end, cursor.reply_id],
        )
        funnel_refresh(_cohorts_of_prospects(), [list(touched)])
        return counted


# The from-scratch rebuild's working memory per sort or hash: the rollup statement's hashes over a chunk of events
# stay in memory instead of spilling to disk in batches (measured: 1,000,000 events in 22 s instead of 39 s).
REBUILD_WORK_MEM = "256MB"


def rollups_rebuild_all(*, chunk: int = 200_000) -> dict[str, int]:
    """Every organisation's rollups counted again from scratch, set-based: the segments of everyone emailed, then
    the rollup statement over the events of one organisation's messages, `chunk` message ids at a time (a
    message's earlier events are then in the same chunk, so the first-event test never reads the whole table),
    the replies, then every funnel cohort, in
    one transaction (the beat's passes wait on the lock). For a first deployment over existing events, or after
    changing what a counter counts; the beat keeps the rollups up to date from there."""
    from django.db.models import Max, Min

    from campaigns.models import Enrollment
    from outreach.models import Message

    now = timezone.now()
    done = {"segments": 0, "counted": 0, "chunks": 0, "funnel_rows": 0}
    with transaction.atomic():
        _lock()
        _cursor()
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{REBUILD_WORK_MEM}'")
            for model in (
                CampaignDaily,
                SegmentDaily,
                SendTimeDaily,
                HeatmapDaily,
                FunnelDaily,
                ProspectSegment,
            ):
                cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608 (a constant)
        done["segments"] = segments_refresh_where(
            f"EXISTS (SELECT 1 FROM {Message._meta.db_table} m WHERE m.org_id = p.org_id AND m.prospect_id = p.id)",  # noqa: S608
            [],
        )
        top = Event.objects.unscoped().order_by("-id").values_list("id", flat=True).first() or 0
        top_reply = Reply.objects.unscoped().order_by("-id").values_list("id", flat=True).first() or 0
        spans = (
            Message.objects.unscoped()
            .values_list("org_id")
            .annotate(low=Min("id"), high=Max("id"))
            .order_by()
        )
        for org_id, first_message, last_message in spans:
            for low in range(first_message - 1, last_message, chunk):
                # On the (org, message, at) index: no chunk scans the event table.
                done["counted"] += _run(
                    "e.org_id = %s AND e.message_id > %s AND e.message_id <= %s AND e.id <= %s",
                    "false",
                    [org_id, low, low + chunk, top, org_id, low, low + chunk],
                    prior_where="p.org_id = %s AND p.message_id > %s AND p.message_id <= %s",
                )
                done["chunks"] += 1
        done["counted"] += _run("false", "r.id <= %s", [top_reply])
        done["funnel_rows"] = funnel_refresh(None, [])
        enrolled = Enrollment.objects.unscoped().order_by("-id").values_list("id", flat=True).first() or 0
        RollupCursor.objects.filter(name=CURSOR).update(
            event_id=top, reply_id=top_reply, funnel_at=now, enrollment_id=enrolled, updated_at=now
        )
    return done


def rollups_rebuild_recent(*, now: dt.datetime | None = None) -> int:
    """Beat, hourly: rebuild today and yesterday (UTC) of every organisation that had engagement then."""
    today = (now or timezone.now()).astimezone(dt.UTC).date()
    days = [today - dt.timedelta(days=1), today]
    org_ids = set(
        CampaignDaily.objects.unscoped().filter(day__in=days).values_list("org_id", flat=True).distinct()
    )
    rebuilt = 0
    for org_id in sorted(org_ids):
        for day in days:
            rollup_day_rebuild(org_id=org_id, day=day)
            rebuilt += 1
    funnel_rebuild()
    return rebuilt
