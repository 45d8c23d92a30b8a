"""Per-organisation HNSW indexes for organisations holding many prospect vectors.

One HNSW graph over every tenant's vectors answers an org-filtered top-k by walking the whole graph and throwing
away other tenants' rows; pgvector's iterative scans make it return the full k, but its recall drops as the org's
share of the table falls (0.91 at top-100 for an org holding 200,000 of 1,000,000 vectors, bench/icp_bench.py).
pgvector's documented answer for filtering on a few values is a partial index per value, so an organisation with
at least EMBEDDING_ORG_INDEX_MIN_ROWS vectors gets its own graph:

    CREATE INDEX CONCURRENTLY embedding_org_<id>_hnsw ON prospects_prospectembedding
        USING hnsw (vector vector_cosine_ops) WITH (m = 16, ef_construction = 128) WHERE org_id = <id>

The search query (prospects.scoring.embedding.nearest_prospects) is unchanged: its `org_id = <id>` lets the planner pick
the smaller partial index, which holds only that org's vectors, so a search there is an unfiltered HNSW search.
The shared index keeps serving every other organisation. Beat runs vector_indexes_maintain hourly: it builds
missing indexes (CONCURRENTLY, so writes go on), rebuilds ones a crashed build left invalid, and drops those of
organisations that shrank below half the threshold or were deleted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count

from prospects.models import ProspectEmbedding

log = logging.getLogger(__name__)

TABLE = "prospects_prospectembedding"
NAME_PATTERN = re.compile(r"^embedding_org_(\d+)_hnsw$")
LOCK_KEY = "vector-indexes:maintain"
LOCK_SECONDS = 6 * 3600


def index_name(org_id: int) -> str:
    return f"embedding_org_{int(org_id)}_hnsw"


def shared_index_params() -> tuple[int, int]:
    """m and ef_construction of the shared index (the model's HnswIndex), so both graphs are built alike."""
    index = next(i for i in ProspectEmbedding._meta.indexes if i.name == "embedding_vector_hnsw")
    return int(index.m), int(index.ef_construction)  # type: ignore[attr-defined]


def org_indexes() -> dict[int, bool]:
    """org id → whether its partial index is valid (an interrupted CONCURRENTLY build leaves an invalid one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND c.relname LIKE 'embedding\\_org\\_%%\\_hnsw'",
            [TABLE],
        )
        found = {}
        for name, valid in cursor.fetchall():
            match = NAME_PATTERN.match(name)
            if match:
                found[int(match.group(1))] = bool(valid)
        return found


@dataclass
class Maintenance:
    built: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    skipped: bool = False


def _build(org_id: int) -> None:
    m, ef_construction = shared_index_params()
    name = index_name(org_id)
    with connection.cursor() as cursor:
        # Session settings, reset below: the graph must fit in maintenance_work_mem or the build slows down a lot.
        cursor.execute(
            "SELECT set_config('maintenance_work_mem', %s, false)", [settings.EMBEDDING_INDEX_BUILD_MEMORY]
        )
        try:
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
            # Identifiers and numbers only (org_id is an int); CREATE INDEX takes no bind parameters.
            cursor.execute(
                f'CREATE INDEX CONCURRENTLY "{name}" ON {TABLE} USING hnsw (vector vector_cosine_ops) '
                f"WITH (m = {m}, ef_construction = {ef_construction}) WHERE org_id = {int(org_id)}"
            )
        finally:
            cursor.execute("RESET maintenance_work_mem")


def _drop(org_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{index_name(org_id)}"')


def vector_indexes_maintain(*, min_rows: int | None = None) -> Maintenance:
    """Build, repair and drop per-org vector indexes (see the module docstring). Runs outside any transaction
    (CONCURRENTLY needs that); one run at a time across workers."""
    threshold = settings.EMBEDDING_ORG_INDEX_MIN_ROWS if min_rows is None else min_rows
    result = Maintenance()
    if not cache.add(LOCK_KEY, "1", LOCK_SECONDS):
        result.skipped = True
        return result
    try:
        counts = dict(
            ProspectEmbedding.objects.unscoped()
            .values_list("org_id")
            .annotate(n=Count("id"))
            .values_list("org_id", "n")
        )
        existing = org_indexes()
        for org_id, valid in sorted(existing.items()):
            if counts.get(org_id, 0) < threshold // 2:
                _drop(org_id)
                result.dropped.append(org_id)
                log.info("dropped vector index of org %s (%s vectors)", org_id, counts.get(org_id, 0))
            elif not valid:
                _build(org_id)
                result.built.append(org_id)
        for org_id, n in sorted(counts.items()):
            if n >= threshold and org_id not in existing:
                log.info("building vector index for org %s (%s vectors)", org_id, n)
                _build(org_id)
                result.built.append(org_id)
    finally:
        cache.delete(LOCK_KEY)
    return result
