"""Per-org list indexes: a big organisation gets them (after an import that made it big, at once), its sorted and
filtered list pages use them and keep their order, a small one reads its rows without them, and they go when the
org shrinks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction

from conftest import Tenant, make_tenant
from leadgen.tenancy import org_scope
from prospects.imports import services as import_services
from prospects.models import ImportStatus, Prospect
from prospects.selectors import ProspectFilters, _ordered_after
from prospects.sort_indexes import COLUMNS, index_names, org_sort_indexes, sort_indexes_maintain
from prospects.tests.factories import ProspectFactory
from prospects.tests.imports.support import media_root, upload  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _drop_org_indexes() -> Iterator[None]:
    """Indexes are schema, which the flush after each test keeps: drop the ones a test built."""
    yield
    sort_indexes_maintain(min_rows=10**9)


def _people(tenant: Tenant, n: int) -> None:
    ProspectFactory.create_batch(n, org=tenant.org)


def _plan(org_id: int, params: dict[str, str]) -> str:
    """The plan of the list page's query for these filters and sort when its order must come from an index."""
    filters = ProspectFilters.from_querydict(params)
    with org_scope(org_id), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
        qs = _ordered_after(
            filters.queryset(),
            sort_expr=filters.sort_expression(),
            sort=filters.sort,
            descending=filters.descending,
            cursor=None,
        )
        return qs[:50].explain()


def _page(tenant: Tenant, sort: str) -> list[str]:
    response = tenant.owner_client.get("/prospects/", {"sort": sort})
    assert response.status_code == 200
    return [p.email for p in response.context["page"].rows]


def test_a_big_org_gets_sort_indexes_and_its_sorted_pages_use_them() -> None:
    big, small = make_tenant("Big"), make_tenant("Small")
    _people(big, 40)
    _people(small, 10)
    before = {sort: _page(big, sort) for sort in ("email", "-email")}

    # The owner has a few of them; statistics as autovacuum would leave them, so the plans below do not depend on
    # what earlier tests left in the table's statistics.
    mine = Prospect.objects.unscoped().filter(org=big.org).values_list("pk", flat=True)[:5]
    Prospect.objects.unscoped().filter(pk__in=list(mine)).update(owner=big.owner)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE prospects_prospect")

    result = sort_indexes_maintain(min_rows=30)

    assert result.built == [big.org.pk]
    assert org_sort_indexes() == {big.org.pk: sorted(index_names(big.org.pk))}
    pages = {f"{key}_sort": {"sort": column} for key, column in COLUMNS.items()}  # sort keys are column names
    pages |= {
        "stage_created": {"stage": "qualified"},  # newest first
        "stage_score": {"stage": "qualified", "sort": "-score"},  # "qualified, best first"
        "owner": {"owner": str(big.owner.pk)},
    }
    for suffix, params in pages.items():
        assert f"prospect_org_{big.org.pk}_{suffix} " in _plan(big.org.pk, params)
        # Another org's partial index cannot answer the small org's query.
        assert f"prospect_org_{big.org.pk}_" not in _plan(small.org.pk, params)
    # The same pages, in the order a rep expects, before and after.
    emails = sorted(Prospect.objects.unscoped().filter(org=big.org).values_list("email", flat=True))
    assert (before["email"], before["-email"]) == (emails, emails[::-1])
    assert {sort: _page(big, sort) for sort in ("email", "-email")} == before
    # A second run has nothing to do.
    again = sort_indexes_maintain(min_rows=30)
    assert again.built == [] and again.dropped == []


def test_the_indexes_go_when_the_org_shrinks_or_is_deleted_and_an_invalid_one_is_rebuilt() -> None:
    shrinking, leaving = make_tenant("Shrinking"), make_tenant("Leaving")
    _people(shrinking, 30)
    _people(leaving, 30)
    sort_indexes_maintain(min_rows=30)
    assert set(org_sort_indexes()) == {shrinking.org.pk, leaving.org.pk}

    # One index lost (an interrupted build, a hand-dropped index): the next run builds it again.
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX "{index_names(shrinking.org.pk)[0]}"')
    assert sort_indexes_maintain(min_rows=30).built == [shrinking.org.pk]
    assert org_sort_indexes()[shrinking.org.pk] == sorted(index_names(shrinking.org.pk))

    # Below the threshold but above half of it: kept (no rebuild churn around the threshold).
    ids = list(Prospect.objects.unscoped().filter(org=shrinking.org).values_list("pk", flat=True))
    Prospect.objects.unscoped().filter(pk__in=ids[:10]).delete()
    leaving_id = leaving.org.pk
    leaving.org.delete()
    assert sort_indexes_maintain(min_rows=30).dropped == [leaving_id]
    assert set(org_sort_indexes()) == {shrinking.org.pk}

    Prospect.objects.unscoped().filter(pk__in=ids[10:20]).delete()
    assert sort_indexes_maintain(min_rows=30).dropped == [shrinking.org.pk]
    assert org_sort_indexes() == {}


@pytest.mark.usefixtures("media_root")
def test_an_import_that_makes_the_org_big_gets_its_indexes_without_waiting_for_beat(
    settings: Any, celery_worker: Any
) -> None:
    settings.PROSPECT_ORG_SORT_INDEX_MIN_ROWS = 30
    tenant = make_tenant("Importer")
    small = upload(tenant, "email\n" + "".join(f"p{i}@x.io\n" for i in range(20)))
    with tenant.scope():
        import_services.import_start(job=small, mapping=small.mapping, update_existing=True, tags="")
    _wait(lambda: _status(small) == ImportStatus.DONE)
    time.sleep(0.5)
    assert org_sort_indexes() == {}  # 20 people: the list sorts them without an index

    big = upload(tenant, "email\n" + "".join(f"q{i}@x.io\n" for i in range(20)))
    with tenant.scope():
        import_services.import_start(job=big, mapping=big.mapping, update_existing=True, tags="")
    _wait(lambda: org_sort_indexes().get(tenant.org.pk) == sorted(index_names(tenant.org.pk)))
    assert _status(big) == ImportStatus.DONE


def _status(job: Any) -> str:
    job.refresh_from_db()
    return str(job.status)


def _wait(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("not reached in time")
