"""Suppression list and GDPR endpoints, as the settings page and the prospect page offer them.

API keys are created by owners and admins only (Settings → API keys), so a key may read and change the
suppression list and export a person. Erasure cannot be undone: it needs `{"confirm": "erase"}` and a key whose
creator is still an owner or admin of the organisation (a key made by someone since demoted or removed, or by
`manage.py createapikey`, which has no creator, is refused with 403).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from accounts.models import ApiKey, Membership, Role
from leadgen.api_errors import error
from leadgen.tenancy import get_for_org
from prospects.compliance import selectors as compliance_selectors
from prospects.compliance import services as compliance
from prospects.compliance.schemas import (
    EraseIn,
    ErasureOut,
    ExportOut,
    SuppressionBulkIn,
    SuppressionBulkOut,
    SuppressionListOut,
    SuppressionListParams,
)
from prospects.models import Prospect, Suppression

router = Router(tags=["compliance"])


def _key(request: HttpRequest) -> ApiKey:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def _key_may_erase(key: ApiKey) -> bool:
    return (
        key.created_by_id is not None
        and Membership.objects.filter(
            user_id=key.created_by_id, user__is_active=True, role__in=[Role.OWNER, Role.ADMIN]
        ).exists()
    )


@router.get("/suppressions", response=SuppressionListOut, summary="The suppression list, newest first")
def suppression_list(request: HttpRequest, params: Query[SuppressionListParams]) -> Any:
    rows, next_cursor = compliance_selectors.suppression_page(
        kind=params.kind or "", q=params.q, cursor=params.cursor or None, limit=params.limit
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.post(
    "/suppressions",
    response=SuppressionBulkOut,
    summary="Add emails or domains (up to 1,000); a result per value",
)
def suppression_add(request: HttpRequest, payload: SuppressionBulkIn) -> Any:
    key = _key(request)
    results = compliance.suppression_add_many(
        org=key.org, values=payload.values, actor=key.created_by, reason=payload.reason
    )
    counts = {status: sum(r.status == status for r in results) for status in ("added", "already", "invalid")}
    items = [
        {
            "value": r.value,
            "status": r.status,
            "kind": r.kind,
            "normalized": r.normalized,
            "id": r.suppression_id,
        }
        for r in results
    ]
    return {**counts, "results": items}


@router.delete(
    "/suppressions/{suppression_id}",
    response={204: None},
    summary="Remove one entry (an erased person's hash cannot be removed: 400)",
)
def suppression_remove(request: HttpRequest, suppression_id: int) -> Any:
    entry = get_for_org(Suppression.objects.select_related("org"), pk=suppression_id)
    compliance.suppression_remove(suppression=entry, actor=_key(request).created_by)
    return Status(204, None)


@router.get(
    "/prospects/{prospect_id}/export",
    response=ExportOut,
    summary="Everything held on one person (GDPR access and portability), as the prospect page's export",
)
def prospect_export(request: HttpRequest, prospect_id: int) -> Any:
    prospect = get_for_org(Prospect.objects.select_related("company", "org"), pk=prospect_id)
    return compliance.prospect_export(prospect=prospect, actor=_key(request).created_by)


@router.post(
    "/prospects/{prospect_id}/erase",
    response={200: ErasureOut},
    summary='Erase a person for good (body {"confirm": "erase"}); only a hash of their email stays',
)
def prospect_erase(request: HttpRequest, prospect_id: int, payload: EraseIn) -> Any:
    prospect = get_for_org(Prospect.objects.select_related("org"), pk=prospect_id)
    key = _key(request)
    if not _key_may_erase(key):
        return error(
            request,
            403,
            "Erasure needs an API key created by an owner or admin who still is one.",
            "forbidden",
        )
    if payload.confirm != "erase":
        return error(request, 400, 'Send {"confirm": "erase"}: erasure cannot be undone.', "confirm_required")
    report = compliance.prospect_erase(prospect=prospect, actor=key.created_by)
    return {"prospect_id": report.prospect_id, "email_sha256": report.email_hash, "deleted": report.deleted}
