"""GDPR: export everything held on one person, erase a person, bulk-import the suppression list."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Q, QuerySet

from accounts.models import AuditLog, Organization, User
from accounts.services import audit_record
from prospects import normalize
from prospects.compliance.person_data import person_sections
from prospects.models import (
    Activity,
    ImportRowError,
    Note,
    Outcome,
    Prospect,
    Qualification,
    Suppression,
    SuppressionKind,
    WebhookDelivery,
)

ERASED_LABEL = "[erased person]"
_EXPORT_EXCLUDE = {"org", "search_vector", "email_normalized", "linkedin_normalized"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def _row(instance: Model, exclude: Iterable[str] = ()) -> dict[str, Any]:
    skip = set(exclude)
    row: dict[str, Any] = {}
    for model_field in instance._meta.concrete_fields:
        if model_field.name in skip:
            continue
        row[model_field.attname] = _jsonable(getattr(instance, model_field.attname))
    return row


def _email_variants(email_normalized: str) -> list[str]:
    """How an address appears in raw bodies: as is, JSON-escaped alike, and urlencoded (a%40b.com)."""
    return list(
        dict.fromkeys([email_normalized, quote(email_normalized, safe=""), quote_plus(email_normalized)])
    )


def person_deliveries(*, prospect: Prospect) -> QuerySet[WebhookDelivery]:
    """Raw webhook deliveries linked to the prospect or whose body mentions their email."""
    condition = Q(prospect=prospect)
    if prospect.email_normalized:
        for variant in _email_variants(prospect.email_normalized):
            condition |= Q(body__icontains=variant)
    return WebhookDelivery.objects.filter(condition).order_by("received_at", "id")


def _import_errors(*, prospect: Prospect) -> QuerySet[ImportRowError]:
    if not prospect.email_normalized:
        return ImportRowError.objects.none()
    return ImportRowError.objects.filter(raw__icontains=prospect.email_normalized)


def prospect_export(*, prospect: Prospect, actor: User | None) -> dict[str, Any]:
    """Everything held on one person as one JSON-able document (GDPR article 15 / 20)."""
    company = prospect.company
    document: dict[str, Any] = {
        "exported_at": _jsonable(datetime.datetime.now(datetime.UTC)),
        "organisation": prospect.org.name,
        "prospect": _row(prospect, exclude=_EXPORT_EXCLUDE),
        "company": _row(company, exclude={"org"}) if company else None,
        "notes": [_row(n, exclude={"org"}) for n in Note.objects.filter(prospect=prospect).order_by("id")],
        "activities": [
            _row(a, exclude={"org"}) for a in Activity.objects.filter(prospect=prospect).order_by("id")
        ],
        "outcomes": [
            _row(o, exclude={"org"}) for o in Outcome.objects.filter(prospect=prospect).order_by("id")
        ],
        # Automated scoring and its logic (GDPR article 15(1)(h)): each ICP judgement with its reasoning.
        "qualifications": [
            _row(q, exclude={"org", "input_hash"})
            for q in Qualification.objects.filter(prospect=prospect).order_by("id")
        ],
        "webhook_deliveries": [_row(d, exclude={"org"}) for d in person_deliveries(prospect=prospect)],
        "import_errors": [_row(e, exclude={"org"}) for e in _import_errors(prospect=prospect).order_by("id")],
        "suppressions": [
            _row(s, exclude={"org"})
            for s in Suppression.objects.filter(
                kind=SuppressionKind.EMAIL, value=prospect.email_normalized or "-"
            )
        ],
    }
    # Emails, tracking events, replies (outreach) and whatever else higher apps registered (person_data).
    for name, rows in person_sections(prospect).items():
        document[name] = [_row(row, exclude={"org"}) for row in rows]
    audit_record(org=prospect.org, actor=actor, action="prospect.exported", target=prospect)
    return document


@dataclass
class ErasureReport:
    prospect_id: int
    email_hash: str | None
    deleted: dict[str, int] = field(default_factory=dict)


def prospect_erase(*, prospect: Prospect, actor: User | None) -> ErasureReport:
    """Forget a person: the row, notes, timeline, outcomes, raw payloads and failed import rows that mention them,
    and what higher apps registered in `person_data` (their emails, tracking events, replies, unsubscribes).

    What remains is a sha256 of their normalised email on the suppression list (so imports and webhooks skip
    them from now on) and an audit entry that names neither their email nor their name.
    """
    org = prospect.org
    email = prospect.email_normalized
    email_hash = Suppression.hash_email(email) if email else None
    pk = prospect.pk
    with transaction.atomic():
        prospect = Prospect.objects.select_for_update().get(pk=pk)
        deleted = {
            "notes": Note.objects.filter(prospect=prospect).delete()[0],
            "activities": Activity.objects.filter(prospect=prospect).delete()[0],
            "outcomes": Outcome.objects.filter(prospect=prospect).delete()[0],
            "webhook_deliveries": person_deliveries(prospect=prospect).delete()[0],
            "import_errors": _import_errors(prospect=prospect).delete()[0],
        }
        # Before the prospect row: its SET_NULL links would otherwise leave the mail bodies behind.
        for name, rows in person_sections(prospect).items():
            deleted[name] = rows.delete()[0]
        if email:
            Suppression.objects.filter(kind=SuppressionKind.EMAIL, value=email).delete()
            Suppression.objects.get_or_create(
                org=org,
                kind=SuppressionKind.EMAIL_HASH,
                value=email_hash,
                defaults={"reason": "erased on request (GDPR)", "created_by": actor},
            )
        # Earlier audit entries about this person carry their name or email in the label.
        AuditLog.objects.unscoped().filter(org=org, target_type="Prospect", target_id=str(pk)).update(
            target_label=ERASED_LABEL
        )
        if email:
            AuditLog.objects.unscoped().filter(org=org, target_label__icontains=email).update(
                target_label=ERASED_LABEL
            )
        prospect.delete()
        deleted["prospects"] = 1
        audit_record(
            org=org,
            actor=actor,
            action="prospect.erased",
            data={"prospect_id": pk, "email_sha256": email_hash, "deleted": deleted},
        )
    return ErasureReport(prospect_id=pk, email_hash=email_hash, deleted=deleted)


@dataclass
class SuppressionImportResult:
    added: int = 0
    already: int = 0
    invalid: list[str] = field(default_factory=list)


MAX_SUPPRESSION_IMPORT = 100_000


def _suppression_value(raw: str) -> tuple[str, str] | None:
    """'a@b.com' → (email, a@b.com); 'b.com' or '@b.com' → (domain, b.com); else None (as suppression_add)."""
    value = raw.strip().strip('"').strip().lower()
    if "@" in value and not value.startswith("@"):
        normalized = normalize.email_or_none(value)
        return (SuppressionKind.EMAIL, normalized) if normalized else None
    domain = normalize.domain(value.lstrip("@"))
    return (SuppressionKind.DOMAIN, domain) if domain else None


def _on_list(wanted: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (kind, value) pairs the current organisation's list already holds."""
    pairs = list(wanted)
    existing: set[tuple[str, str]] = set()
    for kind in (SuppressionKind.EMAIL, SuppressionKind.DOMAIN):
        values = [value for k, value in pairs if k == kind]
        for start in range(0, len(values), 5000):
            existing.update(
                (kind, value)
                for value in Suppression.objects.filter(
                    kind=kind, value__in=values[start : start + 5000]
                ).values_list("value", flat=True)
            )
    return existing


def _suppressions_create(
    *, org: Organization, new: list[tuple[str, str]], actor: User | None, reason: str, invalid: int
) -> None:
    """Insert the new entries with one audit entry for the lot (it counts them: values stay off the log)."""
    with transaction.atomic():
        Suppression.objects.bulk_create(
            [Suppression(org=org, kind=k, value=v, reason=reason[:255], created_by=actor) for k, v in new],
            ignore_conflicts=True,  # a concurrent add of the same value is not an error
            batch_size=2000,
        )
        if new:
            audit_record(
                org=org,
                actor=actor,
                action="suppression.imported",
                data={"added": len(new), "invalid": invalid, "reason": reason[:255]},
            )


def suppression_import(
    *, org: Organization, lines: Iterable[str], actor: User | None, reason: str = ""
) -> SuppressionImportResult:
    """Add many emails/domains (one per line, or the first cell of a CSV line) with one audit entry."""
    result = SuppressionImportResult()
    wanted: dict[tuple[str, str], None] = {}
    for count, line in enumerate(lines):
        if count >= MAX_SUPPRESSION_IMPORT:
            raise ValidationError(f"At most {MAX_SUPPRESSION_IMPORT:,} lines per import.")
        cell = line.split(",")[0].split(";")[0].strip()
        if not cell or cell.lower() in ("email", "domain", "value"):
            continue
        parsed = _suppression_value(cell)
        if parsed is None:
            if len(result.invalid) < 100:
                result.invalid.append(cell[:80])
            continue
        wanted[parsed] = None
    existing = _on_list(wanted)
    new = [key for key in wanted if key not in existing]
    _suppressions_create(org=org, new=new, actor=actor, reason=reason, invalid=len(result.invalid))
    result.added, result.already = len(new), len(existing)
    return result


@dataclass(frozen=True)
class SuppressionValueResult:
    """What became of one value of a bulk add: `added`, `already` (on the list, or earlier in the same request)
    or `invalid` (neither an email address nor a domain)."""

    value: str
    status: str
    kind: str = ""
    normalized: str = ""
    suppression_id: int | None = None


def suppression_add_many(
    *, org: Organization, values: Iterable[str], actor: User | None, reason: str = ""
) -> list[SuppressionValueResult]:
    """Add emails and domains (as `suppression_add` reads them), a result per value, one audit entry."""
    given = list(values)
    parsed = [_suppression_value(value) for value in given]
    wanted = dict.fromkeys(pair for pair in parsed if pair is not None)
    existing = _on_list(wanted)
    new = [pair for pair in wanted if pair not in existing]
    invalid = sum(pair is None for pair in parsed)
    _suppressions_create(org=org, new=new, actor=actor, reason=reason, invalid=invalid)
    ids = {
        (entry.kind, entry.value): entry.pk
        for entry in Suppression.objects.filter(
            Q(kind=SuppressionKind.EMAIL, value__in=[v for k, v in wanted if k == SuppressionKind.EMAIL])
            | Q(kind=SuppressionKind.DOMAIN, value__in=[v for k, v in wanted if k == SuppressionKind.DOMAIN])
        ).only("pk", "kind", "value")
    }
    results: list[SuppressionValueResult] = []
    fresh = set(new)
    for value, pair in zip(given, parsed, strict=True):
        if pair is None:
            results.append(SuppressionValueResult(value=value, status="invalid"))
            continue
        status = "added" if pair in fresh else "already"
        fresh.discard(pair)
        results.append(
            SuppressionValueResult(
                value=value, status=status, kind=pair[0], normalized=pair[1], suppression_id=ids.get(pair)
            )
        )
    return results


def is_suppressed(*, email_normalized: str | None, domain: str | None = None) -> bool:
    """Whether the current organisation's suppression list covers this address or domain."""
    conditions = Q()
    if email_normalized:
        conditions |= Q(kind=SuppressionKind.EMAIL, value=email_normalized)
        conditions |= Q(kind=SuppressionKind.EMAIL_HASH, value=Suppression.hash_email(email_normalized))
        conditions |= Q(kind=SuppressionKind.DOMAIN, value=email_normalized.rsplit("@", 1)[1])
    if domain:
        conditions |= Q(kind=SuppressionKind.DOMAIN, value=domain)
    return bool(conditions) and Suppression.objects.filter(conditions).exists()


def suppression_add(*, org: Organization, value: str, actor: User | None, reason: str = "") -> Suppression:
    """Suppress an email address or a whole domain ('acme.com' or '@acme.com')."""
    raw = value.strip().lower()
    if "@" in raw and not raw.startswith("@"):
        kind, normalized = SuppressionKind.EMAIL, normalize.email_or_none(raw)
    else:
        kind, normalized = SuppressionKind.DOMAIN, normalize.domain(raw.lstrip("@"))
    if not normalized:
        raise ValidationError({"value": f"{value[:80]!r} is neither an email address nor a domain"})
    with transaction.atomic():
        suppression, created = Suppression.objects.get_or_create(
            org=org, kind=kind, value=normalized, defaults={"reason": reason[:255], "created_by": actor}
        )
        if created:
            audit_record(
                org=org,
                actor=actor,
                action="suppression.added",
                target=suppression,
                data={"kind": kind, "reason": reason[:255]},
            )
    return suppression


def suppression_remove(*, suppression: Suppression, actor: User | None) -> None:
    if suppression.kind == SuppressionKind.EMAIL_HASH:
        raise ValidationError(
            "Entries left by an erasure cannot be removed: the person asked to be forgotten."
        )
    with transaction.atomic():
        audit_record(
            org=suppression.org,
            actor=actor,
            action="suppression.removed",
            target=suppression,
            data={"kind": suppression.kind},
        )
        suppression.delete()
