"""Reads of CRM sync for the settings page, the prospect page and the API."""

from __future__ import annotations

from dataclasses import dataclass

from prospects.crm.models import CrmConnection, CrmKind, CrmSyncLog, OutcomeHook, SyncStatus

RECENT_PROBLEMS = 10
PROSPECT_LOG_ROWS = 10


@dataclass
class ConnectionView:
    kind: str
    label: str
    connection: CrmConnection | None
    pushed: int
    failed: int


def connections_overview() -> list[ConnectionView]:
    """Both CRMs, connected or not, with how many pushes succeeded and failed (two queries)."""
    connections = {c.kind: c for c in CrmConnection.objects.all()}
    counts: dict[tuple[int, str], int] = {}
    for connection_id, status in CrmSyncLog.objects.filter(
        direction="push", status__in=(SyncStatus.OK, SyncStatus.FAILED)
    ).values_list("connection_id", "status"):
        counts[(connection_id, status)] = counts.get((connection_id, status), 0) + 1
    out = []
    for kind, label in CrmKind.choices:
        connection = connections.get(kind)
        pk = connection.pk if connection else 0
        out.append(
            ConnectionView(
                kind=kind,
                label=label,
                connection=connection,
                pushed=counts.get((pk, SyncStatus.OK), 0),
                failed=counts.get((pk, SyncStatus.FAILED), 0),
            )
        )
    return out


def sync_problems_recent(limit: int = RECENT_PROBLEMS) -> list[CrmSyncLog]:
    return list(
        CrmSyncLog.objects.filter(status__in=(SyncStatus.FAILED, SyncStatus.RETRYING))
        .select_related("prospect")
        .order_by("-updated_at", "-pk")[:limit]
    )


def prospect_sync_logs(*, prospect_id: int, limit: int = PROSPECT_LOG_ROWS) -> list[CrmSyncLog]:
    return list(CrmSyncLog.objects.filter(prospect_id=prospect_id).order_by("-at", "-pk")[:limit])


def active_connections() -> list[CrmConnection]:
    return list(CrmConnection.objects.filter(is_active=True).order_by("kind"))


def outcome_hook() -> OutcomeHook | None:
    return OutcomeHook.objects.filter().first()
