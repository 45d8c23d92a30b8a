"""Enrichment: what we can learn about a prospect and its company, where each fact came from, and what it cost.

The waterfall: the company's own website first (free: title, description, about text, technologies, social links,
through the SSRF guard), then the built-in email check (syntax, MX, role, disposable), then the paid providers the
organisation has a key for, in `settings.ENRICHMENT_PROVIDER_ORDER`, each asked only for fields still missing. A
field takes the first value found; values people typed are never overwritten, values enrichment wrote are refreshed
when the data is older than the org's freshness setting.

Every call lands in EnrichmentLog (provider, operation, fields gained, cost, latency, error). Paid calls reserve
their price against the org's monthly budget under a row lock before leaving, so parallel workers cannot overspend;
when the budget is spent paid calls stop and the admins hear about it once that month. A provider that is rate
limited or down never holds the prospect back: the prospect moves on with what we have and a retry task on the
`enrich` queue asks that provider again later (exponential backoff, honouring Retry-After).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.utils import timezone

from leadgen.emailcheck import check_email
from leadgen.tasks import task_send_on_commit
from leadgen.webfetch import SiteFacts, fetch_company_site
from prospects.models import Company, EnrichmentLog, PipelineSettings, Prospect, Stage
from prospects.scoring.enrichment import providers
from prospects.scoring.enrichment.budget import (
    TRANSIENT_PREFIX,
    budget_refund,
    budget_reserve,
    pipeline_settings_for,
    provider_key,
)
from prospects.scoring.enrichment.providers import (
    APOLLO,
    HUNTER,
    HUNTER_EMAIL_STATUS,
    PDL,
    PROVIDER_LABELS,
    ProviderError,
    ProviderResult,
    ProviderTransientError,
)
from prospects.services import activity_record, company_for_domain

log = logging.getLogger(__name__)

WEBSITE = "website"
EMAIL_CHECK = "email_check"
QUOTE_CHARS = 300

# Company columns enrichment may fill, and the Prospect columns.
COMPANY_FIELDS = (
    "name",
    "description",
    "industry",
    "employee_count",
    "location",
    "technologies",
    "linkedin_url",
    "funding_stage",
    "social_links",
    "about_text",
    "website",
)
PROSPECT_FIELDS = ("title", "seniority", "department", "linkedin_url", "location", "phone")


class EnrichmentDeferred(Exception):
    """A provider call is still pending after this attempt (rate limited or down)."""


@dataclass
class EnrichmentOutcome:
    prospect_id: int
    skipped: str = ""  # why nothing ran: "gone" | "fresh"
    gained: dict[str, str] = field(default_factory=dict)  # "company.industry" -> provider
    errors: list[str] = field(default_factory=list)
    deferred: dict[str, float | None] = field(default_factory=dict)  # "apollo.people_match" -> retry after
    budget_exhausted: bool = False
    enriched: bool = False


# -- the run -----------------------------------------------------------------------------------------------------


class _Run:
    """One enrichment pass over one prospect (and its company)."""

    def __init__(self, prospect: Prospect, pipeline_settings: PipelineSettings, *, force: bool) -> None:
        self.prospect = prospect
        self.company: Company | None = prospect.company
        self.pipeline_settings = pipeline_settings
        self.force = force
        self.started = timezone.now()
        self.cutoff = self.started - timedelta(days=pipeline_settings.freshness_days)
        self.outcome = EnrichmentOutcome(prospect_id=prospect.pk)
        self.company_filled: set[str] = set()
        self.company_dirty: set[str] = set()
        self.prospect_dirty: set[str] = set()
        company = self.company
        self.refresh_company = company is not None and (
            force or company.enriched_at is None or company.enriched_at < self.cutoff
        )
        # Fields enrichment wrote before (they have a fact); the rest of the filled fields were typed by people.
        self.owned = {str(fact.get("field", "")) for fact in (company.facts if company else []) or []}

    # missing fields ----------------------------------------------------------------------------------------------

    def company_missing(self, name: str) -> bool:
        if self.company is None:
            return False
        if name in self.company_filled:
            return False
        value = getattr(self.company, name)
        if value in (None, "", [], {}):
            return True
        return self.refresh_company and name in self.owned

    def prospect_missing(self, name: str) -> bool:
        return getattr(self.prospect, name) in (None, "")

    def missing(self, qualified: str) -> bool:
        kind, _, name = qualified.partition(".")
        if kind == "company":
            return self.company_missing(name)
        if name == "email_verification":
            return bool(self.prospect.email) and "provider" not in (self.prospect.email_check or {})
        return self.prospect_missing(name)

    # writes ------------------------------------------------------------------------------------------------------

    def set_company(self, name: str, value: Any, *, source: str, url: str, quote: str) -> bool:
        company = self.company
        if company is None or not self.company_missing(name):
            return False
        if name == "employee_count":
            try:
                value = int(value)
            except (TypeError, ValueError):
                return False
        if name == "technologies":
            value = [str(item)[:80] for item in value][:50]
        if isinstance(value, str):
            limit = getattr(company._meta.get_field(name), "max_length", None)
            value = value.strip()[:limit] if limit else value.strip()
        setattr(company, name, value)
        company.facts = [fact for fact in company.facts or [] if fact.get("field") != name]
        self.company_filled.add(name)
        self.company_dirty.update({name, "facts"})
        self.add_fact(name, value, source=source, url=url, quote=quote)
        self.outcome.gained[f"company.{name}"] = source
        return True

    def add_fact(self, name: str, value: Any, *, source: str, url: str, quote: str) -> None:
        assert self.company is not None
        self.company.facts = [
            *(self.company.facts or []),
            {"field": name, "value": value, "source": source, "url": url, "quote": quote[:QUOTE_CHARS]},
        ]
        self.company_dirty.add("facts")

    def set_prospect(self, name: str, value: Any, *, source: str) -> bool:
        if not self.prospect_missing(name) or value in (None, ""):
            return False
        text = str(value).strip()
        limit = getattr(Prospect._meta.get_field(name), "max_length", None)
        setattr(self.prospect, name, text[:limit] if limit else text)
        self.prospect_dirty.add(name)
        self.outcome.gained[f"prospect.{name}"] = source
        return True

    def apply(self, result: ProviderResult) -> list[str]:
        gained = []
        for item in result.found:
            kind, _, name = item.field.partition(".")
            if kind == "company" and name in COMPANY_FIELDS:
                if self.set_company(
                    name, item.value, source=result.provider, url=result.url, quote=item.quote
                ):
                    gained.append(item.field)
            elif kind == "prospect" and name in PROSPECT_FIELDS:
                if self.set_prospect(name, item.value, source=result.provider):
                    gained.append(item.field)
            elif item.field == "prospect.email_verification":
                verdict = HUNTER_EMAIL_STATUS.get(str(item.value), "risky")
                check = dict(self.prospect.email_check or {})
                check["provider"] = {
                    "name": result.provider,
                    "status": item.value,
                    "checked_at": _iso(self.started),
                }
                self.prospect.email_check = check
                # A built-in "invalid" (no MX, disposable) is certain; otherwise the SMTP-level answer is better.
                if self.prospect.email_status != "invalid":
                    self.prospect.email_status = verdict
                self.prospect_dirty.update({"email_check", "email_status"})
                self.outcome.gained[item.field] = result.provider
                gained.append(item.field)
        self.save()
        return gained

    def save(self) -> None:
        if self.company is not None and self.company_dirty:
            self.company.save(update_fields=[*sorted(self.company_dirty), "updated_at"])
            self.company_dirty.clear()
        if self.prospect_dirty:
            self.prospect.updated_at = timezone.now()
            self.prospect.save(update_fields=[*sorted(self.prospect_dirty), "updated_at"])
            self.prospect_dirty.clear()

    # steps -------------------------------------------------------------------------------------------------------

    def website(self) -> None:
        company = self.company
        if company is None or not company.domain or not self.refresh_company:
            return
        started = time.monotonic()
        facts = fetch_company_site(company.domain)
        latency_ms = int((time.monotonic() - started) * 1000)
        gained = self.apply_site(facts)
        error = "" if facts.pages_fetched or facts.homepage_url else "; ".join(facts.errors)[:500]
        if error:
            self.outcome.errors.append(f"website: {error}")
        EnrichmentLog.objects.create(
            org_id=self.prospect.org_id,
            prospect=self.prospect,
            company=company,
            provider=WEBSITE,
            operation="homepage_about",
            fields_gained=gained,
            latency_ms=latency_ms,
            error=error,
        )

    def apply_site(self, facts: SiteFacts) -> list[str]:
        company = self.company
        assert company is not None
        if not facts.homepage_url:
            return []
        # The site's own facts replace what an earlier website pass stored.
        company.facts = [fact for fact in company.facts or [] if fact.get("source") != WEBSITE]
        self.company_dirty.add("facts")
        gained: list[str] = []

        def quote_for(kind: str, default: str) -> tuple[str, str]:
            evidence = facts.evidence_for(kind)
            return (evidence[0].url, evidence[0].text) if evidence else (facts.homepage_url, default)

        if facts.title:
            url, quote = quote_for("title", facts.title)
            self.add_fact("title", facts.title, source=WEBSITE, url=url, quote=quote)
        for name, value, kind in (
            ("description", facts.description, "description"),
            ("about_text", facts.about_text, "about"),
        ):
            if value:
                url, quote = quote_for(kind, value)
                if self.set_company(name, value, source=WEBSITE, url=url, quote=quote):
                    gained.append(f"company.{name}")
        if self.company_missing("website"):
            url = facts.homepage_url
            if self.set_company("website", url, source=WEBSITE, url=url, quote=url):
                gained.append("company.website")
        if facts.technologies:
            technologies = list(facts.technologies)
            if self.company_missing("technologies"):
                self.company_filled.add("technologies")
                company.technologies = technologies
                self.company_dirty.add("technologies")
                company.facts = [f for f in company.facts if f.get("field") != "technologies"]
                self.outcome.gained["company.technologies"] = WEBSITE
                gained.append("company.technologies")
            for evidence in facts.evidence_for("technology"):
                name = evidence.text.split(":", 1)[0]
                self.add_fact("technologies", name, source=WEBSITE, url=evidence.url, quote=evidence.text)
        if facts.social_links:
            if self.company_missing("social_links"):
                company.social_links = dict(facts.social_links)
                self.company_filled.add("social_links")
                self.company_dirty.add("social_links")
                company.facts = [f for f in company.facts if f.get("field") != "social_links"]
                self.outcome.gained["company.social_links"] = WEBSITE
                gained.append("company.social_links")
            for evidence in facts.evidence_for("social"):
                self.add_fact(
                    "social_links", evidence.text, source=WEBSITE, url=evidence.url, quote=evidence.text
                )
            linkedin = facts.social_links.get("linkedin")
            if linkedin and self.set_company(
                "linkedin_url", linkedin, source=WEBSITE, url=facts.homepage_url, quote=linkedin
            ):
                gained.append("company.linkedin_url")
        self.save()
        return gained

    def email(self) -> None:
        prospect = self.prospect
        if not prospect.email:
            return
        started = time.monotonic()
        check = check_email(prospect.email)
        latency_ms = int((time.monotonic() - started) * 1000)
        previous_provider = (prospect.email_check or {}).get("provider")
        prospect.email_check = {**check.as_dict(), "checked_at": _iso(self.started)}
        if previous_provider and not self.force:
            prospect.email_check["provider"] = previous_provider
        prospect.email_status = check.verdict
        self.prospect_dirty.update({"email_check", "email_status"})
        self.outcome.gained["prospect.email_status"] = EMAIL_CHECK
        self.save()
        EnrichmentLog.objects.create(
            org_id=prospect.org_id,
            prospect=prospect,
            provider=EMAIL_CHECK,
            operation="syntax_mx",
            fields_gained=["prospect.email_status"],
            latency_ms=latency_ms,
        )

    def paid(self, *, providers_only: set[str] | None = None) -> None:
        if self.pipeline_settings.monthly_budget_usd <= 0:
            return
        order = [p for p in getattr(settings, "ENRICHMENT_PROVIDER_ORDER", providers.PAID_PROVIDERS)]
        for provider in order:
            api_key = provider_key(self.pipeline_settings, provider)
            if not api_key:
                continue
            for operation, wanted, call in self.operations(provider, api_key):
                if providers_only is not None and f"{provider}.{operation}" not in providers_only:
                    continue
                if not any(self.missing(name) for name in wanted):
                    continue
                if self.outcome.budget_exhausted:
                    return
                self.call(provider, operation, call)

    def operations(
        self, provider: str, api_key: str
    ) -> list[tuple[str, tuple[str, ...], Callable[[], ProviderResult]]]:
        """(operation, fields that make it worth calling, the call) for one provider, in the order to try them."""
        prospect, company = self.prospect, self.company
        domain = company.domain if company is not None else ""
        company_wanted = tuple(
            f"company.{name}"
            for name in ("name", "description", "industry", "employee_count", "location", "technologies")
        )
        person_wanted = tuple(
            f"prospect.{name}" for name in ("title", "seniority", "department", "linkedin_url")
        )
        found: list[tuple[str, tuple[str, ...], Callable[[], ProviderResult]]] = []
        if provider == HUNTER:
            hunter = providers.Hunter(api_key=api_key)
            if domain:

                def domain_search() -> ProviderResult:
                    result = hunter.domain_search(domain=domain)
                    if prospect.email:
                        hunter.person_from_domain_search(result, email=prospect.email)
                    return result

                found.append(("domain_search", company_wanted, domain_search))
            if prospect.email and prospect.email_status != "invalid":
                found.append(
                    (
                        "email_verifier",
                        ("prospect.email_verification",),
                        partial(hunter.email_verifier, email=prospect.email),
                    )
                )
        elif provider == APOLLO:
            apollo = providers.Apollo(api_key=api_key)
            if domain:
                found.append(
                    (
                        "organization_enrich",
                        (*company_wanted, "company.funding_stage"),
                        partial(apollo.organization_enrich, domain=domain),
                    )
                )
            if prospect.email or prospect.linkedin_url or (prospect.last_name and domain):
                found.append(
                    (
                        "people_match",
                        person_wanted,
                        partial(
                            apollo.people_match,
                            email=prospect.email,
                            first_name=prospect.first_name,
                            last_name=prospect.last_name,
                            domain=domain or "",
                            organization_name=prospect.company_name,
                            linkedin_url=prospect.linkedin_url,
                        ),
                    )
                )
        elif provider == PDL and domain:
            pdl = providers.PeopleDataLabs(api_key=api_key)
            found.append(
                (
                    "company_enrich",
                    (*company_wanted, "company.funding_stage"),
                    partial(pdl.company_enrich, domain=domain),
                )
            )
        return found

    def call(self, provider: str, operation: str, call: Callable[[], ProviderResult]) -> None:
        entry = budget_reserve(
            pipeline_settings=self.pipeline_settings,
            provider=provider,
            operation=operation,
            prospect=self.prospect,
            company=self.company,
        )
        if entry is None:
            self.outcome.budget_exhausted = True
            return
        started = time.monotonic()
        try:
            result = call()
        except ProviderTransientError as exc:
            budget_refund(entry)
            entry.latency_ms = int((time.monotonic() - started) * 1000)
            wait = f", retry in {exc.retry_after:.0f}s" if exc.retry_after is not None else ""
            entry.error = f"{TRANSIENT_PREFIX}{exc.message}{wait}"[:500]
            entry.save(update_fields=["cost_usd", "latency_ms", "error"])
            self.outcome.deferred[f"{provider}.{operation}"] = exc.retry_after
            self.outcome.errors.append(str(exc))
            return
        except ProviderError as exc:
            budget_refund(entry)
            entry.latency_ms = int((time.monotonic() - started) * 1000)
            entry.error = str(exc)[:500]
            entry.save(update_fields=["cost_usd", "latency_ms", "error"])
            self.outcome.errors.append(str(exc))
            return
        gained = self.apply(result)
        entry.fields_gained = gained
        entry.latency_ms = result.latency_ms or int((time.monotonic() - started) * 1000)
        entry.error = ""
        if not result.billable:
            budget_refund(entry)
        entry.save(update_fields=["fields_gained", "latency_ms", "error", "cost_usd"])

    def finish(self) -> None:
        now = timezone.now()
        self.prospect.enriched_at = now
        self.prospect_dirty.add("enriched_at")
        if self.company is not None and self.refresh_company:
            self.company.enriched_at = now
            self.company_dirty.add("enriched_at")
        self.save()
        self.outcome.enriched = True
        _mark_enriched(self.prospect, self.outcome)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _mark_enriched(prospect: Prospect, outcome: EnrichmentOutcome) -> None:
    """new → enriched (a conditional UPDATE, so a second run changes nothing) and a line on the timeline."""
    moved = Prospect.objects.filter(pk=prospect.pk, stage=Stage.NEW).update(
        stage=Stage.ENRICHED, updated_at=timezone.now()
    )
    if moved:
        prospect.stage = Stage.ENRICHED
        activity_record(
            prospect=prospect,
            kind="stage_changed",
            summary=f"Stage {Stage.NEW.label} → {Stage.ENRICHED.label} (enrichment)",
            data={"from": Stage.NEW, "to": Stage.ENRICHED},
        )
    gained = [
        f"{name.split('.', 1)[1].replace('_', ' ')} ({PROVIDER_LABELS.get(source, source)})"
        for name, source in outcome.gained.items()
        if source not in (EMAIL_CHECK,)
    ]
    if gained:
        activity_record(
            prospect=prospect,
            kind="enriched",
            summary="Enriched: " + ", ".join(gained),
            data={"gained": outcome.gained},
        )


def _load(prospect_id: int) -> Prospect | None:
    prospect = Prospect.objects.select_related("company").filter(pk=prospect_id).first()
    if prospect is None:
        return None
    if prospect.company is None and prospect.company_domain:
        company = company_for_domain(
            org_id=prospect.org_id, domain=prospect.company_domain, name=prospect.company_name
        )
        if company is not None:
            prospect.company = company
            prospect.save(update_fields=["company"])
    return prospect


def prospect_enrich(
    *, prospect_id: int, force: bool = False, schedule_retries: bool = True
) -> EnrichmentOutcome:
    """Enrich one prospect of the current organisation; see the module docstring for the order of sources.

    Skips everything when the prospect was enriched within the org's freshness window (unless `force`). A paid
    provider that is rate limited or down is logged and skipped; with `schedule_retries` a retry task asks it again
    later, so the prospect never waits for it.
    """
    prospect = _load(prospect_id)
    if prospect is None:
        return EnrichmentOutcome(prospect_id=prospect_id, skipped="gone")
    pipeline_settings = pipeline_settings_for(org_id=prospect.org_id)
    cutoff = timezone.now() - timedelta(days=pipeline_settings.freshness_days)
    if not force and prospect.enriched_at is not None and prospect.enriched_at >= cutoff:
        outcome = EnrichmentOutcome(prospect_id=prospect.pk, skipped="fresh")
        _mark_enriched(prospect, outcome)
        return outcome
    run = _Run(prospect, pipeline_settings, force=force)
    run.website()
    run.email()
    run.paid()
    run.finish()
    if run.outcome.deferred and schedule_retries:
        enrich_retry_schedule(
            org_id=prospect.org_id, prospect_id=prospect.pk, deferred=run.outcome.deferred, attempt=0
        )
    return run.outcome


def prospect_enrich_request(*, prospect: Prospect) -> None:
    """ "Enrich now" on the prospect page: a forced run, queued after commit."""
    task_send_on_commit("prospects.scoring.tasks.prospect_enrich_task", prospect.org_id, prospect.pk, True)


def prospect_enrich_retry(*, prospect_id: int, operations: list[str]) -> EnrichmentOutcome:
    """Ask again the provider operations ("apollo.people_match") that were rate limited or down.

    Fields filled meanwhile (by another provider or a person) are not asked for again. Raises nothing for provider
    trouble: `outcome.deferred` says what is still pending, so the caller decides whether to try once more.
    """
    prospect = _load(prospect_id)
    if prospect is None:
        return EnrichmentOutcome(prospect_id=prospect_id, skipped="gone")
    run = _Run(prospect, pipeline_settings_for(org_id=prospect.org_id), force=False)
    # This pass only fills gaps: what enrichment stored before stays.
    run.refresh_company = False
    run.paid(providers_only=set(operations))
    run.save()
    if run.outcome.gained:
        _mark_enriched(prospect, run.outcome)
    return run.outcome


def retry_countdown(*, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff from settings.ENRICH_RETRY_BACKOFF, never sooner than the provider asked."""
    base = float(getattr(settings, "ENRICH_RETRY_BACKOFF", 30))
    cap = float(getattr(settings, "ENRICH_RETRY_BACKOFF_MAX", 1800))
    return min(max(base * (2**attempt), retry_after or 0.0), cap)


def enrich_retry_schedule(
    *, org_id: int, prospect_id: int, deferred: dict[str, float | None], attempt: int
) -> None:
    waits = [wait for wait in deferred.values() if wait is not None]
    countdown = retry_countdown(attempt=attempt, retry_after=max(waits) if waits else None)
    operations = sorted(deferred)
    task_send_on_commit(
        "prospects.scoring.tasks.prospect_enrich_retry_task",
        org_id,
        prospect_id,
        operations,
        kwargs={"attempt": attempt + 1},
        countdown=countdown,
    )


def enrich_retry_give_up(*, prospect_id: int, operations: list[str], attempts: int, error: str) -> None:
    """Retries spent: say so in the log, next to the attempts. The prospect went on down the pipeline long ago."""
    prospect = Prospect.objects.filter(pk=prospect_id).only("pk", "org_id", "company_id").first()
    if prospect is None:
        return
    EnrichmentLog.objects.bulk_create(
        [
            EnrichmentLog(
                org_id=prospect.org_id,
                prospect_id=prospect.pk,
                company_id=prospect.company_id,
                provider=operation.split(".", 1)[0],
                operation=operation.split(".", 1)[1] if "." in operation else operation,
                error=f"gave up after {attempts} attempts: {error}"[:500],
            )
            for operation in operations
        ]
    )
