"""What the prospect table's indexes cost a bulk insert, and what a list sort costs without its index.

Run after bench/import_bench.py, on its database (leadgen_bench_import) and its organisation of ~983,000 people:

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/index_cost_bench.py

The organisation's stored prospects are exported once, then COPYed into an empty copy of the prospect table
(`LIKE prospects_prospect INCLUDING ALL`, less the per-organisation indexes) three times: with every table-wide
index (what a first import into a new organisation writes), plus that organisation's own eight list indexes
(prospects.sort_indexes: what an import into a big organisation writes), and with the primary key only. For each:
seconds and the database server's CPU per row (as import_bench measures it); one COPY stream, so what two import
writers lose waiting on the same index pages is not in it (import_bench shows that). On the first copy it then
times the first page of 50 of the list sorted by email, company and title, and filtered by stage and by owner:
what such a page costs in that organisation until its own indexes are built. Writes bench/results/index_cost.json.
A measurement, not a figure with a target.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from _db import database_url
from import_bench import BENCH_DB, drop_org_indexes, export_prospects, stored_columns, timed_copy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "index_cost.json"
# An organisation's own list indexes, as prospects.sort_indexes defines them (COLUMNS and FILTERS).
ORG_INDEXES = (
    "(email, id)",
    "(company_name, id)",
    "(title, id)",
    "(stage, id)",
    "(stage, created_at DESC, id DESC)",
    "(stage, COALESCE(score, -1), id)",
    "(owner_id, created_at DESC, id DESC)",
    "(company_domain)",
)
# (label, WHERE after org_id, ORDER BY) of list pages those indexes serve.
PAGES = (
    ("email", "", "email, id"),
    ("company_name", "", "company_name, id"),
    ("title", "", "title, id"),
    ("stage qualified, newest first", "AND stage = 'qualified'", "created_at DESC, id DESC"),
    ("stage qualified, best scored first", "AND stage = 'qualified'", "COALESCE(score, -1) DESC, id DESC"),
    ("an owner's people, newest first", "AND owner_id = 1", "created_at DESC, id DESC"),
)


def _index_names(cursor: Any, table: str) -> list[str]:
    return [
        row[0] for row in cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
    ]


def _copy_into(cursor: Any, *, variant: str, columns: str, spool: Any, org_id: int) -> dict[str, Any]:
    cursor.execute("DROP TABLE IF EXISTS bench_index_cost")
    cursor.execute("CREATE TABLE bench_index_cost (LIKE prospects_prospect INCLUDING ALL)")
    drop_org_indexes(cursor, "bench_index_cost")
    if variant == "plus the organisation's own list indexes":
        for definition in ORG_INDEXES:
            cursor.execute(f"CREATE INDEX ON bench_index_cost {definition} WHERE org_id = {int(org_id)}")
    elif variant == "primary key only":
        for name in _index_names(cursor, "bench_index_cost"):
            if not name.endswith("_pkey"):
                cursor.execute(f'DROP INDEX "{name}"')
    indexes = len(_index_names(cursor, "bench_index_cost"))
    seconds, cpu = timed_copy(cursor, table="bench_index_cost", columns=columns, spool=spool)
    rows = cursor.execute("SELECT count(*) FROM bench_index_cost").fetchone()[0]
    return {
        "variant": variant,
        "indexes": indexes,
        "rows": rows,
        "seconds": round(seconds, 1),
        "db_cpu_us_per_row": round(cpu / rows * 1e6, 1),
    }


def _pages(cursor: Any, org_id: int) -> dict[str, float]:
    cursor.execute("VACUUM ANALYZE bench_index_cost")
    pages = {}
    for label, where, order in PAGES:
        best = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            cursor.execute(
                f"SELECT id, email FROM bench_index_cost WHERE org_id = %s {where} ORDER BY {order} LIMIT 50",  # noqa: S608
                [org_id],
            ).fetchall()
            best = min(best, time.perf_counter() - began)
        pages[label] = round(best * 1000, 1)
    return pages


def main() -> int:
    with psycopg.connect(database_url(BENCH_DB), autocommit=True) as conn:
        cursor = conn.cursor()
        found = cursor.execute(
            "SELECT org_id, count(*) FROM prospects_prospect GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).fetchone()
        if not found:
            print("no prospects: run bench/import_bench.py first")
            return 1
        org_id, people = found
        columns = stored_columns(cursor)
        variants = []
        with tempfile.TemporaryFile() as spool:
            export_prospects(cursor, org_id=org_id, columns=columns, spool=spool)
            for variant in (
                "every table-wide index",
                "plus the organisation's own list indexes",
                "primary key only",
            ):
                result = _copy_into(cursor, variant=variant, columns=columns, spool=spool, org_id=org_id)
                if variant == "every table-wide index":
                    result["first_page_ms_without_the_org_index"] = _pages(cursor, org_id)
                print(json.dumps(result), flush=True)
                variants.append(result)
        cursor.execute("DROP TABLE IF EXISTS bench_index_cost")
    report = {"benchmark": "prospect index cost of a bulk COPY", "people": people, "variants": variants}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
