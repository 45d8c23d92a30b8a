"""Celery tasks of the prospects app: thin wrappers that scope the organisation and call a service."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from leadgen.ai.errors import AIProviderError
from leadgen.tenancy import org_scope, org_task

from .adapters import GraphUnavailable
from .providers import ProviderTransientError


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    # A million-row file takes tens of seconds here; leave room for slower databases.
    time_limit=3 * 3600,
    soft_time_limit=3 * 3600 - 60,
    ignore_result=True,
)
@org_task
def import_run_task(org_id: int, import_id: int) -> None:
    """Run a queued CSV import. Idempotent: the job is claimed with a conditional UPDATE (queued → running)."""
    from .importing import import_run

    import_run(org_id=org_id, import_id=import_id)


# --- inbound leads (prospects.ingestion) -----------------------------------------------------------------


class _MetaLeadFetchTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries exhausted (or a bug): record it on the delivery so it shows as failed, not pending."""
        from .ingestion import delivery_fail
        from .models import WebhookDelivery

        org_id, delivery_id = args[0], args[1]
        with org_scope(org_id):
            delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
            if delivery is not None:
                delivery_fail(delivery=delivery, error=f"gave up fetching the lead: {exc}")


@shared_task(
    base=_MetaLeadFetchTask,
    ignore_result=True,
    autoretry_for=(GraphUnavailable,),
    retry_backoff=settings.META_FETCH_RETRY_BACKOFF,
    retry_backoff_max=1800,  # below the broker's visibility timeout (3600 s)
    retry_jitter=True,
    max_retries=12,
    time_limit=60,
    soft_time_limit=45,
)
@org_task
def meta_lead_fetch(org_id: int, delivery_id: int) -> None:
    """Fetch a stored Meta lead through the Graph API and upsert the prospect; a Graph outage retries."""
    from .ingestion import meta_lead_process

    meta_lead_process(delivery_id=delivery_id)


# --- embeddings and ICP vectors (prospects.embedding) ------------------------------------------------------

EMBED_TASK_BATCH = 256


@shared_task(
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError, AIProviderError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    time_limit=600,
    soft_time_limit=540,
)
@org_task
def prospects_embed_task(org_id: int, prospect_ids: list[int]) -> int:
    """Embed one batch of prospects. Idempotent: a prospect whose profile text is unchanged is skipped."""
    from .embedding import prospects_embed

    return prospects_embed(prospect_ids=prospect_ids)


def prospects_embed_enqueue(*, org_id: int, prospect_ids: list[int]) -> None:
    """Queue embedding in batches of EMBED_TASK_BATCH once the current transaction commits."""
    import functools

    from django.db import transaction

    ids = list(dict.fromkeys(prospect_ids))
    for start in range(0, len(ids), EMBED_TASK_BATCH):
        batch = ids[start : start + EMBED_TASK_BATCH]
        transaction.on_commit(functools.partial(prospects_embed_task.delay, org_id, batch))


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
    from .embedding import icp_embed
    from .models import ICP

    icp = ICP.objects.filter(pk=icp_id).first()
    if icp is not None:
        icp_embed(icp=icp)


@shared_task(ignore_result=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def vector_indexes_maintain_task() -> None:
    """Beat, hourly: per-org HNSW indexes for organisations with many vectors (prospects.vector_indexes)."""
    from .vector_indexes import vector_indexes_maintain

    vector_indexes_maintain()


# --- the scoring pipeline (prospects.pipeline): enrich → embed → qualify → route --------------------------------


class _PipelineStepTask(Task):  # type: ignore[misc]
    """When a step's retries are spent, its prospects are recorded as failed and still move on to the next step."""

    step = ""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        from .pipeline import pipeline_step_gave_up

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
    from .pipeline import pipeline_step_run

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
    from .pipeline import pipeline_enqueue_import

    pipeline_enqueue_import(org_id=org_id, import_id=import_id)


# --- routing (prospects.routing): outbound webhooks and Slack --------------------------------------------------


class _WebhookDeliverTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries spent: the message shows as failed (with its last status) instead of pending forever."""
        from .routing import webhook_message_give_up

        webhook_message_give_up(org_id=args[0], message_pk=args[1], error=str(exc))


def _webhook_retry_backoff() -> int:
    return int(getattr(settings, "WEBHOOK_RETRY_BACKOFF", 30))


@shared_task(
    base=_WebhookDeliverTask,
    bind=True,
    ignore_result=True,
    max_retries=8,
    time_limit=60,
    soft_time_limit=45,
)
def webhook_deliver_task(self: Task, org_id: int, message_pk: int) -> None:
    """Deliver one signed webhook message; a failed attempt retries with exponential backoff."""
    from .routing import WebhookAttemptFailed, webhook_message_deliver

    try:
        with org_scope(org_id):
            webhook_message_deliver(message_pk=message_pk)
    except WebhookAttemptFailed as exc:
        countdown = _webhook_retry_backoff() * (2**self.request.retries)
        raise self.retry(exc=exc, countdown=min(countdown, 6 * 3600)) from exc


@shared_task(
    bind=True,
    ignore_result=True,
    max_retries=5,
    time_limit=30,
    soft_time_limit=25,
)
def slack_notify_task(self: Task, org_id: int, prospect_id: int) -> None:
    """Post the "prospect qualified" message to the org's Slack incoming webhook."""
    from .routing import SlackAttemptFailed, slack_prospect_notify

    try:
        with org_scope(org_id):
            slack_prospect_notify(prospect_id=prospect_id)
    except SlackAttemptFailed as exc:
        countdown = _webhook_retry_backoff() * (2**self.request.retries)
        raise self.retry(exc=exc, countdown=min(countdown, 3600)) from exc


class _DiscoveryRunTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries spent (the source stayed down): the run shows as failed with the reason."""
        from .discovery import discovery_run_fail

        discovery_run_fail(org_id=args[0], discovery_run_id=args[1], error=str(exc))


@shared_task(
    base=_DiscoveryRunTask,
    autoretry_for=(OperationalError, InterfaceError, ProviderTransientError),
    retry_backoff=60,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=6,
    ignore_result=True,
    time_limit=1800,
    soft_time_limit=1740,
)
@org_task
def discovery_run_task(org_id: int, discovery_run_id: int) -> None:
    """Search the run's sources and push what they find through the pipeline (claimed once: queued → running)."""
    from .discovery import discovery_run_execute

    discovery_run_execute(discovery_run_id=discovery_run_id)


# --- enrichment (prospects.enrichment) ------------------------------------------------------------------------------


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
    from .enrichment import prospect_enrich

    prospect_enrich(prospect_id=prospect_id, force=force)


class _EnrichRetryTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries spent: the log says so; the prospect itself went on down the pipeline without these fields."""
        from .enrichment import enrich_retry_give_up

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
def prospect_enrich_retry_task(
    self: Task, org_id: int, prospect_id: int, operations: list[str], attempt: int = 1
) -> None:
    """Ask rate-limited or failing providers again, with exponential backoff that honours Retry-After."""
    from .enrichment import EnrichmentDeferred, prospect_enrich_retry, retry_countdown
    from .pipeline import pipeline_enqueue_on_commit

    with org_scope(org_id):
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


# --- the outcome-trained scoring model (prospects.qualification) ------------------------------------------------


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
    from .qualification import scoring_model_train

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
    from .qualification import orgs_due_for_training

    org_ids = orgs_due_for_training()
    for org_id in org_ids:
        scoring_model_train_task.delay(org_id)
    return len(org_ids)
