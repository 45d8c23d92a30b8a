"""The pipeline's enrich and qualify steps work per batch: their SQL round trips do not grow with the batch size
(no N+1), a paid call still stops at the budget exactly, and every call still lands in the enrichment log."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import Tenant
from leadgen.tests.test_emailcheck import fake_dns  # noqa: F401  (fixture: a DNS server on 127.0.0.1)
from prospects.models import Activity, Company, EnrichmentLog, Notification, Prospect, Qualification, Stage
from prospects.scoring import pipeline
from prospects.scoring.bulk import rows_update
from prospects.scoring.enrichment.budget import BATCH_RESERVATION, month_spend, pipeline_settings_for
from prospects.tests.factories import CompanyFactory, ICPFactory, ProspectFactory
from prospects.tests.fake_providers import APOLLO_KEY, APOLLO_PEOPLE_MATCH, HUNTER_KEY, PDL_KEY
from prospects.tests.scoring.acme_site import acme_site

pytest_plugins = ["leadgen.tests.fake_web", "prospects.tests.fake_providers"]


@pytest.fixture
def site(fake_web: Any, settings: Any) -> Any:
    settings.PIPELINE_ENRICH_THREADS = 1  # CaptureQueriesContext sees this thread's connection only
    return acme_site(fake_web, settings)


@pytest.fixture
def keys(tenant: Tenant) -> None:
    with tenant.scope():
        row = pipeline_settings_for(org_id=tenant.org.pk)
        row.monthly_budget_usd = Decimal("100")
        row.hunter_api_key, row.apollo_api_key, row.pdl_api_key = HUNTER_KEY, APOLLO_KEY, PDL_KEY
        row.save()


def _people(tenant: Tenant, fake: Any, company: Company, count: int, start: int = 0) -> list[int]:
    ids = []
    for n in range(start, start + count):
        email = f"person{n}@{company.domain.split(':')[0]}.test"
        fake.add_person(email)
        ids.append(
            ProspectFactory(
                org=tenant.org,
                company=company,
                company_domain=company.domain,
                email=email,
                title="",
                first_name=f"P{n}",
                last_name="Doe",
            ).pk
        )
    return ids


def _tables(queries: CaptureQueriesContext) -> Counter[str]:
    """Round trips by their first words, to say where they go when a count changes."""
    counter: Counter[str] = Counter()
    for query in queries.captured_queries:
        sql = query["sql"]
        words = sql.split()
        table = next((w for w in words if w.startswith('"prospects_') or w.startswith('"leadgen_')), "")
        counter[f"{words[0]} {table}"] += 1
    return counter


def _measure(tenant: Tenant, step: str, ids: list[int]) -> CaptureQueriesContext:
    with tenant.scope(), CaptureQueriesContext(connection) as queries:
        result = pipeline.STEP_FUNCTIONS[step](org_id=tenant.org.pk, prospect_ids=ids)
    assert result.failed == {}
    return queries


def _batch(tenant: Tenant, fake: Any, size: int, *, domain: str) -> list[int]:
    fake.add_company(domain, f"Shop {domain}")
    company = CompanyFactory(org=tenant.org, name="", domain=domain)
    return _people(tenant, fake, company, size, start=abs(hash(domain)) % 10_000)


@pytest.mark.django_db
@pytest.mark.usefixtures("fake_dns")
def test_enrichment_round_trips_do_not_grow_with_the_batch(
    tenant: Tenant, site: Any, fake_providers: Any, keys: None
) -> None:
    _measure(
        tenant, "enrich", _batch(tenant, fake_providers, 1, domain="warm.test")
    )  # the month's spend, once
    small = _measure(tenant, "enrich", _batch(tenant, fake_providers, 3, domain="small.test"))
    large_ids = _batch(tenant, fake_providers, 12, domain="large.test")
    large = _measure(tenant, "enrich", large_ids)
    # Same shape of batch, four times the people: the same statements (one per kind of write, not per prospect).
    assert len(large) == len(small), (_tables(small), _tables(large))
    assert len(large) <= 16, _tables(large)
    with tenant.scope():
        people = list(Prospect.objects.filter(pk__in=large_ids))
        assert {p.stage for p in people} == {Stage.ENRICHED}
        assert {p.title for p in people} == {"VP Operations"} and all(p.enriched_at for p in people)
        # Every call still has its own log row with its provider and cost; the reservation is gone once settled.
        logs = list(EnrichmentLog.objects.filter(prospect_id__in=large_ids))
        calls = Counter((log.provider, log.operation) for log in logs)
        assert calls[("email_check", "syntax_mx")] == 12
        assert calls[("apollo", "people_match")] == 12
        assert calls[("hunter", "domain_search")] == 1  # the company, once for its twelve people
        assert {log.cost_usd for log in logs if log.operation == "people_match"} == {Decimal("0.05")}
        assert not EnrichmentLog.objects.filter(provider=BATCH_RESERVATION).exists()
        assert month_spend() == sum(log.cost_usd for log in EnrichmentLog.objects.all())
        timeline = Counter(Activity.objects.filter(prospect_id__in=large_ids).values_list("kind", flat=True))
        assert timeline == {"stage_changed": 12, "enriched": 12}


@pytest.mark.django_db
@pytest.mark.usefixtures("fake_dns")
def test_a_batch_stops_at_the_budget_exactly(
    tenant: Tenant, fake_providers: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Room for exactly three Apollo person matches ($0.05 each) in a batch that would make six.
    settings.PIPELINE_ENRICH_THREADS = 1
    with tenant.scope():
        row = pipeline_settings_for(org_id=tenant.org.pk)
        row.monthly_budget_usd, row.apollo_api_key = Decimal("0.15"), APOLLO_KEY
        row.save()
    filled = {
        "name": "Shop",
        "description": "Shop things.",
        "industry": "Retail",
        "employee_count": 80,
        "location": "Lyon",
        "technologies": ["shopify"],
        "funding_stage": "Seed",
        "enriched_at": timezone.now(),
    }
    company = CompanyFactory(org=tenant.org, domain="shop.test", **filled)
    ids = []
    for n in range(6):
        email = f"buyer{n}@shop.test"
        fake_providers.add_person(email)
        ids.append(
            ProspectFactory(
                org=tenant.org, company=company, company_domain="shop.test", email=email, title=""
            ).pk
        )
    with django_capture_on_commit_callbacks(execute=True), tenant.scope():
        result = pipeline.step_enrich(org_id=tenant.org.pk, prospect_ids=ids)
    assert result.failed == {}
    assert len(fake_providers.calls(APOLLO_PEOPLE_MATCH)) == 3
    with tenant.scope():
        billed = EnrichmentLog.objects.filter(provider="apollo", cost_usd__gt=0)
        assert billed.count() == 3 and month_spend() == Decimal("0.15")
        assert not EnrichmentLog.objects.filter(provider=BATCH_RESERVATION).exists()
        assert Notification.objects.filter(kind="budget_reached").count() == 2  # owner and admin, once
        # Everyone moved on down the pipeline, with or without the paid facts.
        assert set(Prospect.objects.filter(pk__in=ids).values_list("stage", flat=True)) == {Stage.ENRICHED}
        # The next batch of the month finds the budget spent: no call, no second alert.
        more = ProspectFactory(org=tenant.org, company=company, company_domain="shop.test", title="")
        Prospect.objects.filter(pk=more.pk).update(email="late@shop.test")
        with django_capture_on_commit_callbacks(execute=True):
            pipeline.step_enrich(org_id=tenant.org.pk, prospect_ids=[more.pk])
        assert len(fake_providers.calls(APOLLO_PEOPLE_MATCH)) == 3
        assert Notification.objects.filter(kind="budget_reached").count() == 2
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("fake_dns")
def test_an_outage_in_a_batch_defers_one_call_and_drops_nobody(
    tenant: Tenant, fake_providers: Any, settings: Any, keys: None, django_capture_on_commit_callbacks: Any
) -> None:
    settings.PIPELINE_ENRICH_THREADS = 1
    company = CompanyFactory(org=tenant.org, domain="down.test", enriched_at=timezone.now())
    ids = _people(tenant, fake_providers, company, 4)
    fake_providers.queue(APOLLO_PEOPLE_MATCH, 503, {"error": "Service Unavailable"})
    with django_capture_on_commit_callbacks(execute=False) as callbacks, tenant.scope():
        result = pipeline.step_enrich(org_id=tenant.org.pk, prospect_ids=ids)
    assert result.failed == {} and result.prospect_ids == ids
    with tenant.scope():
        matches = list(
            EnrichmentLog.objects.filter(provider="apollo", operation="people_match").order_by("id")
        )
        assert len(matches) == 4
        (down,) = [log for log in matches if log.error]
        assert down.error.startswith("temporary: ") and down.cost_usd == 0
        assert all(log.cost_usd == Decimal("0.05") for log in matches if not log.error)
        assert month_spend() == sum(log.cost_usd for log in EnrichmentLog.objects.all())
        assert set(Prospect.objects.filter(pk__in=ids).values_list("stage", flat=True)) == {Stage.ENRICHED}
    # One retry task for the one deferred call, queued after the batch's writes (with backoff: a countdown).
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_qualification_round_trips_do_not_grow_with_the_batch(tenant: Tenant) -> None:
    ICPFactory(org=tenant.org, name="Ops", criteria={"title_keywords": ["operations"], "seniorities": ["vp"]})
    ICPFactory(org=tenant.org, name="Sales", criteria={"title_keywords": ["sales"]})

    def batch(size: int, stage: str) -> list[int]:
        company = CompanyFactory(org=tenant.org, industry="Robotics", employee_count=120)
        return [
            ProspectFactory(
                org=tenant.org, company=company, title="VP Operations", seniority="vp", stage=stage
            ).pk
            for _ in range(size)
        ]

    counts = {}
    for size in (1, 3, 12):  # the first batch also embeds the ICPs, once
        ids = batch(size, Stage.ENRICHED)
        _measure(tenant, "embed", ids)
        first = _measure(tenant, "qualify", ids)
        with tenant.scope():
            # A person's stage stays; the pipeline's own "qualified" is re-read from the timeline in one query.
            Prospect.objects.filter(pk=ids[0]).update(stage=Stage.CONTACTED)
            Qualification.objects.filter(prospect_id__in=ids).update(input_hash="stale")
        again = _measure(tenant, "qualify", ids)
        counts[size] = (len(first), len(again))
        with tenant.scope():
            people = list(Prospect.objects.filter(pk__in=ids).order_by("pk"))
            assert all(p.score is not None and p.scored_at for p in people)
            assert Qualification.objects.filter(prospect_id__in=ids).count() == 2 * size
            assert people[0].stage == Stage.CONTACTED
            stages = Counter(
                Activity.objects.filter(prospect_id__in=ids, kind="stage_changed").values_list(
                    "prospect", flat=True
                )
            )
            assert stages[ids[0]] == 1 and max(stages.values()) == 1  # moved once, never twice
    assert counts[12] == counts[3], counts
    assert counts[12][0] <= 18, counts


@pytest.mark.django_db
def test_rows_update_writes_only_the_named_columns_of_this_orgs_rows(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = [ProspectFactory(org=tenant.org, title="Old", last_name="Keep") for _ in range(3)]
    theirs = ProspectFactory(org=other_tenant.org, title="Theirs")
    for n, prospect in enumerate(mine):
        prospect.title, prospect.last_name = f"New {n}", "Changed in memory only"
        prospect.email_check = {"has_mx": True, "n": n}
    theirs.title = "Overwritten?"
    with tenant.scope():
        updated = rows_update(Prospect, [*mine, theirs], ["title", "email_check"])
        rows = list(Prospect.objects.filter(pk__in=[p.pk for p in mine]).order_by("pk"))
    assert updated == 3
    assert [p.title for p in rows] == ["New 0", "New 1", "New 2"]
    assert [p.email_check["n"] for p in rows] == [0, 1, 2]
    assert {p.last_name for p in rows} == {"Keep"}
    assert Prospect.objects.unscoped().get(pk=theirs.pk).title == "Theirs"
