"""Enrichment end to end on the real database, with local fakes for websites, DNS and the paid providers."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import AuditLog
from leadgen.tests.test_emailcheck import fake_dns  # noqa: F401  (fixture: a DNS server on 127.0.0.1)
from prospects.discovery.apollo import apollo_people_search, apollo_search_params
from prospects.models import Activity, EnrichmentLog, Notification, PipelineSettings, Prospect, Stage
from prospects.scoring.enrichment.budget import PaidProvidersOff, month_spend, pipeline_settings_for
from prospects.scoring.enrichment.waterfall import prospect_enrich
from prospects.tests.factories import CompanyFactory, EnrichmentLogFactory, ProspectFactory
from prospects.tests.fake_providers import (
    APOLLO_KEY,
    APOLLO_PEOPLE_MATCH,
    APOLLO_PEOPLE_SEARCH,
    HUNTER_DOMAIN_SEARCH,
    HUNTER_KEY,
    PDL_COMPANY_ENRICH,
    PDL_KEY,
)
from prospects.tests.scoring.acme_site import acme_site

pytest_plugins = ["leadgen.tests.fake_web", "prospects.tests.fake_providers"]


@pytest.fixture
def site(fake_web, settings):
    # The SSRF guard refuses loopback; this test's local site is reachable only because we say so here.
    return acme_site(fake_web, settings)


@pytest.fixture
def fake(fake_providers, fake_dns):  # noqa: F811
    fake_providers.add_company("acme.test", "Acme Robotics")
    fake_providers.add_person("jane.doe@acme.test")
    return fake_providers


def _prospect(tenant, domain: str, **extra):
    company = CompanyFactory(org=tenant.org, name="", domain=domain, **extra.pop("company", {}))
    defaults = {"email": "jane.doe@acme.test", "title": "", "first_name": "Jane", "last_name": "Doe"}
    return ProspectFactory(org=tenant.org, company=company, company_domain=domain, **{**defaults, **extra})


def _keys(tenant, *, budget: str = "10", **keys: str) -> PipelineSettings:
    with tenant.scope():
        pipeline_settings = pipeline_settings_for(org_id=tenant.org.pk)
        pipeline_settings.monthly_budget_usd = Decimal(budget)
        for provider, key in keys.items():
            setattr(pipeline_settings, f"{provider}_api_key", key)
        pipeline_settings.save()
    return pipeline_settings


def _logs(tenant) -> list[tuple[str, str]]:
    with tenant.scope():
        return list(EnrichmentLog.objects.order_by("id").values_list("provider", "operation"))


@pytest.mark.django_db
def test_website_facts_and_email_check_without_any_key(tenant, site, fake):
    prospect = _prospect(tenant, site.host)
    with tenant.scope():
        outcome = prospect_enrich(prospect_id=prospect.pk)
        prospect.refresh_from_db()
        company = prospect.company
    assert company.description == "Acme builds picking robots for mid-size warehouses."
    assert "Founded in 2015 in Lyon" in company.about_text
    assert company.technologies == ["HubSpot"]
    assert company.social_links == {"linkedin": "https://www.linkedin.com/company/acme-robotics"}
    assert company.linkedin_url == "https://www.linkedin.com/company/acme-robotics"
    facts = {fact["field"]: fact for fact in company.facts}
    assert facts["description"]["source"] == "website"
    assert facts["description"]["url"] == site.url("/")
    assert facts["about_text"]["url"] == site.url("/about")
    assert facts["technologies"]["quote"].startswith("HubSpot: ")
    assert facts["title"]["value"] == "Acme Robotics"
    assert prospect.email_status == "valid" and prospect.email_check["has_mx"] is True
    assert prospect.stage == Stage.ENRICHED and prospect.enriched_at is not None
    assert outcome.gained["company.description"] == "website"
    # No key, no budget: the paid providers were never asked.
    assert fake.requests == []
    assert _logs(tenant) == [("website", "homepage_about"), ("email_check", "syntax_mx")]
    with tenant.scope():
        assert Activity.objects.filter(prospect=prospect, kind="enriched").exists()


@pytest.mark.django_db
def test_values_people_typed_are_never_overwritten(tenant, site, fake):
    prospect = _prospect(tenant, site.host, company={"description": "Our own words."})
    with tenant.scope():
        prospect_enrich(prospect_id=prospect.pk)
        prospect.company.refresh_from_db()
    assert prospect.company.description == "Our own words."
    assert "description" not in {fact["field"] for fact in prospect.company.facts}


@pytest.mark.django_db
def test_waterfall_website_first_then_paid_providers_only_for_missing_fields(tenant, site, fake):
    fake.add_company(site.host, "Acme Robotics")
    _keys(tenant, hunter=HUNTER_KEY, apollo=APOLLO_KEY, pdl=PDL_KEY)
    prospect = _prospect(tenant, site.host)
    with tenant.scope():
        outcome = prospect_enrich(prospect_id=prospect.pk)
        prospect.refresh_from_db()
        company = prospect.company
    # The website gave the description; Hunter (first paid provider) the industry and size; Apollo only what was
    # still missing (funding stage, the person); PDL had nothing left to add and was never called.
    assert company.description == "Acme builds picking robots for mid-size warehouses."
    assert company.industry == "Industrial Machinery" and company.employee_count == 51
    assert company.funding_stage == "Series B"
    assert prospect.title == "VP Operations" and prospect.seniority == "vp"
    sources = {fact["field"]: fact["source"] for fact in company.facts}
    assert sources["description"] == "website"
    assert sources["industry"] == "hunter"
    assert sources["funding_stage"] == "apollo"
    assert outcome.gained["prospect.title"] == "apollo"
    assert fake.calls(PDL_COMPANY_ENRICH) == []
    assert _logs(tenant) == [
        ("website", "homepage_about"),
        ("email_check", "syntax_mx"),
        ("hunter", "domain_search"),
        ("hunter", "email_verifier"),
        ("apollo", "organization_enrich"),
        ("apollo", "people_match"),
    ]
    with tenant.scope():
        hunter_log = EnrichmentLog.objects.get(provider="hunter", operation="domain_search")
        assert hunter_log.cost_usd == Decimal("0.049")
        assert "company.industry" in hunter_log.fields_gained and hunter_log.error == ""
        assert month_spend() == Decimal("0.049") + Decimal("0.0245") + Decimal("0.05") + Decimal("0.05")
        assert prospect.email_check["provider"]["status"] == "valid"


@pytest.mark.django_db
def test_provider_order_is_configurable(tenant, fake, settings):
    settings.ENRICHMENT_PROVIDER_ORDER = ["pdl", "hunter"]
    _keys(tenant, hunter=HUNTER_KEY, pdl=PDL_KEY)
    # A freshly enriched company: no website fetch, but its empty fields are still filled.
    prospect = _prospect(tenant, "acme.test", company={"enriched_at": timezone.now()})
    with tenant.scope():
        prospect_enrich(prospect_id=prospect.pk)
        prospect.company.refresh_from_db()
    assert prospect.company.industry == "machinery"  # PDL's word, not Hunter's
    assert prospect.company.employee_count == 118
    # Hunter came second: asked only because PDL had no technologies, and its industry did not replace PDL's.
    assert prospect.company.technologies == ["hubspot", "wordpress"]
    sources = {fact["field"]: fact["source"] for fact in prospect.company.facts}
    assert sources["industry"] == "pdl" and sources["technologies"] == "hunter"
    assert _logs(tenant) == [
        ("email_check", "syntax_mx"),
        ("pdl", "company_enrich"),
        ("hunter", "domain_search"),
        ("hunter", "email_verifier"),
    ]


@pytest.mark.django_db
def test_failed_provider_is_logged_and_the_next_one_fills_in(tenant, fake):
    _keys(tenant, hunter="revoked-key", apollo=APOLLO_KEY)
    prospect = _prospect(tenant, "acme.test", company={"enriched_at": timezone.now()})
    with tenant.scope():
        outcome = prospect_enrich(prospect_id=prospect.pk)
        prospect.company.refresh_from_db()
        failed = EnrichmentLog.objects.get(provider="hunter", operation="domain_search")
    assert "No user found for the API key supplied" in failed.error and failed.cost_usd == 0
    assert prospect.company.industry == "machinery"
    assert outcome.enriched and outcome.deferred == {}


@pytest.mark.django_db
def test_budget_stops_paid_calls_and_tells_admins_once(tenant, fake, django_capture_on_commit_callbacks):
    # Room for Hunter's domain search ($0.049) but not for the email verification after it.
    _keys(tenant, budget="0.06", hunter=HUNTER_KEY)
    first = _prospect(tenant, "acme.test", company={"enriched_at": timezone.now()})
    with tenant.scope(), django_capture_on_commit_callbacks(execute=True):
        outcome = prospect_enrich(prospect_id=first.pk)
    assert outcome.budget_exhausted
    assert len(fake.calls(HUNTER_DOMAIN_SEARCH)) == 1
    assert fake.calls("/v2/email-verifier") == []
    with tenant.scope():
        assert month_spend() == Decimal("0.049")
        notifications = list(Notification.objects.filter(kind="budget_reached"))
        assert {n.user_id for n in notifications} == {tenant.owner.pk, tenant.admin.pk}
        assert PipelineSettings.objects.get().budget_alerted_month == timezone.now().strftime("%Y-%m")
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {tenant.owner.email, tenant.admin.email}
    assert "budget reached" in mail.outbox[0].subject.lower()

    # Another prospect the same month: still no paid call, and no second alert.
    second = ProspectFactory(org=tenant.org, email="jane.doe@acme.test".replace("jane", "john"), title="")
    with tenant.scope(), django_capture_on_commit_callbacks(execute=True):
        prospect_enrich(prospect_id=second.pk)
        assert Notification.objects.filter(kind="budget_reached").count() == 2
    assert len(fake.calls(HUNTER_DOMAIN_SEARCH)) == 1 and len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_workers_never_overspend_the_budget(tenant, fake):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    _keys(tenant, budget="0.098", hunter=HUNTER_KEY)  # exactly two domain searches
    ids = []
    for n in range(6):
        domain = f"shop{n}.test"
        fake.add_company(domain, f"Shop {n}")
        ids.append(_prospect(tenant, domain, email="", company={"enriched_at": timezone.now()}).pk)

    def enrich(prospect_id: int) -> None:
        try:
            with tenant.scope():
                prospect_enrich(prospect_id=prospect_id)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(enrich, ids))
    with tenant.scope():
        billed = EnrichmentLog.objects.filter(provider="hunter", cost_usd__gt=0).count()
        assert billed == 2 and month_spend() == Decimal("0.098")
        assert Notification.objects.filter(kind="budget_reached").count() == 2  # owner and admin, once


@pytest.mark.django_db
def test_zero_budget_means_no_paid_calls_even_with_keys(tenant, fake):
    _keys(tenant, budget="0", hunter=HUNTER_KEY, apollo=APOLLO_KEY, pdl=PDL_KEY)
    prospect = _prospect(tenant, "acme.test", company={"enriched_at": timezone.now()})
    with tenant.scope():
        prospect_enrich(prospect_id=prospect.pk)
        assert not Notification.objects.exists()
    assert fake.requests == []


@pytest.mark.django_db
def test_fresh_data_is_not_enriched_again_unless_forced(tenant, fake):
    _keys(tenant, apollo=APOLLO_KEY)
    prospect = _prospect(tenant, "acme.test", company={"enriched_at": timezone.now()})
    with tenant.scope():
        prospect_enrich(prospect_id=prospect.pk)
        calls, logs = len(fake.requests), EnrichmentLog.objects.count()
        again = prospect_enrich(prospect_id=prospect.pk)
        assert again.skipped == "fresh"
        assert (len(fake.requests), EnrichmentLog.objects.count()) == (calls, logs)
        # Older than the org's freshness window: enriched again.
        Prospect.objects.filter(pk=prospect.pk).update(enriched_at=timezone.now() - timedelta(days=31))
        assert prospect_enrich(prospect_id=prospect.pk).skipped == ""
        assert EnrichmentLog.objects.count() > logs
        # Forced: enriched again though fresh.
        count = EnrichmentLog.objects.count()
        assert prospect_enrich(prospect_id=prospect.pk, force=True).skipped == ""
        assert EnrichmentLog.objects.count() > count


@pytest.mark.django_db
def test_gone_prospect_is_a_no_op(tenant):
    with tenant.scope():
        assert prospect_enrich(prospect_id=987654321).skipped == "gone"


@pytest.mark.django_db
def test_rate_limited_provider_does_not_hold_the_prospect(tenant, fake, django_capture_on_commit_callbacks):
    _keys(tenant, apollo=APOLLO_KEY)
    fake.rate_limit(APOLLO_PEOPLE_MATCH, retry_after=5)
    prospect = _prospect(tenant, "acme.test", company={"enriched_at": timezone.now()})
    with tenant.scope(), django_capture_on_commit_callbacks(execute=False) as callbacks:
        outcome = prospect_enrich(prospect_id=prospect.pk)
        prospect.refresh_from_db()
        entry = EnrichmentLog.objects.get(provider="apollo", operation="people_match")
    assert outcome.deferred == {"apollo.people_match": 5}
    assert prospect.stage == Stage.ENRICHED  # moves on down the pipeline at once
    assert entry.error.startswith("temporary: ") and "retry in 5s" in entry.error and entry.cost_usd == 0
    assert len(callbacks) == 1  # the retry task, queued on commit


# -- with a real Celery worker ---------------------------------------------------------------------------------------


def _wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_retry_task_asks_again_after_429_and_fills_the_fields(tenant, fake, settings, celery_worker):
    settings.ENRICH_RETRY_BACKOFF = 1
    settings.PIPELINE_AUTO_ENQUEUE = False
    _keys(tenant, apollo=APOLLO_KEY)
    fake.rate_limit(APOLLO_PEOPLE_MATCH, retry_after=1)
    prospect = _prospect(tenant, "acme.test", company={"enriched_at": timezone.now()})
    with tenant.scope():
        outcome = prospect_enrich(prospect_id=prospect.pk)
    assert outcome.deferred and Prospect.objects.unscoped().get(pk=prospect.pk).title == ""

    assert _wait_for(lambda: Prospect.objects.unscoped().get(pk=prospect.pk).title == "VP Operations")
    assert len(fake.calls(APOLLO_PEOPLE_MATCH)) == 2

    def retry_logged() -> bool:
        # The fields and the retry's log entry are written in separate steps: wait for the log to say how it ended.
        with tenant.scope():
            return not EnrichmentLog.objects.filter(
                provider="apollo", operation="people_match", error="interrupted before the provider answered"
            ).exists()

    assert _wait_for(retry_logged)
    with tenant.scope():
        errors = list(
            EnrichmentLog.objects.filter(provider="apollo", operation="people_match")
            .order_by("id")
            .values_list("error", flat=True)
        )
    assert errors[0].startswith("temporary: ") and errors[1] == ""


def test_retries_give_up_in_the_log_and_the_prospect_stays_enriched(tenant, fake, settings, celery_worker):
    settings.ENRICH_RETRY_BACKOFF = 1
    settings.ENRICH_MAX_RETRIES = 1
    settings.PIPELINE_AUTO_ENQUEUE = False
    _keys(tenant, pdl=PDL_KEY)
    fake.rate_limit(PDL_COMPANY_ENRICH, retry_after=1, times=10)
    prospect = _prospect(tenant, "acme.test", company={"enriched_at": timezone.now()})
    with tenant.scope():
        prospect_enrich(prospect_id=prospect.pk)

    def gave_up() -> bool:
        with tenant.scope():
            return EnrichmentLog.objects.filter(provider="pdl", error__startswith="gave up after").exists()

    assert _wait_for(gave_up)
    assert len(fake.calls(PDL_COMPANY_ENRICH)) == 3  # the first try and two retries
    assert Prospect.objects.unscoped().get(pk=prospect.pk).stage == Stage.ENRICHED


# -- discovery ---------------------------------------------------------------------------------------------------


def test_icp_criteria_become_apollo_search_filters():
    params = apollo_search_params(
        {
            "title_keywords": ["Head of Operations", "COO"],
            "seniorities": ["VP", "C-level", "director", "wizard"],
            "locations": ["France"],
            "employee_min": 50,
            "employee_max": 500,
            "industries": ["logistics", "robotics"],
            "technologies": ["Google Analytics"],
        }
    )
    assert params == {
        "person_titles": ["Head of Operations", "COO"],
        "include_similar_titles": True,
        "person_seniorities": ["vp", "c_suite", "director"],
        "person_locations": ["France"],
        "organization_num_employees_ranges": ["50,500"],
        "q_keywords": "logistics robotics",
        "currently_using_any_of_technology_uids": ["google_analytics"],
    }


@pytest.mark.django_db
def test_apollo_people_search_pages_up_to_the_limit_and_logs(tenant, fake):
    fake.search_people = [
        {
            "id": f"p{n}",
            "first_name": f"Person{n}",
            "last_name": "",
            "title": "Head of Operations",
            "seniority": "head",
            "organization": {"name": "Acme Robotics", "primary_domain": "acme.test"},
        }
        for n in range(150)
    ]
    pipeline_settings = _keys(tenant, apollo=APOLLO_KEY)
    with tenant.scope():
        people = apollo_people_search(
            pipeline_settings=pipeline_settings,
            criteria={"title_keywords": ["head of operations"]},
            limit=120,
        )
        logs = list(EnrichmentLog.objects.filter(operation="people_search").values_list("cost_usd", "error"))
    assert len(people) == 120
    assert people[0] == {
        "first_name": "Person0",
        "last_name": "",
        "email": "",
        "title": "Head of Operations",
        "seniority": "head",
        "linkedin_url": "",
        "location": "",
        "company_name": "Acme Robotics",
        "company_domain": "acme.test",
        "source_detail": "apollo:p0",
        "apollo_id": "p0",
    }
    pages = [call.body for call in fake.calls(APOLLO_PEOPLE_SEARCH)]
    assert [(page["page"], page["per_page"]) for page in pages] == [(1, 100), (2, 20)]
    assert logs == [(Decimal("0"), ""), (Decimal("0"), "")]


@pytest.mark.django_db
def test_apollo_people_search_needs_a_key_and_a_budget(tenant, fake):
    with tenant.scope(), pytest.raises(PaidProvidersOff, match="no Apollo API key"):
        apollo_people_search(
            pipeline_settings=pipeline_settings_for(org_id=tenant.org.pk), criteria={}, limit=5
        )
    pipeline_settings = _keys(tenant, budget="0", apollo=APOLLO_KEY)
    with tenant.scope(), pytest.raises(PaidProvidersOff, match="budget"):
        apollo_people_search(pipeline_settings=pipeline_settings, criteria={}, limit=5)
    assert fake.calls(APOLLO_PEOPLE_SEARCH) == []


# -- pages -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_settings_page_keys_are_write_only_and_audited(tenant):
    response = tenant.admin_client.get("/settings/pipeline/")
    assert response.status_code == 200
    assert response.content.decode().count("not set") == 4
    response = tenant.admin_client.post(
        "/settings/pipeline/",
        {
            "hunter_api_key": "hk-secret-123",
            "monthly_budget_usd": "25.00",
            "freshness_days": "14",
            "qualification_threshold": "80",
            "slack_webhook_url": "https://hooks.slack.com/services/T0/B0/XYZ",
        },
    )
    assert response.status_code == 302
    with tenant.scope():
        saved = PipelineSettings.objects.get()
        assert saved.hunter_api_key == "hk-secret-123"
        assert (saved.monthly_budget_usd, saved.freshness_days, saved.qualification_threshold) == (
            Decimal("25.00"),
            14,
            80,
        )
    page = tenant.admin_client.get("/settings/pipeline/").content.decode()
    assert "hk-secret-123" not in page and "hooks.slack.com/services/T0" not in page
    assert "Hunter API key: <strong>set</strong>" in page
    audit = AuditLog.objects.unscoped().get(org=tenant.org, action="pipeline_settings.updated")
    assert set(audit.data["fields"]) == {
        "hunter_api_key",
        "slack_webhook_url",
        "monthly_budget_usd",
        "freshness_days",
        "qualification_threshold",
    }
    assert "hk-secret-123" not in str(audit.data)
    # An empty box keeps the key; "remove" clears it.
    tenant.admin_client.post(
        "/settings/pipeline/",
        {"monthly_budget_usd": "25", "freshness_days": "14", "qualification_threshold": "80"},
    )
    with tenant.scope():
        assert PipelineSettings.objects.get().hunter_api_key == "hk-secret-123"
    tenant.admin_client.post(
        "/settings/pipeline/",
        {
            "monthly_budget_usd": "25",
            "freshness_days": "14",
            "qualification_threshold": "80",
            "clear": ["hunter_api_key"],
        },
    )
    with tenant.scope():
        assert PipelineSettings.objects.get().hunter_api_key == ""


@pytest.mark.django_db
def test_settings_page_rejects_bad_values(tenant):
    response = tenant.admin_client.post(
        "/settings/pipeline/",
        {
            "monthly_budget_usd": "-1",
            "freshness_days": "0",
            "qualification_threshold": "101",
            "slack_webhook_url": "http://169.254.169.254/",
        },
    )
    assert response.status_code == 200
    assert len(response.context["form"].errors) == 4


@pytest.mark.django_db
def test_settings_page_shows_this_months_spend(tenant):
    _keys(tenant, budget="1")
    EnrichmentLogFactory(org=tenant.org, provider="pdl", cost_usd=Decimal("1.00"))
    EnrichmentLogFactory(
        org=tenant.org, provider="pdl", cost_usd=Decimal("5"), created_at=timezone.now() - timedelta(days=40)
    )
    page = tenant.admin_client.get("/settings/pipeline/").content.decode()
    assert "$1.00" in page and "Budget reached" in page


@pytest.mark.django_db
def test_settings_page_is_for_admins_of_this_org_only(tenant, other_tenant):
    assert tenant.member_client.get("/settings/pipeline/").status_code == 404
    assert tenant.member_client.post("/settings/pipeline/", {"monthly_budget_usd": "99"}).status_code == 404
    _keys(tenant, budget="7", hunter=HUNTER_KEY)
    # The other org's admin sees (and edits) only their own settings.
    page = other_tenant.admin_client.get("/settings/pipeline/").content.decode()
    assert "Hunter API key: <strong>not set</strong>" in page and "$7.00" not in page
    other_tenant.admin_client.post(
        "/settings/pipeline/",
        {"monthly_budget_usd": "1", "freshness_days": "3", "qualification_threshold": "10"},
    )
    with tenant.scope():
        assert PipelineSettings.objects.get().monthly_budget_usd == Decimal("7")


@pytest.mark.django_db
def test_prospect_page_shows_facts_with_their_provider_and_the_log(
    tenant, other_tenant, fake, django_assert_max_num_queries
):
    _keys(tenant, hunter=HUNTER_KEY)
    prospect = _prospect(tenant, "acme.test", company={"enriched_at": timezone.now()})
    with tenant.scope():
        prospect_enrich(prospect_id=prospect.pk)
    detail = tenant.member_client.get(f"/prospects/{prospect.pk}/").content.decode()
    assert f'hx-get="/prospects/{prospect.pk}/enrichment/"' in detail
    with django_assert_max_num_queries(12):
        response = tenant.member_client.get(f"/prospects/{prospect.pk}/enrichment/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Industrial Machinery" in html
    assert '<td class="fact-source">Hunter</td>' in html
    assert "domain_search" in html and "$0.0490" in html
    assert 'id="email-status">valid<' in html
    # Another org's prospect id: 404, for reading and for "enrich again".
    assert other_tenant.member_client.get(f"/prospects/{prospect.pk}/enrichment/").status_code == 404
    assert other_tenant.member_client.post(f"/prospects/{prospect.pk}/enrichment/").status_code == 404


@pytest.mark.django_db
def test_enrich_again_queues_a_forced_enrichment(tenant, django_capture_on_commit_callbacks):
    prospect = ProspectFactory(org=tenant.org)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = tenant.member_client.post(f"/prospects/{prospect.pk}/enrichment/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Enrichment queued" in response.content.decode()
    assert len(callbacks) == 1
