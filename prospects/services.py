"""Writes for prospects, companies, notes, outcomes and suppressions. Every change lands in the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.services import audit_record
from leadgen.text import data_clean
from prospects import normalize
from prospects.compliance.services import is_suppressed
from prospects.fields import (
    FIELD_LIMITS,
    NOTE_LIMIT,
    TAGS_MAX,
    TEXT_FIELDS,
    company_values_as_custom,
    company_values_clean,
    custom_fields_check,
    custom_fields_total_check,
    tags_check,
    with_split_name,
)
from prospects.models import (
    Activity,
    Company,
    LawfulBasis,
    Note,
    Outcome,
    OutcomeResult,
    Prospect,
    Source,
    Stage,
)

OUTCOME_STAGE = {
    OutcomeResult.WON: Stage.WON,
    OutcomeResult.LOST: Stage.LOST,
    OutcomeResult.DISQUALIFIED: Stage.DISQUALIFIED,
}


class DuplicateProspect(Exception):
    def __init__(self, existing: Prospect) -> None:
        super().__init__(f"A prospect with this email or LinkedIn URL already exists (id {existing.pk}).")
        self.existing = existing


@dataclass
class UpsertResult:
    status: str  # created | updated | unchanged | suppressed
    prospect: Prospect | None


def activity_record(
    *,
    prospect: Prospect,
    kind: str,
    summary: str = "",
    actor: User | None = None,
    data: dict[str, Any] | None = None,
) -> Activity:
    return Activity.objects.create(
        org_id=prospect.org_id,
        prospect=prospect,
        kind=kind,
        actor=actor,
        summary=summary[:500],
        data=data or {},
    )


def company_for_domain(*, org_id: int, domain: str | None, name: str = "") -> Company | None:
    """The organisation's company for a domain, created on first sight (concurrency-safe)."""
    if not domain:
        return None
    company, created = Company.objects.get_or_create(
        org_id=org_id, domain=domain, defaults={"name": name[:255]}
    )
    if not created and name and not company.name:
        company.name = name[:255]
        company.save(update_fields=["name", "updated_at"])
    return company


def company_values_apply(
    *, company: Company, values: dict[str, Any], overwrite: bool, clear: bool = False
) -> list[str]:
    """Write company values (Company column → value, from fields.company_values_clean) onto the company.

    A blank value never blanks a stored one (unless `clear`: an explicit edit); a stored value, whoever set it
    (enrichment, a person, an earlier import), is replaced only when `overwrite` ("update existing")."""
    changed = []
    for column, value in values.items():
        current = getattr(company, column)
        if value in ("", None, []) and not clear:
            continue
        if current not in ("", None, []) and not overwrite:
            continue
        if value != current:
            setattr(company, column, value)
            changed.append(column)
    if changed:
        company.save(update_fields=[*changed, "updated_at"])
    return changed


def clean_prospect_data(data: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise incoming fields; raises ValidationError naming the field.

    Company fields (`company_industry`, ...) come back under "company_values", keyed by Company column."""
    data = with_split_name(data_clean(data))
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in TEXT_FIELDS:
        if field in data and data[field] is not None:
            value = str(data[field]).strip()
            limit = FIELD_LIMITS.get(field)
            if limit and len(value) > limit:
                errors[field] = f"is longer than {limit} characters"
                continue
            cleaned[field] = value
    if "email" in cleaned:
        try:
            cleaned["email_normalized"] = normalize.email(cleaned["email"])
        except ValidationError:
            errors["email"] = f"{cleaned['email'][:80]!r} is not a valid email address"
    if "linkedin_url" in cleaned:
        try:
            cleaned["linkedin_url"] = normalize.web_url(cleaned["linkedin_url"])
        except ValidationError as exc:
            errors["linkedin_url"] = exc.messages[0]
        cleaned["linkedin_normalized"] = normalize.linkedin(cleaned["linkedin_url"])
    if "company_domain" in cleaned:
        cleaned["company_domain"] = normalize.domain(cleaned["company_domain"]) or ""
    if "timezone" in cleaned:
        try:
            cleaned["timezone"] = normalize.timezone_name(cleaned["timezone"])
        except ValidationError as exc:
            errors["timezone"] = " ".join(exc.messages)
    checks: list[tuple[str, Any]] = [("company_values", lambda: company_values_clean(data))]
    if "tags" in data:
        checks.append(("tags", lambda: tags_check(normalize.tags(data["tags"]))))
    if "custom_fields" in data and data["custom_fields"] is not None:
        if not isinstance(data["custom_fields"], dict):
            errors["custom_fields"] = "must be an object"
        else:
            checks.append(("custom_fields", lambda: custom_fields_check(data["custom_fields"])))
    for name, check in checks:
        try:
            cleaned[name] = check()
        except ValidationError as exc:
            errors.update({field: " ".join(messages) for field, messages in exc.message_dict.items()})
    if data.get("stage"):
        if data["stage"] not in Stage.values:
            errors["stage"] = f"must be one of {', '.join(Stage.values)}"
        else:
            cleaned["stage"] = data["stage"]
    if data.get("lawful_basis") is not None:
        if data["lawful_basis"] not in LawfulBasis.values:
            errors["lawful_basis"] = "must be consent, legitimate_interest or contract"
        else:
            cleaned["lawful_basis"] = data["lawful_basis"]
    if data.get("do_not_contact") is not None:
        try:
            cleaned["do_not_contact"] = normalize.flag(data["do_not_contact"])
        except ValidationError as exc:
            errors["do_not_contact"] = " ".join(exc.messages)
    for key in ("utm", "answers"):
        if isinstance(data.get(key), dict):
            cleaned[key] = data[key]
    if errors:
        raise ValidationError(errors)
    if (
        not cleaned.get("email_normalized")
        and not cleaned.get("linkedin_normalized")
        and not (cleaned.get("first_name") or cleaned.get("last_name"))
    ):
        raise ValidationError({"email": "a prospect needs an email, a LinkedIn URL or a name"})
    return cleaned


def find_duplicate(*, email_normalized: str | None, linkedin_normalized: str | None) -> Prospect | None:
    if email_normalized:
        found = Prospect.objects.filter(email_normalized=email_normalized).first()
        if found:
            return found
    if linkedin_normalized:
        return Prospect.objects.filter(linkedin_normalized=linkedin_normalized).order_by("id").first()
    return None


def _apply(prospect: Prospect, cleaned: dict[str, Any], *, overwrite: bool) -> list[str]:
    """Copy cleaned values onto the prospect. Empty incoming values never blank stored ones."""
    changed: list[str] = []
    for field, value in cleaned.items():
        current = getattr(prospect, field)
        if field == "tags":
            value = tags_check(list(dict.fromkeys([*current, *value])))
        elif field in ("custom_fields", "answers"):
            # Answers from several forms and ads add up: each is kept for intent scoring.
            value = {**current, **value}
            if field == "custom_fields":
                custom_fields_total_check(value)
        elif field == "do_not_contact" and not value:
            continue  # an import or a form can raise the flag, never clear it: only an edit does
        elif (
            (field in ("stage", "email_normalized", "linkedin_normalized") and value is None)
            or value in ("", None, {}, [])
            or (not overwrite and current not in ("", None, {}, []))
        ):
            continue
        if value != current:
            setattr(prospect, field, value)
            changed.append(field)
    return changed


def _link_company(prospect: Prospect) -> bool:
    domain = prospect.company_domain or normalize.company_domain_from_email(prospect.email_normalized)
    if domain and not prospect.company_domain:
        prospect.company_domain = domain
    company = company_for_domain(org_id=prospect.org_id, domain=domain, name=prospect.company_name)
    if company and prospect.company_id != company.pk:
        prospect.company = company
        if not prospect.company_name and company.name:
            prospect.company_name = company.name
        return True
    return False


def prospect_upsert(
    *,
    org: Organization,
    data: dict[str, Any],
    actor: User | None = None,
    source: str = Source.MANUAL,
    update_existing: bool = True,
    create_only: bool = False,
    update_company: bool | None = None,
) -> UpsertResult:
    """Create or update one prospect, deduplicated by email then LinkedIn URL; suppressed people are skipped.

    Company fields go to the company of the data's domain (its website, else its work email): blanks filled, a
    stored value replaced only with `update_existing` (`update_company` when given says so for the company on its
    own). Without a domain there is no company to hold them, and they are kept as custom fields."""
    cleaned = clean_prospect_data(data)
    email_normalized = cleaned.get("email_normalized")
    if is_suppressed(email_normalized=email_normalized, domain=cleaned.get("company_domain")):
        return UpsertResult("suppressed", None)
    company_values = {k: v for k, v in cleaned.pop("company_values").items() if v not in ("", None, [])}
    company_domain = cleaned.get("company_domain") or normalize.company_domain_from_email(email_normalized)
    if company_values and not company_domain:
        cleaned["custom_fields"] = {
            **company_values_as_custom(company_values),
            **cleaned.get("custom_fields", {}),
        }
        custom_fields_check(cleaned["custom_fields"])
        company_values = {}
    overwrite_company = update_existing if update_company is None else update_company
    with transaction.atomic():
        if company_values:
            company = company_for_domain(
                org_id=org.pk, domain=company_domain, name=cleaned.get("company_name", "")
            )
            assert company is not None
            company_values_apply(company=company, values=company_values, overwrite=overwrite_company)
        existing = find_duplicate(
            email_normalized=email_normalized, linkedin_normalized=cleaned.get("linkedin_normalized")
        )
        if existing is not None:
            if create_only:
                raise DuplicateProspect(existing)
            existing = Prospect.objects.select_for_update().get(pk=existing.pk)
            changed = _apply(existing, cleaned, overwrite=update_existing)
            if "company_domain" in changed or "email_normalized" in changed:
                _link_company(existing)
            if not changed:
                return UpsertResult("unchanged", existing)
            existing.updated_at = timezone.now()
            existing.save()
            activity_record(
                prospect=existing,
                kind="updated",
                actor=actor,
                summary=f"Updated from {Source(source).label}: {', '.join(changed)}",
                data={"fields": changed, "source": source},
            )
            return UpsertResult("updated", existing)
        prospect = Prospect(org=org, source=source)
        _apply(prospect, cleaned, overwrite=True)
        _link_company(prospect)
        try:
            with transaction.atomic():
                prospect.save()
        except IntegrityError:
            # Another request created the same email a moment ago: treat as an update of that row.
            raced = find_duplicate(email_normalized=email_normalized, linkedin_normalized=None)
            if raced is None or create_only:
                raise DuplicateProspect(raced) if raced else ValidationError("duplicate prospect") from None
            return UpsertResult("unchanged", raced)
        activity_record(
            prospect=prospect,
            kind="created",
            actor=actor,
            summary=f"Created from {Source(source).label}",
            data={"source": source},
        )
        return UpsertResult("created", prospect)


def prospect_update(*, prospect: Prospect, data: dict[str, Any], actor: User | None) -> Prospect:
    """Edit fields (explicit values overwrite; blanks clear text fields). Stage changes go through the timeline.

    Company fields are an edit of the prospect's company (kept as custom fields when it has none)."""
    data = with_split_name(data)
    cleaned = clean_prospect_data({"first_name": prospect.first_name, "email": prospect.email, **data})
    stage = cleaned.pop("stage", None)
    company_values = cleaned.pop("company_values")
    changed = []
    with transaction.atomic():
        for field, value in cleaned.items():
            if field in data or field in ("email_normalized", "linkedin_normalized"):
                if field == "email_normalized" and value and value != prospect.email_normalized:
                    duplicate = (
                        Prospect.objects.filter(email_normalized=value).exclude(pk=prospect.pk).first()
                    )
                    if duplicate:
                        raise DuplicateProspect(duplicate)
                if getattr(prospect, field) != value:
                    setattr(prospect, field, value)
                    changed.append(field)
        if "owner_id" in data:
            owner_id = data["owner_id"]
            if owner_id is not None and not Membership.objects.filter(user_id=owner_id).exists():
                raise ValidationError({"owner_id": "must be a member of this organisation"})
            if prospect.owner_id != owner_id:
                prospect.owner_id = owner_id
                changed.append("owner")
        if "company_domain" in changed or "email_normalized" in changed:
            _link_company(prospect)
        if company_values and prospect.company is not None:
            edited = company_values_apply(
                company=prospect.company, values=company_values, overwrite=True, clear=True
            )
            changed += [f"company {column.replace('_', ' ')}" for column in edited]
        elif kept := company_values_as_custom(company_values):
            custom = {**prospect.custom_fields, **kept}
            custom_fields_total_check(custom)
            if custom != prospect.custom_fields:
                prospect.custom_fields = custom
                changed.append("custom_fields")
        if changed:
            prospect.updated_at = timezone.now()
            prospect.save()
            activity_record(
                prospect=prospect,
                kind="updated",
                actor=actor,
                summary=f"Edited {', '.join(f for f in changed if not f.endswith('_normalized'))}",
                data={"fields": changed},
            )
        if stage and stage != prospect.stage:
            prospect_change_stage(prospect=prospect, stage=stage, actor=actor)
    return prospect


def prospect_change_stage(
    *, prospect: Prospect, stage: str, actor: User | None, reason: str = ""
) -> Prospect:
    if stage not in Stage.values:
        raise ValidationError({"stage": f"must be one of {', '.join(Stage.values)}"})
    old = prospect.stage
    if old == stage:
        return prospect
    prospect.stage = stage
    prospect.updated_at = timezone.now()
    prospect.save(update_fields=["stage", "updated_at"])
    activity_record(
        prospect=prospect,
        kind="stage_changed",
        actor=actor,
        summary=f"Stage {Stage(old).label} → {Stage(stage).label}" + (f" ({reason})" if reason else ""),
        data={"from": old, "to": stage},
    )
    return prospect


def note_create(*, prospect: Prospect, body: str, author: User | None) -> Note:
    body = data_clean(body).strip()
    if not body:
        raise ValidationError({"body": "A note cannot be empty."})
    if len(body) > NOTE_LIMIT:
        raise ValidationError(
            {"body": f"A note can be at most {NOTE_LIMIT:,} characters (this one has {len(body):,})."}
        )
    with transaction.atomic():
        note = Note.objects.create(org_id=prospect.org_id, prospect=prospect, author=author, body=body)
        activity_record(
            prospect=prospect, kind="note", actor=author, summary=body[:200], data={"note_id": note.pk}
        )
    return note


def outcome_record(
    *, prospect: Prospect, result: str, reason: str = "", actor: User | None, source: str = "ui"
) -> Outcome:
    if result not in OutcomeResult.values:
        raise ValidationError({"result": "must be won, lost or disqualified"})
    with transaction.atomic():
        outcome = Outcome.objects.create(
            org_id=prospect.org_id,
            prospect=prospect,
            result=result,
            reason=reason.strip()[:500],
            recorded_by=actor,
            source=source,
        )
        activity_record(
            prospect=prospect,
            kind="outcome",
            actor=actor,
            summary=f"Outcome: {OutcomeResult(result).label}" + (f" — {reason}" if reason else ""),
            data={"result": result, "reason": reason, "source": source},
        )
        prospect_change_stage(prospect=prospect, stage=OUTCOME_STAGE[OutcomeResult(result)], actor=actor)
    return outcome


# --- API: single deletes and company CRUD ---------------------------------------------------------------


class DuplicateCompany(Exception):
    def __init__(self, existing: Company) -> None:
        super().__init__(f"A company with this domain already exists (id {existing.pk}).")
        self.existing = existing


COMPANY_TEXT_FIELDS = ("name", "website", "industry", "location", "description", "linkedin_url")


def _clean_company_data(data: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    limits: dict[str, int] = {
        f.name: int(f.max_length or 0)
        for f in Company._meta.concrete_fields
        if getattr(f, "max_length", None)
    }
    for field in COMPANY_TEXT_FIELDS:
        if data.get(field) is not None:
            value = str(data[field]).strip()
            limit = limits.get(field)
            if limit and len(value) > limit:
                errors[field] = f"is longer than {limit} characters"
            if field in ("website", "linkedin_url"):
                try:
                    value = normalize.web_url(value)
                except ValidationError as exc:
                    errors[field] = exc.messages[0]
            cleaned[field] = value
    if "domain" in data:
        raw = (data["domain"] or "").strip()
        cleaned["domain"] = normalize.domain(raw) if raw else None
        if raw and cleaned["domain"] is None:
            errors["domain"] = f"{raw[:80]!r} is not a domain"
    if "employee_count" in data:
        cleaned["employee_count"] = data["employee_count"]
    if data.get("custom_fields") is not None:
        try:
            cleaned["custom_fields"] = custom_fields_check(data["custom_fields"])
        except ValidationError as exc:
            errors.update({field: " ".join(messages) for field, messages in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    return cleaned


def company_create(*, org: Organization, data: dict[str, Any]) -> Company:
    """A company deduplicated by normalised domain; raises DuplicateCompany with the existing row."""
    cleaned = _clean_company_data(data)
    if not cleaned.get("name") and not cleaned.get("domain"):
        raise ValidationError({"name": "a company needs a name or a domain"})
    if cleaned.get("domain") and (existing := Company.objects.filter(domain=cleaned["domain"]).first()):
        raise DuplicateCompany(existing)
    try:
        with transaction.atomic():
            return Company.objects.create(org=org, **cleaned)
    except IntegrityError:
        raise DuplicateCompany(Company.objects.get(domain=cleaned["domain"])) from None


def company_update(*, company: Company, data: dict[str, Any]) -> Company:
    cleaned = _clean_company_data(data)
    if cleaned.get("domain") and cleaned["domain"] != company.domain:
        existing = Company.objects.filter(domain=cleaned["domain"]).exclude(pk=company.pk).first()
        if existing:
            raise DuplicateCompany(existing)
    changed = [field for field, value in cleaned.items() if getattr(company, field) != value]
    for field in changed:
        setattr(company, field, cleaned[field])
    if changed:
        company.save()
    return company


def company_delete(*, company: Company) -> None:
    """Its prospects stay, unlinked from the company."""
    company.delete()


def prospect_delete(*, prospect: Prospect) -> None:
    """Removes the person with their notes, timeline and outcomes (cascade)."""
    prospect.delete()


# --- bulk actions and saved views (list page) ----------------------------------------------------------------

from prospects.models import SavedView  # noqa: E402

BULK_LIMIT = 1000


def _bulk_ids(ids: list[int] | list[str]) -> list[int]:
    clean: dict[int, None] = {}
    for value in ids:
        try:
            clean.setdefault(int(value), None)
        except (TypeError, ValueError):
            continue
    if len(clean) > BULK_LIMIT:
        raise ValidationError({"ids": f"select at most {BULK_LIMIT} prospects at once"})
    return list(clean)


def prospect_bulk_update(
    *,
    ids: list[int] | list[str],
    actor: User | None,
    stage: str | None = None,
    owner_id: int | None = None,
    clear_owner: bool = False,
    add_tags: list[str] | None = None,
    remove_tags: list[str] | None = None,
) -> int:
    """Change stage / owner / tags of the selected prospects of the current org; returns how many changed.

    Each changed prospect gets one timeline entry, written in a single INSERT.
    """
    if stage and stage not in Stage.values:
        raise ValidationError({"stage": f"must be one of {', '.join(Stage.values)}"})
    if owner_id is not None and not Membership.objects.filter(user_id=owner_id).exists():
        raise ValidationError({"owner_id": "must be a member of this organisation"})
    adding = tags_check(normalize.tags(add_tags or []))
    removing = set(normalize.tags(remove_tags or []))
    now = timezone.now()
    with transaction.atomic():
        prospects = list(
            Prospect.objects.filter(pk__in=_bulk_ids(ids))
            .select_for_update()
            .only("id", "org_id", "stage", "owner_id", "tags", "updated_at")
            .order_by("id")
        )
        activities: list[Activity] = []
        changed_rows: list[Prospect] = []
        for prospect in prospects:
            summary: list[str] = []
            data: dict[str, Any] = {"bulk": True}
            if stage and prospect.stage != stage:
                summary.append(f"Stage {Stage(prospect.stage).label} → {Stage(stage).label}")
                data.update({"from": prospect.stage, "to": stage})
                prospect.stage = stage
            new_owner = None if clear_owner else owner_id
            if (clear_owner or owner_id is not None) and prospect.owner_id != new_owner:
                summary.append("owner changed")
                data["owner"] = new_owner
                prospect.owner_id = new_owner
            tags = [t for t in dict.fromkeys([*prospect.tags, *adding]) if t not in removing]
            if len(tags) > TAGS_MAX and len(tags) > len(prospect.tags):
                name = prospect.full_name or prospect.email or f"#{prospect.pk}"
                raise ValidationError({"tags": f"{name} would have {len(tags)} tags (at most {TAGS_MAX})."})
            if tags != prospect.tags:
                summary.append("tags " + ", ".join(tags) if tags else "tags cleared")
                data["tags"] = tags
                prospect.tags = tags
            if not summary:
                continue
            prospect.updated_at = now
            changed_rows.append(prospect)
            kind = "stage_changed" if len(summary) == 1 and "to" in data else "updated"
            activities.append(
                Activity(
                    org_id=prospect.org_id,
                    prospect=prospect,
                    kind=kind,
                    actor=actor,
                    summary=("Bulk edit: " + "; ".join(summary))[:500],
                    data=data,
                    created_at=now,
                )
            )
        Prospect.objects.bulk_update(
            changed_rows, ["stage", "owner_id", "tags", "updated_at"], batch_size=500
        )
        Activity.objects.bulk_create(activities, batch_size=500)
    return len(changed_rows)


def prospect_bulk_delete(*, org: Organization, ids: list[int] | list[str], actor: User | None) -> int:
    """Delete the selected prospects of the current org with their notes and timeline; audited."""
    clean = _bulk_ids(ids)
    with transaction.atomic():
        found = list(Prospect.objects.filter(pk__in=clean).values_list("id", flat=True))
        if not found:
            return 0
        Prospect.objects.filter(pk__in=found).delete()
        audit_record(
            org=org, actor=actor, action="prospects.deleted", data={"count": len(found), "ids": found[:1000]}
        )
    return len(found)


def saved_view_save(*, org: Organization, user: User, name: str, query: str) -> SavedView:
    """Save the list's current query under a name; saving an existing name replaces its query."""
    name = " ".join(name.split())[:100]
    if not name:
        raise ValidationError({"name": "Give the view a name."})
    saved, _ = SavedView.objects.update_or_create(
        org=org, user=user, name=name, defaults={"query": query[:2000]}
    )
    return saved


def saved_view_delete(*, saved_view: SavedView) -> None:
    saved_view.delete()


# --- one prospect added by hand ("Add prospect") ----------------------------------------------------------------


class SuppressedProspect(Exception):
    """The person or their domain is on the organisation's suppression list."""


def prospect_add(*, org: Organization, data: dict[str, Any], actor: User | None) -> Prospect:
    """A person added from the UI: deduplicated like any entry point (DuplicateProspect with the existing row),
    refused when suppressed (SuppressedProspect), linked to its company by domain, else by name (the org's company
    of that name, or a new one), and owned by `owner_id` when given."""
    owner_id = data.get("owner_id")
    if owner_id is not None and not Membership.objects.filter(user_id=owner_id).exists():
        raise ValidationError({"owner": "must be a member of this organisation"})
    with transaction.atomic():
        result = prospect_upsert(org=org, data=data, actor=actor, source=Source.MANUAL, create_only=True)
        if result.status == "suppressed" or result.prospect is None:
            raise SuppressedProspect()
        prospect = result.prospect
        changed = []
        if prospect.company_id is None and prospect.company_name:
            company = Company.objects.filter(name__iexact=prospect.company_name).order_by("pk").first()
            prospect.company = company or Company.objects.create(org=org, name=prospect.company_name[:255])
            changed.append("company")
        if owner_id is not None:
            prospect.owner_id = owner_id
            changed.append("owner")
        if changed:
            prospect.save(update_fields=[*changed, "updated_at"])
    return prospect
