"""Each provider adapter against its local fake: the documented success, error and rate-limit answers."""

from __future__ import annotations

import email.utils
import time

import pytest

from prospects.scoring.enrichment import providers
from prospects.scoring.enrichment.providers import (
    Apollo,
    Hunter,
    PeopleDataLabs,
    ProviderAuthError,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderTransientError,
    parse_retry_after,
)
from prospects.tests.fake_providers import (
    APOLLO_KEY,
    APOLLO_ORGANIZATION_ENRICH,
    APOLLO_PEOPLE_MATCH,
    APOLLO_PEOPLE_SEARCH,
    HUNTER_DOMAIN_SEARCH,
    HUNTER_EMAIL_VERIFIER,
    HUNTER_KEY,
    PDL_COMPANY_ENRICH,
    PDL_KEY,
)

pytest_plugins = ["prospects.tests.fake_providers"]


@pytest.fixture
def fake(fake_providers):
    fake_providers.add_company("acme.test", "Acme Robotics")
    fake_providers.add_person("jane.doe@acme.test")
    return fake_providers


# -- Hunter ----------------------------------------------------------------------------------------------------------


def test_hunter_domain_search_maps_company_and_the_prospects_own_row(fake):
    hunter = Hunter(api_key=HUNTER_KEY)
    result = hunter.domain_search(domain="acme.test")
    hunter.person_from_domain_search(result, email="Jane.Doe@acme.test")
    fields = result.fields()
    assert fields["company.name"] == "Acme Robotics"
    assert fields["company.industry"] == "Industrial Machinery"
    assert fields["company.employee_count"] == 51  # "51-200": the band's floor
    assert fields["company.location"] == "Lyon, FR"
    assert fields["prospect.title"] == "Head of Operations"
    assert result.billable
    quote = next(item.quote for item in result.found if item.field == "company.employee_count")
    assert quote == '"headcount": "51-200"'
    # The key travels in a header, never in the URL.
    call = fake.calls(HUNTER_DOMAIN_SEARCH)[0]
    assert call.headers["x-api-key"] == HUNTER_KEY and "api_key" not in call.query


def test_hunter_domain_without_results_is_a_miss_not_billed(fake):
    result = Hunter(api_key=HUNTER_KEY).domain_search(domain="unknown.test")
    assert result.found == [] and not result.billable


def test_hunter_invalid_key(fake):
    with pytest.raises(ProviderAuthError, match="No user found for the API key supplied"):
        Hunter(api_key="wrong").domain_search(domain="acme.test")


def test_hunter_403_is_its_rate_limit_and_429_its_usage_limit(fake):
    fake.rate_limit(HUNTER_DOMAIN_SEARCH, retry_after=7)
    with pytest.raises(ProviderRateLimited) as caught:
        Hunter(api_key=HUNTER_KEY).domain_search(domain="acme.test")
    assert caught.value.retry_after == 7 and caught.value.retryable
    fake.queue(
        HUNTER_DOMAIN_SEARCH,
        429,
        {
            "errors": [
                {"id": "too_many_requests", "code": 429, "details": "You have reached your usage limit."}
            ]
        },
    )
    with pytest.raises(ProviderQuotaError) as quota:
        Hunter(api_key=HUNTER_KEY).domain_search(domain="acme.test")
    assert not quota.value.retryable


def test_hunter_email_verifier_and_its_in_progress_answers(fake):
    hunter = Hunter(api_key=HUNTER_KEY)
    assert hunter.email_verifier(email="jane.doe@acme.test").fields() == {
        "prospect.email_verification": "valid"
    }
    fake.queue(HUNTER_EMAIL_VERIFIER, 202, {"data": {}})
    with pytest.raises(ProviderTransientError):
        hunter.email_verifier(email="jane.doe@acme.test")
    fake.queue(
        HUNTER_EMAIL_VERIFIER, 222, {"errors": [{"id": "verification_failed", "code": 222, "details": "x"}]}
    )
    with pytest.raises(ProviderTransientError):
        hunter.email_verifier(email="jane.doe@acme.test")
    with pytest.raises(ProviderError, match="invalid_email"):
        hunter.email_verifier(email="not-an-address")


def test_hunter_server_error_is_transient(fake):
    fake.queue(HUNTER_DOMAIN_SEARCH, 503, {"errors": []}, {"Retry-After": "12"})
    with pytest.raises(ProviderTransientError) as caught:
        Hunter(api_key=HUNTER_KEY).domain_search(domain="acme.test")
    assert caught.value.retry_after == 12


# -- Apollo ----------------------------------------------------------------------------------------------------------


def test_apollo_people_match_sends_the_key_header_and_maps_the_person(fake):
    result = Apollo(api_key=APOLLO_KEY).people_match(email="jane.doe@acme.test", first_name="Jane")
    fields = result.fields()
    assert fields["prospect.title"] == "VP Operations"
    assert fields["prospect.seniority"] == "vp"
    assert fields["company.funding_stage"] == "Series B"
    call = fake.calls(APOLLO_PEOPLE_MATCH)[0]
    assert call.method == "POST" and call.headers["x-api-key"] == APOLLO_KEY
    assert call.body["email"] == "jane.doe@acme.test" and "last_name" not in call.body


def test_apollo_no_match_and_unknown_organization_are_misses(fake):
    apollo = Apollo(api_key=APOLLO_KEY)
    assert apollo.people_match(email="nobody@acme.test").found == []
    assert apollo.organization_enrich(domain="unknown.test").found == []
    assert apollo.organization_enrich(domain="acme.test").fields()["company.employee_count"] == 120


def test_apollo_errors(fake):
    with pytest.raises(ProviderAuthError, match="Invalid access credentials"):
        Apollo(api_key="wrong").organization_enrich(domain="acme.test")
    with pytest.raises(ProviderError, match="Please provide an email") as caught:
        Apollo(api_key=APOLLO_KEY).people_match(first_name="Jane")
    assert caught.value.status == 422 and not caught.value.retryable


def test_apollo_429_without_retry_after_reads_its_window_counters(fake):
    fake.rate_limit(APOLLO_ORGANIZATION_ENRICH, retry_after=None)
    with pytest.raises(ProviderRateLimited) as caught:
        Apollo(api_key=APOLLO_KEY).organization_enrich(domain="acme.test")
    assert caught.value.retry_after == 60  # x-minute-requests-left: 0
    assert "maximum number of api calls" in caught.value.message


def test_apollo_people_search_pages(fake):
    fake.search_people = [{"id": str(n), "first_name": f"P{n}", "title": "Head of Ops"} for n in range(3)]
    people, pagination, _latency = Apollo(api_key=APOLLO_KEY).people_search(
        params={"person_titles": ["head"], "page": 2, "per_page": 2}
    )
    assert [person["id"] for person in people] == ["2"]
    assert pagination["total_pages"] == 2
    assert fake.calls(APOLLO_PEOPLE_SEARCH)[0].body["person_titles"] == ["head"]


# -- People Data Labs ------------------------------------------------------------------------------------------------


def test_pdl_company_enrich(fake):
    result = PeopleDataLabs(api_key=PDL_KEY).company_enrich(domain="acme.test")
    fields = result.fields()
    assert fields["company.name"] == "Acme Robotics"
    assert fields["company.employee_count"] == 118
    assert fields["company.linkedin_url"] == "https://linkedin.com/company/acme"
    call = fake.calls(PDL_COMPANY_ENRICH)[0]
    assert call.headers["x-api-key"] == PDL_KEY and call.query["website"] == ["acme.test"]


def test_pdl_not_found_invalid_key_and_rate_limit(fake):
    pdl = PeopleDataLabs(api_key=PDL_KEY)
    assert pdl.company_enrich(domain="unknown.test").found == []
    with pytest.raises(ProviderAuthError, match="Invalid API key"):
        PeopleDataLabs(api_key="wrong").company_enrich(domain="acme.test")
    fake.rate_limit(PDL_COMPANY_ENRICH, retry_after=None)
    with pytest.raises(ProviderRateLimited) as caught:
        pdl.company_enrich(domain="acme.test")
    assert caught.value.retry_after is not None and caught.value.retry_after <= 2  # from x-ratelimit-reset
    fake.queue(
        PDL_COMPANY_ENRICH, 402, {"status": 402, "error": {"type": "payment_required", "message": "out"}}
    )
    with pytest.raises(ProviderQuotaError):
        pdl.company_enrich(domain="acme.test")


# -- shared plumbing -------------------------------------------------------------------------------------------------


def test_our_own_rate_limit_stops_calls_before_they_leave(fake, settings):
    settings.ENRICHMENT_RATE_LIMITS = {"pdl": 2}
    pdl = PeopleDataLabs(api_key=PDL_KEY)
    pdl.company_enrich(domain="acme.test")
    pdl.company_enrich(domain="acme.test")
    with pytest.raises(ProviderRateLimited, match="over our limit") as caught:
        pdl.company_enrich(domain="acme.test")
    assert 0 < caught.value.retry_after <= 61
    assert len(fake.calls(PDL_COMPANY_ENRICH)) == 2


def test_unreachable_provider_is_transient(settings):
    settings.PDL_API_URL = "http://127.0.0.1:9"  # discard port: connection refused
    with pytest.raises(ProviderTransientError, match="network error"):
        PeopleDataLabs(api_key=PDL_KEY).company_enrich(domain="acme.test")


def test_retry_after_forms():
    assert parse_retry_after("120") == 120
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= parse_retry_after(soon) <= 31
    assert parse_retry_after("soon") is None


def test_price_table_can_be_overridden(settings):
    settings.ENRICHMENT_PRICES_USD = {"pdl.company_enrich": "0.5"}
    assert str(providers.price_usd("pdl", "company_enrich")) == "0.5"
    assert providers.price_usd("apollo", "people_search") == 0
