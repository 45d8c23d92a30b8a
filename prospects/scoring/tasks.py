"""Celery tasks of the scoring pipeline: embeddings, enrich → embed → qualify → route, enrichment retries, the outcome-trained model."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from leadgen.ai.errors import AIProviderError
from leadgen.tenancy import org_scope, org_task
from prospects.models import ICP
from prospects.scoring.embedding import icp_embed
from prospects.scoring.enrichment.waterfall import (
    EnrichmentDeferred,
    enrich_retry_give_up,
    prospect_enrich,
    prospect_enrich_retry,
    retry_countdown,
)
from prospects.scoring.intake import pipeline_enqueue_on_commit
from prospects.scoring.model import orgs_due_for_training, scoring_model_train
from prospects.scoring.pipeline import pipeline_enqueue_import, pipeline_step_gave_up, pipeline_step_run
from prospects.scoring.vector_indexes import vector_indexes_maintain


@shared_task(
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError, AIProviderError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    time_limit=120,
    soft_time_limit=100,
)
@org_task
def icp_embed_task(org_id: int, icp_id: int) -> None:
    """Re-embed a saved ICP. Idempotent: no write when its inputs hash to the stored embedding_hash."""
    icp = ICP.objects.filter(pk=icp_id).first()
    if icp is not None:
        icp_embed(icp=icp)


@shared_task(ignore_result=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def vector_indexes_maintain_task() -> None:
    """Beat, hourly: per-org HNSW indexes for organisations with many vectors (prospects.scoring.vector_indexes)."""
    vector_indexes_maintain()


# --- the scoring pipeline (prospects.scoring.pipeline): enrich → embed → qualify → route --------------------------------


class _PipelineStepTask(Task):  # type: ignore[misc]
    """When a step's retries are spent, its prospects are recorded as failed and still move on to the next step."""

    step = ""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        org_id, prospect_ids, discovery_run_id, failed_ids = [*args, None, None, None][:4]
        pipeline_step_gave_up(
            org_id=org_id,
            step=self.step,
            prospect_ids=list(prospect_ids or []),
            discovery_run_id=discovery_run_id,
            failed_ids=list(failed_ids or []),
            error=exc,
        )


_PIPELINE_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 3,
    "ignore_result": True,
}


def _pipeline_step(
    step: str, org_id: int, prospect_ids: list[int], run_id: int | None, failed: list[int]
) -> None:
    pipeline_step_run(
        org_id=org_id, step=step, prospect_ids=prospect_ids, discovery_run_id=run_id, failed_ids=failed
    )


class _EnrichStep(_PipelineStepTask):
    step = "enrich"


class _EmbedStep(_PipelineStepTask):
    step = "embed"


class _QualifyStep(_PipelineStepTask):
    step = "qualify"


class _RouteStep(_PipelineStepTask):
    step = "route"


# Enrichment waits on websites and providers; a batch of 64 with slow sites needs minutes, not seconds.
@shared_task(base=_EnrichStep, time_limit=900, soft_time_limit=840, **_PIPELINE_RETRY)
@org_task
def pipeline_enrich_task(
    org_id: int,
    prospect_ids: list[int],
    discovery_run_id: int | None = None,
    failed_ids: list[int] | None = None,
) -> None:
    _pipeline_step("enrich", org_id, prospect_ids, discovery_run_id, failed_ids or [])


@shared_task(
    base=_EmbedStep,
    time_limit=600,
    soft_time_limit=540,
    **{
        **_PIPELINE_RETRY,
        "autoretry_for": (OperationalError, InterfaceError, AIProviderError),
        "max_retries": 5,
    },
)
@org_task
def pipeline_embed_task(
    org_id: int,
    prospect_ids: list[int],
    discovery_run_id: int | None = None,
    failed_ids: list[int] | None = None,
) -> None:
    _pipeline_step("embed", org_id, prospect_ids, discovery_run_id, failed_ids or [])


@shared_task(base=_QualifyStep, time_limit=900, soft_time_limit=840, **_PIPELINE_RETRY)
@org_task
def pipeline_qualify_task(
    org_id: int,
    prospect_ids: list[int],
    discovery_run_id: int | None = None,
    failed_ids: list[int] | None = None,
) -> None:
    _pipeline_step("qualify", org_id, prospect_ids, discovery_run_id, failed_ids or [])


@shared_task(base=_RouteStep, time_limit=300, soft_time_limit=240, **_PIPELINE_RETRY)
@org_task
def pipeline_route_task(
    org_id: int,
    prospect_ids: list[int],
    discovery_run_id: int | None = None,
    failed_ids: list[int] | None = None,
) -> None:
    _pipeline_step("route", org_id, prospect_ids, discovery_run_id, failed_ids or [])


@shared_task(time_limit=1800, soft_time_limit=1740, **_PIPELINE_RETRY)
@org_task
def pipeline_import_task(org_id: int, import_id: int) -> None:
    """A finished import's created and updated prospects enter the pipeline."""
    pipeline_enqueue_import(org_id=org_id, import_id=import_id)


# --- enrichment (prospects.scoring.enrichment.waterfall) ------------------------------------------------------------------------------


@shared_task(
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    time_limit=120,
    soft_time_limit=100,
)
@org_task
def prospect_enrich_task(org_id: int, prospect_id: int, force: bool = False) -> None:
    """Enrich one prospect ("Enrich now"). Idempotent: fresh data is skipped unless forced."""
    prospect_enrich(prospect_id=prospect_id, force=force)


class _EnrichRetryTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries spent: the log says so; the prospect itself went on down the pipeline without these fields."""
        org_id, prospect_id, operations = args[0], args[1], list(args[2])
        with org_scope(org_id):
            enrich_retry_give_up(
                prospect_id=prospect_id,
                operations=operations,
                attempts=int(kwargs.get("attempt", 0)) + self.request.retries,
                error=str(exc),
            )


@shared_task(
    base=_EnrichRetryTask,
    bind=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=6,
    time_limit=120,
    soft_time_limit=100,
)
@org_task
def prospect_enrich_retry_task(
    self: Task, org_id: int, prospect_id: int, operations: list[str], attempt: int = 1
) -> None:
    """Ask rate-limited or failing providers again, with exponential backoff that honours Retry-After."""
    outcome = prospect_enrich_retry(prospect_id=prospect_id, operations=operations)
    if outcome.gained:
        # New facts change the profile text and the judgement: send the prospect through embed/qualify again.
        pipeline_enqueue_on_commit(org_id=org_id, prospect_ids=[prospect_id])
    if not outcome.deferred:
        return
    waits = [wait for wait in outcome.deferred.values() if wait is not None]
    countdown = retry_countdown(
        attempt=attempt + self.request.retries, retry_after=max(waits) if waits else None
    )
    raise self.retry(
        args=[org_id, prospect_id, sorted(outcome.deferred)],
        kwargs={"attempt": attempt},
        exc=EnrichmentDeferred(outcome.errors[-1] if outcome.errors else "provider still unavailable"),
        countdown=countdown,
        max_retries=int(getattr(settings, "ENRICH_MAX_RETRIES", 6)),
    )


# --- the outcome-trained scoring model (prospects.scoring.qualification) ------------------------------------------------


@shared_task(
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    time_limit=600,
    soft_time_limit=540,
)
@org_task
def scoring_model_train_task(org_id: int) -> None:
    """Fit the org's model on its outcomes. Safe to run twice: it only adds a newer model row."""
    scoring_model_train(org_id=org_id)


@shared_task(
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    time_limit=300,
    soft_time_limit=240,
)
def scoring_models_train_due() -> int:
    """Beat, daily: queue training for every org with enough outcomes its last model has not seen."""
    org_ids = orgs_due_for_training()
    for org_id in org_ids:
        scoring_model_train_task.delay(org_id)
    return len(org_ids)
