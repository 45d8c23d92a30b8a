"""Campaigns scheduler: time to claim a batch of due enrollments among 100,000 active ones, across 10 orgs.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/scheduler_bench.py [--rows N] [--batch N]

Creates and migrates its own database, `leadgen_bench_scheduler`, then seeds with set-based SQL (INSERT ... SELECT
generate_series): 10 organisations, one active campaign each, `rows` prospects and one active enrollment per
prospect. Half the enrollments are due (next_send_at within the last 7 days), a quarter are due later (the next 7
days), a quarter wait on a message (next_send_at empty). It then times `campaigns.scheduler.dispatch.due_claim`,
the scheduler's real claim (one UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING), batch after
batch until nothing is due, and records p50/p95/max per batch and the plan. Writes bench/results/scheduler.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from _db import prepare_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scheduler.json"
DB_NAME = "leadgen_bench_scheduler"
ORGS = 10

SEED_SQL = [
    """INSERT INTO accounts_organization (name, slug, timezone, postal_address, is_active, created_at)
       SELECT 'Bench org ' || g, 'bench-org-' || g, 'UTC', '1 Bench Street', true, now()
       FROM generate_series(1, %(orgs)s) AS g""",
    """INSERT INTO campaigns_campaign (org_id, name, status, timezone, send_days, window_start, window_end,
         skip_holidays, holiday_country, daily_new_limit, stop_on, stop_company, exclusive, review_required,
         track_opens, track_clicks, auto_enroll, entry_tiers, entry_stages, entry_tags, created_at, updated_at)
       SELECT o.id, 'Bench campaign', 'active', 'UTC', '{1,2,3,4,5,6,7}', '00:00', '23:59', false, '', 0,
         '{reply,bounce,unsubscribe,meeting}', false, true, false, false, false, false, '{}', '{}', '{}', now(), now()
       FROM accounts_organization o""",
    """INSERT INTO prospects_prospect (org_id, first_name, last_name, email, email_normalized, title, seniority,
         department, phone, linkedin_url, location, timezone, company_name, company_domain, source, source_detail,
         utm, tags, custom_fields, lawful_basis, do_not_contact, stage, tier, score_breakdown, email_status,
         email_check, answers, created_at, updated_at)
       SELECT o.id, 'Ada', 'Bench' || g, 'p' || g || '@bench' || o.id || '.test', 'p' || g || '@bench' || o.id || '.test',
         '', '', '', '', '', '', '', '', '', 'manual', '', '{}', '{}', '{}', '', false, 'qualified', '', '{}', '',
         '{}', '{}', now(), now()
       FROM accounts_organization o, generate_series(1, %(per_org)s) AS g""",
    """INSERT INTO campaigns_enrollment (org_id, campaign_id, prospect_id, state, stop_reason, hold_reason, source,
         variant_slot, timezone, timezone_source, steps_sent, enrolled_at, updated_at, next_send_at)
       SELECT p.org_id, c.id, p.id, 'active', '', '', 'manual', 0, 'UTC', 'fallback', 0, now(), now(),
         CASE WHEN p.id %% 4 = 0 THEN NULL
              WHEN p.id %% 4 = 1 THEN now() + (p.id %% 604800) * interval '1 second'
              ELSE now() - (p.id %% 604800) * interval '1 second' END
       FROM prospects_prospect p JOIN campaigns_campaign c ON c.org_id = p.org_id""",
    "ANALYZE",
]


def seed(rows: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in SEED_SQL:
            cursor.execute(sql, {"orgs": ORGS, "per_org": rows // ORGS})


def measure(batch: int) -> dict[str, object]:
    from django.db import connection
    from django.utils import timezone

    from campaigns.scheduler.dispatch import _CLAIM_SQL, due_claim

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM campaigns_enrollment WHERE state = 'active'")
        active = cursor.fetchone()[0]
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + _CLAIM_SQL,
            {"lease": now, "horizon": now, "now": now, "batch": batch},
        )
        plan = [row[0] for row in cursor.fetchall()]
        cursor.execute("UPDATE campaigns_enrollment SET claimed_until = NULL")
    times, claimed = [], 0
    while True:
        started = time.perf_counter()
        got = due_claim(now=now, batch=batch)
        times.append((time.perf_counter() - started) * 1000)
        claimed += len(got)
        if len(got) < batch:
            break
    ordered = sorted(times)
    return {
        "active_enrollments": active,
        "batch": batch,
        "batches": len(times),
        "claimed": claimed,
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
        "target": "p95 < 1000 ms per batch",
        "met": ordered[max(0, int(len(ordered) * 0.95) - 1)] < 1000,
        "plan": plan,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = prepare_database(DB_NAME)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.local")
    import django

    django.setup()
    started = time.perf_counter()
    seed(args.rows)
    seeded = time.perf_counter() - started
    result = {"rows": args.rows, "seed_seconds": round(seeded, 1), **measure(args.batch)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "plan"}, indent=2))
    print("\n".join(result["plan"]))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
