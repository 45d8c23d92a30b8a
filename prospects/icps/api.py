"""ICP endpoints: CRUD and ranked matches. Mounted on the one NinjaAPI by leadgen/api.py."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from leadgen.tenancy import get_for_org
from prospects.icps import selectors as icp_selectors
from prospects.icps.schemas import ICPIn, ICPListOut, ICPOut, ICPPatch, MatchListOut, MatchParams
from prospects.icps.services import icp_create, icp_delete, icp_make_primary, icp_update
from prospects.models import ICP
from prospects.schemas import ListParams
from prospects.scoring.embedding import icp_matches

router = Router(tags=["icps"])


@router.get("/icps", response=ICPListOut, summary="List ICPs (by id, cursor pagination)")
def icp_list(request: HttpRequest, page: Query[ListParams]) -> Any:
    rows, next_cursor = icp_selectors.icp_page(cursor=page.cursor or None, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.post(
    "/icps", response={201: ICPOut}, summary="Create an ICP; its vector is computed in the background"
)
def icp_create_endpoint(request: HttpRequest, payload: ICPIn) -> Any:
    icp = icp_create(
        data=payload.model_dump(), actor=getattr(getattr(request, "auth", None), "created_by", None)
    )
    return Status(201, icp)


@router.get("/icps/{icp_id}", response=ICPOut)
def icp_get(request: HttpRequest, icp_id: int) -> Any:
    return get_for_org(ICP, pk=icp_id)


@router.patch("/icps/{icp_id}", response=ICPOut, summary="Change an ICP; criteria are replaced as a whole")
def icp_patch(request: HttpRequest, icp_id: int, payload: ICPPatch) -> Any:
    icp = get_for_org(ICP, pk=icp_id)
    # null means "leave as is" for every field.
    data = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    return icp_update(icp=icp, data=data)


@router.post(
    "/icps/{icp_id}/primary",
    response=ICPOut,
    summary="Make this ICP the primary one: the score pages show when no ICP is chosen (400 if inactive)",
)
def icp_primary_endpoint(request: HttpRequest, icp_id: int) -> Any:
    return icp_make_primary(icp=get_for_org(ICP, pk=icp_id))


@router.delete("/icps/{icp_id}", response={204: None})
def icp_delete_endpoint(request: HttpRequest, icp_id: int) -> Any:
    icp_delete(icp=get_for_org(ICP, pk=icp_id))
    return Status(204, None)


@router.get(
    "/icps/{icp_id}/matches",
    response=MatchListOut,
    summary="Prospects ranked for an ICP: judged ones by score, then the rest by similarity",
)
def icp_matches_endpoint(request: HttpRequest, icp_id: int, params: Query[MatchParams]) -> Any:
    """`min_score` keeps only prospects already judged against this ICP with at least that score."""
    icp = get_for_org(ICP, pk=icp_id)
    matches = icp_matches(icp=icp, limit=params.limit, min_score=params.min_score)
    items = [
        {
            "prospect_id": m.prospect.pk,
            "first_name": m.prospect.first_name,
            "last_name": m.prospect.last_name,
            "email": m.prospect.email,
            "title": m.prospect.title,
            "company_name": m.prospect.company_name,
            "stage": m.prospect.stage,
            "score": m.score,
            "tier": m.tier,
            "similarity": round(m.similarity, 4) if m.similarity is not None else None,
            "reasoning": m.reasoning,
        }
        for m in matches
    ]
    return {"icp_id": icp.pk, "items": items}
