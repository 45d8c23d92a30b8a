"""Every routed task exists, and the pipeline's steps land on the queues the workers scale by."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from leadgen.celery_app import app


def _queue(name: str) -> str:
    return str(app.amqp.router.route({}, name, args=(), kwargs={})["queue"].name)


def test_routes_name_real_tasks_and_send_steps_to_their_queues() -> None:
    app.loader.import_default_modules()
    assert set(settings.CELERY_TASK_ROUTES) <= set(app.tasks)
    assert _queue("prospects.scoring.tasks.pipeline_enrich_task") == "enrich"
    assert _queue("prospects.scoring.tasks.pipeline_embed_task") == "ai"
    assert _queue("prospects.scoring.tasks.pipeline_qualify_task") == "ai"
    assert _queue("prospects.routing.tasks.webhook_deliver_task") == "events"
    assert _queue("prospects.scoring.tasks.pipeline_route_task") == "default"
    assert all(
        route["queue"] in settings.CELERY_TASK_QUEUES_NAMES for route in settings.CELERY_TASK_ROUTES.values()
    )


TASK_NAME = re.compile(r"""task_send(?:_on_commit)?\(\s*["']([\w.]+)["']|["']((?:\w+\.)+tasks\.\w+)["']""")


def _named_in_source() -> set[str]:
    root = Path(__file__).resolve().parents[2]
    names: set[str] = set()
    for path in root.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or "migrations" in path.parts:
            continue
        for match in TASK_NAME.finditer(path.read_text()):
            names.add(match.group(1) or match.group(2))
    return names


def test_every_task_queued_by_name_or_scheduled_is_registered() -> None:
    """Services queue tasks by name (`leadgen.tasks.task_send`): a renamed or moved task must fail here, not in a
    worker's log."""
    app.loader.import_default_modules()
    named = _named_in_source() | {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "prospects.scoring.tasks.pipeline_enrich_task" in named
    assert named - set(app.tasks) == set()
