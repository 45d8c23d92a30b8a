"""Routing a prospect that crossed the org's qualification threshold: in-app notifications, Slack, signed webhooks,
and a push to the CRMs set to take qualified prospects (prospects.crm).

Delivery lives beside this module: `notifications`, `slack` and `webhooks` (signed with `leadgen.signing`), each
stored before it is sent and delivered by a task that retries with exponential backoff.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import require_org_id
from prospects.crm.connections import connections_for_trigger
from prospects.crm.services import crm_push_request
from prospects.models import (
    Activity,
    CrmConnection,
    PipelineSettings,
    Prospect,
    WebhookEndpoint,
    WebhookMessage,
)
from prospects.routing.notifications import admin_user_ids, notifications_create
from prospects.routing.webhooks import EVENT_PROSPECT_QUALIFIED

log = logging.getLogger(__name__)

CROSSED_KIND = "threshold_crossed"
NOTIFICATION_KIND = "prospect_qualified"


# --- routing a crossing ---------------------------------------------------------------------------------------


def _crossing_key(prospect: Prospect) -> str:
    scored = prospect.scored_at.isoformat() if prospect.scored_at else ""
    return f"{scored}|{prospect.score}"


def prospect_payload(prospect: Prospect) -> dict[str, Any]:
    return {
        "id": prospect.pk,
        "email": prospect.email,
        "first_name": prospect.first_name,
        "last_name": prospect.last_name,
        "title": prospect.title,
        "company_name": prospect.company_name,
        "company_domain": prospect.company_domain,
        "stage": prospect.stage,
        "score": prospect.score,
        "tier": prospect.tier,
        "icp_id": prospect.icp_id,
        "source": prospect.source,
        "scored_at": prospect.scored_at.isoformat() if prospect.scored_at else None,
        "url": settings.SITE_URL + reverse("prospect_detail", args=[prospect.pk]),
    }


@dataclass
class _RouteContext:
    admin_ids: list[int]
    endpoints: list[WebhookEndpoint]
    slack: bool
    # CRMs that take a prospect when it qualifies (prospects.crm).
    crm_connections: list[CrmConnection]


def _route_context() -> _RouteContext:
    pipeline_settings = PipelineSettings.objects.filter().first()
    endpoints = list(
        WebhookEndpoint.objects.filter(is_active=True, events__contains=[EVENT_PROSPECT_QUALIFIED])
    )
    return _RouteContext(
        admin_ids=admin_user_ids(),
        endpoints=endpoints,
        slack=bool(pipeline_settings and pipeline_settings.slack_webhook_url),
        crm_connections=connections_for_trigger(),
    )


def prospect_route(*, prospect_id: int, context: _RouteContext | None = None) -> bool:
    """Route one threshold crossing: notifications, Slack, webhooks. Idempotent: a crossing (the score and the
    time it was made) is routed once; returns False when there was nothing (new) to route."""
    context = context or _route_context()
    org_id = require_org_id()
    with transaction.atomic():
        prospect = Prospect.objects.select_for_update().filter(pk=prospect_id).first()
        if prospect is None:
            return False
        key = _crossing_key(prospect)
        if Activity.objects.filter(prospect=prospect, kind=CROSSED_KIND, data__crossing=key).exists():
            return False
        name = prospect.full_name or prospect.email or f"Prospect {prospect.pk}"
        at = f" at {prospect.company_name}" if prospect.company_name else ""
        title = f"{name}{at} qualified (score {prospect.score}, tier {prospect.tier or '–'})"
        url = reverse("prospect_detail", args=[prospect.pk])
        recipients = [*context.admin_ids, prospect.owner_id or 0]
        notifications_create(org_id=org_id, user_ids=recipients, kind=NOTIFICATION_KIND, title=title, url=url)
        payload = {
            "type": EVENT_PROSPECT_QUALIFIED,
            "timestamp": timezone.now().isoformat(),
            "data": prospect_payload(prospect),
        }
        messages = WebhookMessage.objects.bulk_create(
            [
                WebhookMessage(
                    org_id=org_id,
                    endpoint=endpoint,
                    event_type=EVENT_PROSPECT_QUALIFIED,
                    message_id=f"msg_{uuid.uuid4().hex}",
                    payload=payload,
                )
                for endpoint in context.endpoints
            ]
        )
        Activity.objects.create(
            org_id=org_id,
            prospect=prospect,
            kind=CROSSED_KIND,
            summary=f"Crossed the qualification threshold with {prospect.score}: "
            f"{len(set(recipients) - {0})} notified, {len(messages)} webhook(s)"
            + (", Slack" if context.slack else "")
            + (", sent to the CRM" if context.crm_connections else ""),
            data={"crossing": key, "score": prospect.score, "webhooks": [m.message_id for m in messages]},
        )
    for message in messages:
        task_send_on_commit("prospects.routing.tasks.webhook_deliver_task", org_id, message.pk)
    if context.slack:
        task_send_on_commit("prospects.routing.tasks.slack_notify_task", org_id, prospect.pk)
    crm_push_request(prospect_ids=[prospect.pk], reason="qualified", connections=context.crm_connections)
    return True


def prospects_route(*, prospect_ids: list[int]) -> dict[int, str]:
    """Route a batch of crossings; returns the ones that failed, with why."""
    context = _route_context()
    failed: dict[int, str] = {}
    for pk in prospect_ids:
        try:
            prospect_route(prospect_id=pk, context=context)
        except Exception as exc:
            log.warning("routing prospect %s failed", pk, exc_info=True)
            failed[pk] = f"{type(exc).__name__}: {exc}"[:400]
    return failed
