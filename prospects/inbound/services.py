"""Inbound leads from website forms, Meta Lead Ads and Google Ads lead forms.

Each delivery is authenticated first (form key; Meta's HMAC signature; Google's key), then stored raw as a
WebhookDelivery whose (org, source, dedupe key) is unique, and only then processed into a prospect through
`prospect_upsert`, so suppression and dedup apply and the same delivery twice creates one prospect.
Unauthenticated requests store nothing (see `hooks.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Organization, User
from accounts.services import audit_record
from leadgen.tasks import task_send_on_commit
from leadgen.text import text_clean
from prospects.fields import (
    LOCATION_PARTS,
    MESSAGE_LIMIT,
    alias_key,
    field_for_alias,
    with_split_name,
)
from prospects.inbound.meta_graph import GraphError, graph_lead_fetch
from prospects.models import DeliveryStatus, LeadForm, LeadSourceSettings, Source, WebhookDelivery
from prospects.scoring.intake import pipeline_enqueue_on_commit
from prospects.services import prospect_upsert

log = logging.getLogger(__name__)


class MalformedDelivery(ValueError):
    """The body cannot be read as a delivery of this kind (answered 400)."""


class FieldTooLarge(MalformedDelivery):
    """An answer over MESSAGE_LIMIT or more than MAX_ANSWERS of them: refused whole (400), nothing stored."""


HONEYPOT_FIELD = "website_url"
MAX_ANSWERS = 50
MAX_ANSWER_LENGTH = MESSAGE_LIMIT
MAX_KEY_LENGTH = 100
# Headers never stored with a delivery: credentials of whoever posted.
_SECRET_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization", "x-csrftoken"})
# Keys the transport adds that are neither prospect data nor answers.
_IGNORED_KEYS = frozenset({"csrfmiddlewaretoken", HONEYPOT_FIELD})


@dataclass
class LeadData:
    fields: dict[str, str] = field(default_factory=dict)
    utm: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)

    def upsert_data(self, *, source_detail: str, tags: Iterable[str] = ()) -> dict[str, Any]:
        data: dict[str, Any] = {**self.fields, "source_detail": source_detail[:255]}
        if tags:
            data["tags"] = list(tags)
        if self.utm:
            data["utm"] = self.utm
        if self.answers:
            data["answers"] = self.answers
        return data


def _field_key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def lead_from_pairs(pairs: Iterable[tuple[str, str]]) -> LeadData:
    """Map (name, value) pairs to prospect fields (`prospects.fields.ALIASES`), UTM parameters and free-text
    answers. Text is cleaned of NULs and lone surrogates (leadgen.text); an answer over MESSAGE_LIMIT, or more
    than MAX_ANSWERS answers, raises FieldTooLarge."""
    lead = LeadData()
    place: dict[int, str] = {}
    for raw_name, raw_value in pairs:
        name = text_clean(str(raw_name)).strip()[:MAX_KEY_LENGTH]
        value = text_clean(str(raw_value)).strip()
        key = _field_key(name)
        if not name or not value or name.startswith("_") or key in _IGNORED_KEYS:
            continue
        target = field_for_alias(name)
        part = LOCATION_PARTS.get(alias_key(name)) if target == "location" else None
        if key.startswith("utm_"):
            lead.utm[key] = value[:200]
        elif part is not None:
            place.setdefault(part, value[:100])
        elif target:
            lead.fields.setdefault(target, value)
        else:
            if len(lead.answers) >= MAX_ANSWERS and name not in lead.answers:
                raise FieldTooLarge(f"at most {MAX_ANSWERS} answers per submission")
            previous = lead.answers.get(name)
            # Repeated names are multi-select answers (checkboxes): keep every choice.
            combined = f"{previous}, {value}" if previous else value
            if len(combined) > MAX_ANSWER_LENGTH:
                raise FieldTooLarge(
                    f"“{name[:60]}” is {len(combined):,} characters long (limit {MAX_ANSWER_LENGTH:,})"
                )
            lead.answers[name] = combined
    lead.fields = with_split_name(lead.fields)
    if place and "location" not in lead.fields:
        lead.fields["location"] = ", ".join(place[k] for k in sorted(place))
    return lead


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_flatten(v) for v in value if v not in (None, ""))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def form_pairs_parse(*, content_type: str, body: bytes, post: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The submitted fields of a web form, from JSON or from urlencoded/multipart data, cleaned of NULs and lone
    surrogates. Raises MalformedDelivery, FieldTooLarge for an answer over its limit."""
    if content_type == "application/json":
        try:
            data = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise MalformedDelivery("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise MalformedDelivery("the JSON body must be an object of field names to values")
        pairs = [(str(k), _flatten(v)) for k, v in data.items()]
    elif (getlist := getattr(post, "getlist", None)) is None:
        pairs = [(str(k), _flatten(v)) for k, v in post.items()]
    else:
        pairs = [(str(k), v) for k in post for v in getlist(k)]
    pairs = [(text_clean(k), text_clean(v)) for k, v in pairs]
    lead_from_pairs(pairs)  # the limits, checked while the caller can still answer 400 and nothing is stored
    return pairs


def storable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v[:1000] for k, v in headers.items() if k.lower() not in _SECRET_HEADERS}


def _body_text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def delivery_store(
    *, org_id: int, source: str, dedupe_key: str, headers: Mapping[str, str], body: str, status: str = ""
) -> tuple[WebhookDelivery, bool]:
    """Store a delivery raw; a repeat of the same (source, dedupe key) returns the first one and False."""
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                org_id=org_id,
                source=source,
                dedupe_key=dedupe_key[:200],
                headers=storable_headers(headers),
                body=body,
                status=status or DeliveryStatus.RECEIVED,
            )
        return delivery, True
    except IntegrityError:
        return WebhookDelivery.objects.get(source=source, dedupe_key=dedupe_key[:200]), False


def delivery_process(
    *,
    delivery: WebhookDelivery,
    org: Organization,
    lead: LeadData,
    source_detail: str,
    tags: Iterable[str] = (),
) -> WebhookDelivery:
    """Turn a stored delivery into a prospect (or a recorded failure); safe to call twice."""
    status, error, prospect_id = DeliveryStatus.PROCESSED, "", None
    # One transaction: the prospect and the delivery's new status are seen together or not at all.
    with transaction.atomic():
        try:
            # A lead's company fields fill what the company lacks, never replacing what enrichment or a person set.
            result = prospect_upsert(
                org=org,
                data=lead.upsert_data(source_detail=source_detail, tags=tags),
                source=delivery.source,
                update_company=False,
            )
        except ValidationError as exc:
            status, error = DeliveryStatus.FAILED, "; ".join(_messages(exc))
        else:
            if result.status == "suppressed":
                status = DeliveryStatus.SUPPRESSED
            prospect_id = result.prospect.pk if result.prospect else None
            if result.prospect is not None and result.status in ("created", "updated"):
                pipeline_enqueue_on_commit(org_id=org.pk, prospect_ids=[result.prospect.pk])
        # Only a delivery still waiting is moved, so a second run (replay, retried task) changes nothing.
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.RECEIVED).update(
            status=status, error=error[:2000], prospect_id=prospect_id, processed_at=timezone.now()
        )
    delivery.refresh_from_db()
    if status == DeliveryStatus.FAILED:
        log.info("lead delivery %s (%s) not imported: %s", delivery.pk, delivery.source, error)
    return delivery


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{name}: {' '.join(errors)}" for name, errors in exc.message_dict.items()]
    return list(exc.messages)


# --- website forms ---------------------------------------------------------------------------------------


@dataclass
class FormResult:
    delivery: WebhookDelivery | None
    replayed: bool = False
    honeypot: bool = False


def form_submission_dedupe_key(*, form: LeadForm, pairs: list[tuple[str, str]]) -> str:
    canonical = json.dumps(sorted(pairs), ensure_ascii=False)
    return "form:" + hashlib.sha256(f"{form.key}\n{canonical}".encode()).hexdigest()


def form_submission_receive(
    *, form: LeadForm, pairs: list[tuple[str, str]], headers: Mapping[str, str], body: bytes, ip: str
) -> FormResult:
    """Store and process one web-form submission. Caller has the form's organisation in scope."""
    if any(_field_key(k) == HONEYPOT_FIELD and str(v).strip() for k, v in pairs):
        log.info("lead form %s: honeypot filled from %s, submission dropped", form.pk, ip)
        return FormResult(None, honeypot=True)
    lead = lead_from_pairs(pairs)  # raises FieldTooLarge before anything is stored
    dedupe_key = form_submission_dedupe_key(form=form, pairs=pairs)
    delivery, created = delivery_store(
        org_id=form.org_id, source=Source.FORM, dedupe_key=dedupe_key, headers=headers, body=_body_text(body)
    )
    if not created:
        return FormResult(delivery, replayed=True)
    delivery = delivery_process(
        delivery=delivery, org=form.org, lead=lead, source_detail=f"Form: {form.name}", tags=form.tags
    )
    return FormResult(delivery)


def form_redirect_target(*, form: LeadForm, requested: str) -> str:
    """Where to send the browser after a plain HTML post: `_redirect` only when it stays on a known origin."""
    if requested:
        parts = urlsplit(requested)
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}".lower()
            known = {o.rstrip("/").lower() for o in form.allowed_origins}
            if form.redirect_url:
                home = urlsplit(form.redirect_url)
                known.add(f"{home.scheme}://{home.netloc}".lower())
            if origin in known:
                return requested
    return form.redirect_url


def origin_allowed(*, form: LeadForm, origin: str | None) -> bool:
    """Forms without a list accept any origin; with one, a browser's Origin must be on it."""
    if not form.allowed_origins or not origin:
        return True
    return origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in form.allowed_origins}


# --- Meta Lead Ads ---------------------------------------------------------------------------------------


def meta_signature_valid(*, app_secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def meta_leadgen_changes(body: bytes) -> list[dict[str, Any]]:
    """The `leadgen` change values of a Meta webhook delivery; raises MalformedDelivery."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedDelivery("the body is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise MalformedDelivery("expected an object with an 'entry' list")
    values: list[dict[str, Any]] = []
    for entry in data["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise MalformedDelivery("each entry needs a 'changes' list")
        for change in changes:
            if not isinstance(change, dict) or change.get("field") != "leadgen":
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                raise MalformedDelivery("a leadgen change has no 'value' object")
            leadgen_id = value.get("leadgen_id")
            if not isinstance(leadgen_id, str | int) or not str(leadgen_id).isdigit():
                raise MalformedDelivery("a leadgen change has no numeric 'leadgen_id'")
            values.append({**value, "leadgen_id": str(leadgen_id)})
    return values


def meta_delivery_receive(
    *, source_settings: LeadSourceSettings, body: bytes, headers: Mapping[str, str]
) -> list[WebhookDelivery]:
    """Store each new lead of a verified Meta delivery and queue its Graph fetch; returns the new ones.

    Raises MalformedDelivery after storing the body as rejected, so an admin can see what Meta sent.
    """
    try:
        changes = meta_leadgen_changes(body)
    except MalformedDelivery:
        delivery_store(
            org_id=source_settings.org_id,
            source=Source.META,
            dedupe_key="malformed:" + hashlib.sha256(body).hexdigest(),
            headers=headers,
            body=_body_text(body),
            status=DeliveryStatus.REJECTED,
        )
        raise
    created: list[WebhookDelivery] = []
    for change in changes:
        delivery, is_new = delivery_store(
            org_id=source_settings.org_id,
            source=Source.META,
            dedupe_key=change["leadgen_id"],
            headers=headers,
            body=_body_text(body),
        )
        if is_new:
            created.append(delivery)
            task_send_on_commit(
                "prospects.inbound.tasks.meta_lead_fetch", source_settings.org_id, delivery.pk
            )
    return created


def meta_lead_process(*, delivery_id: int) -> WebhookDelivery | None:
    """Fetch one stored Meta lead from the Graph API and upsert it. Caller has the organisation in scope.

    GraphUnavailable propagates so the task retries with backoff; a permanent Graph error marks the delivery
    failed. Returns early when the delivery is gone or already handled.
    """
    delivery = WebhookDelivery.objects.filter(pk=delivery_id, source=Source.META).first()
    if delivery is None or delivery.status != DeliveryStatus.RECEIVED:
        return delivery
    source_settings = LeadSourceSettings.objects.select_related("org").first()
    if source_settings is None:
        return delivery_fail(delivery=delivery, error="Meta Lead Ads are not configured")
    try:
        graph_lead = graph_lead_fetch(
            leadgen_id=delivery.dedupe_key, access_token=source_settings.meta_page_access_token
        )
    except GraphError as exc:
        if type(exc) is not GraphError:
            raise
        return delivery_fail(delivery=delivery, error=str(exc))
    pairs = [(str(item.get("name", "")), _flatten(item.get("values", []))) for item in graph_lead.field_data]
    try:
        lead = lead_from_pairs(pairs)
    except FieldTooLarge as exc:
        return delivery_fail(delivery=delivery, error=str(exc))
    ids = {"ad_id": graph_lead.ad_id, "form_id": graph_lead.form_id, "campaign_id": graph_lead.campaign_id}
    lead.utm = {"utm_source": "facebook", "utm_medium": "lead_ad", **{k: v for k, v in ids.items() if v}}
    detail = f"Meta lead form {graph_lead.form_id}" if graph_lead.form_id else "Meta Lead Ads"
    return delivery_process(delivery=delivery, org=source_settings.org, lead=lead, source_detail=detail)


def delivery_fail(*, delivery: WebhookDelivery, error: str) -> WebhookDelivery:
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.RECEIVED).update(
        status=DeliveryStatus.FAILED, error=error[:2000], processed_at=timezone.now()
    )
    delivery.refresh_from_db()
    log.warning("lead delivery %s (%s) failed: %s", delivery.pk, delivery.source, error)
    return delivery


# --- Google Ads lead forms -------------------------------------------------------------------------------


class KeyMismatch(Exception):
    """The delivery's google_key is missing or wrong (answered 403, nothing stored)."""


def google_payload_parse(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedDelivery("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedDelivery("the JSON body must be an object")
    return data


def secrets_match(*, expected: str, given: Any) -> bool:
    """Constant-time comparison of a configured secret with what a caller sent; an unset secret never matches."""
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def google_lead_from_payload(data: dict[str, Any]) -> LeadData:
    columns = data.get("user_column_data")
    if not isinstance(columns, list):
        raise MalformedDelivery("'user_column_data' must be a list")
    pairs: list[tuple[str, str]] = []
    for column in columns:
        if not isinstance(column, dict):
            raise MalformedDelivery("each user_column_data item must be an object")
        column_id = str(column.get("column_id") or "")
        value = _flatten(column.get("string_value", column.get("value", "")))
        if field_for_alias(column_id):
            pairs.append((column_id, value))
        else:
            # Custom questions: keep the question as asked when Google sends it.
            pairs.append((str(column.get("column_name") or column_id), value))
    return lead_from_pairs(pairs)


def google_delivery_receive(
    *, source_settings: LeadSourceSettings, body: bytes, headers: Mapping[str, str]
) -> tuple[WebhookDelivery, bool]:
    """Verify, store and process one Google Ads lead; returns (delivery, created). Org must be in scope.

    Raises MalformedDelivery (400) or KeyMismatch (403). The stored body has the key blanked out: it is a
    secret we otherwise only keep encrypted.
    """
    data = google_payload_parse(body)
    if not secrets_match(expected=source_settings.google_key, given=data.get("google_key")):
        raise KeyMismatch("google_key does not match")
    stored_body = _body_text(body).replace(source_settings.google_key, "[redacted]")
    lead_id = data.get("lead_id")
    try:
        if not isinstance(lead_id, str) or not lead_id.strip():
            raise MalformedDelivery("'lead_id' is missing")
        lead = google_lead_from_payload(data)
    except MalformedDelivery:
        delivery_store(
            org_id=source_settings.org_id,
            source=Source.GOOGLE,
            dedupe_key="malformed:" + hashlib.sha256(body).hexdigest(),
            headers=headers,
            body=stored_body,
            status=DeliveryStatus.REJECTED,
        )
        raise
    delivery, created = delivery_store(
        org_id=source_settings.org_id,
        source=Source.GOOGLE,
        dedupe_key=lead_id.strip(),
        headers=headers,
        body=stored_body,
    )
    if not created:
        return delivery, False
    is_test = data.get("is_test") is True
    lead.utm = {
        "utm_source": "google",
        "utm_medium": "lead_form",
        **{
            key: str(data[key])
            for key in ("campaign_id", "adgroup_id", "creative_id", "form_id", "gcl_id")
            if data.get(key) not in (None, "")
        },
    }
    detail = f"Google lead form {data.get('form_id') or ''}".strip()
    if is_test:
        detail += " (test lead)"
    delivery = delivery_process(
        delivery=delivery,
        org=source_settings.org,
        lead=lead,
        source_detail=detail,
        tags=["test-lead"] if is_test else (),
    )
    return delivery, True


# --- configuration: lead forms and lead source secrets ---------------------------------------------------

LEAD_SOURCE_SECRETS = ("meta_app_secret", "meta_page_access_token", "google_key")


def lead_form_save(*, lead_form: LeadForm, actor: User | None) -> LeadForm:
    """Create or edit a web form (fields already validated by the settings form), with an audit entry."""
    created = lead_form.pk is None
    with transaction.atomic():
        lead_form.save()
        audit_record(
            org=lead_form.org,
            actor=actor,
            action="lead_form.created" if created else "lead_form.updated",
            target=lead_form,
            data={"allowed_origins": lead_form.allowed_origins, "is_active": lead_form.is_active},
        )
    return lead_form


def lead_form_delete(*, lead_form: LeadForm, actor: User | None) -> None:
    with transaction.atomic():
        audit_record(org=lead_form.org, actor=actor, action="lead_form.deleted", target=lead_form)
        lead_form.delete()


def lead_source_settings_for(*, org: Organization) -> LeadSourceSettings:
    """The organisation's lead-source settings, created on first use with a random Meta verify token."""
    source_settings, _ = LeadSourceSettings.objects.get_or_create(
        org=org, defaults={"meta_verify_token": secrets.token_urlsafe(24)}
    )
    return source_settings


def lead_source_settings_update(
    *, source_settings: LeadSourceSettings, actor: User | None, changes: Mapping[str, str]
) -> list[str]:
    """Set the given values ("" clears one). The audit entry names the fields that changed, never values."""
    changed = []
    for name, value in changes.items():
        if name not in (*LEAD_SOURCE_SECRETS, "meta_verify_token"):
            raise ValueError(f"not a lead source setting: {name}")
        value = (value or "").strip()
        if getattr(source_settings, name) != value:
            setattr(source_settings, name, value)
            changed.append(name)
    if changed:
        with transaction.atomic():
            source_settings.save(update_fields=changed)
            audit_record(
                org=source_settings.org,
                actor=actor,
                action="lead_sources.updated",
                target=source_settings,
                data={"fields": changed},
            )
    return changed


def recent_deliveries(*, limit: int = 20) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.order_by("-received_at", "-id").only(
        "source", "dedupe_key", "status", "error", "received_at", "prospect_id"
    )[:limit]
