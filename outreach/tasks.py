"""Celery tasks of the email channel (queue `send`, routed in settings): thin wrappers around the engine."""

from __future__ import annotations

import functools

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from leadgen.tenancy import org_task

# Celery's autodiscovery looks in `<app>.tasks` only: the wings' tasks are imported here.
from .inbound import tasks as inbound_tasks  # noqa: F401
from .tracking import tasks as tracking_tasks  # noqa: F401


@shared_task(
    ignore_result=True,
    # A database outage before the claim is safe to retry: the claim makes a second run a no-op for sent rows.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
    time_limit=300,
    soft_time_limit=240,
)
@org_task
def messages_send_task(org_id: int, message_ids: list[int]) -> dict[str, int]:
    """Send these queued messages of one organisation as one chunk: claimed together, each checked and granted its
    slot right before its own call, so a repeat (or a second dispatcher) sends nothing twice."""
    from .sending.engine import dispatched_clear, messages_send

    try:
        results = messages_send(message_ids=message_ids)
    finally:
        dispatched_clear(message_ids)
    outcomes: dict[str, int] = {}
    for outcome in results.values():
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def messages_dispatch_task() -> int:
    """Beat: give up on crashed sends, then enqueue the queued messages that are due, in batches."""
    from .sending.engine import due_batches, messages_sweep_stale

    messages_sweep_stale()
    batches = due_batches(limit=settings.OUTREACH_DISPATCH_BATCH, chunk=settings.OUTREACH_SEND_CHUNK)
    for org_id, ids in batches:
        transaction.on_commit(functools.partial(messages_send_task.delay, org_id, ids))
    return sum(len(ids) for _, ids in batches)


@shared_task(ignore_result=True, time_limit=300, soft_time_limit=240)
def unknown_reconcile_task() -> dict[str, int]:
    """Beat: settle `unknown` messages whose ESP can say whether it took them (outreach.sending.reconcile)."""
    from .sending.reconcile import unknown_reconcile_run

    return unknown_reconcile_run()


@worker_process_init.connect
def _send_path_warm(**_: object) -> None:
    """Each pool process imports the send path, its guards and the URL map (the unsubscribe link) when it starts,
    not inside its first chunk: under load that first chunk otherwise paid several seconds of imports."""
    from django.urls import get_resolver

    from .sending import engine

    engine.send_guards()
    get_resolver().reverse_dict  # noqa: B018 (imports every app's urls and builds the reverse map once)
