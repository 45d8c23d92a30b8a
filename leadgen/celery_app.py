"""The Celery app: JSON only, late acks, the queues DESIGN.md names."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.local")

app = Celery("leadgen")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "enrich", "ai", "send", "events")]
app.autodiscover_tasks()
# Connects the task signals that count outcomes and durations per queue (served at /metrics).
import leadgen.metrics  # noqa: E402, F401


@worker_ready.connect
def _first_heartbeat(sender: object = None, **kwargs: object) -> None:
    # Health checks see a fresh worker at once instead of waiting for beat's first tick.
    from leadgen.tasks import heartbeat

    heartbeat.apply()
