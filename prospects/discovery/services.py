"""Discovery runs: an ICP translated into each source's search, results deduplicated into prospects, then the pipeline.

Counts live on the DiscoveryRun row: `discovered` here, the rest incremented by the pipeline steps (F() updates), so
the page and the API read one row however many batches run at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import org_scope
from prospects.models import ICP, DiscoveryRun, DiscoveryRunStatus, PipelineSettings, Source
from prospects.scoring.enrichment.providers import ProviderError
from prospects.scoring.intake import pipeline_enqueue
from prospects.services import prospect_upsert

if TYPE_CHECKING:
    from accounts.models import Organization, User

log = logging.getLogger(__name__)

MAX_PROSPECTS_LIMIT = 1000


@dataclass(frozen=True)
class DiscoverySource:
    key: str
    label: str
    # Why the source cannot run for this org (e.g. no API key), or "" when it can.
    unavailable: Callable[[PipelineSettings | None], str]
    search: Callable[[PipelineSettings, ICP, int], list[dict[str, Any]]]


def _apollo_unavailable(pipeline_settings: PipelineSettings | None) -> str:
    if pipeline_settings is None or not pipeline_settings.apollo_api_key:
        return "needs an Apollo API key (Settings → Enrichment & scoring)"
    return ""


def _apollo_search(pipeline_settings: PipelineSettings, icp: ICP, limit: int) -> list[dict[str, Any]]:
    from prospects.discovery.apollo import apollo_people_search

    return apollo_people_search(
        pipeline_settings=pipeline_settings, criteria=dict(icp.criteria or {}), limit=limit
    )


SOURCES: dict[str, DiscoverySource] = {
    "apollo": DiscoverySource("apollo", "Apollo people search", _apollo_unavailable, _apollo_search),
}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _locked_email(email: str) -> bool:
    # Apollo's search masks emails it has not unlocked ("email_not_unlocked@domain.com").
    return not email or "not_unlocked" in email or "@" not in email


def prospect_data_from_result(person: dict[str, Any]) -> dict[str, Any]:
    """A search result (a provider's person record, or one already in our field names) as prospect_upsert data."""
    raw_organization = person.get("organization")
    organization: dict[str, Any] = raw_organization if isinstance(raw_organization, dict) else {}
    email = _text(person.get("email"))
    location = _text(person.get("location")) or ", ".join(
        _text(person.get(k)) for k in ("city", "state", "country") if _text(person.get(k))
    )
    domain = (
        _text(person.get("company_domain"))
        or _text(organization.get("primary_domain"))
        or _text(organization.get("website_url"))
    )
    data = {
        "first_name": _text(person.get("first_name")),
        "last_name": _text(person.get("last_name")),
        "email": "" if _locked_email(email) else email,
        "title": _text(person.get("title")),
        "seniority": _text(person.get("seniority")),
        "linkedin_url": _text(person.get("linkedin_url")),
        "location": location,
        "company_name": _text(person.get("company_name")) or _text(organization.get("name")),
        "company_domain": domain,
        "source_detail": _text(person.get("source_detail")),
    }
    return {key: value for key, value in data.items() if value}


# --- services -------------------------------------------------------------------------------------------------


def discovery_source_problems() -> dict[str, str]:
    """Each source's reason it cannot run for the current organisation ("" when it can)."""
    pipeline_settings = PipelineSettings.objects.filter().first()
    return {key: source.unavailable(pipeline_settings) for key, source in SOURCES.items()}


def discovery_sources_check(*, sources: list[str]) -> list[str]:
    """The requested sources, cleaned; ValidationError naming what is unknown or not set up for this org."""
    wanted = list(dict.fromkeys(s.strip().lower() for s in sources if s and s.strip()))
    if not wanted:
        raise ValidationError({"sources": f"Choose at least one source: {', '.join(SOURCES)}."})
    unknown = [s for s in wanted if s not in SOURCES]
    if unknown:
        raise ValidationError(
            {"sources": f"Unknown source(s): {', '.join(unknown)}. Available: {', '.join(SOURCES)}."}
        )
    pipeline_settings = PipelineSettings.objects.filter().first()
    missing = [f"{s} {why}" for s in wanted if (why := SOURCES[s].unavailable(pipeline_settings))]
    if missing:
        raise ValidationError({"sources": f"Not available: {'; '.join(missing)}."})
    return wanted


def discovery_run_create(
    *,
    org: Organization,
    icp: ICP,
    sources: list[str],
    max_prospects: int = 100,
    min_score: int = 0,
    actor: User | None = None,
) -> DiscoveryRun:
    """Record a run and queue it (after commit)."""
    cleaned = discovery_sources_check(sources=sources)
    if not 1 <= max_prospects <= MAX_PROSPECTS_LIMIT:
        raise ValidationError({"max_prospects": f"Must be between 1 and {MAX_PROSPECTS_LIMIT}."})
    if not 0 <= min_score <= 100:
        raise ValidationError({"min_score": "Must be between 0 and 100."})
    run = DiscoveryRun.objects.create(
        org=org,
        icp=icp,
        sources=cleaned,
        max_prospects=max_prospects,
        min_score=min_score,
        created_by=actor,
    )
    task_send_on_commit("prospects.discovery.tasks.discovery_run_task", org.pk, run.pk)
    return run


def _search(run: DiscoveryRun, pipeline_settings: PipelineSettings) -> tuple[list[dict[str, Any]], list[str]]:
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    for key in run.sources:
        remaining = run.max_prospects - len(results)
        if remaining <= 0:
            break
        source = SOURCES.get(key)
        if source is None:
            errors.append(f"{key}: unknown source")
            continue
        try:
            found = source.search(pipeline_settings, run.icp, remaining)
        except ProviderError as exc:
            if exc.retryable and not results:
                raise  # rate limited or down before anything was found: the task tries the run again later
            log.warning("discovery run %s: source %s failed: %s", run.pk, key, exc)
            errors.append(f"{key}: {exc}"[:500])
            continue
        except Exception as exc:  # a bug in one source fails that source, not the whole run
            log.warning("discovery run %s: source %s failed", run.pk, key, exc_info=True)
            errors.append(f"{key}: {exc}"[:500])
            continue
        results.extend(found[:remaining])
    return results, errors


def discovery_run_execute(*, discovery_run_id: int) -> DiscoveryRun | None:
    """Claim a queued run, search, upsert and send the prospects through the pipeline. Safe to call twice."""
    claimed = DiscoveryRun.objects.filter(pk=discovery_run_id, status=DiscoveryRunStatus.QUEUED).update(
        status=DiscoveryRunStatus.RUNNING
    )
    if not claimed:
        return None
    run = DiscoveryRun.objects.select_related("icp", "org").get(pk=discovery_run_id)
    pipeline_settings = PipelineSettings.objects.filter().first() or PipelineSettings(org=run.org)
    try:
        results, errors = _search(run, pipeline_settings)
    except ProviderError:
        DiscoveryRun.objects.filter(pk=run.pk, status=DiscoveryRunStatus.RUNNING).update(
            status=DiscoveryRunStatus.QUEUED
        )
        raise
    prospect_ids: list[int] = []
    for person in results:
        data = prospect_data_from_result(person)
        if not (data.get("email") or data.get("linkedin_url")):
            continue  # nothing to deduplicate on: a search hit without an address is not a prospect yet
        try:
            upserted = prospect_upsert(org=run.org, data=data, source=Source.DISCOVERY, update_existing=False)
        except ValidationError as exc:
            errors.append(f"{data.get('email') or data.get('linkedin_url')}: {'; '.join(exc.messages)}"[:300])
            continue
        if upserted.prospect is not None and upserted.prospect.pk not in prospect_ids:
            prospect_ids.append(upserted.prospect.pk)
    update: dict[str, Any] = {"discovered": len(prospect_ids), "error": "\n".join(errors)[:4000]}
    if not prospect_ids:
        update.update(
            status=DiscoveryRunStatus.FAILED if errors else DiscoveryRunStatus.DONE,
            finished_at=timezone.now(),
        )
    DiscoveryRun.objects.filter(pk=run.pk).update(**update)
    if prospect_ids:
        pipeline_enqueue(org_id=run.org_id, prospect_ids=prospect_ids, discovery_run_id=run.pk)
    run.refresh_from_db()
    return run


def discovery_run_fail(*, org_id: int, discovery_run_id: int, error: str) -> None:
    with org_scope(org_id):
        DiscoveryRun.objects.filter(
            pk=discovery_run_id, status__in=[DiscoveryRunStatus.QUEUED, DiscoveryRunStatus.RUNNING]
        ).update(status=DiscoveryRunStatus.FAILED, error=error[:4000], finished_at=timezone.now())


# --- selectors ------------------------------------------------------------------------------------------------
