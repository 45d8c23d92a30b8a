"""The scoring pipeline: enrich → embed → qualify → route, one Celery task per step and batch.

Every prospect that enters the product (CSV import, API, form and ad webhooks, discovery runs) goes through
`prospects.scoring.intake`. Tasks carry ids and the org id only; each step calls an idempotent service (enrichment skips
fresh data, embedding skips unchanged text, qualification is cached by input hash), so running a batch twice costs
little and changes nothing. A step that fails for one prospect records the failure on its timeline and the later
steps still run with whatever exists: a prospect is never dropped on the way.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.db.models import F, Q
from django.utils import timezone

from leadgen.ai.errors import AIProviderError
from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import org_scope
from prospects.models import Activity, DiscoveryRun, DiscoveryRunStatus, Import, Prospect, Stage
from prospects.scoring.intake import pipeline_enqueue

log = logging.getLogger(__name__)

STEPS = ("enrich", "embed", "qualify", "route")
NEXT_TASK = {
    "enrich": "prospects.scoring.tasks.pipeline_embed_task",
    "embed": "prospects.scoring.tasks.pipeline_qualify_task",
    "qualify": "prospects.scoring.tasks.pipeline_route_task",
}
# Import completion reads the job's prospects in pages of this many ids (keyset on the updated_at index).
IMPORT_SCAN_PAGE = 10_000


def import_prospect_ids(*, job: Import) -> Iterator[list[int]]:
    """Pages of the ids an import created or updated: rows whose updated_at falls in the job's run window and
    that carry the job's id (`import_job_id` when it created them, `last_import_job_id` when it changed them).

    Keyset pages over the (org, updated_at, id) index, so a million-row import is read in bounded pieces; the job
    id leaves out a prospect someone else edited during the window (it used to cost an idempotent pass).
    """
    if job.started_at is None:
        return
    until = job.finished_at or timezone.now()
    after: tuple[datetime, int] | None = None
    written = Q(import_job_id=job.pk) | Q(last_import_job_id=job.pk)
    while True:
        qs = Prospect.objects.filter(written, updated_at__gte=job.started_at, updated_at__lte=until)
        if after is not None:
            qs = qs.filter(updated_at__gte=after[0]).exclude(updated_at=after[0], id__lte=after[1])
        page = list(qs.order_by("updated_at", "id").values_list("updated_at", "id")[:IMPORT_SCAN_PAGE])
        if not page:
            return
        yield [pk for _ts, pk in page]
        after = page[-1]


def pipeline_enqueue_import(*, org_id: int, import_id: int) -> int:
    """Enqueue every prospect an import created or updated; returns how many. Runs inside the org scope."""
    job = Import.objects.filter(pk=import_id).first()
    if job is None:
        return 0
    total = 0
    for page in import_prospect_ids(job=job):
        pipeline_enqueue(org_id=org_id, prospect_ids=page)
        total += len(page)
    return total


# --- one step over one batch --------------------------------------------------------------------------------------


@dataclass
class StepResult:
    step: str
    prospect_ids: list[int]  # the batch, minus prospects deleted meanwhile
    failed: dict[int, str] = field(default_factory=dict)
    crossed_ids: list[int] = field(default_factory=list)

    @property
    def succeeded(self) -> list[int]:
        return [pk for pk in self.prospect_ids if pk not in self.failed]


def _existing(prospect_ids: Sequence[int]) -> list[int]:
    wanted = set(prospect_ids)
    found = set(Prospect.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    return [pk for pk in prospect_ids if pk in found]


def _error_text(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:400]


def failures_record(*, org_id: int, step: str, failed: dict[int, str]) -> None:
    """Put each failure on the prospect's timeline, where the team looks first when a score is missing."""
    if not failed:
        return
    Activity.objects.bulk_create(
        [
            Activity(
                org_id=org_id,
                prospect_id=pk,
                kind="pipeline_failed",
                summary=f"Pipeline step {step} failed: {error}"[:500],
                data={"step": step, "error": error},
            )
            for pk, error in failed.items()
        ]
    )


def step_enrich(*, org_id: int, prospect_ids: list[int]) -> StepResult:
    """Enrich a batch. Enrichment waits on websites and providers, so companies are enriched in parallel threads;
    what the batch learnt is written at its end in a few statements (waterfall.prospects_enrich)."""
    from prospects.scoring.enrichment.waterfall import prospects_enrich

    threads = max(1, int(getattr(settings, "PIPELINE_ENRICH_THREADS", 4)))
    done = prospects_enrich(prospect_ids=prospect_ids, threads=threads)
    gone = {pk for pk, outcome in done.outcomes.items() if outcome.skipped == "gone"}
    result = StepResult("enrich", [pk for pk in dict.fromkeys(prospect_ids) if pk not in gone])
    result.failed.update({pk: _error_text(exc) for pk, exc in done.failed.items()})
    return result


def step_embed(*, org_id: int, prospect_ids: list[int]) -> StepResult:
    """Embed a batch in one provider call; if the batch fails, embed one by one to find the culprit."""
    from prospects.scoring.embedding import prospects_embed

    ids = _existing(prospect_ids)
    result = StepResult("embed", ids)
    if not ids:
        return result
    try:
        prospects_embed(prospect_ids=ids)
    except AIProviderError:
        raise  # the provider is down or refusing: the task retries the batch with backoff
    except Exception:
        log.warning("batch embedding of %s prospects failed; retrying one by one", len(ids), exc_info=True)
        for pk in ids:
            try:
                prospects_embed(prospect_ids=[pk])
            except Exception as exc:
                result.failed[pk] = _error_text(exc)
    return result


def step_qualify(*, org_id: int, prospect_ids: list[int]) -> StepResult:
    """Qualify a batch in one pass (prospects_qualify); if the batch's writes fail, one by one to find the
    culprit, so one prospect's bad data never holds the others back."""
    from prospects.scoring.qualification import QualifyBatch, prospects_qualify

    try:
        done = prospects_qualify(prospect_ids=prospect_ids)
    except (OperationalError, InterfaceError):
        raise  # the database is away: the task retries the batch with backoff
    except Exception:
        log.warning(
            "batch qualification of %s prospects failed; one by one", len(prospect_ids), exc_info=True
        )
        done = QualifyBatch()
        for pk in prospect_ids:
            try:
                one = prospects_qualify(prospect_ids=[pk])
            except Exception as exc:
                done.failed[pk] = exc
                continue
            done.outcomes.update(one.outcomes)
            done.failed.update(one.failed)
    found = set(done.outcomes) | set(done.failed)
    result = StepResult("qualify", [pk for pk in dict.fromkeys(prospect_ids) if pk in found])
    for pk, error in done.failed.items():
        result.failed[pk] = _error_text(error)
    result.crossed_ids = [
        pk for pk in result.prospect_ids if pk in done.outcomes and done.outcomes[pk].crossed_threshold
    ]
    return result


def step_route(*, org_id: int, prospect_ids: list[int]) -> StepResult:
    from prospects.routing.services import prospects_route

    ids = _existing(prospect_ids)
    result = StepResult("route", ids)
    if ids:
        result.failed.update(prospects_route(prospect_ids=ids))
    return result


STEP_FUNCTIONS: dict[str, Callable[..., StepResult]] = {
    "enrich": step_enrich,
    "embed": step_embed,
    "qualify": step_qualify,
    "route": step_route,
}


# --- discovery-run counts ---------------------------------------------------------------------------------------


def _claim_once(*, run_id: int, step: str, prospect_ids: Sequence[int]) -> bool:
    """True the first time a (run, step, batch) reports counts; a redelivered task must not count twice."""
    digest = hashlib.sha256(",".join(map(str, sorted(prospect_ids))).encode()).hexdigest()[:32]
    return bool(cache.add(f"pipeline-count:{run_id}:{step}:{digest}", 1, timeout=7 * 86400))


def run_counts_record(
    *,
    run_id: int | None,
    step: str,
    result: StepResult,
    batch: Sequence[int],
    failed_before: Iterable[int] = (),
) -> None:
    """Count a finished step on its discovery run with F() increments, so parallel batches never lose updates.

    `batch` is what the step was given: a prospect deleted on the way still counts as processed, so the run ends.
    """
    if run_id is None or not batch:
        return
    if step not in ("enrich", "qualify") or not _claim_once(run_id=run_id, step=step, prospect_ids=batch):
        return
    if step == "enrich":
        enriched = Prospect.objects.filter(pk__in=result.succeeded, enriched_at__isnull=False).count()
        DiscoveryRun.objects.filter(pk=run_id).update(enriched=F("enriched") + enriched)
        return
    run = DiscoveryRun.objects.filter(pk=run_id).only("min_score").first()
    if run is None:
        return
    qualified = disqualified = 0
    for stage, score in Prospect.objects.filter(pk__in=result.succeeded).values_list("stage", "score"):
        if stage == Stage.QUALIFIED and (score or 0) >= run.min_score:
            qualified += 1
        else:
            disqualified += 1
    failed = len(set(failed_before) | set(result.failed))
    DiscoveryRun.objects.filter(pk=run_id).update(
        qualified=F("qualified") + qualified,
        disqualified=F("disqualified") + disqualified,
        failed=F("failed") + failed,
        processed=F("processed") + len(batch),
    )
    # The last batch through qualification closes the run (a conditional UPDATE: exactly one batch wins).
    DiscoveryRun.objects.filter(
        pk=run_id, status=DiscoveryRunStatus.RUNNING, processed__gte=F("discovered")
    ).update(status=DiscoveryRunStatus.DONE, finished_at=timezone.now())


# --- what a step task runs --------------------------------------------------------------------------------------


def pipeline_step_run(
    *,
    org_id: int,
    step: str,
    prospect_ids: list[int],
    discovery_run_id: int | None = None,
    failed_ids: list[int] | None = None,
) -> StepResult:
    """Run one step over one batch inside the org scope, record failures and counts, enqueue the next step."""
    failed_before = list(failed_ids or [])
    result = STEP_FUNCTIONS[step](org_id=org_id, prospect_ids=prospect_ids)
    failures_record(org_id=org_id, step=step, failed=result.failed)
    run_counts_record(
        run_id=discovery_run_id, step=step, result=result, batch=prospect_ids, failed_before=failed_before
    )
    pipeline_next(
        org_id=org_id,
        step=step,
        prospect_ids=result.crossed_ids if step == "qualify" else result.prospect_ids,
        discovery_run_id=discovery_run_id,
        failed_ids=sorted(set(failed_before) | set(result.failed)),
    )
    return result


def pipeline_step_gave_up(
    *,
    org_id: int,
    step: str,
    prospect_ids: list[int],
    discovery_run_id: int | None,
    failed_ids: list[int] | None,
    error: BaseException,
) -> None:
    """A whole step task failed for good (retries spent): record it for every prospect and carry on."""
    with org_scope(org_id):
        ids = _existing(prospect_ids)
        result = StepResult(step, ids, failed={pk: _error_text(error) for pk in ids})
        failures_record(org_id=org_id, step=step, failed=result.failed)
        run_counts_record(
            run_id=discovery_run_id,
            step=step,
            result=result,
            batch=prospect_ids,
            failed_before=failed_ids or [],
        )
        if step != "qualify":  # nothing crossed a threshold when qualification failed
            pipeline_next(
                org_id=org_id,
                step=step,
                prospect_ids=ids,
                discovery_run_id=discovery_run_id,
                failed_ids=sorted(set(failed_ids or []) | set(ids)),
            )


def pipeline_next(
    *,
    org_id: int,
    step: str,
    prospect_ids: list[int],
    discovery_run_id: int | None,
    failed_ids: list[int],
) -> None:
    following = NEXT_TASK.get(step)
    if following is None or not prospect_ids:
        return
    task_send_on_commit(
        following, org_id, prospect_ids, discovery_run_id, failed_ids if step != "qualify" else []
    )
