"""Every Celery task of the prospects app, imported here so Celery's autodiscovery (which looks for `<app>.tasks`) finds
the wings' tasks. Each task lives in its wing's `tasks.py` and is routed by CELERY_TASK_ROUTES."""

from prospects.crm import tasks as crm_tasks
from prospects.discovery import tasks as discovery_tasks
from prospects.imports import tasks as import_tasks
from prospects.inbound import tasks as inbound_tasks
from prospects.routing import tasks as routing_tasks
from prospects.scoring import tasks as scoring_tasks

__all__ = ["crm_tasks", "discovery_tasks", "import_tasks", "inbound_tasks", "routing_tasks", "scoring_tasks"]
