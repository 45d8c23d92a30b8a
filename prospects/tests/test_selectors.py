"""The list selector: filters, sorts and cursor pagination on the real Postgres."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import Tenant
from prospects import selectors
from prospects.models import Prospect, Stage
from prospects.selectors import InvalidCursor, ProspectFilters, prospect_search
from prospects.tests.factories import CompanyFactory, ProspectFactory, QualificationFactory


def _filters(query: str) -> ProspectFilters:
    return ProspectFilters.from_querydict(QueryDict(query))


def _all_pages(filters: ProspectFilters, limit: int) -> list[Prospect]:
    rows: list[Prospect] = []
    cursor = None
    for _ in range(100):
        page = prospect_search(filters=filters, cursor=cursor, limit=limit)
        rows += page.rows
        cursor = page.next_cursor
        if cursor is None:
            return rows
    raise AssertionError("pagination never ended")


@pytest.fixture
def people(tenant: Tenant, other_tenant: Tenant) -> list[Prospect]:
    base = timezone.now() - dt.timedelta(days=30)
    rows = []
    specs = [
        (
            "Ada",
            "Lovelace",
            "ada@analytical.test",
            "Engine Co",
            "Chief Engineer",
            Stage.NEW,
            90,
            "A",
            ["vip"],
        ),
        (
            "Grace",
            "Hopper",
            "grace@navy.test",
            "Navy",
            "Rear Admiral",
            Stage.QUALIFIED,
            75,
            "B",
            ["vip", "gov"],
        ),
        ("Alan", "Turing", "alan@bletchley.test", "Bletchley", "Cryptanalyst", Stage.CONTACTED, None, "", []),
        ("Edsger", "Dijkstra", "ed@eindhoven.test", "TU/e", "Professor", Stage.QUALIFIED, 40, "C", ["gov"]),
        ("Barbara", "Liskov", "barbara@mit.test", "MIT", "Professor", Stage.WON, None, "", []),
    ]
    for i, (first, last, email, company, title, stage, score, tier, tags) in enumerate(specs):
        rows.append(
            ProspectFactory(
                org=tenant.org,
                first_name=first,
                last_name=last,
                email=email,
                company_name=company,
                title=title,
                stage=stage,
                score=score,
                tier=tier,
                tags=tags,
                created_at=base + dt.timedelta(days=i),
                updated_at=base + dt.timedelta(days=10 - i),
            )
        )
    # Same names in another org must never show up.
    ProspectFactory(org=other_tenant.org, first_name="Ada", last_name="Lovelace", email="ada@analytical.test")
    return rows


def _names(rows: list[Prospect]) -> list[str]:
    return [p.last_name for p in rows]


@pytest.mark.django_db
def test_default_view_is_newest_first_and_scoped_to_the_org(tenant: Tenant, people: list[Prospect]) -> None:
    with tenant.scope():
        page = prospect_search(filters=_filters(""))
    assert _names(page.rows) == ["Liskov", "Dijkstra", "Turing", "Hopper", "Lovelace"]
    assert page.total == 5 and not page.total_capped and page.next_cursor is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=ada", ["Lovelace"]),
        ("q=PROFESSOR", ["Dijkstra", "Liskov"]),
        ("q=prof+mit", ["Liskov"]),
        ("q=navy.test", ["Hopper"]),
        ("q=100%25", []),
        ("stage=qualified", ["Dijkstra", "Hopper"]),
        ("stage=qualified&stage=won", ["Dijkstra", "Hopper", "Liskov"]),
        ("stage=qualified,new", ["Dijkstra", "Hopper", "Lovelace"]),
        ("tier=A", ["Lovelace"]),
        ("score_min=50", ["Hopper", "Lovelace"]),
        ("score_min=50&score_max=80", ["Hopper"]),
        ("tag=vip", ["Hopper", "Lovelace"]),
        ("tag=gov&stage=qualified", ["Dijkstra", "Hopper"]),
        ("owner=none", ["Dijkstra", "Hopper", "Liskov", "Lovelace", "Turing"]),
    ],
)
def test_filters(tenant: Tenant, people: list[Prospect], query: str, expected: list[str]) -> None:
    with tenant.scope():
        rows = prospect_search(filters=_filters(query)).rows
    assert sorted(_names(rows)) == expected


@pytest.mark.django_db
def test_owner_icp_source_company_and_created_range(tenant: Tenant, people: list[Prospect]) -> None:
    company = CompanyFactory(org=tenant.org)
    with tenant.scope():
        Prospect.objects.filter(pk=people[0].pk).update(owner=tenant.member, company=company)
        Prospect.objects.filter(pk=people[1].pk).update(source="csv")
        icp = QualificationFactory(org=tenant.org, prospect=people[0], score=64).icp
        assert _names(prospect_search(filters=_filters(f"owner={tenant.member.pk}")).rows) == ["Lovelace"]
        # Filtered by an ICP: the prospects judged against it, each with that ICP's score.
        rows = prospect_search(filters=_filters(f"icp={icp.pk}")).rows
        assert _names(rows) == ["Lovelace"] and rows[0].headline_score == 64
        assert _names(prospect_search(filters=_filters("source=csv")).rows) == ["Hopper"]
        assert _names(prospect_search(filters=_filters(f"company={company.pk}")).rows) == ["Lovelace"]
        day = timezone.localdate(people[2].created_at)
        rows = prospect_search(filters=_filters(f"created_after={day}&created_before={day}")).rows
        assert _names(rows) == ["Turing"]
        rows = prospect_search(filters=_filters(f"created_after={day}")).rows
        assert _names(rows) == ["Liskov", "Dijkstra", "Turing"]


def test_malformed_values_are_dropped_and_reported() -> None:
    filters = _filters("stage=bogus&score_min=abc&sort=password&tier=Z&created_after=yesterday&source=x")
    assert filters == ProspectFilters()
    assert set(filters.errors) == {"stage", "score_min", "sort", "tier", "created_after", "source"}


def test_query_string_round_trips() -> None:
    query = "q=ada+lovelace&stage=new&stage=won&score_min=10&owner=none&tag=vip&sort=last_name"
    filters = _filters(query)
    assert _filters(filters.query_string()) == filters
    assert filters.sort == "last_name" and not filters.descending
    assert "sort=-last_name" in filters.sort_link("last_name")
    assert "sort=title" in filters.sort_link("title")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("last_name", ["Dijkstra", "Hopper", "Liskov", "Lovelace", "Turing"]),
        ("-last_name", ["Turing", "Lovelace", "Liskov", "Hopper", "Dijkstra"]),
        ("email", ["Lovelace", "Turing", "Liskov", "Dijkstra", "Hopper"]),
        ("company_name", ["Turing", "Lovelace", "Liskov", "Hopper", "Dijkstra"]),
        ("title", ["Lovelace", "Turing", "Dijkstra", "Liskov", "Hopper"]),
        ("-score", ["Lovelace", "Hopper", "Dijkstra", "Liskov", "Turing"]),
        ("score", ["Turing", "Liskov", "Dijkstra", "Hopper", "Lovelace"]),
        ("updated_at", ["Liskov", "Dijkstra", "Turing", "Hopper", "Lovelace"]),
        ("created_at", ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov"]),
        ("stage", ["Turing", "Lovelace", "Hopper", "Dijkstra", "Liskov"]),
    ],
)
def test_every_sort_pages_through_every_row_once(
    tenant: Tenant, people: list[Prospect], sort: str, expected: list[str]
) -> None:
    with tenant.scope():
        for limit in (1, 2, 5):
            assert _names(_all_pages(_filters(f"sort={sort}"), limit)) == expected


@pytest.mark.django_db
def test_cursor_pagination_over_ties_and_many_rows(tenant: Tenant) -> None:
    created = timezone.now()
    ProspectFactory.create_batch(37, org=tenant.org, last_name="Same", created_at=created, score=None)
    with tenant.scope():
        ids = [p.pk for p in _all_pages(_filters("sort=-last_name"), 5)]
        assert len(ids) == 37 and len(set(ids)) == 37
        ids = [p.pk for p in _all_pages(_filters("sort=score"), 4)]
        assert len(set(ids)) == 37
        first = prospect_search(filters=_filters(""), limit=10)
    assert first.total == 37 and first.next_cursor


@pytest.mark.django_db
def test_count_is_capped_then_estimated(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selectors, "COUNT_CAP", 5)
    ProspectFactory.create_batch(8, org=tenant.org)
    with tenant.scope():
        page = prospect_search(filters=_filters(""), limit=3)
    # Past the cap the planner's estimate stands in, never below what was counted.
    assert page.total is not None and page.total >= 6 and page.total_is_approximate


@pytest.mark.django_db
def test_bad_cursors_are_refused(tenant: Tenant, people: list[Prospect]) -> None:
    with tenant.scope():
        cursor = prospect_search(filters=_filters("sort=last_name"), limit=2).next_cursor
        assert cursor
        for bad in ("not-base64!", "e30", cursor[:-3]):
            with pytest.raises(InvalidCursor):
                prospect_search(filters=_filters("sort=last_name"), cursor=bad)
        with pytest.raises(InvalidCursor):  # a cursor of another sort order
            prospect_search(filters=_filters("sort=title"), cursor=cursor)


@pytest.mark.django_db
def test_deep_pages_use_a_row_comparison_not_offset(tenant: Tenant, people: list[Prospect]) -> None:
    with tenant.scope():
        cursor = prospect_search(filters=_filters("sort=-score"), limit=2).next_cursor
        with CaptureQueriesContext(connection) as ctx:
            prospect_search(filters=_filters("sort=-score"), cursor=cursor, limit=2)
    sql = ctx.captured_queries[0]["sql"]
    assert "OFFSET" not in sql.upper()
    assert re.search(r'\(COALESCE\("prospects_prospect"."score", +-1\), "prospects_prospect"."id"\) <', sql)


@pytest.mark.django_db
def test_board_columns_cap_cards_and_count(tenant: Tenant, other_tenant: Tenant) -> None:
    ProspectFactory.create_batch(4, org=tenant.org, stage=Stage.QUALIFIED)
    ProspectFactory(org=tenant.org, stage=Stage.WON)
    ProspectFactory.create_batch(3, org=other_tenant.org, stage=Stage.WON)
    with tenant.scope():
        columns = {c.stage: c for c in selectors.prospect_board(cards_per_column=3)}
    assert list(columns) == list(Stage.values)
    assert (len(columns["qualified"].cards), columns["qualified"].count) == (3, 4)
    assert (len(columns["won"].cards), columns["won"].count) == (1, 1)
    assert columns["new"].cards == [] and columns["new"].count == 0


@pytest.mark.django_db
@pytest.mark.parametrize("window", [3, 2000])
@pytest.mark.parametrize("rare_below", [0, 10**9])
@pytest.mark.parametrize("sort", ["-created_at", "last_name", "-score", "title", "updated_at"])
def test_search_pages_match_a_plain_scan_whatever_the_window(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, window: int, rare_below: int, sort: str
) -> None:
    """Common terms are found in the next-rows window, rare ones (by the planner's estimate) straight through the
    word index: same answer either way."""
    monkeypatch.setattr(selectors, "SEARCH_WINDOW", window)
    monkeypatch.setattr(selectors, "SEARCH_RARE_ESTIMATE", rare_below)
    for i in range(40):
        # "common" on every other row, "rare" on three rows far apart, ties on title and score.
        title = "common buyer" if i % 2 else "seller"
        ProspectFactory(
            org=tenant.org,
            last_name=f"Name{i % 7}" + ("rare" if i in (3, 20, 37) else ""),
            title=title,
            score=None if i % 5 == 0 else i % 4,
        )
    with tenant.scope():
        for term in ("common", "rare", "seller", "nothing-matches"):
            filters = _filters(f"q={term}&sort={sort}")
            expected = list(
                filters.queryset()
                .annotate(k=selectors.SORTS[filters.sort])
                .order_by(*(("-k", "-id") if filters.descending else ("k", "id")))
                .values_list("id", flat=True)
            )
            for limit in (2, 7, 50):
                assert [p.pk for p in _all_pages(filters, limit)] == expected, (term, limit)
