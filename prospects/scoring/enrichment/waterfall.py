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
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from leadgen.emailcheck import check_email
from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import org_scope
from leadgen.webfetch import SiteFacts, fetch_company_site
from prospects.models import Activity, Company, EnrichmentLog, PipelineSettings, Prospect, Stage
from prospects.scoring.bulk import rows_update
from prospects.scoring.enrichment import providers
from prospects.scoring.enrichment.budget import (
    IN_FLIGHT,
    TRANSIENT_PREFIX,
    BudgetBlock,
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
from prospects.services import company_for_domain

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

    def __init__(self, prospect: Prospect, batch: _Batch, *, force: bool) -> None:
        pipeline_settings = batch.pipeline_settings
        self.batch = batch
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
        """Hand the changed columns to the batch, which writes them once at its end."""
        if self.company is not None and self.company_dirty:
            self.batch.company_changed(self.company, self.company_dirty)
            self.company_dirty = set()
        if self.prospect_dirty:
            self.batch.prospect_changed(self.prospect, self.prospect_dirty)
            self.prospect_dirty = set()

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
        self.batch.log(
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
        self.batch.log(
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
        """One paid call: its price comes out of the batch's budget block first, its log row goes to the batch."""
        price = providers.price_usd(provider, operation)
        if not self.batch.budget.take(price):
            self.outcome.budget_exhausted = True
            return
        entry = EnrichmentLog(
            org_id=self.prospect.org_id,
            prospect=self.prospect,
            company=self.company,
            provider=provider,
            operation=operation,
            cost_usd=price,
        )
        started = time.monotonic()
        try:
            result = call()
        except ProviderTransientError as exc:
            wait = f", retry in {exc.retry_after:.0f}s" if exc.retry_after is not None else ""
            self._unbilled(entry, started, f"{TRANSIENT_PREFIX}{exc.message}{wait}")
            self.outcome.deferred[f"{provider}.{operation}"] = exc.retry_after
            self.outcome.errors.append(str(exc))
            return
        except ProviderError as exc:
            self._unbilled(entry, started, str(exc))
            self.outcome.errors.append(str(exc))
            return
        except BaseException:
            # Not the provider's answer (a bug, the task's time limit): the price stays counted, as it may be billed.
            self.batch.add_log(entry, latency_ms=int((time.monotonic() - started) * 1000), error=IN_FLIGHT)
            raise
        gained = self.apply(result)
        if not result.billable:
            self.batch.budget.release(price)
            entry.cost_usd = Decimal("0")
        entry.fields_gained = gained
        self.batch.add_log(entry, latency_ms=result.latency_ms or int((time.monotonic() - started) * 1000))

    def _unbilled(self, entry: EnrichmentLog, started: float, error: str) -> None:
        self.batch.budget.release(entry.cost_usd)
        entry.cost_usd = Decimal("0")
        self.batch.add_log(entry, latency_ms=int((time.monotonic() - started) * 1000), error=error[:500])

    def finish(self) -> None:
        now = timezone.now()
        self.prospect.enriched_at = now
        self.prospect_dirty.add("enriched_at")
        if self.company is not None and self.refresh_company:
            self.company.enriched_at = now
            self.company_dirty.add("enriched_at")
        self.save()
        self.outcome.enriched = True
        self.batch.mark_enriched(self.prospect, self.outcome)

    def paid_plan(self) -> list[tuple[str, str, bool]]:
        """(provider, operation, is a company call) this run may pay for, judged before it starts: the batch's
        budget plan. A company call is made by the first of its people only, so the batch counts it once."""
        if self.pipeline_settings.monthly_budget_usd <= 0:
            return []
        plan = []
        for provider in getattr(settings, "ENRICHMENT_PROVIDER_ORDER", providers.PAID_PROVIDERS):
            api_key = provider_key(self.pipeline_settings, provider)
            if not api_key:
                continue
            for operation, wanted, _call in self.operations(provider, api_key):
                if any(self.missing(name) for name in wanted):
                    plan.append((provider, operation, operation in COMPANY_OPERATIONS))
        return plan


# Paid operations about the company (made once per company and batch), as opposed to the person.
COMPANY_OPERATIONS = ("domain_search", "organization_enrich", "company_enrich")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


class _Batch:
    """What the runs of one batch write, gathered and written at its end in a handful of statements.

    Per prospect the waterfall used to write ~20 times (a locked budget reservation and a log row per call, the
    prospect and company after each provider, the stage, two timeline lines). Here the log rows are one
    bulk_create, the prospects one bulk_update per set of changed columns, each company one UPDATE, the stage move
    one conditional UPDATE and the timeline one bulk_create, all in one transaction with the budget's settlement.
    Threads of one batch share it (each enriches other companies), so the collecting methods take a lock.
    """

    def __init__(self, pipeline_settings: PipelineSettings) -> None:
        self.pipeline_settings = pipeline_settings
        self.budget = BudgetBlock(pipeline_settings)
        self.logs: list[EnrichmentLog] = []
        self.prospects: dict[int, tuple[Prospect, set[str]]] = {}
        self.companies: dict[int, tuple[Company, set[str]]] = {}
        self.enriched: list[tuple[Prospect, EnrichmentOutcome]] = []
        self._lock = threading.Lock()

    def log(self, **values: Any) -> None:
        with self._lock:
            self.logs.append(EnrichmentLog(**values))

    def add_log(self, entry: EnrichmentLog, *, latency_ms: int, error: str = "") -> None:
        entry.latency_ms, entry.error = latency_ms, error
        with self._lock:
            self.logs.append(entry)

    def prospect_changed(self, prospect: Prospect, fields: set[str]) -> None:
        with self._lock:
            self.prospects.setdefault(prospect.pk, (prospect, set()))[1].update(fields)

    def company_changed(self, company: Company, fields: set[str]) -> None:
        with self._lock:
            self.companies.setdefault(company.pk, (company, set()))[1].update(fields)

    def mark_enriched(self, prospect: Prospect, outcome: EnrichmentOutcome) -> None:
        with self._lock:
            self.enriched.append((prospect, outcome))

    def flush(self) -> None:
        """Write everything the batch gathered; the budget reservation is settled in the same transaction."""
        try:
            with transaction.atomic():
                for company, fields in self.companies.values():
                    company.save(update_fields=[*sorted(fields), "updated_at"])
                self._prospects_write()
                EnrichmentLog.objects.bulk_create(self.logs, batch_size=1000)
                self.budget.settle()
                self._stage_and_timeline()
        except BaseException:
            self.budget.forget_counter()
            raise
        self.logs, self.prospects, self.companies, self.enriched = [], {}, {}, []

    def _prospects_write(self) -> None:
        """One bulk_update per set of changed columns: only what enrichment changed is written, as before."""
        now = timezone.now()
        by_fields: dict[tuple[str, ...], list[Prospect]] = defaultdict(list)
        for prospect, fields in self.prospects.values():
            prospect.updated_at = now
            by_fields[(*sorted(fields), "updated_at")].append(prospect)
        for columns, rows in by_fields.items():
            rows_update(Prospect, rows, columns)

    def _stage_and_timeline(self) -> None:
        """new → enriched for the batch (a conditional UPDATE under row locks, so a second run changes nothing) and
        the timeline lines, stage change first, as one prospect at a time wrote them."""
        if not self.enriched:
            return
        ids = [prospect.pk for prospect, _outcome in self.enriched]
        moving = set(
            Prospect.objects.select_for_update()
            .filter(pk__in=ids, stage=Stage.NEW)
            .values_list("pk", flat=True)
        )
        if moving:
            Prospect.objects.filter(pk__in=moving).update(stage=Stage.ENRICHED, updated_at=timezone.now())
        activities: list[Activity] = []
        for prospect, outcome in self.enriched:
            if prospect.pk in moving:
                prospect.stage = Stage.ENRICHED
                activities.append(
                    Activity(
                        org_id=prospect.org_id,
                        prospect=prospect,
                        kind="stage_changed",
                        summary=f"Stage {Stage.NEW.label} → {Stage.ENRICHED.label} (enrichment)",
                        data={"from": Stage.NEW, "to": Stage.ENRICHED},
                    )
                )
            gained = [
                f"{name.split('.', 1)[1].replace('_', ' ')} ({PROVIDER_LABELS.get(source, source)})"
                for name, source in outcome.gained.items()
                if source not in (EMAIL_CHECK,)
            ]
            if gained:
                activities.append(
                    Activity(
                        org_id=prospect.org_id,
                        prospect=prospect,
                        kind="enriched",
                        summary=("Enriched: " + ", ".join(gained))[:500],
                        data={"gained": outcome.gained},
                    )
                )
        Activity.objects.bulk_create(activities)


def _load(prospect_ids: Sequence[int]) -> list[Prospect]:
    """The batch's prospects in one query, each company one shared object (its people see each other's work); a
    prospect with a domain but no company gets the org's company for it (one lookup per domain)."""
    prospects = list(Prospect.objects.select_related("company").filter(pk__in=list(prospect_ids)))
    order = {pk: index for index, pk in enumerate(prospect_ids)}
    prospects.sort(key=lambda p: order.get(p.pk, 0))
    companies: dict[Any, Company | None] = {}
    linked: list[Prospect] = []
    for prospect in prospects:
        if prospect.company is not None:
            prospect.company = companies.setdefault(prospect.company_id, prospect.company)
        elif prospect.company_domain:
            key = ("domain", prospect.company_domain)
            if key not in companies:
                companies[key] = company_for_domain(
                    org_id=prospect.org_id, domain=prospect.company_domain, name=prospect.company_name
                )
            company = companies[key]
            if company is not None:
                company = companies.setdefault(company.pk, company)
                prospect.company = company
                linked.append(prospect)
    if linked:
        rows_update(Prospect, linked, ["company"])
    return prospects


@dataclass
class BatchOutcome:
    outcomes: dict[int, EnrichmentOutcome] = field(default_factory=dict)
    failed: dict[int, BaseException] = field(default_factory=dict)


def _enrich_one(prospect: Prospect, batch: _Batch, *, force: bool, cutoff: datetime) -> EnrichmentOutcome:
    if not force and prospect.enriched_at is not None and prospect.enriched_at >= cutoff:
        outcome = EnrichmentOutcome(prospect_id=prospect.pk, skipped="fresh")
        batch.mark_enriched(prospect, outcome)
        return outcome
    run = _Run(prospect, batch, force=force)
    try:
        run.website()
        run.email()
        run.paid()
        run.finish()
    finally:
        run.save()  # what a failed run changed is kept, as when each provider's answer was saved at once
    return run.outcome


def _enrich_group(
    prospects: list[Prospect], batch: _Batch, result: BatchOutcome, *, force: bool, cutoff: datetime
) -> None:
    """People of one company, one after another (the first enriches the company, the rest reuse it)."""
    for prospect in prospects:
        try:
            result.outcomes[prospect.pk] = _enrich_one(prospect, batch, force=force, cutoff=cutoff)
        except SoftTimeLimitExceeded:
            raise  # the task is out of time: the whole batch is recorded as failed and moves on
        except Exception as exc:  # one prospect's failure must not stop the others
            log.warning("enrich of prospect %s failed", prospect.pk, exc_info=True)
            result.failed[prospect.pk] = exc


def _enrich_group_in_thread(
    org_id: int,
    prospects: list[Prospect],
    *,
    batch: _Batch,
    result: BatchOutcome,
    force: bool,
    cutoff: datetime,
) -> None:
    with org_scope(org_id):
        try:
            _enrich_group(prospects, batch, result, force=force, cutoff=cutoff)
        finally:
            connections.close_all()  # this thread's own connection


def _budget_plan(runs_of: list[Prospect], batch: _Batch, *, force: bool) -> Decimal:
    """What the batch may spend: each person's calls, and each company's calls once."""
    total = Decimal("0")
    seen: set[tuple[Any, str, str]] = set()
    for prospect in runs_of:
        for provider, operation, per_company in _Run(prospect, batch, force=force).paid_plan():
            key = (prospect.company_id if per_company else ("p", prospect.pk), provider, operation)
            if key not in seen:
                seen.add(key)
                total += providers.price_usd(provider, operation)
    return total


def prospects_enrich(
    *, prospect_ids: Sequence[int], force: bool = False, schedule_retries: bool = True, threads: int = 1
) -> BatchOutcome:
    """Enrich a batch of the current organisation's prospects (see the module docstring for the order of sources).

    Skips a prospect enriched within the org's freshness window (unless `force`). Companies are enriched in
    parallel threads (`threads`), each company's people one after another; everything the batch learnt is
    written at its end (`_Batch`). A paid provider that is rate limited or down is logged and skipped; with
    `schedule_retries` a retry task asks it again later, so the prospect never waits for it.
    """
    result = BatchOutcome()
    prospects = _load(prospect_ids)
    for pk in set(prospect_ids) - {p.pk for p in prospects}:
        result.outcomes[pk] = EnrichmentOutcome(prospect_id=pk, skipped="gone")
    if not prospects:
        return result
    pipeline_settings = pipeline_settings_for(org_id=prospects[0].org_id)
    batch = _Batch(pipeline_settings)
    cutoff = timezone.now() - timedelta(days=pipeline_settings.freshness_days)
    to_run = [p for p in prospects if force or p.enriched_at is None or p.enriched_at < cutoff]
    batch.budget.planned = _budget_plan(to_run, batch, force=force)
    groups: dict[Any, list[Prospect]] = defaultdict(list)
    for prospect in prospects:
        groups[prospect.company_id or f"p{prospect.pk}"].append(prospect)
    try:
        if threads <= 1 or len(groups) <= 1:
            for group in groups.values():
                _enrich_group(group, batch, result, force=force, cutoff=cutoff)
        else:
            work = partial(
                _enrich_group_in_thread,
                prospects[0].org_id,
                batch=batch,
                result=result,
                force=force,
                cutoff=cutoff,
            )
            with ThreadPoolExecutor(
                max_workers=min(threads, len(groups)), thread_name_prefix="enrich"
            ) as pool:
                list(pool.map(work, groups.values()))
    finally:
        batch.flush()
    if schedule_retries:  # after the batch's writes, so a retry starts from what this pass stored
        for pk, outcome in result.outcomes.items():
            if outcome.deferred:
                enrich_retry_schedule(
                    org_id=prospects[0].org_id, prospect_id=pk, deferred=outcome.deferred, attempt=0
                )
    return result


def prospect_enrich(
    *, prospect_id: int, force: bool = False, schedule_retries: bool = True
) -> EnrichmentOutcome:
    """Enrich one prospect of the current organisation: a batch of one (raises what its run raised)."""
    result = prospects_enrich(prospect_ids=[prospect_id], force=force, schedule_retries=schedule_retries)
    if prospect_id in result.failed:
        raise result.failed[prospect_id]
    return result.outcomes[prospect_id]


def prospect_enrich_request(*, prospect: Prospect) -> None:
    """ "Enrich now" on the prospect page: a forced run, queued after commit."""
    task_send_on_commit("prospects.scoring.tasks.prospect_enrich_task", prospect.org_id, prospect.pk, True)


def prospect_enrich_retry(*, prospect_id: int, operations: list[str]) -> EnrichmentOutcome:
    """Ask again the provider operations ("apollo.people_match") that were rate limited or down.

    Fields filled meanwhile (by another provider or a person) are not asked for again. Raises nothing for provider
    trouble: `outcome.deferred` says what is still pending, so the caller decides whether to try once more.
    """
    prospects = _load([prospect_id])
    if not prospects:
        return EnrichmentOutcome(prospect_id=prospect_id, skipped="gone")
    prospect = prospects[0]
    batch = _Batch(pipeline_settings_for(org_id=prospect.org_id))
    run = _Run(prospect, batch, force=False)
    # This pass only fills gaps: what enrichment stored before stays.
    run.refresh_company = False
    try:
        run.paid(providers_only=set(operations))
        run.save()
        if run.outcome.gained:
            batch.mark_enriched(prospect, run.outcome)
    finally:
        batch.flush()
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
