"""Writes of ICPs: create, update, delete. Each save re-embeds the ICP on the `ai` queue after commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.timezone import now

from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import require_org_id
from prospects.models import ICP, Company, Prospect
from prospects.scoring.criteria import criteria_clean

NAME_MAX = 120
DESCRIPTION_MAX = 5000
MAX_EXAMPLES = 50


def _example_ids(model: type[Prospect] | type[Company], ids: Sequence[int] | None, name: str) -> list[int]:
    wanted = list(dict.fromkeys(int(i) for i in ids or []))
    if len(wanted) > MAX_EXAMPLES:
        raise ValidationError({name: f"at most {MAX_EXAMPLES} examples"})
    found = set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    # The same message for "no such id" and "another org's id" (ids leak nothing).
    if unknown := [i for i in wanted if i not in found]:
        raise ValidationError({name: f"unknown ids: {', '.join(map(str, unknown))}"})
    return wanted


def _clean(data: Mapping[str, Any], icp: ICP) -> None:
    if "name" in data:
        name = " ".join(str(data["name"] or "").split())
        if not name:
            raise ValidationError({"name": "A name is required."})
        if len(name) > NAME_MAX:
            raise ValidationError({"name": f"At most {NAME_MAX} characters."})
        icp.name = name
    if "description" in data:
        description = str(data["description"] or "").strip()
        if len(description) > DESCRIPTION_MAX:
            raise ValidationError({"description": f"At most {DESCRIPTION_MAX} characters."})
        icp.description = description
    if "criteria" in data:
        icp.criteria = criteria_clean(data["criteria"])
    if "example_prospect_ids" in data:
        icp.example_prospect_ids = _example_ids(
            Prospect, data["example_prospect_ids"], "example_prospect_ids"
        )
    if "example_company_ids" in data:
        icp.example_company_ids = _example_ids(Company, data["example_company_ids"], "example_company_ids")
    if "is_active" in data:
        icp.is_active = bool(data["is_active"])


def icp_build(*, data: Mapping[str, Any], icp: ICP | None = None) -> ICP:
    """Validate `data` onto an (unsaved) ICP; the live editor previews such an ICP without saving it."""
    icp = icp if icp is not None else ICP(org_id=require_org_id(), criteria=criteria_clean({}))
    _clean(data, icp)
    return icp


def _save(icp: ICP) -> ICP:
    try:
        with transaction.atomic():
            icp.save()
    except IntegrityError:
        raise ValidationError({"name": "An ICP with this name already exists."}) from None
    task_send_on_commit("prospects.scoring.tasks.icp_embed_task", icp.org_id, icp.pk)
    return icp


def icp_create(*, data: Mapping[str, Any], actor: Any = None) -> ICP:
    if not data.get("name"):
        raise ValidationError({"name": "A name is required."})
    icp = icp_build(data=data)
    icp.created_by = actor if getattr(actor, "pk", None) else None
    return _save(icp)


def icp_update(*, icp: ICP, data: Mapping[str, Any]) -> ICP:
    before = (icp.name, icp.description, icp.criteria, icp.example_prospect_ids, icp.example_company_ids)
    icp_build(data=data, icp=icp)
    after = (icp.name, icp.description, icp.criteria, icp.example_prospect_ids, icp.example_company_ids)
    if before != after:
        # Stale until the task re-embeds it; readers that find no vector compute it themselves.
        icp.embedding, icp.embedding_hash = None, ""
    icp.updated_at = now()
    return _save(icp)


def icp_make_primary(*, icp: ICP) -> ICP:
    """Make `icp` the organisation's primary ICP: the one whose score the list, board and prospect page show when
    no other ICP is chosen. Only an active ICP can be primary; the previous one stops being it."""
    if not icp.is_active:
        raise ValidationError({"is_primary": "Only an active ICP can be the primary one. Activate it first."})
    with transaction.atomic():
        # One statement clears the old flag before the new one is set: the one-primary constraint holds throughout.
        ICP.objects.filter(is_primary=True).exclude(pk=icp.pk).update(is_primary=False, updated_at=now())
        icp.is_primary, icp.updated_at = True, now()
        icp.save(update_fields=["is_primary", "updated_at"])
    return icp


def icp_delete(*, icp: ICP) -> None:
    icp.delete()
