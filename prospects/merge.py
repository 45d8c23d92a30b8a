"""Finding duplicate prospects in an organisation and merging them into one.

Duplicates are found three ways: the same email (the unique constraint prevents it for new rows, but legacy rows
may differ only in case or whitespace), the same LinkedIn profile, and a similar name (pg_trgm similarity above
`NAME_SIMILARITY`) at the same company domain. Pairs are joined into groups (connected components), so a person
appears in one group however many ways they match.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from leadgen.tenancy import require_org_id
from prospects import normalize
from prospects.fields import TEXT_FIELDS, custom_fields_check, tags_check
from prospects.models import Prospect, Stage
from prospects.services import activity_record

NAME_SIMILARITY = 0.6
MAX_GROUPS = 100

# Later stages win a merge; an outcome (lost, then won) beats any stage of the funnel.
STAGE_RANK = {
    Stage.NEW: 0,
    Stage.ENRICHED: 1,
    Stage.DISQUALIFIED: 2,
    Stage.QUALIFIED: 3,
    Stage.CONTACTED: 4,
    Stage.REPLIED: 5,
    Stage.MEETING: 6,
    Stage.LOST: 7,
    Stage.WON: 8,
}


@dataclass
class DuplicateGroup:
    prospects: list[Prospect]
    reasons: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return "-".join(str(p.pk) for p in self.prospects)


# --- finding -----------------------------------------------------------------------------------------------

_PAIRS_SQL = """
    (SELECT unnest(ids[2:]), ids[1], 'same email' FROM (
        SELECT array_agg(id ORDER BY id) AS ids
          FROM {table} WHERE org_id = %(org)s AND btrim(email) <> ''
          GROUP BY lower(btrim(email)) HAVING count(*) > 1 LIMIT %(limit)s) em)
    UNION ALL
    (SELECT unnest(ids[2:]), ids[1], 'same LinkedIn URL' FROM (
        SELECT array_agg(id ORDER BY id) AS ids
          FROM {table} WHERE org_id = %(org)s AND linkedin_normalized IS NOT NULL
          GROUP BY linkedin_normalized HAVING count(*) > 1 LIMIT %(limit)s) li)
    UNION ALL
    (SELECT a.id, b.id, 'similar name at ' || a.company_domain
       FROM {table} a
       JOIN {table} b ON b.org_id = a.org_id AND b.company_domain = a.company_domain AND b.id > a.id
      WHERE a.org_id = %(org)s AND a.company_domain <> ''
        AND btrim(a.first_name || a.last_name) <> '' AND btrim(b.first_name || b.last_name) <> ''
        AND similarity(lower(a.first_name || ' ' || a.last_name), lower(b.first_name || ' ' || b.last_name))
            > %(similarity)s
      LIMIT %(limit)s)
"""


def duplicate_groups(*, limit: int = MAX_GROUPS) -> list[DuplicateGroup]:
    """The current organisation's groups of probable duplicates, oldest prospect first in each group."""
    sql = _PAIRS_SQL.format(table=Prospect._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": require_org_id(), "limit": limit * 5, "similarity": NAME_SIMILARITY})
        pairs: list[tuple[int, int, str]] = cursor.fetchall()
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b, _ in pairs:
        parent[root(a)] = root(b)
    members: dict[int, list[int]] = defaultdict(list)
    for node in parent:
        members[root(node)].append(node)
    reasons: dict[int, list[str]] = defaultdict(list)
    for a, _, reason in pairs:
        if reason not in reasons[root(a)]:
            reasons[root(a)].append(reason)
    components = sorted(members.items(), key=lambda item: min(item[1]))[:limit]
    ids = [pk for _, group in components for pk in group]
    prospects = Prospect.objects.select_related("company").in_bulk(ids)
    groups = []
    for group_root, group in components:
        rows = sorted((prospects[pk] for pk in group if pk in prospects), key=lambda p: (p.created_at, p.pk))
        if len(rows) > 1:
            groups.append(DuplicateGroup(prospects=rows, reasons=reasons[group_root]))
    return groups


# --- merging -----------------------------------------------------------------------------------------------


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def merged_values(
    primary: Prospect, duplicates: list[Prospect], picks: dict[str, int] | None = None
) -> dict[str, Any]:
    """The merged prospect's values (rules in prospect_merge). `picks` chooses a text field's value by the id of
    the member that has it ({"title": 42}); a pick of someone outside the merge is ignored."""
    everyone = [primary, *duplicates]
    # Duplicates, newest edit first: among their equally long values the most recently updated one wins.
    by_recency = sorted(duplicates, key=lambda p: (p.updated_at, p.pk), reverse=True)
    values: dict[str, Any] = {}
    # The primary first: max() keeps the first of equally long values, so a tie leaves the primary's value.
    preference = [primary, *by_recency]
    for name in TEXT_FIELDS:
        if name == "email":
            continue
        candidates = [getattr(p, name) for p in preference if _filled(getattr(p, name))]
        values[name] = max(candidates, key=len) if candidates else ""
    if primary.email_normalized:
        values["email"], values["email_normalized"] = primary.email, primary.email_normalized
    else:
        donor = next((p for p in by_recency if p.email_normalized), None)
        values["email"] = donor.email if donor else primary.email
        values["email_normalized"] = donor.email_normalized if donor else None
    members = {p.pk: p for p in everyone}
    for name, member_id in (picks or {}).items():
        if name in TEXT_FIELDS and (member := members.get(member_id)) is not None:
            values[name] = getattr(member, name)
            if name == "email":
                values["email_normalized"] = member.email_normalized
    values["linkedin_normalized"] = normalize.linkedin(values["linkedin_url"])
    values["tags"] = list(dict.fromkeys(tag for p in everyone for tag in p.tags))
    for name in ("custom_fields", "answers", "utm"):
        merged: dict[str, Any] = {}
        for p in reversed(by_recency):  # oldest first so newer values overwrite; the primary's win last
            merged.update({k: v for k, v in getattr(p, name).items() if _filled(v)})
        merged.update({k: v for k, v in getattr(primary, name).items() if _filled(v)})
        values[name] = merged
    values["stage"] = max((p.stage for p in everyone), key=lambda s: STAGE_RANK.get(Stage(s), 0))
    for name in ("company_id", "owner_id", "icp_id", "lawful_basis", "consent_at"):
        values[name] = next(
            (getattr(p, name) for p in [primary, *by_recency] if _filled(getattr(p, name))), None
        )
    values["lawful_basis"] = values["lawful_basis"] or ""
    # The company row follows the chosen domain, so the two never disagree.
    values["company_id"] = next(
        (p.company_id for p in preference if p.company_id and p.company_domain == values["company_domain"]),
        values["company_id"],
    )
    scored = [p for p in everyone if p.score is not None]
    best = primary if primary.score is not None else max(scored, key=lambda p: p.score or 0, default=None)
    values["score"], values["tier"] = (best.score, best.tier) if best else (None, primary.tier)
    values["do_not_contact"] = any(p.do_not_contact for p in everyone)
    values["created_at"] = min(p.created_at for p in everyone)
    return values


def _limits_check(values: dict[str, Any]) -> None:
    """The merged prospect holds what any prospect may (prospects.fields): a merge that would give it more tags or
    custom fields than that is refused, naming the limit, rather than dropping some."""
    try:
        tags_check(values["tags"])
        custom_fields_check(values["custom_fields"])
    except ValidationError as exc:
        raise ValidationError(
            f"These prospects cannot be merged: {' '.join(exc.messages)}. Remove some first."
        ) from None


def _move_related(primary: Prospect, duplicate_ids: list[int]) -> dict[str, dict[str, int]]:
    """Re-point every row that references a duplicate at the primary, whatever app declares the relation.

    Walks Prospect's reverse relations, so relations added by later apps (enrollments, messages, events) are
    moved without touching this code. Hidden ones count too (`related_name="+"`, as on WebhookDelivery, and the
    foreign keys of many-to-many through tables), which `_meta.related_objects` would leave out. A row that cannot move because the primary already has its counterpart
    (a unique constraint, e.g. one enrollment per campaign) stays and is deleted with its duplicate.
    """
    report: dict[str, dict[str, int]] = {}
    relations = [
        f
        for f in Prospect._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
    ]
    for relation in relations:
        model: type[Model] = relation.related_model  # type: ignore[assignment]
        fk_name = relation.field.name  # type: ignore[union-attr]
        rows = model._base_manager.filter(**{f"{fk_name}__in": duplicate_ids})
        moved = dropped = 0
        try:
            with transaction.atomic():
                moved = rows.update(**{fk_name: primary})
        except IntegrityError:
            for pk in list(rows.values_list("pk", flat=True)):
                try:
                    with transaction.atomic():
                        moved += model._base_manager.filter(pk=pk).update(**{fk_name: primary})
                except IntegrityError:
                    dropped += 1
        if moved or dropped:
            report[model._meta.label] = {"moved": moved, "dropped": dropped}
    return report


def prospect_merge(
    *, primary: Prospect, duplicates: list[Prospect], actor: User | None, picks: dict[str, int] | None = None
) -> Prospect:
    """Merge `duplicates` into `primary` and delete them; returns the refreshed primary.

    Field rules: text fields take the longest non-empty value (on a tie the primary's, else the most recently
    updated duplicate's);
    the primary keeps its email, or takes the most recent duplicate's when it has none; tags are the union;
    custom fields, form answers and UTM are merged key by key (non-empty values, the primary's winning); the stage
    is the most advanced one (new < enriched < disqualified < qualified < contacted < replied < meeting < lost
    < won); owner, company, ICP and consent come from the primary when set, else the most recent duplicate;
    the score is the primary's, else the best duplicate's; do-not-contact is kept if any of them had it; the
    creation date is the earliest. `picks` ({field: member id}) override the text-field rules with the value a
    person chose on the duplicates page. Notes, activities, outcomes, webhook deliveries and any later relation to
    Prospect move to the primary; the merge is recorded in its timeline.
    """
    duplicate_ids = sorted({p.pk for p in duplicates} - {primary.pk})
    if not duplicate_ids:
        raise ValidationError("Choose at least one other prospect to merge.")
    org_id = require_org_id()
    with transaction.atomic():
        # Lock in id order so two overlapping merges cannot deadlock.
        locked = {
            p.pk: p
            for p in Prospect.objects.select_for_update()
            .filter(pk__in=[primary.pk, *duplicate_ids])
            .order_by("pk")
        }
        if primary.pk not in locked or any(pk not in locked for pk in duplicate_ids):
            raise ValidationError("Some of these prospects no longer exist (already merged or deleted?).")
        primary = locked[primary.pk]
        dupes = [locked[pk] for pk in duplicate_ids]
        values = merged_values(primary, dupes, picks)
        _limits_check(values)
        moved = _move_related(primary, duplicate_ids)
        merged: list[dict[str, Any]] = [{"id": p.pk, "email": p.email, "name": p.full_name} for p in dupes]
        Prospect.objects.filter(org_id=org_id, pk__in=duplicate_ids).delete()
        for name, value in values.items():
            setattr(primary, name, value)
        primary.updated_at = timezone.now()
        primary.save()
        labels = ", ".join(d["email"] or d["name"] or f"#{d['id']}" for d in merged)
        activity_record(
            prospect=primary,
            kind="merged",
            actor=actor,
            summary=f"Merged {len(merged)} duplicate{'s' if len(merged) > 1 else ''}: {labels}",
            data={"merged": merged, "moved": moved},
        )
        audit_record(
            org=primary.org,
            actor=actor,
            action="prospect.merged",
            target=primary,
            data={"merged_ids": duplicate_ids},
        )
    return primary
