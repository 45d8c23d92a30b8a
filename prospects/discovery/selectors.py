"""Reads behind the discovery pages and `/api/v1/discovery-runs`."""

from __future__ import annotations

from django.db.models import QuerySet

from prospects.models import DiscoveryRun
from prospects.selectors import newest_first_page


def discovery_runs_recent(*, limit: int = 50) -> QuerySet[DiscoveryRun]:
    return DiscoveryRun.objects.select_related("icp").order_by("-created_at", "-id")[:limit]


def discovery_run_page(*, cursor: str | None, limit: int) -> tuple[list[DiscoveryRun], str | None]:
    """The organisation's discovery runs, newest first. Raises InvalidCursor for a bad cursor."""
    return newest_first_page(DiscoveryRun.objects.all(), cursor=cursor, limit=limit)
