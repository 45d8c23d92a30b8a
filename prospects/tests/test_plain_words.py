"""Pages speak a rep's words: seniority labels and a picker, who scored a prospect, enrichment problems, the ICP
filter by name, the settings page named for what it does, no discovery source ticked without its key."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import Tenant
from prospects.models import ICP
from prospects.plain_words import enrichment_error_words, scored_by, seniority_label
from prospects.tests.factories import (
    EnrichmentLogFactory,
    ICPFactory,
    PipelineSettingsFactory,
    ProspectFactory,
    QualificationFactory,
)

pytestmark = pytest.mark.django_db


def _get(tenant: Tenant, url: str) -> str:
    response = tenant.owner_client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.parametrize(
    ("stored", "label"),
    [
        ("c_suite", "C-level"),
        ("C-Suite", "C-level"),
        ("vp", "VP"),
        ("entry", "Entry level"),
        ("Head of Sales", "Head of Sales"),
        ("", ""),
    ],
)
def test_seniority_labels(stored: str, label: str) -> None:
    assert seniority_label(stored) == label


def test_who_scored_in_a_sentence() -> None:
    assert scored_by("rules") == "Scored by the built-in rules"
    assert scored_by("openai:gpt-4o-mini") == "Scored by the AI model gpt-4o-mini"


@pytest.mark.parametrize(
    ("provider", "error", "words"),
    [
        (
            "website",
            "https://acme.invalid/: DNS lookup for acme.invalid failed: [Errno -2] Name or service not known",
            "the company's website could not be found",
        ),
        (
            "website",
            "blocked: private address 10.0.0.1",
            "the company's website points to a private address, which is never fetched",
        ),
        ("website", "https://acme.test/ answered HTTP 503", "the company's website refused the visit"),
        (
            "hunter",
            "Hunter domain_search: authentication_failed: No user found for the API key supplied",
            "the provider refused the API key: check it in Settings → Enrichment & scoring",
        ),
        (
            "pdl",
            "temporary: People Data Labs company_enrich: rate limited (retry in 30 s)",
            "the provider was busy; it will be tried again",
        ),
        (
            "apollo",
            "gave up after 5 attempts: temporary: Apollo people_match: server error",
            "the lookup kept failing, so it was stopped",
        ),
        ("pdl", "something nobody foresaw", "the lookup failed"),
    ],
)
def test_enrichment_errors_in_words(provider: str, error: str, words: str) -> None:
    assert enrichment_error_words(error, provider) == words


def test_the_prospect_page_says_who_scored_and_shows_seniority_and_errors_in_words(tenant: Tenant) -> None:
    icp = ICPFactory(org=tenant.org, name="Revenue leaders")
    prospect = ProspectFactory(
        org=tenant.org, seniority="c_suite", score=57, tier="C", score_breakdown={"provider": "rules"}
    )
    QualificationFactory(
        org=tenant.org,
        prospect=prospect,
        icp=icp,
        provider="rules",
        prompt_version="rules-v1",
        similarity=0.57,
    )
    raw = "https://acme.invalid/: DNS lookup for acme.invalid failed"
    EnrichmentLogFactory(
        org=tenant.org, prospect=prospect, provider="website", operation="homepage_about", error=raw
    )
    page = _get(tenant, reverse("prospect_detail", args=[prospect.pk]))
    assert "C-level" in page and "c_suite" not in page
    assert "Scored by the built-in rules" in page and "provider: rules" not in page
    # The detail sits behind a disclosure.
    details = page.split('<details class="scored-by">', 1)[1].split("</details>", 1)[0]
    assert "rules-v1" in details and "0.57" in details
    enrichment = _get(tenant, reverse("prospect_enrichment", args=[prospect.pk]))
    assert "The company&#x27;s website could not be found" in enrichment
    assert raw in enrichment.split("<details>", 1)[1]


def test_icp_editor_picks_seniority_from_labels_and_shows_them(tenant: Tenant) -> None:
    form = _get(tenant, reverse("icp_new"))
    assert 'id="seniority-picker"' in form and "C-level" in form and "c_suite, vp" not in form
    data = {"name": "Execs", "seniorities": ["c_suite", "vp"], "is_active": "on"}
    response = tenant.owner_client.post(reverse("icp_new"), data)
    assert response.status_code == 302
    with tenant.scope():
        icp = ICP.objects.get(name="Execs")
    assert icp.criteria["seniorities"] == ["c_suite", "vp"]
    detail = _get(tenant, reverse("icp_detail", args=[icp.pk]))
    assert "Seniority: C-level, VP" in detail
    edit = _get(tenant, reverse("icp_edit", args=[icp.pk]))
    assert (
        'value="c_suite" ' in edit
        and edit.split('value="c_suite"', 1)[1].split(">", 1)[0].count("checked") == 1
    )


def test_the_list_filters_by_icp_name(tenant: Tenant) -> None:
    icp = ICPFactory(org=tenant.org, name="Bakery owners")
    page = _get(tenant, reverse("prospect_list") + f"?icp={icp.pk}")
    assert f'<option value="{icp.pk}" selected>Bakery owners</option>' in page
    assert 'name="icp" min="1"' not in page  # no number box for an id


def test_settings_page_is_named_enrichment_and_scoring(tenant: Tenant) -> None:
    page = _get(tenant, reverse("pipeline_settings"))
    assert "<h1>Enrichment &amp; scoring</h1>" in page and ">Pipeline</a>" not in page


def test_discovery_does_not_tick_a_source_without_its_key(tenant: Tenant) -> None:
    ICPFactory(org=tenant.org)
    page = _get(tenant, reverse("discovery_run_list"))
    box = page.split('value="apollo"', 1)[1].split(">", 1)[0]
    assert "checked" not in box and "needs an Apollo API key" in page
    PipelineSettingsFactory(org=tenant.org, apollo_api_key="key-123")
    page = _get(tenant, reverse("discovery_run_list"))
    assert "checked" in page.split('value="apollo"', 1)[1].split(">", 1)[0]
