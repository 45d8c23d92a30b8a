"""ICP similarity search at scale: top-100 among 1,000,000 prospect vectors, org-filtered, against an exact scan.

Run (embedded PostgreSQL; the script creates and migrates its own database, leadgen_bench_icp):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/icp_bench.py [--rows N] [--queries 50]

The vectors are SYNTHETIC: clustered unit vectors generated with NumPy and loaded with binary COPY. Embedding a
million profile texts with the offline model would take hours on this machine (bench/results/embed.json), and the
search does not care where the vectors came from. After the load it builds the per-org indexes the way beat does
(prospects.scoring.vector_indexes). The search is the app's own code path,
prospects.scoring.embedding.nearest_prospects (HNSW on cosine distance, pgvector 0.8 iterative scans, SET LOCAL settings
in a transaction). Writes bench/results/icp.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _db import database_url, prepare_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "icp.json"
BENCH_DB = "leadgen_bench_icp"
DIM = 384
TOP_K = 100
SEED = 20240601
# Clustered data: TOPICS topic centres, each with SUBTOPICS sub-directions; a vector is
# topic + SUB_SCALE * subtopic + NOISE_SCALE * isotropic noise, normalised. Within a topic cosines are ~0.5-0.8,
# across topics ~0 — roughly what sentence embeddings of profiles look like.
TOPICS = 500
SUBTOPICS = 20
SUB_SCALE = 0.6
NOISE_SCALE = 0.6
CHUNK = 50_000


def org_sizes(rows: int) -> list[int]:
    """Ten orgs: one holds 20%, one is small (0.2%), eight share the rest."""
    big, small = rows // 5, max(rows // 500, TOP_K * 2)
    rest = rows - big - small
    mids = [rest // 8] * 8
    mids[-1] += rest - sum(mids)
    return [big, small, *mids]


class Space:
    """The cluster geometry; queries are drawn from it the same way as the data."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.topics = _unit(rng.standard_normal((TOPICS, DIM), dtype=np.float32))
        self.subtopics = _unit(rng.standard_normal((TOPICS, SUBTOPICS, DIM), dtype=np.float32))

    def sample(self, rng: np.random.Generator, n: int, noise: float = NOISE_SCALE) -> np.ndarray:
        t = rng.integers(0, TOPICS, n)
        s = rng.integers(0, SUBTOPICS, n)
        iso = rng.standard_normal((n, DIM), dtype=np.float32) / np.sqrt(DIM, dtype=np.float32)
        return _unit(self.topics[t] + SUB_SCALE * self.subtopics[t, s] + noise * iso)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_HASH, _PROVIDER, _MODEL = b"synthetic", b"synthetic", b"clustered-v1"


def _embedding_rows(org_ids: np.ndarray, prospect_ids: np.ndarray, vectors: np.ndarray, ts: int) -> bytes:
    """Binary COPY tuples for (org_id, prospect_id, vector, text_hash, provider, model, updated_at), built in NumPy."""
    dtype = np.dtype(
        [
            ("nfields", ">i2"),
            ("l_org", ">i4"), ("org", ">i8"),
            ("l_pid", ">i4"), ("pid", ">i8"),
            ("l_vec", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("vec", ">f4", (DIM,)),
            ("l_hash", ">i4"), ("hash", f"S{len(_HASH)}"),
            ("l_prov", ">i4"), ("prov", f"S{len(_PROVIDER)}"),
            ("l_model", ">i4"), ("model", f"S{len(_MODEL)}"),
            ("l_ts", ">i4"), ("ts", ">i8"),
        ]
    )  # fmt: skip
    out = np.zeros(len(org_ids), dtype=dtype)
    out["nfields"] = 7
    out["l_org"], out["org"] = 8, org_ids
    out["l_pid"], out["pid"] = 8, prospect_ids
    out["l_vec"], out["dim"], out["vec"] = 4 + 4 * DIM, DIM, vectors
    out["l_hash"], out["hash"] = len(_HASH), _HASH
    out["l_prov"], out["prov"] = len(_PROVIDER), _PROVIDER
    out["l_model"], out["model"] = len(_MODEL), _MODEL
    out["l_ts"], out["ts"] = 8, ts
    return out.tobytes()


def _required_prospect_columns(cursor: Any) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'prospects_prospect' "
        "AND is_nullable = 'NO' AND column_default IS NULL AND is_generated = 'NEVER' ORDER BY ordinal_position"
    )
    return list(cursor.fetchall())


def _blank(data_type: str) -> str:
    return {
        "jsonb": "{}",
        "ARRAY": "{}",
        "boolean": "f",
        "timestamp with time zone": "2025-01-01 00:00:00+00",
        "integer": "0",
        "smallint": "0",
        "bigint": "0",
    }.get(data_type, "")


def seed(rows: int, space: Space, rng: np.random.Generator) -> dict[str, Any]:
    from django.db import connection

    from accounts.models import Organization

    sizes = org_sizes(rows)
    orgs = [
        Organization.objects.create(name=f"Bench org {i}", slug=f"bench-icp-{i}") for i in range(len(sizes))
    ]
    org_of_row = np.repeat(np.array([o.pk for o in orgs], dtype=np.int64), sizes)
    rng.shuffle(org_of_row)  # orgs interleave on disk, as they do when tenants sign up over time
    timings: dict[str, float] = {}
    with connection.cursor() as cursor:
        # The bench measures vector search; the prospect table only has to satisfy the foreign key. Its 15
        # secondary indexes (trigram GIN included) would only slow the load down.
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'prospects_prospect' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'prospects_prospect'::regclass)"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("DROP INDEX IF EXISTS embedding_vector_hnsw")
        required = _required_prospect_columns(cursor)
        columns = ["id", "org_id"] + [
            c for c, _ in required if c not in ("id", "org_id", "first_name", "title")
        ]
        columns += ["first_name", "title"]
        blanks = "\t".join(_blank(t) for c, t in required if c not in ("id", "org_id", "first_name", "title"))
        started = time.perf_counter()
        raw = connection.connection  # psycopg 3
        with (
            raw.cursor() as pg,
            pg.copy(f"COPY prospects_prospect ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for start in range(0, rows, CHUNK):
                stop = min(rows, start + CHUNK)
                lines = [
                    f"{i + 1}\t{org_of_row[i]}\t{blanks}\tBench{i + 1}\tVP of Something\n"
                    for i in range(start, stop)
                ]
                copy.write("".join(lines))
        cursor.execute("SELECT setval(pg_get_serial_sequence('prospects_prospect', 'id'), %s)", [rows])
        timings["prospects_copy_s"] = time.perf_counter() - started

        started = time.perf_counter()
        ts = 789_000_000_000_000  # microseconds since 2000-01-01
        with (
            raw.cursor() as pg,
            pg.copy(
                "COPY prospects_prospectembedding (org_id, prospect_id, vector, text_hash, provider, model, updated_at) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.write(_COPY_HEADER)
            for start in range(0, rows, CHUNK):
                stop = min(rows, start + CHUNK)
                vectors = space.sample(rng, stop - start)
                ids = np.arange(start + 1, stop + 1, dtype=np.int64)
                copy.write(_embedding_rows(org_of_row[start:stop], ids, vectors, ts))
            copy.write(_COPY_TRAILER)
        timings["embeddings_copy_s"] = time.perf_counter() - started

        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '6GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        from prospects.scoring.vector_indexes import shared_index_params

        m, ef_construction = shared_index_params()  # the model's own index definition
        cursor.execute(
            "CREATE INDEX embedding_vector_hnsw ON prospects_prospectembedding "
            f"USING hnsw (vector vector_cosine_ops) WITH (m = {m}, ef_construction = {ef_construction})"
        )
        timings["hnsw_build_s"] = time.perf_counter() - started
        cursor.execute("VACUUM ANALYZE prospects_prospectembedding")
        cursor.execute(
            "SELECT pg_size_pretty(pg_relation_size('embedding_vector_hnsw')), "
            "pg_size_pretty(pg_total_relation_size('prospects_prospectembedding'))"
        )
        index_size, table_size = cursor.fetchone()
    return {
        "orgs": [{"org_id": o.pk, "rows": n} for o, n in zip(orgs, sizes, strict=True)],
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "hnsw_index_size": index_size,
        "table_size": table_size,
    }


def exact_top(org_id: int, query: np.ndarray, k: int) -> list[int]:
    """Sequential scan, no index: the ground truth."""
    from django.db import connection, transaction

    from prospects.scoring.embedding import _literal

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            "SELECT prospect_id FROM prospects_prospectembedding WHERE org_id = %s "
            "ORDER BY vector <=> %s::vector, prospect_id LIMIT %s",
            [org_id, _literal(query), k],
        )
        return [row[0] for row in cursor.fetchall()]


def plan_uses_hnsw(org_id: int, query: np.ndarray, mode: str, ef: int) -> str:
    from django.db import connection, transaction

    from prospects.scoring.embedding import _literal

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.iterative_scan = {mode}")
        cursor.execute(f"SET LOCAL hnsw.ef_search = {ef}")
        cursor.execute(
            "EXPLAIN SELECT prospect_id FROM prospects_prospectembedding WHERE org_id = %s "
            "ORDER BY vector <=> %s::vector LIMIT %s",
            [org_id, _literal(query), TOP_K],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    if f"embedding_org_{org_id}_hnsw" in plan:
        return "hnsw (org's own index)"
    if "embedding_vector_hnsw" in plan:
        return "hnsw (shared index)"
    return "btree on org_id + sort" if "org" in plan else "other"


def measure(org_id: int, queries: np.ndarray, truth: list[list[int]], mode: str, ef: int) -> dict[str, Any]:
    from prospects.scoring.embedding import nearest_prospects

    for q in queries[:5]:  # warm-up
        nearest_prospects(vector=q, limit=TOP_K, org_id=org_id, iterative_scan=mode, ef_search=ef)
    latencies, recalls, sizes = [], [], []
    for q, exact in zip(queries, truth, strict=True):
        started = time.perf_counter()
        found = nearest_prospects(vector=q, limit=TOP_K, org_id=org_id, iterative_scan=mode, ef_search=ef)
        latencies.append((time.perf_counter() - started) * 1000)
        ids = {n.prospect_id for n in found}
        sizes.append(len(found))
        recalls.append(len(ids & set(exact)) / len(exact))
    latencies.sort()
    return {
        "iterative_scan": mode,
        "ef_search": ef,
        "queries": len(queries),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[max(0, round(0.95 * len(latencies)) - 1)], 2),
        "max_ms": round(latencies[-1], 2),
        "recall_at_100": round(statistics.fmean(recalls), 4),
        "min_recall": round(min(recalls), 4),
        "min_rows_returned": min(sizes),
        "plan": plan_uses_hnsw(org_id, queries[0], mode, ef),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument(
        "--shared-only",
        action="store_true",
        help="measure the shared index alone: drop the per-org indexes instead of building them",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="measure again on the database a previous run seeded (no reload)"
    )
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = database_url(BENCH_DB) if args.reuse else prepare_database(BENCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.test")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    rng = np.random.default_rng(SEED)
    space = Space(rng)
    load_before = os.getloadavg()
    started = time.perf_counter()
    if args.reuse:
        previous = json.loads(RESULTS.read_text())
        seeded, args.rows = previous["seed"], previous["rows"]
    else:
        seeded = seed(args.rows, space, rng)
    print(f"seeded {args.rows} rows: {seeded['timings']}", flush=True)

    # What beat does hourly in the app (prospects.scoring.vector_indexes): orgs over the threshold get their own index.
    from django.conf import settings

    from prospects.scoring.vector_indexes import vector_indexes_maintain

    t0 = time.perf_counter()
    maintained = vector_indexes_maintain(min_rows=10**12 if args.shared_only else None)
    org_index_build_s = round(time.perf_counter() - t0, 1)
    print(f"per-org indexes: built {maintained.built}, dropped {maintained.dropped} in {org_index_build_s}s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE prospects_prospectembedding")
        cursor.execute(
            "SELECT indexname, indexdef, pg_size_pretty(pg_relation_size(indexname::regclass)) FROM pg_indexes "
            "WHERE tablename = 'prospects_prospectembedding' AND indexdef LIKE '%%hnsw%%' ORDER BY indexname"
        )
        vector_indexes = [{"name": n, "definition": d, "size": size} for n, d, size in cursor.fetchall()]

    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        pgvector_version = cursor.fetchone()[0]
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]

    orgs = seeded["orgs"]
    targets = {"big": orgs[0], "small": orgs[1], "mid": orgs[2]}
    # ICP vectors: near a topic, a little looser than the data (an ICP is a blend of description and examples).
    queries = space.sample(np.random.default_rng(SEED + 1), args.queries, noise=0.4)
    results: dict[str, Any] = {}
    for label, org in targets.items():
        t0 = time.perf_counter()
        truth = [exact_top(org["org_id"], q, TOP_K) for q in queries]
        exact_ms = (time.perf_counter() - t0) * 1000 / len(queries)
        runs = []
        for mode, ef in [
            ("relaxed_order", 40),
            ("relaxed_order", 100),
            ("relaxed_order", 200),
            ("relaxed_order", 400),
            ("relaxed_order", 800),
            ("strict_order", 100),
            ("strict_order", 400),
            ("off", 100),
        ]:
            run = measure(org["org_id"], queries, truth, mode, ef)
            print(label, org["rows"], run, flush=True)
            runs.append(run)
        results[label] = {"org_rows": org["rows"], "exact_scan_mean_ms": round(exact_ms, 1), "runs": runs}

    from prospects.scoring.embedding import EF_SEARCH_MIN, MAX_SCAN_TUPLES

    default = {
        label: next(
            r
            for r in data["runs"]
            if r["iterative_scan"] == "relaxed_order" and r["ef_search"] == EF_SEARCH_MIN
        )
        for label, data in results.items()
    }
    summary = {
        label: {
            "p50_ms": r["p50_ms"],
            "p95_ms": r["p95_ms"],
            "recall_at_100": r["recall_at_100"],
            "meets_targets": r["p95_ms"] < 20
            and r["recall_at_100"] >= 0.95
            and r["min_rows_returned"] == TOP_K,
        }
        for label, r in default.items()
    }
    best = {
        label: min(
            (r for r in data["runs"] if r["recall_at_100"] >= 0.95 and r["min_rows_returned"] == TOP_K),
            key=lambda r: r["p95_ms"],
            default=None,
        )
        for label, data in results.items()
    }
    out = {
        "benchmark": "ICP top-100 among org-filtered prospect vectors (HNSW, cosine, pgvector iterative scans)",
        "rows": args.rows,
        "dimensions": DIM,
        "top_k": TOP_K,
        "vectors": {
            "kind": "synthetic clustered unit vectors (NumPy), loaded with binary COPY",
            "topics": TOPICS,
            "subtopics_per_topic": SUBTOPICS,
            "sub_scale": SUB_SCALE,
            "noise_scale": NOISE_SCALE,
            "query_noise_scale": 0.4,
            "seed": SEED,
        },
        "indexes": vector_indexes,
        "org_indexes": {
            "threshold_rows": None if args.shared_only else settings.EMBEDDING_ORG_INDEX_MIN_ROWS,
            "built": maintained.built,
            "build_seconds_this_run": org_index_build_s,
        },
        "app_defaults": {
            "iterative_scan": "relaxed_order",
            "ef_search": f"max({EF_SEARCH_MIN}, limit)",
            "max_scan_tuples": MAX_SCAN_TUPLES,
        },
        "seed": seeded,
        "results": results,
        "summary_with_app_defaults": summary,
        "fastest_run_meeting_recall": best,
        "targets": {"p95_ms": 20, "recall_at_100": 0.95},
        "environment": {
            "postgres": server_version,
            "pgvector": pgvector_version,
            "shared_buffers": shared_buffers,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
