"""Schemas of `/api/v1/icps`."""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import ConfigDict, Field

from prospects.models import ICP

MATCHES_MAX = 500


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
    # The ICP whose score pages show when none is chosen (POST /icps/{id}/primary sets it).
    is_primary: bool
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
