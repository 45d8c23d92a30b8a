from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Body, File, Form, Query, Router, Status, UploadedFile
from pydantic import ValidationError as SchemaError

from leadgen.api_errors import error
from leadgen.errors import error_items, error_text
from leadgen.tenancy import get_for_org
from prospects import merge, selectors, services
from prospects.imports import formats
from prospects.imports import services as import_services
from prospects.models import Company, Import, Prospect, Source
from prospects.schemas import (
    BulkBody,
    BulkIn,
    BulkOut,
    CompanyIn,
    CompanyListOut,
    CompanyListParams,
    CompanyOut,
    CompanyPatch,
    ImportListOut,
    ImportOut,
    ImportRowErrorListOut,
    ImportStartIn,
    ListParams,
    MergeIn,
    NoteIn,
    NoteListOut,
    NoteOut,
    OutcomeIn,
    OutcomeOut,
    ProspectDetailOut,
    ProspectIn,
    ProspectListOut,
    ProspectOut,
    ProspectPatch,
)
from prospects.scoring.intake import pipeline_enqueue_on_commit

router = Router(tags=["prospects"])

BULK_MAX_ITEMS = 1000


def _duplicate(request: HttpRequest, existing: Any, what: str) -> HttpResponse:
    return error(
        request, 409, f"A {what} with this identity already exists.", "duplicate", existing_id=existing.pk
    )


# --- prospects ---------------------------------------------------------------------------------------------


@router.get("/prospects", response=ProspectListOut, summary="List prospects (cursor pagination)")
def prospect_list(request: HttpRequest, page: Query[ListParams]) -> Any:
    """Filters: q, stage, tier, score_min, score_max, icp, source, owner (user id or `none`), tag, company,
    created_after, created_before (YYYY-MM-DD), sort (`created_at`, `updated_at`, `last_name`, `email`,
    `company_name`, `title`, `stage`, `score`; prefix `-` for descending; default `-created_at`)."""
    filters = selectors.ProspectFilters.from_querydict(request.GET)
    if filters.errors:
        return error(
            request,
            422,
            f"Invalid filter values: {', '.join(filters.errors)}.",
            "validation_error",
            errors=[{"field": name, "message": "invalid value"} for name in filters.errors],
        )
    result = selectors.prospect_search(
        filters=filters,
        cursor=page.cursor or None,
        limit=page.limit,
        with_count=False,
        select_related=(),
        with_headline=False,
    )
    return {"items": result.rows, "next_cursor": result.next_cursor}


@router.post(
    "/prospects",
    response={200: ProspectOut, 201: ProspectOut},
    summary="Create a prospect (409 on a duplicate unless ?upsert=true)",
)
def prospect_create(request: HttpRequest, payload: ProspectIn, upsert: bool = False) -> Any:
    try:
        result = services.prospect_upsert(
            org=request.auth.org,  # type: ignore[attr-defined]
            data=payload.model_dump(exclude_unset=True),
            source=Source.API,
            create_only=not upsert,
        )
    except services.DuplicateProspect as exc:
        return _duplicate(request, exc.existing, "prospect")
    if result.status == "suppressed":
        return error(request, 422, "This person or domain is on the suppression list.", "suppressed")
    if result.prospect is not None and result.status in ("created", "updated"):
        pipeline_enqueue_on_commit(org_id=result.prospect.org_id, prospect_ids=[result.prospect.pk])
    return Status(201 if result.status == "created" else 200, result.prospect)


@router.post("/prospects/bulk", response=BulkOut, summary="Upsert up to 1,000 prospects; a result per item")
def prospect_bulk(request: HttpRequest, payload: Body[BulkBody]) -> Any:
    """The body is `{"items": [...], "update_existing": true}` or the bare array `[...]` (existing people are
    then updated)."""
    bulk = payload if isinstance(payload, BulkIn) else BulkIn(items=payload)
    if len(bulk.items) > BULK_MAX_ITEMS:
        return error(
            request,
            413,
            f"At most {BULK_MAX_ITEMS:,} items per request (got {len(bulk.items):,}).",
            "too_large",
        )
    org = request.auth.org  # type: ignore[attr-defined]
    results = []
    for index, item in enumerate(bulk.items):
        outcome: dict[str, Any] = {"index": index, "status": "error", "id": None, "errors": []}
        try:
            data = ProspectIn.model_validate(item).model_dump(exclude_unset=True)
            with transaction.atomic():
                upserted = services.prospect_upsert(
                    org=org, data=data, source=Source.API, update_existing=bulk.update_existing
                )
        except ValidationError as exc:
            outcome["errors"] = error_items(exc)
        except SchemaError as exc:
            outcome["errors"] = [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
            ]
        else:
            outcome["status"] = upserted.status
            outcome["id"] = upserted.prospect.pk if upserted.prospect else None
        results.append(outcome)
    changed = [r["id"] for r in results if r["status"] in ("created", "updated")]
    pipeline_enqueue_on_commit(org_id=org.pk, prospect_ids=changed)
    return {"results": results}


@router.post("/prospects/merge", response=ProspectOut, summary="Merge duplicates into a primary prospect")
def prospect_merge(request: HttpRequest, payload: MergeIn) -> Any:
    primary = get_for_org(Prospect, pk=payload.primary_id)
    ids = set(payload.duplicate_ids)
    if payload.primary_id in ids:
        return error(request, 422, "The primary cannot also be one of the duplicates.", "invalid")
    duplicates = list(Prospect.objects.filter(pk__in=ids))
    if len(duplicates) != len(ids):
        return error(request, 404, "Not found.", "not_found")
    return merge.prospect_merge(primary=primary, duplicates=duplicates, actor=None)


@router.get("/prospects/{prospect_id}", response=ProspectDetailOut)
def prospect_get(request: HttpRequest, prospect_id: int) -> Any:
    return get_for_org(Prospect, pk=prospect_id)


@router.patch("/prospects/{prospect_id}", response=ProspectOut)
def prospect_patch(request: HttpRequest, prospect_id: int, payload: ProspectPatch) -> Any:
    prospect = get_for_org(Prospect, pk=prospect_id)
    try:
        return services.prospect_update(
            prospect=prospect, data=payload.model_dump(exclude_unset=True), actor=None
        )
    except services.DuplicateProspect as exc:
        return _duplicate(request, exc.existing, "prospect")


@router.delete("/prospects/{prospect_id}", response={204: None})
def prospect_delete(request: HttpRequest, prospect_id: int) -> Any:
    services.prospect_delete(prospect=get_for_org(Prospect, pk=prospect_id))
    return Status(204, None)


@router.get("/prospects/{prospect_id}/notes", response=NoteListOut)
def note_list(request: HttpRequest, prospect_id: int, page: Query[ListParams]) -> Any:
    prospect = get_for_org(Prospect, pk=prospect_id)
    rows, next_cursor = selectors.note_page(prospect=prospect, cursor=page.cursor or None, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/prospects/{prospect_id}/notes", response={201: NoteOut})
def note_create(request: HttpRequest, prospect_id: int, payload: NoteIn) -> Any:
    prospect = get_for_org(Prospect, pk=prospect_id)
    return Status(201, services.note_create(prospect=prospect, body=payload.body, author=None))


@router.post(
    "/prospects/{prospect_id}/outcome", response={201: OutcomeOut}, summary="Record won/lost/disqualified"
)
def outcome_create(request: HttpRequest, prospect_id: int, payload: OutcomeIn) -> Any:
    prospect = get_for_org(Prospect, pk=prospect_id)
    outcome = services.outcome_record(
        prospect=prospect, result=payload.result or "", reason=payload.reason, actor=None, source="api"
    )
    return Status(201, outcome)


# --- companies ---------------------------------------------------------------------------------------------


@router.get("/companies", response=CompanyListOut, summary="List companies by name (cursor pagination)")
def company_list(request: HttpRequest, params: Query[CompanyListParams]) -> Any:
    result = selectors.company_search(q=params.q, cursor=params.cursor or None, limit=params.limit)
    return {"items": result.rows, "next_cursor": result.next_cursor}


@router.post("/companies", response={201: CompanyOut}, summary="Create a company (409 on a duplicate domain)")
def company_create(request: HttpRequest, payload: CompanyIn) -> Any:
    try:
        company = services.company_create(
            org=request.auth.org,  # type: ignore[attr-defined]
            data=payload.model_dump(),
        )
    except services.DuplicateCompany as exc:
        return _duplicate(request, exc.existing, "company")
    return Status(201, company)


@router.get("/companies/{company_id}", response=CompanyOut)
def company_get(request: HttpRequest, company_id: int) -> Any:
    return get_for_org(Company, pk=company_id)


@router.patch("/companies/{company_id}", response=CompanyOut)
def company_patch(request: HttpRequest, company_id: int, payload: CompanyPatch) -> Any:
    company = get_for_org(Company, pk=company_id)
    try:
        return services.company_update(company=company, data=payload.model_dump(exclude_unset=True))
    except services.DuplicateCompany as exc:
        return _duplicate(request, exc.existing, "company")


@router.delete("/companies/{company_id}", response={204: None})
def company_delete(request: HttpRequest, company_id: int) -> Any:
    services.company_delete(company=get_for_org(Company, pk=company_id))
    return Status(204, None)


# --- imports (the CSV import of prospects.imports.services) ----------------------------------------------------


def _import_start(request: HttpRequest, job: Import, data: ImportStartIn) -> Any:
    mapping = {**job.mapping, **data.mapping}
    try:
        job = import_services.import_start(
            job=job, mapping=mapping, update_existing=data.update_existing, tags=data.tags
        )
    except ValidationError as exc:
        return error(
            request,
            400,
            error_text(exc),
            "invalid_mapping",
            import_id=job.pk,
            errors=[{"field": "mapping", "message": m} for m in exc.messages],
        )
    return Status(201, job)


@router.post(
    "/imports",
    response={201: ImportOut},
    summary="Upload a CSV (multipart) and start importing it",
)
def import_create(
    request: HttpRequest,
    file: UploadedFile = File(...),  # noqa: B008 (ninja's declaration style)
    mapping: str = Form(""),
    update_existing: bool = Form(True),
    tags: str = Form(""),
    start: bool = Form(True),
) -> Any:
    """`mapping` is a JSON object from CSV header to field (`email`, `first_name`, …, `custom:<name>` or
    `ignore`); headers left out keep the automatic mapping of known export formats. With `start=false` the file
    is only analysed: read the suggested mapping and POST /imports/{import_id}/start."""
    try:
        overrides = json.loads(mapping) if mapping.strip() else {}
    except ValueError:
        overrides = None
    if not isinstance(overrides, dict) or not all(isinstance(v, str) for v in overrides.values()):
        return error(request, 422, "mapping must be a JSON object of header → field.", "validation_error")
    try:
        job = import_services.import_create(
            org=request.auth.org,  # type: ignore[attr-defined]
            user=None,
            upload=file,
            name=file.name or "upload.csv",
        )
    except formats.ImportFileError as exc:
        return error(request, 400, str(exc), "invalid_file")
    if not start:
        return Status(201, job)
    return _import_start(
        request, job, ImportStartIn(mapping=overrides, update_existing=update_existing, tags=tags)
    )


@router.post("/imports/{import_id}/start", response={201: ImportOut}, summary="Start an uploaded import")
def import_start(request: HttpRequest, import_id: int, payload: ImportStartIn) -> Any:
    return _import_start(request, get_for_org(Import, pk=import_id), payload)


@router.get("/imports", response=ImportListOut, summary="Imports, newest first")
def import_list(request: HttpRequest, page: Query[ListParams]) -> Any:
    rows, next_cursor = selectors.import_page(cursor=page.cursor or None, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/imports/{import_id}", response=ImportOut, summary="Status and counts of one import")
def import_get(request: HttpRequest, import_id: int) -> Any:
    return get_for_org(Import, pk=import_id)


@router.get("/imports/{import_id}/errors", response=ImportRowErrorListOut, summary="Failed rows of an import")
def import_errors(request: HttpRequest, import_id: int, page: Query[ListParams]) -> Any:
    job = get_for_org(Import, pk=import_id)
    rows, next_cursor = selectors.import_error_page(job=job, cursor=page.cursor or None, limit=page.limit)
    return {"items": rows, "next_cursor": next_cursor}
