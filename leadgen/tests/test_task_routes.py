"""Every routed task exists, and the pipeline's steps land on the queues the workers scale by."""

from __future__ import annotations

from django.conf import settings

from leadgen.celery_app import app


def _queue(name: str) -> str:
    return str(app.amqp.router.route({}, name, args=(), kwargs={})["queue"].name)


def test_routes_name_real_tasks_and_send_steps_to_their_queues() -> None:
    app.loader.import_default_modules()
    assert set(settings.CELERY_TASK_ROUTES) <= set(app.tasks)
    assert _queue("prospects.tasks.pipeline_enrich_task") == "enrich"
    assert _queue("prospects.tasks.pipeline_embed_task") == "ai"
    assert _queue("prospects.tasks.pipeline_qualify_task") == "ai"
    assert _queue("prospects.tasks.webhook_deliver_task") == "events"
    assert _queue("prospects.tasks.pipeline_route_task") == "default"
    assert all(
        route["queue"] in settings.CELERY_TASK_QUEUES_NAMES for route in settings.CELERY_TASK_ROUTES.values()
    )
