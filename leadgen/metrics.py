"""Prometheus metrics, served at /metrics (leadgen.views.metrics) in the text exposition format.

- Request latency by route: a histogram kept by `MetricsMiddleware` in each web process. Under gunicorn with several
  workers set PROMETHEUS_MULTIPROC_DIR to an empty directory shared by them (prometheus-client's multiprocess mode),
  so a scrape sums every worker instead of answering for the one that took it.
- Celery: queue depth is read from the broker at scrape time (a Redis list per queue); task outcomes and durations
  are counted by Celery's task signals in whichever worker process ran the task, into Redis hashes, so prefork
  children, several machines and restarts all add up in one place. Pipeline step latency is the duration of the
  pipeline's step tasks (`pipeline_<step>_task`: one batch of prospects each).
- Monthly spend comes from the database, through a collector the prospects app registers at start
  (`collector_register`; leadgen imports no app).

Counting never fails a request or a task: a metrics error is logged and dropped.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import redis
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

TASKS_KEY = "leadgen:metrics:tasks"
DURATIONS_KEY = "leadgen:metrics:task-seconds"
# Seconds; tasks run from milliseconds (routing) to minutes (an enrichment batch waiting on providers).
TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
_PIPELINE_STEP = re.compile(r"\.pipeline_(\w+)_task$")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

_requests_registry = CollectorRegistry(auto_describe=True)
REQUEST_SECONDS = Histogram(
    "leadgen_http_request_duration_seconds",
    "Time to answer a request, by route name (the URL pattern's name), method and status class.",
    ["route", "method", "status"],
    registry=_requests_registry,
)


class MetricsMiddleware:
    """First in MIDDLEWARE, so the time covers every other middleware too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        try:
            match = request.resolver_match
            route = (match.view_name or match.route) if match is not None else "unmatched"
            method = request.method if request.method in _METHODS else "other"
            status = f"{response.status_code // 100}xx"
            REQUEST_SECONDS.labels(route, method, status).observe(time.perf_counter() - started)
        except Exception:
            log.warning("request metrics failed", exc_info=True)
        return response


# --- Celery: counted in the worker, stored in Redis --------------------------------------------------------

_client: redis.Redis | None = None
_started: dict[str, float] = {}


def _redis() -> redis.Redis:
    """One client per process; redis-py resets its connection pool after a fork, so prefork children are safe."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


@task_prerun.connect
def _task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any
) -> None:
    started = _started.pop(task_id or "", None)
    if task is None:
        return
    try:
        delivery = getattr(task.request, "delivery_info", None) or {}
        queue = delivery.get("routing_key") or "eager"
        field = f"{queue}|{task.name}"
        pipe = _redis().pipeline(transaction=False)
        pipe.hincrby(TASKS_KEY, f"{field}|{(state or 'unknown').lower()}", 1)
        if started is not None:
            seconds = time.perf_counter() - started
            pipe.hincrby(DURATIONS_KEY, f"{field}|{bisect.bisect_left(TASK_BUCKETS, seconds)}", 1)
            pipe.hincrbyfloat(DURATIONS_KEY, f"{field}|sum", seconds)
        pipe.execute()
    except Exception:
        log.warning("task metrics failed for %s", getattr(task, "name", task), exc_info=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _histogram(name: str, documentation: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, documentation, labels=labels)


def _add_histogram(
    family: HistogramMetricFamily, labels: list[str], counts: dict[int, float], total: float
) -> None:
    cumulative, buckets = 0.0, []
    for index, bound in enumerate((*TASK_BUCKETS, float("inf"))):
        cumulative += counts.get(index, 0)
        buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
    family.add_metric(labels, buckets, total)


class CeleryCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        client = _redis()
        depth = GaugeMetricFamily(
            "leadgen_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        for queue in settings.CELERY_TASK_QUEUES_NAMES:
            depth.add_metric([queue], float(client.llen(queue)))
        yield depth

        outcomes = CounterMetricFamily(
            "leadgen_celery_tasks",
            "Finished Celery tasks by queue, task and outcome.",
            labels=["queue", "task", "outcome"],
        )
        for field, value in client.hgetall(TASKS_KEY).items():
            queue, task, outcome = _text(field).split("|")
            outcomes.add_metric([queue, task, outcome], float(value))
        yield outcomes

        per_task: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        sums: dict[tuple[str, str], float] = defaultdict(float)
        for field, value in client.hgetall(DURATIONS_KEY).items():
            queue, task, slot = _text(field).split("|")
            if slot == "sum":
                sums[(queue, task)] = float(value)
            else:
                per_task[(queue, task)][int(slot)] = float(value)
        durations = _histogram(
            "leadgen_celery_task_duration_seconds",
            "Time Celery tasks took, by queue and task.",
            ["queue", "task"],
        )
        steps = _histogram(
            "leadgen_pipeline_step_duration_seconds",
            "Time one batch took in each step of the scoring pipeline (enrich, embed, qualify, route).",
            ["step"],
        )
        step_counts: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        step_sums: dict[str, float] = defaultdict(float)
        for (queue, task), counts in sorted(per_task.items()):
            _add_histogram(durations, [queue, task], counts, sums[(queue, task)])
            step = _PIPELINE_STEP.search(task)
            if step:
                for bucket, count in counts.items():
                    step_counts[step.group(1)][bucket] += count
                step_sums[step.group(1)] += sums[(queue, task)]
        for step_name, counts in sorted(step_counts.items()):
            _add_histogram(steps, [step_name], counts, step_sums[step_name])
        yield durations
        yield steps


_app_collectors: dict[str, Collector] = {}


def collector_register(name: str, collector: Collector) -> None:
    """Register (or replace: AppConfig.ready may run twice in tests) app `name`'s collector, added to every scrape
    (from its AppConfig.ready: leadgen imports no app)."""
    _app_collectors[name] = collector


def exposition() -> bytes:
    """The whole scrape: request latency (this process, or every process in multiprocess mode), Celery, and the
    apps' collectors."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        requests_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(requests_registry)  # type: ignore[no-untyped-call]
    else:
        requests_registry = _requests_registry
    live = CollectorRegistry(auto_describe=False)
    live.register(CeleryCollector())
    for collector in _app_collectors.values():
        live.register(collector)
    return generate_latest(requests_registry) + generate_latest(live)
