"""Pushing prospects to the CRM: queued per (connection, prospect) as a sync log, sent by a task that retries.

A push upserts by email and domain, so sending the same person twice updates the same CRM records; the CRM's ids
are kept in `CrmRecord` and passed back on the next push. Every push is a `CrmSyncLog` row first (queued), then
claimed with a conditional UPDATE (sending), then done, retrying (rate limit, 5xx, network: the task tries again
with exponential backoff, at least as long as the CRM's Retry-After) or failed (the CRM refused; the error is shown
as it worded it). Rows left queued or sending by a lost task are queued again by the periodic sweep, so a record is
never dropped.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import require_org_id
from prospects.crm.adapters.base import ContactPush, CrmError, CrmTransientError, PushResult
from prospects.crm.connections import adapter_for, connection_error_record, mapping_of
from prospects.crm.models import (
    CrmConnection,
    CrmKind,
    CrmRecord,
    CrmSyncLog,
    SyncDirection,
    SyncStatus,
)
from prospects.models import Prospect, Qualification

log = logging.getLogger(__name__)

PUSH_TASK = "prospects.crm.tasks.crm_push_task"
PENDING = (SyncStatus.QUEUED, SyncStatus.RETRYING)
# A push row still queued or sending after this long lost its task (broker restart, killed worker).
STALE_AFTER = timedelta(hours=2)
TOP_HOOKS = 3
REASONING_MAX = 2000


class NoCrmConnected(Exception):
    """A push was asked for with no active CRM connection."""


def crm_push_request(
    *, prospect_ids: list[int], reason: str, connections: list[CrmConnection] | None = None
) -> int:
    """Queue a push of these prospects (of the current org) to each active connection; returns how many were
    queued. A prospect already waiting for the same connection is not queued twice."""
    org_id = require_org_id()
    if connections is None:
        connections = list(CrmConnection.objects.filter(is_active=True))
        if not connections:
            raise NoCrmConnected("No CRM is connected: connect one in Settings → Integrations.")
    if not connections or not prospect_ids:
        return 0
    ids = list(Prospect.objects.filter(pk__in=prospect_ids).values_list("pk", flat=True))
    waiting = set(
        CrmSyncLog.objects.filter(
            direction=SyncDirection.PUSH, status__in=PENDING, prospect_id__in=ids, connection__in=connections
        ).values_list("connection_id", "prospect_id")
    )
    logs = CrmSyncLog.objects.bulk_create(
        [
            CrmSyncLog(
                org_id=org_id,
                connection=connection,
                crm=connection.kind,
                prospect_id=pk,
                direction=SyncDirection.PUSH,
                detail=reason[:200],
            )
            for connection in connections
            for pk in ids
            if (connection.pk, pk) not in waiting
        ]
    )
    for entry in logs:
        task_send_on_commit(PUSH_TASK, org_id, entry.pk)
    return len(logs)


def _hooks_text(qualification: Qualification | None) -> str:
    hooks = (qualification.hooks if qualification else None) or []
    texts = [str(h.get("text", "")).strip() for h in hooks if isinstance(h, dict)]
    return "\n".join(f"• {text}" for text in texts[:TOP_HOOKS] if text)


def _qualification(prospect: Prospect) -> Qualification | None:
    rows = Qualification.objects.filter(prospect=prospect).order_by("-score", "pk")
    chosen = rows.filter(icp_id=prospect.icp_id).first() if prospect.icp_id else None
    return chosen or rows.first()


def prospect_values(prospect: Prospect) -> dict[str, Any]:
    """Every mappable Leadgen field of one prospect, as the CRM will receive it."""
    qualification = _qualification(prospect)
    return {
        "first_name": prospect.first_name,
        "last_name": prospect.last_name,
        "email": prospect.email,
        "title": prospect.title,
        "phone": prospect.phone,
        "company_name": prospect.company_name,
        "linkedin_url": prospect.linkedin_url,
        "score": prospect.score,
        "tier": prospect.tier,
        "reasoning": (qualification.reasoning if qualification else "")[:REASONING_MAX],
        "hooks": _hooks_text(qualification),
        "url": settings.SITE_URL + reverse("prospect_detail", args=[prospect.pk]),
    }


def _company_domain(prospect: Prospect) -> str:
    company = prospect.company
    return prospect.company_domain or (company.domain if company and company.domain else "") or ""


def contact_push_build(*, connection: CrmConnection, prospect: Prospect) -> ContactPush:
    values = prospect_values(prospect)
    contact = {
        prop: values[name]
        for name, prop in mapping_of(connection).items()
        if prop and values.get(name) not in (None, "")
    }
    record = CrmRecord.objects.filter(connection=connection, prospect=prospect).first()
    company = prospect.company
    domain = _company_domain(prospect)
    company_id = record.company_id if record else ""
    if domain and not company_id:
        # Someone else at this company was pushed before: the CRM's company is known.
        company_id = (
            CrmRecord.objects.filter(connection=connection, company_domain=domain)
            .exclude(company_id="")
            .values_list("company_id", flat=True)
            .first()
            or ""
        )
    name = prospect.company_name or (company.name if company else "") or domain
    if connection.kind == CrmKind.HUBSPOT:
        company_props = {"name": name}
    else:
        website = company.website if company and company.website else (f"https://{domain}" if domain else "")
        company_props = {"Name": name, **({"Website": website} if website else {})}
    return ContactPush(
        email=prospect.email,
        contact=contact,
        company_domain=domain,
        company=company_props if domain else {},
        contact_id=record.contact_id if record else "",
        company_id=company_id,
    )


def _finish(entry: CrmSyncLog, *, status: str, error: str = "", crm_id: str = "", detail: str = "") -> None:
    changes: dict[str, Any] = {"status": status, "error": error[:500], "updated_at": timezone.now()}
    if crm_id:
        changes["crm_id"] = crm_id
    if detail:
        changes["detail"] = detail[:200]
    CrmSyncLog.objects.filter(pk=entry.pk).update(**changes)


def _claim(log_id: int) -> CrmSyncLog | None:
    claimed = CrmSyncLog.objects.filter(pk=log_id, status__in=PENDING).update(
        status=SyncStatus.SENDING, attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    if not claimed:
        return None
    return CrmSyncLog.objects.select_related("connection", "prospect__company").filter(pk=log_id).first()


def _company_lock(*, connection_id: int, domain: str) -> None:
    """Serialise pushes to one company of one CRM until the transaction ends: two people of a new company pushed at
    once would otherwise both find no company (CRM searches lag behind writes) and create it twice."""
    digest = hashlib.sha256(f"crm-company:{connection_id}:{domain}".encode()).digest()
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)])


def _push_and_record(*, connection: CrmConnection, prospect: Prospect) -> PushResult:
    """The CRM calls and the stored ids in one transaction, under the company's lock, so the next person of the
    same company reuses the company id instead of searching for it."""
    adapter = adapter_for(connection)
    try:
        with transaction.atomic():
            domain = _company_domain(prospect)
            if domain:
                _company_lock(connection_id=connection.pk, domain=domain)
            result = adapter.push(contact_push_build(connection=connection, prospect=prospect))
            CrmRecord.objects.update_or_create(
                org_id=prospect.org_id,
                connection=connection,
                prospect=prospect,
                defaults={
                    "contact_id": result.contact_id,
                    "company_id": result.company_id,
                    "company_domain": domain,
                    "pushed_at": timezone.now(),
                },
            )
    finally:
        adapter.close()
    return result


@dataclass
class PushOutcome:
    status: str
    result: PushResult | None = None
    error: str = ""


def crm_push_one(*, log_id: int) -> PushOutcome | None:
    """One attempt at one queued push. Raises CrmTransientError when it is worth trying again (the row is then
    `retrying`); None when the row was not waiting (done already, or another worker has it)."""
    entry = _claim(log_id)
    if entry is None:
        return None
    connection, prospect = entry.connection, entry.prospect
    if connection is None or prospect is None or not connection.is_active:
        _finish(entry, status=SyncStatus.SKIPPED, error="The CRM was disconnected before this was sent.")
        return PushOutcome(SyncStatus.SKIPPED)
    if not prospect.email:
        error = "This prospect has no email address; CRMs match people by email."
        _finish(entry, status=SyncStatus.FAILED, error=error)
        return PushOutcome(SyncStatus.FAILED, error=error)
    try:
        result = _push_and_record(connection=connection, prospect=prospect)
    except CrmTransientError as exc:
        _finish(entry, status=SyncStatus.RETRYING, error=str(exc))
        connection_error_record(connection=connection, error=str(exc))
        raise
    except CrmError as exc:
        _finish(entry, status=SyncStatus.FAILED, error=str(exc))
        connection_error_record(connection=connection, error=str(exc))
        return PushOutcome(SyncStatus.FAILED, error=str(exc))
    what = "new record" if result.created else "updated"
    _finish(
        entry, status=SyncStatus.OK, crm_id=result.contact_id, detail=f"{entry.detail}: {what}".strip(": ")
    )
    CrmConnection.objects.filter(pk=connection.pk).update(last_push_at=timezone.now(), last_error="")
    return PushOutcome(SyncStatus.OK, result=result)


def crm_push_give_up(*, log_id: int, error: str) -> None:
    """Retries spent: the row shows as failed with the last error instead of waiting forever."""
    CrmSyncLog.objects.filter(pk=log_id, status__in=(*PENDING, SyncStatus.SENDING)).update(
        status=SyncStatus.FAILED,
        error=f"Gave up after several tries: {error}"[:500],
        updated_at=timezone.now(),
    )


def crm_pushes_requeue_stale() -> int:
    """Queue again the pushes whose task was lost (still queued or sending long after their last change)."""
    cutoff = timezone.now() - STALE_AFTER
    stale = list(
        CrmSyncLog.objects.unscoped()
        .filter(
            direction=SyncDirection.PUSH,
            status__in=(SyncStatus.QUEUED, SyncStatus.SENDING),
            updated_at__lt=cutoff,
        )
        .values_list("org_id", "pk")[:1000]
    )
    for org_id, pk in stale:
        CrmSyncLog.objects.unscoped().filter(pk=pk).update(
            status=SyncStatus.QUEUED, updated_at=timezone.now()
        )
        task_send_on_commit(PUSH_TASK, org_id, pk)
    return len(stale)
