"""ICP endpoints: CRUD and ranked matches. Mounted on the one NinjaAPI by leadgen/api.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadgen.tenancy import get_for_org
from prospects.icps.services import icp_create, icp_delete, icp_update
from prospects.models import ICP
from prospects.scoring.embedding import icp_matches

router = Router(tags=["icps"])

MATCHES_MAX = 500
LIST_MAX = 200


class CriteriaIn(Schema):
    model_config = ConfigDict(extra="forbid")

    industries: list[str] = Field(default_factory=list)
    employee_min: int | None = Field(default=None, ge=0)
    employee_max: int | None = Field(default=None, ge=0)
    locations: list[str] = Field(default_factory=list)
    seniorities: list[str] = Field(default_factory=list)
    title_keywords: list[str] = Field(default_factory=list)
    technologies: list[str] = Field(default_factory=list)
    funding_stages: list[str] = Field(default_factory=list)
    exclusions: list[str] = Field(default_factory=list)


class ICPIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    criteria: CriteriaIn = Field(default_factory=CriteriaIn)
    example_prospect_ids: list[int] = Field(default_factory=list)
    example_company_ids: list[int] = Field(default_factory=list)
    is_active: bool = True


class ICPPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    criteria: CriteriaIn | None = None
    example_prospect_ids: list[int] | None = None
    example_company_ids: list[int] | None = None
    is_active: bool | None = None


class CriteriaOut(Schema):
    industries: list[str] = []
    employee_min: int | None = None
    employee_max: int | None = None
    locations: list[str] = []
    seniorities: list[str] = []
    title_keywords: list[str] = []
    technologies: list[str] = []
    funding_stages: list[str] = []
    exclusions: list[str] = []


class ICPOut(Schema):
    id: int
    name: str
    description: str
    criteria: CriteriaOut
    example_prospect_ids: list[int]
    example_company_ids: list[int]
    is_active: bool
    embedded: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_embedded(obj: ICP) -> bool:
        has = getattr(obj, "has_embedding", None)
        return has if has is not None else obj.embedding is not None


class ICPListOut(Schema):
    items: list[ICPOut]
    next_cursor: str | None


class MatchOut(Schema):
    prospect_id: int
    first_name: str
    last_name: str
    email: str
    title: str
    company_name: str
    stage: str
    score: int | None = Field(description="The qualification score (0–100) for this ICP; null until judged.")
    tier: str | None = Field(description="A, B, C or disqualified; null until judged.")
    similarity: float | None = Field(description="Cosine similarity of the profile and ICP vectors, 0–1.")
    reasoning: str | None


class MatchListOut(Schema):
    icp_id: int
    items: list[MatchOut]


class MatchParams(Schema):
    limit: int = Field(default=50, ge=1, le=MATCHES_MAX)
    min_score: int | None = Field(default=None, ge=0, le=100)


class ListParams(Schema):
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=LIST_MAX)


def _with_embedded_flag(qs: QuerySet[ICP]) -> QuerySet[ICP]:
    """Whether a vector exists, without loading 384 floats per row."""
    return qs.defer("embedding").annotate(
        has_embedding=ExpressionWrapper(Q(embedding__isnull=False), output_field=BooleanField())
    )


@router.get("/icps", response=ICPListOut, summary="List ICPs (by id, cursor pagination)")
def icp_list(request: HttpRequest, page: Query[ListParams]) -> Any:
    qs = _with_embedded_flag(ICP.objects.order_by("pk"))
    if page.cursor:
        if not page.cursor.isdigit():
            raise ValidationError("The cursor is invalid.")
        qs = qs.filter(pk__gt=int(page.cursor))
    rows = list(qs[: page.limit + 1])
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return {"items": rows, "next_cursor": str(rows[-1].pk) if more else None}


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
