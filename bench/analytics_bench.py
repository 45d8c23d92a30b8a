"""Analytics pages over 10,000,000 events and 1,000,000 prospects in 10 organisations: p50/p95 server time, queries.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/analytics_bench.py [--share N] [--reseed|--rollups]

Uses `leadgen_bench`, the database bench/list_bench.py seeds (1,000,000 prospects, 40% in the first organisation,
whose owner the requests log in as), and adds to it once: 3 mailboxes and 5 two-step A/B campaigns per
organisation, two sent messages per prospect (2,000,000) over the last 180 days and five events per message
(10,000,000: sent, delivered, a first open of which 30% Apple-MPP machine opens, then a bounce, reply, click,
unsubscribe or complaint, then another open), and a reply row with its intent for every reply event. Messages and
events are loaded set-based (INSERT ... SELECT over generate_series, the list bench's method) with the event
table's secondary indexes dropped and rebuilt after. The rollups are then built from scratch by production's
`analytics.rollups.rollups_rebuild_all` (set-based: segments, the rollup statement in 1,000,000-event chunks, every
funnel cohort; its throughput is reported too). `--rollups` builds them again without reloading the engagement.

Requests go through Django's whole stack in this process with the test Client, logged in; "server time" is the
handler's time without a network hop. Writes bench/results/analytics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from list_bench import BENCH_EMAIL, _column_values, _secondary_indexes, ensure_seeded, measure

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "analytics.json"
DAYS = 180


def _campaigns(org_ids: list[int]) -> None:
    """Three mailboxes and five two-step campaigns with versions A and B per org; lookup tables for the load."""
    from django.db import connection

    from campaigns.models import Campaign, Step, Variant
    from leadgen.tenancy import org_scope
    from outreach.models import Mailbox

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_campaign (org_id bigint, k int, campaign_id bigint)")
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_mailbox (org_id bigint, k int, mailbox_id bigint)")
        cursor.execute("TRUNCATE bench_campaign, bench_mailbox")
        for org_id in org_ids:
            with org_scope(org_id):
                for k in range(3):
                    box = Mailbox.objects.create(
                        org_id=org_id, name=f"Desk {k}", from_email=f"desk{k}@sender{k % 2}.example"
                    )
                    cursor.execute("INSERT INTO bench_mailbox VALUES (%s, %s, %s)", [org_id, k, box.pk])
                for k in range(5):
                    campaign = Campaign.objects.create(org_id=org_id, name=f"Bench campaign {k}")
                    for order in range(2):
                        step = Step.objects.create(org_id=org_id, campaign=campaign, order=order)
                        for name in ("A", "B"):
                            Variant.objects.create(org_id=org_id, step=step, name=name, body="Hi")
                    cursor.execute("INSERT INTO bench_campaign VALUES (%s, %s, %s)", [org_id, k, campaign.pk])


def _load(cursor: Any, model: Any, generated: dict[str, str], source: str, params: dict[str, Any]) -> float:
    columns, exprs = _column_values(model, generated, params)
    table = model._meta.db_table
    indexes = _secondary_indexes(cursor, table)
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    started = time.perf_counter()
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} {source}"
    cursor.execute(sql, params)
    for _, definition in indexes:
        cursor.execute(definition)
    return time.perf_counter() - started


def seed_engagement(share: int) -> dict[str, float]:
    """Messages, events and replies for every prospect of the bench database (see the module docstring)."""
    from django.db import connection, transaction

    from accounts.models import Organization
    from outreach.models import Event, Message, Reply

    org_ids = list(
        Organization.objects.filter(slug__startswith="bench-list-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    started = time.perf_counter()
    _campaigns(org_ids)
    timings: dict[str, float] = {}
    minutes = DAYS * 24 * 60
    message = {
        "org_id": "p.org_id",
        "send_key": "'bench:' || p.id || ':' || st",
        "campaign_id": "c.campaign_id",
        "mailbox_id": "b.mailbox_id",
        "prospect_id": "p.id",
        "to_email": "p.email",
        "subject": "'Quick question'",
        "body_text": "'Hi'",
        "status": "'sent'",
        "message_id": "'<bench.' || p.id || '.' || st || '@sender.example>'",
        "origin": "'campaign'",
        "meta": "jsonb_build_object('step', st, 'variant', CASE WHEN p.id %% 2 = 0 THEN 'A' ELSE 'B' END)",
        "sent_at": "now() - make_interval(mins => ((p.id * 7919 + st * 4001) %% %(minutes)s)::int)",
        "created_at": "now()",
        "updated_at": "now()",
    }
    message_source = (
        "FROM (SELECT * FROM prospects_prospect WHERE id %% %(share)s = 0) p CROSS JOIN generate_series(1, 2) AS st "
        "JOIN bench_campaign c ON c.org_id = p.org_id AND c.k = p.id %% 5 "
        "JOIN bench_mailbox b ON b.org_id = p.org_id AND b.k = p.id %% 3"
    )
    # j: 0 sent, 1 delivered, 2 first open (30% machine), 3 the outcome (h picks it), 4 a later open.
    outcome = (
        "CASE WHEN j = 0 THEN 'sent' WHEN j = 1 THEN 'delivered' WHEN j IN (2, 4) THEN 'opened' "
        "WHEN h < 20 THEN 'bounced' WHEN h < 80 THEN 'replied' WHEN h < 82 THEN 'complained' "
        "WHEN h < 90 THEN 'unsubscribed' WHEN h < 400 THEN 'clicked' ELSE 'opened' END"
    )
    event = {
        "org_id": "m.org_id",
        "message_id": "m.id",
        "prospect_id": "m.prospect_id",
        "campaign_id": "m.campaign_id",
        "kind": outcome,
        "at": "m.sent_at + make_interval(mins => j * 90 + (h %% 60))",
        "is_bot": "(j = 2 AND h %% 10 < 3)",
        "bot_kind": "CASE WHEN j = 2 AND h %% 10 < 3 THEN 'machine' ELSE '' END",
        "meta": "CASE WHEN j = 3 AND h < 20 THEN jsonb_build_object('hard', h < 10) ELSE '{}'::jsonb END",
        "created_at": "now()",
    }
    event_source = (
        "FROM (SELECT m.*, j, ((m.id * 2654435761 + j * 40503) %% 1000)::int AS h "
        "FROM outreach_message m CROSS JOIN generate_series(0, 4) AS j) m"
    )
    reply = {
        "org_id": "e.org_id",
        "message_id": "e.message_id",
        "prospect_id": "e.prospect_id",
        "campaign_id": "e.campaign_id",
        "kind": "'reply'",
        "intent": "CASE WHEN e.id %% 3 = 0 THEN 'interested' ELSE 'not_now' END",
        "received_at": "e.at",
        "created_at": "now()",
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE outreach_event, outreach_reply, outreach_message CASCADE")
        timings["messages_s"] = _load(
            cursor, Message, message, message_source, {"minutes": minutes, "share": share}
        )
        print(f"  messages in {timings['messages_s']:.0f}s", flush=True)
        timings["events_s"] = _load(cursor, Event, event, event_source, {})
        print(f"  events in {timings['events_s']:.0f}s", flush=True)
        timings["replies_s"] = _load(
            cursor, Reply, reply, "FROM outreach_event e WHERE e.kind = 'replied'", {}
        )
    with connection.cursor() as cursor:
        for table in ("outreach_message", "outreach_event", "outreach_reply"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    timings["total_s"] = round(time.perf_counter() - started, 1)
    return timings


def build_rollups() -> dict[str, Any]:
    """The rollups from scratch by `analytics.rollups.rollups_rebuild_all` (set-based), timed."""
    from django.db import connection

    from analytics import rollups
    from analytics.models import (
        CampaignDaily,
        FunnelDaily,
        HeatmapDaily,
        ProspectSegment,
        SegmentDaily,
        SendTimeDaily,
    )
    from outreach.models import Event

    grains = (CampaignDaily, SegmentDaily, SendTimeDaily, HeatmapDaily, FunnelDaily)
    events = Event.objects.unscoped().count()
    load_before = os.getloadavg()
    started = time.perf_counter()
    done = rollups.rollups_rebuild_all()
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        for model in (*grains, ProspectSegment):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    rows = {m.__name__: m.objects.unscoped().count() for m in grains}
    return {
        "events": events,
        "seconds": round(seconds, 1),
        "events_per_s": round(events / seconds),
        **done,
        **rows,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument(
        "--reseed", action="store_true", help="load the engagement and build the rollups again"
    )
    parser.add_argument(
        "--rollups", action="store_true", help="build the rollups again (keep the engagement)"
    )
    parser.add_argument(
        "--share",
        type=int,
        default=1,
        help="email one prospect in N (1: all, 10,000,000 events; 10: 1,000,000)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    ensure_seeded(rows=1_000_000)
    prospects_s = round(time.perf_counter() - started, 1)  # ~0 when leadgen_bench already holds them
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from analytics.models import CampaignDaily
    from campaigns.models import Campaign
    from outreach.models import Event

    seeding: dict[str, Any] = {"prospects_s (migrate + seed when missing)": prospects_s}
    expected_events = 10_000_000 // args.share
    if args.reseed or abs(Event.objects.unscoped().count() - expected_events) > expected_events // 100:
        seeding["engagement"] = seed_engagement(args.share)
        print(f"seeding: {json.dumps(seeding)}", flush=True)
    if args.rollups or "engagement" in seeding or not CampaignDaily.objects.unscoped().exists():
        seeding["rollups"] = build_rollups()
        print(f"rollups: {json.dumps(seeding['rollups'])}", flush=True)

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]
    user = User.objects.get(email=BENCH_EMAIL)
    client = Client()
    client.force_login(user)
    from accounts.models import Membership

    org_id = Membership.objects.unscoped().filter(user=user).values_list("org_id", flat=True).first()
    campaign_ids = list(Campaign.objects.unscoped().filter(org_id=org_id).values_list("pk", flat=True))
    client.get("/")  # the onboarding checklist, once
    scenarios = {
        "dashboard (last 30 days)": lambda i: "/",
        "dashboard, filter change (HTMX, last 90 days)": lambda i: "/?from=2026-09-03&to=2026-12-01",
        "campaign report (all time)": lambda i: (
            f"/analytics/campaigns/{campaign_ids[i % len(campaign_ids)]}/"
        ),
        "heatmap (last 30 days)": lambda i: "/analytics/heatmap/",
        "heatmap, one industry (last 90 days)": lambda i: (
            "/analytics/heatmap/?industry=Software&from=2026-09-03"
        ),
        "breakdown by seniority": lambda i: "/analytics/?by=seniority",
    }
    results = {}
    for name, urls in scenarios.items():
        headers = {"HTTP_HX_REQUEST": "true"} if "HTMX" in name else {}
        results[name] = measure(client, urls, args.iterations, headers)
        results[name]["load_average"] = [round(x, 2) for x in os.getloadavg()]
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    report = {
        "benchmark": "analytics pages, server time in-process (full Django stack, no network)",
        "database": {
            "events": Event.objects.unscoped().count(),
            "prospects": 1_000_000,
            "organisations": 10,
            "measured_org_events": Event.objects.unscoped().filter(org_id=org_id).count(),
        },
        "seeding": seeding,
        "share": f"one prospect in {args.share} emailed",
        "scenarios": results,
        "targets": {"p95_ms": 200, "max_queries": 10},
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
