"""JSON API of campaigns: CRUD, launch/pause/resume/archive, enrollments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from leadgen.api_errors import error
from leadgen.tenancy import get_for_org

from . import selectors, services
from .enrollment import enrollment_create_many, enrollment_stop
from .models import Campaign, Enrollment, Step, StopReason
from .schemas import (
    CampaignIn,
    CampaignListOut,
    CampaignOut,
    CampaignPatch,
    EnrollIn,
    EnrollmentListOut,
    EnrollOut,
    StepIn,
)

router = Router(tags=["campaigns"])

API_MAX_LIMIT = 200


class ListParams(Schema):
    cursor: str | None = None
    limit: int = 50


def _limit(value: int) -> int:
    return max(1, min(value, API_MAX_LIMIT))


def _cursor(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _campaigns() -> QuerySet[Campaign]:
    return Campaign.objects.prefetch_related(
        "mailboxes",
        Prefetch("steps", queryset=Step.objects.order_by("order", "id").prefetch_related("variants")),
    )


def _campaign(campaign_id: int) -> Campaign:
    return get_for_org(_campaigns(), pk=campaign_id)


def _steps(steps: list[StepIn]) -> list[services.StepData]:
    return [
        services.StepData(
            delay_amount=s.delay_business_days if s.delay_business_days is not None else s.delay_hours,
            delay_unit="business_days" if s.delay_business_days is not None else "hours",
            thread=s.thread,
            ai_personalise=s.ai_personalise,
            ai_mode=s.ai_mode,
            variants=[services.VariantData(v.name, v.subject, v.body, v.weight) for v in s.variants],
        )
        for s in steps
    ]


def _fields(payload: CampaignIn | CampaignPatch) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=True, exclude={"steps", "mailbox_ids", "icp_id", "schedule"})
    schedule = payload.schedule if "schedule" in payload.model_fields_set else None
    if schedule is not None:
        data |= {
            "send_days": sorted(set(schedule.days)),
            "window_start": dt.time.fromisoformat(schedule.start),
            "window_end": dt.time.fromisoformat(schedule.end),
        }
    return data


@router.get("/campaigns", response=CampaignListOut, summary="Campaigns, newest first")
def campaign_list(request: HttpRequest, page: Query[ListParams]) -> Any:
    rows = _campaigns().order_by("-id")
    if cursor := _cursor(page.cursor):
        rows = rows.filter(id__lt=cursor)
    limit = _limit(page.limit)
    items = list(rows[: limit + 1])
    next_cursor = str(items[limit - 1].pk) if len(items) > limit else None
    return {"items": items[:limit], "next_cursor": next_cursor}


@router.post("/campaigns", response={201: CampaignOut}, summary="Create a campaign (a draft) with its steps")
def campaign_create(request: HttpRequest, payload: CampaignIn) -> Any:
    campaign = services.campaign_create(
        org=request.auth.org,  # type: ignore[attr-defined]
        owner=None,
        data=_fields(payload),
        steps=_steps(payload.steps),
        mailbox_ids=payload.mailbox_ids,
        icp_id=payload.icp_id,
    )
    return Status(201, _campaign(campaign.pk))


@router.get("/campaigns/{campaign_id}", response=CampaignOut)
def campaign_get(request: HttpRequest, campaign_id: int) -> Any:
    return _campaign(campaign_id)


@router.patch(
    "/campaigns/{campaign_id}", response=CampaignOut, summary="Change a campaign; steps match by position"
)
def campaign_patch(request: HttpRequest, campaign_id: int, payload: CampaignPatch) -> Any:
    campaign = _campaign(campaign_id)
    given = payload.model_fields_set
    services.campaign_update(
        campaign=campaign,
        data=_fields(payload),
        steps=_steps(payload.steps) if payload.steps is not None else None,
        mailbox_ids=payload.mailbox_ids if "mailbox_ids" in given else None,
        icp_id=payload.icp_id if "icp_id" in given else ...,
    )
    return _campaign(campaign_id)


@router.delete("/campaigns/{campaign_id}", response={204: None}, summary="Delete a campaign that never sent")
def campaign_delete(request: HttpRequest, campaign_id: int) -> Any:
    services.campaign_delete(campaign=_campaign(campaign_id))
    return Status(204, None)


def _lifecycle(campaign_id: int, action: Any) -> Any:
    action(campaign=_campaign(campaign_id))
    return _campaign(campaign_id)


@router.post("/campaigns/{campaign_id}/launch", response=CampaignOut)
def campaign_launch(request: HttpRequest, campaign_id: int) -> Any:
    return _lifecycle(campaign_id, services.campaign_launch)


@router.post("/campaigns/{campaign_id}/pause", response=CampaignOut, summary="Pause: nothing more is sent")
def campaign_pause(request: HttpRequest, campaign_id: int) -> Any:
    return _lifecycle(campaign_id, services.campaign_pause)


@router.post("/campaigns/{campaign_id}/resume", response=CampaignOut, summary="Resume: nothing is sent twice")
def campaign_resume(request: HttpRequest, campaign_id: int) -> Any:
    return _lifecycle(campaign_id, services.campaign_resume)


@router.post(
    "/campaigns/{campaign_id}/archive", response=CampaignOut, summary="Archive: every enrollment stops"
)
def campaign_archive(request: HttpRequest, campaign_id: int) -> Any:
    return _lifecycle(campaign_id, services.campaign_archive)


# --- enrollments -------------------------------------------------------------------------------------------------


@router.post(
    "/campaigns/{campaign_id}/enrollments",
    response=EnrollOut,
    summary="Enroll prospects; a result per id (enrolled, or skipped with its reason)",
)
def enrollment_create(request: HttpRequest, campaign_id: int, payload: EnrollIn) -> Any:
    campaign = _campaign(campaign_id)
    outcomes = enrollment_create_many(campaign=campaign, prospect_ids=payload.prospect_ids, source="api")
    return {
        "results": [
            {
                "prospect_id": o.prospect_id,
                "status": o.status,
                "reason": o.reason or None,
                "enrollment_id": o.enrollment.pk if o.enrollment else None,
            }
            for o in outcomes
        ]
    }


class EnrollmentListParams(ListParams):
    state: str = ""


@router.get(
    "/campaigns/{campaign_id}/enrollments", response=EnrollmentListOut, summary="Enrollments, newest first"
)
def enrollment_list(request: HttpRequest, campaign_id: int, params: Query[EnrollmentListParams]) -> Any:
    campaign = _campaign(campaign_id)
    rows, next_cursor = selectors.enrollment_page(
        campaign=campaign, state=params.state, cursor=_cursor(params.cursor), limit=_limit(params.limit)
    )
    return {"items": rows, "next_cursor": str(next_cursor) if next_cursor else None}


@router.delete(
    "/campaigns/{campaign_id}/enrollments/{enrollment_id}", response={204: None}, summary="Stop one"
)
def enrollment_delete(request: HttpRequest, campaign_id: int, enrollment_id: int) -> Any:
    campaign = _campaign(campaign_id)
    enrollment = get_for_org(Enrollment.objects.filter(campaign=campaign), pk=enrollment_id)
    if not enrollment_stop(enrollment=enrollment, reason=StopReason.REMOVED):
        return error(request, 409, "This enrollment has already ended.", "conflict")
    return Status(204, None)
