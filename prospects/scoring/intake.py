"""How prospects enter the scoring pipeline: the one module every entry point (CSV import, API, form and ad
webhooks, discovery runs, the demo seed) calls. It sits at the bottom of `scoring/`: it queues the pipeline's first
task by name and imports nothing of the pipeline, so an entry point never imports the orchestrator above it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import partial

from django.conf import settings
from django.db import transaction

from leadgen.tasks import task_send, task_send_on_commit
from prospects.models import Import, ImportStatus


def batch_size() -> int:
    return max(1, int(getattr(settings, "PIPELINE_BATCH_SIZE", 64)))


def auto_enqueue_enabled() -> bool:
    return bool(getattr(settings, "PIPELINE_AUTO_ENQUEUE", True))


def _chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def pipeline_enqueue(*, org_id: int, prospect_ids: Iterable[int], discovery_run_id: int | None = None) -> int:
    """Send prospects into the pipeline in batches; returns how many batches were queued.

    Call it after the prospects are committed (`pipeline_enqueue_on_commit` does that for you).
    """
    ids = sorted({int(pk) for pk in prospect_ids})
    batches = 0
    for chunk in _chunks(ids, batch_size()):
        task_send("prospects.scoring.tasks.pipeline_enrich_task", org_id, chunk, discovery_run_id, [])
        batches += 1
    return batches


def pipeline_enqueue_on_commit(
    *, org_id: int, prospect_ids: Iterable[int], discovery_run_id: int | None = None
) -> None:
    """Enqueue once the surrounding transaction commits, so a worker never looks for rows it cannot see yet."""
    ids = [pk for pk in prospect_ids if pk]
    if not ids or not auto_enqueue_enabled():
        return
    transaction.on_commit(
        partial(pipeline_enqueue, org_id=org_id, prospect_ids=ids, discovery_run_id=discovery_run_id)
    )


def pipeline_on_import_done(*, job: Import) -> None:
    """After an import finished: its created and updated prospects enter the pipeline (scanned by a task)."""
    if job.status != ImportStatus.DONE or not (job.created_count or job.updated_count):
        return
    if not auto_enqueue_enabled():
        return
    task_send_on_commit("prospects.scoring.tasks.pipeline_import_task", job.org_id, job.pk)
