"""Per-org HNSW indexes: built for big organisations, used by their searches, dropped when they shrink."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection, transaction

from conftest import Tenant, make_tenant
from prospects.models import ProspectEmbedding
from prospects.scoring.embedding import _literal, nearest_prospects
from prospects.scoring.vector_indexes import LOCK_KEY, index_name, org_indexes, vector_indexes_maintain
from prospects.tests.factories import ProspectFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _drop_org_indexes() -> Iterator[None]:
    """Indexes are schema, which the flush after each test keeps: drop the ones a test built."""
    yield
    vector_indexes_maintain(min_rows=10**9)


def _embed(tenant: Tenant, n: int, rng: np.random.Generator) -> None:
    vectors = rng.normal(size=(n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    prospects = ProspectFactory.create_batch(n, org=tenant.org)
    ProspectEmbedding.objects.unscoped().bulk_create(
        ProspectEmbedding(org=tenant.org, prospect=p, vector=v, text_hash="x", provider="test", model="test")
        for p, v in zip(prospects, vectors, strict=True)
    )


def _plan(org_id: int, query: np.ndarray) -> str:
    """The plan of the search query when the result must come ordered from an index (no seq scan, no sort)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
        cursor.execute(
            "EXPLAIN SELECT prospect_id FROM prospects_prospectembedding WHERE org_id = %s "
            "ORDER BY vector <=> %s::vector LIMIT 10",
            [org_id, _literal(query)],
        )
        return "\n".join(row[0] for row in cursor.fetchall())


def _exact(org_id: int, query: np.ndarray, k: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT prospect_id FROM prospects_prospectembedding WHERE org_id = %s "
            "ORDER BY vector <=> %s::vector, prospect_id LIMIT %s",
            [org_id, _literal(query), k],
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_big_org_gets_its_own_index_and_its_searches_use_it() -> None:
    rng = np.random.default_rng(7)
    big, small = make_tenant("Big"), make_tenant("Small")
    _embed(big, 40, rng)
    _embed(small, 10, rng)

    result = vector_indexes_maintain(min_rows=30)

    assert result.built == [big.org.pk]
    assert org_indexes() == {big.org.pk: True}
    query = rng.normal(size=384).astype(np.float32)
    query /= np.linalg.norm(query)
    assert index_name(big.org.pk) in _plan(big.org.pk, query)
    # The small org stays on the shared index: another org's partial index cannot answer its query.
    small_plan = _plan(small.org.pk, query)
    assert "embedding_vector_hnsw" in small_plan and index_name(big.org.pk) not in small_plan
    # Same answers as an exact scan, and only the org's own prospects.
    found = [n.prospect_id for n in nearest_prospects(vector=query, limit=10, org_id=big.org.pk)]
    assert found == _exact(big.org.pk, query, 10)
    # A second run has nothing to do.
    again = vector_indexes_maintain(min_rows=30)
    assert again.built == [] and again.dropped == []


def test_the_index_goes_when_the_org_shrinks_or_is_deleted() -> None:
    rng = np.random.default_rng(8)
    shrinking, leaving = make_tenant("Shrinking"), make_tenant("Leaving")
    _embed(shrinking, 30, rng)
    _embed(leaving, 30, rng)
    vector_indexes_maintain(min_rows=30)
    assert set(org_indexes()) == {shrinking.org.pk, leaving.org.pk}

    # Below the threshold but above half of it: kept (no rebuild churn around the threshold).
    ids = list(ProspectEmbedding.objects.unscoped().filter(org=shrinking.org).values_list("pk", flat=True))
    ProspectEmbedding.objects.unscoped().filter(pk__in=ids[:10]).delete()
    leaving_id = leaving.org.pk
    leaving.org.delete()
    result = vector_indexes_maintain(min_rows=30)
    assert result.dropped == [leaving_id]
    assert set(org_indexes()) == {shrinking.org.pk}

    ProspectEmbedding.objects.unscoped().filter(pk__in=ids[10:20]).delete()
    assert vector_indexes_maintain(min_rows=30).dropped == [shrinking.org.pk]
    assert org_indexes() == {}


def test_only_one_maintenance_runs_at_a_time() -> None:
    rng = np.random.default_rng(9)
    big = make_tenant("Big")
    _embed(big, 20, rng)
    cache.add(LOCK_KEY, "1", 60)  # another worker is building
    assert vector_indexes_maintain(min_rows=10).skipped
    assert org_indexes() == {}
    cache.delete(LOCK_KEY)
    assert vector_indexes_maintain(min_rows=10).built == [big.org.pk]
