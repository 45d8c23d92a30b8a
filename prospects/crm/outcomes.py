"""Outcomes coming back from a CRM: closed deals, disqualified leads, the generic signed hook.

Each change is recorded once (a `CrmSyncLog` with a unique key per change: deal id and result, webhook message id)
through `prospects.services.outcome_record`, with the CRM as the source. An outcome is what the per-org scoring
model learns from, so after new ones the org's model is queued for refitting when it has enough new outcomes
(`prospects.scoring.model.orgs_due_for_training`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from django.db import IntegrityError, transaction
from django.utils import timezone

from leadgen.signing import webhook_secret_generate, webhook_signature
from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import require_org_id
from prospects import services as prospect_services
from prospects.crm.adapters.base import Change, CrmError
from prospects.crm.adapters.hubspot import HubSpot
from prospects.crm.connections import adapter_for, connection_error_record, credentials_of
from prospects.crm.models import (
    CrmConnection,
    CrmKind,
    CrmRecord,
    CrmSyncLog,
    OutcomeHook,
    SyncDirection,
    SyncStatus,
)
from prospects.models import OutcomeResult, Prospect
from prospects.scoring.model import orgs_due_for_training, scoring_model_train_request

log = logging.getLogger(__name__)

# The poll looks a little behind its last high-water mark: CRMs index modifications with some delay.
POLL_OVERLAP = timedelta(minutes=5)
SIGNATURE_WINDOW_SECONDS = 300
HOOK_SOURCE = "webhook"
RESULT_WORDS = {
    "won": OutcomeResult.WON,
    "closed_won": OutcomeResult.WON,
    "closedwon": OutcomeResult.WON,
    "lost": OutcomeResult.LOST,
    "closed_lost": OutcomeResult.LOST,
    "closedlost": OutcomeResult.LOST,
    "disqualified": OutcomeResult.DISQUALIFIED,
    "unqualified": OutcomeResult.DISQUALIFIED,
}


class HookRefused(Exception):
    """A hook delivery we do not accept; `status` is the HTTP answer, the message says why."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


# --- recording changes -------------------------------------------------------------------------------------------


def _match(connection: CrmConnection | None, change: Change) -> Prospect | None:
    if connection is not None and change.contact_ids:
        record = (
            CrmRecord.objects.filter(connection=connection, contact_id__in=change.contact_ids)
            .select_related("prospect")
            .first()
        )
        if record is not None:
            return record.prospect
    emails = [email.strip().lower() for email in change.emails if email]
    if emails:
        return Prospect.objects.filter(email_normalized__in=emails).order_by("pk").first()
    return None


def retrain_if_due(*, org_id: int) -> bool:
    """Queue a refit of the org's scoring model when it has enough outcomes its last model has not seen."""
    if org_id in orgs_due_for_training():
        scoring_model_train_request(org_id=org_id)
        return True
    return False


def change_apply(*, connection: CrmConnection | None, crm: str, change: Change) -> bool:
    """Record one change once; True when it became an outcome."""
    org_id = require_org_id()
    prospect = _match(connection, change)
    try:
        with transaction.atomic():
            entry = CrmSyncLog.objects.create(
                org_id=org_id,
                connection=connection,
                crm=crm,
                prospect=prospect,
                direction=SyncDirection.PULL,
                status=SyncStatus.OK if prospect else SyncStatus.SKIPPED,
                detail=f"{OutcomeResult(change.result).label}: {change.reason}"[:200],
                error="" if prospect else "No prospect in Leadgen has this email or CRM id.",
                crm_id=change.crm_id[:64],
                external_key=change.key[:200],
            )
            if prospect is not None:
                prospect_services.outcome_record(
                    prospect=prospect, result=change.result, reason=change.reason, actor=None, source=crm
                )
    except IntegrityError:
        return False  # seen before (the same deal closed the same way, the same webhook message)
    return prospect is not None and entry.status == SyncStatus.OK


def changes_apply(*, connection: CrmConnection | None, crm: str, changes: Iterable[Change]) -> int:
    recorded = sum(1 for change in changes if change_apply(connection=connection, crm=crm, change=change))
    if recorded:
        retrain_if_due(org_id=require_org_id())
    return recorded


def crm_pull(*, connection_id: int) -> int:
    """Poll one connection for changes since its last look; returns how many outcomes were recorded."""
    connection = CrmConnection.objects.filter(pk=connection_id, is_active=True).first()
    if connection is None:
        return 0
    since = (connection.pulled_until or connection.created_at) - POLL_OVERLAP
    started = timezone.now()
    adapter = None
    try:
        adapter = adapter_for(connection)
        changes = adapter.changes_since(since)
    except CrmError as exc:
        log.warning("CRM pull of connection %s failed: %s", connection.pk, exc)
        connection_error_record(connection=connection, error=str(exc))
        raise
    finally:
        if adapter is not None:
            adapter.close()
    recorded = changes_apply(connection=connection, crm=connection.kind, changes=changes.items)
    # Everything modified before `started` has been seen (late-indexed changes are caught by the overlap).
    CrmConnection.objects.filter(pk=connection.pk).update(
        pulled_until=started, last_pull_at=timezone.now(), last_error=""
    )
    return recorded


# --- HubSpot webhooks ----------------------------------------------------------------------------------------


def hubspot_signature(*, client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """X-HubSpot-Signature-v3: base64 HMAC-SHA256 of method + URI + body + timestamp under the app's secret."""
    source = method.encode() + unquote(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(client_secret.encode(), source, hashlib.sha256).digest()).decode()


def hubspot_signature_check(
    *, connection: CrmConnection, method: str, uri: str, body: bytes, headers: Any, now: float | None = None
) -> None:
    secret = credentials_of(connection).get("client_secret", "")
    signature = headers.get("X-HubSpot-Signature-v3") or ""
    stamp = headers.get("X-HubSpot-Request-Timestamp") or ""
    if not secret:
        raise HookRefused(403, "No HubSpot app secret is set for this connection.", "not_configured")
    if not signature or not stamp.isdigit():
        raise HookRefused(
            401, "X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp are required.", "signature_missing"
        )
    age = (time.time() if now is None else now) - int(stamp) / 1000
    if abs(age) > SIGNATURE_WINDOW_SECONDS:
        raise HookRefused(401, "The request timestamp is too old.", "timestamp_expired")
    expected = hubspot_signature(client_secret=secret, method=method, uri=uri, body=body, timestamp=stamp)
    if not hmac.compare_digest(expected, signature):
        raise HookRefused(401, "The signature does not match.", "signature_invalid")


def hubspot_events_receive(*, connection: CrmConnection, events: list[Any]) -> dict[str, int]:
    """Verified HubSpot webhook events: disqualified contacts are recorded now; changed deals are read back
    (the event carries only the deal's id) by a task."""
    if not all(isinstance(e, dict) and e.get("objectId") is not None for e in events):
        raise HookRefused(400, "Each event needs an objectId.", "malformed")
    deal_ids: set[str] = set()
    changes: list[Change] = []
    for event in events:
        kind = str(event.get("subscriptionType") or "")
        if kind.startswith("deal."):
            deal_ids.add(str(event["objectId"]))
        elif kind == "contact.propertyChange" and event.get("propertyName") == "hs_lead_status":
            changes += HubSpot.contact_changes(
                [{"id": event["objectId"], "properties": {"hs_lead_status": event.get("propertyValue")}}]
            )
    recorded = changes_apply(connection=connection, crm=CrmKind.HUBSPOT, changes=changes)
    if deal_ids:
        task_send_on_commit(
            "prospects.crm.tasks.crm_hubspot_deals_task", connection.org_id, connection.pk, sorted(deal_ids)
        )
    return {"recorded": recorded, "deals": len(deal_ids)}


def hubspot_deals_apply(*, connection_id: int, deal_ids: list[str]) -> int:
    connection = CrmConnection.objects.filter(pk=connection_id, kind=CrmKind.HUBSPOT).first()
    if connection is None:
        return 0
    adapter = adapter_for(connection)
    assert isinstance(adapter, HubSpot)
    try:
        changes = adapter.deal_changes(adapter.deals_read(deal_ids))
    finally:
        adapter.close()
    return changes_apply(connection=connection, crm=CrmKind.HUBSPOT, changes=changes)


# --- the generic signed outcomes hook --------------------------------------------------------------------------


def outcome_hook_get_or_create() -> tuple[OutcomeHook, str | None]:
    """The org's hook; the secret is returned only when it was just made (it is shown once)."""
    hook = OutcomeHook.objects.filter().first()
    if hook is not None:
        return hook, None
    secret = webhook_secret_generate()
    return OutcomeHook.objects.create(org_id=require_org_id(), secret=secret), secret


def outcome_hook_rotate(*, hook: OutcomeHook) -> str:
    secret = webhook_secret_generate()
    hook.secret = secret
    hook.save(update_fields=["secret"])
    return secret


def standard_signature_check(*, secret: str, body: bytes, headers: Any, now: float | None = None) -> str:
    """Standard Webhooks verification (webhook-id, webhook-timestamp, webhook-signature over the raw body, within
    five minutes); returns the message id."""
    message_id = headers.get("webhook-id") or ""
    stamp = headers.get("webhook-timestamp") or ""
    signatures = (headers.get("webhook-signature") or "").split()
    if not message_id or not stamp.isdigit() or not signatures:
        raise HookRefused(
            401, "webhook-id, webhook-timestamp and webhook-signature are required.", "signature_missing"
        )
    if abs((time.time() if now is None else now) - int(stamp)) > SIGNATURE_WINDOW_SECONDS:
        raise HookRefused(401, "The webhook timestamp is too old or in the future.", "timestamp_expired")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise HookRefused(400, "The body is not UTF-8.", "malformed") from None
    expected = webhook_signature(secret=secret, message_id=message_id, timestamp=int(stamp), body=text)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise HookRefused(401, "The signature does not match.", "signature_invalid")
    return message_id


def outcome_hook_receive(*, message_id: str, payload: Any) -> dict[str, Any]:
    """A verified delivery of `{email or prospect_id, result, reason}`: recorded once per message id."""
    if not isinstance(payload, dict):
        raise HookRefused(400, "The body must be a JSON object.", "malformed")
    result = RESULT_WORDS.get(
        str(payload.get("result") or "").strip().lower().replace(" ", "_").replace("-", "_")
    )
    if result is None:
        raise HookRefused(422, "result must be won, lost or disqualified.", "invalid")
    reason = str(payload.get("reason") or "")[:500]
    prospect_id, email = payload.get("prospect_id"), str(payload.get("email") or "").strip().lower()
    prospect = None
    if isinstance(prospect_id, int) and not isinstance(prospect_id, bool):
        prospect = Prospect.objects.filter(pk=prospect_id).first()
    elif email:
        prospect = Prospect.objects.filter(email_normalized=email).first()
    else:
        raise HookRefused(422, "Give the prospect's email or prospect_id.", "invalid")
    if prospect is None:
        raise HookRefused(404, "No prospect has this email or id.", "not_found")
    change = Change(
        key=f"hook:{message_id}"[:200],
        result=result,
        reason=reason,
        contact_ids=[],
        emails=[prospect.email_normalized or ""],
        changed_at=timezone.now(),
        crm_id="",
    )
    # prospect_id deliveries match by the prospect itself, not by email.
    recorded = _hook_apply(prospect=prospect, change=change)
    return {"ok": True, "prospect_id": prospect.pk, "result": result, "duplicate": not recorded}


def _hook_apply(*, prospect: Prospect, change: Change) -> bool:
    try:
        with transaction.atomic():
            CrmSyncLog.objects.create(
                org_id=prospect.org_id,
                crm=HOOK_SOURCE,
                prospect=prospect,
                direction=SyncDirection.PULL,
                status=SyncStatus.OK,
                detail=f"{OutcomeResult(change.result).label}: {change.reason}"[:200],
                external_key=change.key,
            )
            prospect_services.outcome_record(
                prospect=prospect, result=change.result, reason=change.reason, actor=None, source="crm"
            )
    except IntegrityError:
        return False
    retrain_if_due(org_id=prospect.org_id)
    return True
