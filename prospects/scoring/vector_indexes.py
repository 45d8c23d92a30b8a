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

from prospects import org_indexes as org_indexes_module
from prospects.models import ProspectEmbedding

LOCK_KEY = "vector-indexes:maintain"


def shared_index_params() -> tuple[int, int]:
    """m and ef_construction of the shared index (the model's HnswIndex), so both graphs are built alike."""
    index = next(i for i in ProspectEmbedding._meta.indexes if i.name == "embedding_vector_hnsw")
    return int(index.m), int(index.ef_construction)  # type: ignore[attr-defined]


def _indexes() -> dict[str, str]:
    m, ef_construction = shared_index_params()
    return {
        "embedding_org_{org}_hnsw": (
            f"USING hnsw (vector vector_cosine_ops) WITH (m = {m}, ef_construction = {ef_construction})"
        )
    }


KIND = org_indexes_module.OrgIndexKind(
    label="vector index",
    model=ProspectEmbedding,
    indexes=_indexes,
    threshold_setting="EMBEDDING_ORG_INDEX_MIN_ROWS",
    lock_key=LOCK_KEY,
    # The graph must fit in maintenance_work_mem or the build slows down a lot.
    build_memory_setting="EMBEDDING_INDEX_BUILD_MEMORY",
)


def index_name(org_id: int) -> str:
    return next(iter(KIND.names(org_id)))


def org_indexes() -> dict[int, bool]:
    """org id → whether its partial index is valid (an interrupted CONCURRENTLY build leaves an invalid one)."""
    return {org_id: all(found.values()) for org_id, found in org_indexes_module.existing(KIND).items()}


def vector_indexes_maintain(*, min_rows: int | None = None) -> org_indexes_module.Maintenance:
    """Build, repair and drop per-org vector indexes (see the module docstring). Runs outside any transaction
    (CONCURRENTLY needs that); one run at a time across workers."""
    return org_indexes_module.maintain(KIND, min_rows=min_rows)
