"""`/api/v1/crm/push` (send prospects to the connected CRMs) and a prospect's CRM sync log."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from leadgen.api_errors import error
from leadgen.tenancy import get_for_org
from prospects.crm import selectors, services
from prospects.crm.schemas import CrmPushIn, CrmPushOut, CrmSyncLogListOut
from prospects.models import Prospect

router = Router(tags=["crm"])


@router.post(
    "/crm/push",
    response={202: CrmPushOut},
    summary="Queue prospects for the connected CRMs (upsert by email and domain; a second push updates)",
)
def crm_push(request: HttpRequest, payload: CrmPushIn) -> Any:
    wanted = list(dict.fromkeys(payload.prospect_ids))
    known = set(Prospect.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    try:
        queued = services.crm_push_request(prospect_ids=sorted(known), reason="api")
    except services.NoCrmConnected as exc:
        return error(request, 409, str(exc), "crm_not_connected")
    crms = [c.kind for c in selectors.active_connections()]
    return Status(
        202, {"queued": queued, "crms": crms, "unknown_ids": [pk for pk in wanted if pk not in known]}
    )


@router.get(
    "/prospects/{prospect_id}/crm-sync",
    response=CrmSyncLogListOut,
    summary="What was sent to and came back from the CRM",
)
def prospect_crm_sync(request: HttpRequest, prospect_id: int) -> Any:
    prospect = get_for_org(Prospect, pk=prospect_id)
    return {"items": selectors.prospect_sync_logs(prospect_id=prospect.pk, limit=100)}
