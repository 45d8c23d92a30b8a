"""Apollo people search for discovery runs: ICP criteria to Apollo's search parameters, people to prospect data."""

from __future__ import annotations

import logging
import time
from typing import Any

from prospects.models import PipelineSettings
from prospects.scoring.enrichment import providers
from prospects.scoring.enrichment.budget import (
    TRANSIENT_PREFIX,
    PaidProvidersOff,
    budget_refund,
    budget_reserve,
    provider_key,
)
from prospects.scoring.enrichment.providers import (
    APOLLO,
    ProviderError,
    as_dict,
)

log = logging.getLogger(__name__)


APOLLO_SENIORITIES = {
    "owner", "founder", "c_suite", "partner", "vp", "head", "director", "manager", "senior", "entry", "intern",
}  # fmt: skip
SENIORITY_ALIASES = {
    "c-level": "c_suite",
    "c level": "c_suite",
    "c-suite": "c_suite",
    "c suite": "c_suite",
    "cxo": "c_suite",
    "executive": "c_suite",
    "chief": "c_suite",
    "vice president": "vp",
    "vp": "vp",
    "svp": "vp",
    "evp": "vp",
    "head of": "head",
    "junior": "entry",
    "entry level": "entry",
}
APOLLO_PAGE_SIZE = 100


def apollo_search_params(criteria: dict[str, Any]) -> dict[str, Any]:
    """Translate ICP criteria into the People API Search's filters (https://docs.apollo.io/reference)."""
    params: dict[str, Any] = {}
    titles = [str(t).strip() for t in criteria.get("title_keywords") or [] if str(t).strip()]
    if titles:
        params["person_titles"] = titles
        params["include_similar_titles"] = True
    seniorities: list[str] = []
    for raw in criteria.get("seniorities") or []:
        value = str(raw).strip().lower()
        mapped = SENIORITY_ALIASES.get(value, value.replace(" ", "_").replace("-", "_"))
        if mapped in APOLLO_SENIORITIES and mapped not in seniorities:
            seniorities.append(mapped)
    if seniorities:
        params["person_seniorities"] = seniorities
    locations = [str(loc).strip() for loc in criteria.get("locations") or [] if str(loc).strip()]
    if locations:
        params["person_locations"] = locations
    low, high = criteria.get("employee_min"), criteria.get("employee_max")
    if low or high:
        params["organization_num_employees_ranges"] = [f"{int(low or 1)},{int(high or 1_000_000)}"]
    keywords = [str(k).strip() for k in criteria.get("industries") or [] if str(k).strip()]
    if keywords:
        params["q_keywords"] = " ".join(keywords)
    technologies = [
        str(t).strip().lower().replace(" ", "_").replace(".", "_")
        for t in criteria.get("technologies") or []
        if str(t).strip()
    ]
    if technologies:
        params["currently_using_any_of_technology_uids"] = technologies
    return params


def _apollo_person(person: dict[str, Any]) -> dict[str, Any]:
    organization = as_dict(person.get("organization"))
    location = ", ".join(str(person[k]) for k in ("city", "state", "country") if person.get(k))
    return {
        "first_name": person.get("first_name") or "",
        "last_name": person.get("last_name") or "",
        "email": person.get("email") or "",
        "title": person.get("title") or "",
        "seniority": person.get("seniority") or "",
        "linkedin_url": person.get("linkedin_url") or "",
        "location": location,
        "company_name": organization.get("name") or "",
        "company_domain": organization.get("primary_domain") or "",
        "source_detail": f"apollo:{person.get('id', '')}",
        "apollo_id": person.get("id"),
    }


def apollo_people_search(
    *, pipeline_settings: PipelineSettings, criteria: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """People matching an ICP's criteria from Apollo, as prospect data dicts (up to `limit`).

    Raises PaidProvidersOff without a key or budget, ProviderTransientError when Apollo is rate limited or down (the
    discovery task retries), ProviderError otherwise. Every page is logged in EnrichmentLog.
    """
    api_key = provider_key(pipeline_settings, APOLLO)
    if not api_key:
        raise PaidProvidersOff(APOLLO, "people_search", "no Apollo API key is set")
    apollo = providers.Apollo(api_key=api_key)
    params = apollo_search_params(criteria)
    people: list[dict[str, Any]] = []
    page = 1
    while len(people) < limit:
        entry = budget_reserve(
            pipeline_settings=pipeline_settings,
            provider=APOLLO,
            operation="people_search",
            prospect=None,
            company=None,
        )
        if entry is None:
            if people:
                break
            raise PaidProvidersOff(APOLLO, "people_search", "the monthly enrichment budget is zero or spent")
        per_page = min(APOLLO_PAGE_SIZE, limit - len(people))
        started = time.monotonic()
        try:
            found, pagination, latency_ms = apollo.people_search(
                params={**params, "page": page, "per_page": per_page}
            )
        except ProviderError as exc:
            budget_refund(entry)
            entry.latency_ms = int((time.monotonic() - started) * 1000)
            prefix = TRANSIENT_PREFIX if exc.retryable else ""
            entry.error = f"{prefix}{exc}"[:500]
            entry.save(update_fields=["cost_usd", "latency_ms", "error"])
            raise
        entry.latency_ms = latency_ms
        entry.error = ""
        entry.fields_gained = [f"people:{len(found)}"]
        entry.save(update_fields=["latency_ms", "error", "fields_gained"])
        people.extend(_apollo_person(person) for person in found)
        total_pages = int(pagination.get("total_pages") or 0)
        if not found or page >= total_pages:
            break
        page += 1
    return people[:limit]
