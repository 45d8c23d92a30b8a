"""API schemas. Writable prospect fields carry the names of the generic CSV headers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

# Every list endpoint pages the same way: `?limit=&cursor=` → `{"items": [...], "next_cursor": ...}`; a limit out of
# range is brought into it, a bad cursor answers 400 `invalid_cursor` (leadgen/api_errors.py).
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 200


class ListParams(Schema):
    cursor: str | None = None
    limit: int = LIST_LIMIT_DEFAULT

    @field_validator("limit")
    @classmethod
    def _limit_in_range(cls, value: int) -> int:
        return max(1, min(value, LIST_LIMIT_MAX))


class ProspectIn(Schema):
    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = Field(
        None,
        description="Split into first and last name when neither is given: 'Ada Lovelace', 'Lovelace, Ada'.",
    )
    title: str | None = None
    seniority: str | None = None
    department: str | None = None
    phone: str | None = None
    linkedin_url: str | None = None
    location: str | None = None
    timezone: str | None = Field(
        None, description="An IANA time zone name: 'Europe/Berlin', 'America/New_York'."
    )
    do_not_contact: bool | None = Field(
        None, description="Never email this person. Creating or upserting can set it; only PATCH clears it."
    )
    company_name: str | None = None
    company_domain: str | None = None
    company_industry: str | None = Field(
        None, description="Written to the prospect's company, as are the others."
    )
    company_employee_count: int | str | None = Field(
        None, description="A head count, or a range such as '51-200'."
    )
    company_technologies: list[str] | str | None = None
    company_funding_stage: str | None = None
    company_funding_total: int | str | None = Field(None, description="'25000000', '$25M'.")
    company_linkedin_url: str | None = None
    company_location: str | None = None
    company_keywords: list[str] | str | None = None
    tags: list[str] | str | None = Field(None, description="At most 50 per prospect, 60 characters each.")
    custom_fields: dict[str, Any] | None = Field(
        None, description="At most 50 keys of up to 64 characters; a value up to 2,000 characters."
    )
    stage: str | None = None


class ProspectPatch(ProspectIn):
    owner_id: int | None = None


class ProspectOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    title: str
    phone: str
    linkedin_url: str
    location: str
    company_name: str
    company_domain: str
    tags: list[str]
    custom_fields: dict[str, Any]
    stage: str
    company_id: int | None
    score: int | None
    tier: str
    source: str
    owner_id: int | None
    seniority: str
    department: str
    timezone: str
    do_not_contact: bool
    lawful_basis: str
    created_at: dt.datetime
    updated_at: dt.datetime
    score_breakdown: dict[str, Any]
    scored_at: dt.datetime | None


class HookEvidenceOut(Schema):
    source: str
    quote: str


class HookOut(Schema):
    text: str
    evidence: HookEvidenceOut


class QualificationOut(Schema):
    icp_id: int
    icp_name: str
    score: int
    tier: str
    similarity: float | None
    reasoning: str
    red_flags: list[str]
    hooks: list[HookOut]
    matched_criteria: list[str]
    missed_criteria: list[str]
    dropped_hooks: int
    provider: str
    model: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: int
    created_at: dt.datetime

    @staticmethod
    def resolve_icp_name(obj: Any) -> str:
        return obj.icp.name


class ProspectDetailOut(ProspectOut):
    """One prospect with its per-ICP judgements (GET one only: lists stay one query per page)."""

    qualifications: list[QualificationOut]

    @staticmethod
    def resolve_qualifications(obj: Any) -> list[Any]:
        from prospects.scoring.qualification import prospect_qualifications

        return prospect_qualifications(prospect=obj)


class ProspectListOut(Schema):
    items: list[ProspectOut]
    next_cursor: str | None


class BulkIn(Schema):
    # Raw objects: each item is validated on its own so one bad item never fails the others.
    items: list[dict[str, Any]] = Field(description="Prospects, each with the fields of POST /prospects")
    update_existing: bool = True


# The body of POST /prospects/bulk: `{"items": [...], "update_existing": ...}` or the bare array of items.
BulkArray = Annotated[
    list[dict[str, Any]],
    Field(title="BulkArray", description='A bare array of prospects: the same as {"items": [...]}'),
]
BulkBody = BulkIn | BulkArray


class BulkItemOut(Schema):
    index: int
    status: Literal["created", "updated", "unchanged", "suppressed", "error"]
    id: int | None = None
    errors: list[dict[str, str]] = Field(default_factory=list)


class BulkOut(Schema):
    results: list[BulkItemOut]


class NoteIn(Schema):
    body: str


class NoteOut(Schema):
    id: int
    body: str
    author_id: int | None
    created_at: dt.datetime


class NoteListOut(Schema):
    items: list[NoteOut]
    next_cursor: str | None


class OutcomeIn(Schema):
    # Optional only so that an id check (404) comes before "result is required" (400 from the service).
    result: Literal["won", "lost", "disqualified"] | None = None
    reason: str = ""


class OutcomeOut(Schema):
    id: int
    prospect_id: int
    result: str
    reason: str
    source: str
    created_at: dt.datetime


class MergeIn(Schema):
    primary_id: int
    duplicate_ids: list[int] = Field(min_length=1, max_length=50)


class CompanyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    domain: str | None = None
    website: str = ""
    industry: str = ""
    employee_count: int | None = Field(default=None, ge=0)
    location: str = ""
    description: str = ""
    linkedin_url: str = ""
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class CompanyPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    domain: str | None = None
    website: str | None = None
    industry: str | None = None
    employee_count: int | None = Field(default=None, ge=0)
    location: str | None = None
    description: str | None = None
    linkedin_url: str | None = None
    custom_fields: dict[str, Any] | None = None


class CompanyOut(Schema):
    id: int
    name: str
    domain: str | None
    website: str
    industry: str
    employee_count: int | None
    location: str
    description: str
    linkedin_url: str
    technologies: list[str]
    custom_fields: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class CompanyListParams(ListParams):
    q: str = ""


class CompanyListOut(Schema):
    items: list[CompanyOut]
    next_cursor: str | None


class ImportOut(Schema):
    id: int
    original_name: str
    status: str
    error: str
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, str]
    update_existing: bool
    tags: list[str]
    total_rows: int
    processed_rows: int
    percent: int
    created_count: int
    created_without_email: int = Field(
        description="Of created_count, people without an email: kept as people to enrich, never dropped"
    )
    updated_count: int
    unchanged_count: int
    suppressed_count: int
    failed_count: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class ImportListOut(Schema):
    items: list[ImportOut]
    next_cursor: str | None


class ImportStartIn(Schema):
    mapping: dict[str, str] = Field(default_factory=dict)
    update_existing: bool = True
    tags: list[str] | str = Field(default_factory=list)


class ImportRowErrorOut(Schema):
    line: int
    reason: str
    raw: str


class ImportRowErrorListOut(Schema):
    items: list[ImportRowErrorOut]
    next_cursor: str | None
