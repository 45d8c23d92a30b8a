"""`/api/v1/discovery-runs`: start a discovery run from an ICP and read its live counts."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Status

from leadgen.api_errors import error
from leadgen.errors import error_items
from leadgen.tenancy import get_for_org
from prospects.discovery import selectors as discovery_selectors
from prospects.discovery import services as discovery
from prospects.discovery.schemas import DiscoveryRunIn, DiscoveryRunListOut, DiscoveryRunOut
from prospects.models import ICP, DiscoveryRun
from prospects.schemas import ListParams

router = Router(tags=["discovery"])


@router.post(
    "/discovery-runs",
    response={201: DiscoveryRunOut},
    summary="Start a discovery run: search the sources for the ICP, then enrich, embed and qualify what they find",
)
def discovery_run_create(request: HttpRequest, payload: DiscoveryRunIn) -> Any:
    icp = get_for_org(ICP, pk=payload.icp_id)
    try:
        run = discovery.discovery_run_create(
            org=request.auth.org,  # type: ignore[attr-defined]
            icp=icp,
            sources=payload.sources,
            max_prospects=payload.max_prospects,
            min_score=payload.min_score,
            actor=None,
        )
    except ValidationError as exc:
        errors = error_items(exc)
        return error(request, 422, errors[0]["message"], "validation_error", errors=errors)
    return Status(201, run)


@router.get(
    "/discovery-runs",
    response=DiscoveryRunListOut,
    summary="Discovery runs, newest first (cursor pagination)",
)
def discovery_run_list(request: HttpRequest, page: Query[ListParams]) -> Any:
    rows, next_cursor = discovery_selectors.discovery_run_page(cursor=page.cursor or None, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/discovery-runs/{discovery_run_id}", response=DiscoveryRunOut)
def discovery_run_get(request: HttpRequest, discovery_run_id: int) -> Any:
    return get_for_org(DiscoveryRun, pk=discovery_run_id)
