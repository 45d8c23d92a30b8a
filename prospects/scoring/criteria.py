"""An ICP's structured criteria: cleaning what users and API clients send, and checking a prospect against them.

Pure functions over already-loaded rows (no queries), so the live editor, the matches endpoint and the rules
judgement can all call them in loops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from leadgen.errors import error_text
from prospects.models import Company, Prospect

LIST_KEYS = (
    "industries",
    "locations",
    "seniorities",
    "title_keywords",
    "technologies",
    "funding_stages",
    "exclusions",
)
CRITERIA_KEYS = (*LIST_KEYS, "employee_min", "employee_max")
MAX_ITEMS = 50
MAX_ITEM_LENGTH = 120
_SPLIT = re.compile(r"[,\n;]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    raw: Iterable[Any] = _SPLIT.split(value) if isinstance(value, str) else value
    if not isinstance(raw, Iterable):
        raise ValidationError("must be a list of strings")
    seen: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, str | int | float):
            raise ValidationError("must be a list of strings")
        text = " ".join(str(item).split())[:MAX_ITEM_LENGTH]
        if text and text.lower() not in seen:
            seen[text.lower()] = text
    if len(seen) > MAX_ITEMS:
        raise ValidationError(f"at most {MAX_ITEMS} values")
    return list(seen.values())


def _count(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({name: "must be a whole number"}) from None
    if number < 0:
        raise ValidationError({name: "must not be negative"})
    return number


def criteria_clean(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The canonical criteria dict stored on ICP.criteria: every key present, lists de-duplicated."""
    raw = raw or {}
    unknown = set(raw) - set(CRITERIA_KEYS)
    if unknown:
        raise ValidationError({key: "unknown criterion" for key in sorted(unknown)})
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in LIST_KEYS:
        try:
            cleaned[key] = _items(raw.get(key))
        except ValidationError as exc:
            errors[key] = error_text(exc)
    for key in ("employee_min", "employee_max"):
        try:
            cleaned[key] = _count(raw.get(key), key)
        except ValidationError as exc:
            errors[key] = error_text(exc)
    if errors:
        raise ValidationError(errors)
    low, high = cleaned["employee_min"], cleaned["employee_max"]
    if low is not None and high is not None and low > high:
        raise ValidationError({"employee_max": "must be at least the minimum"})
    return cleaned


def criteria_summary(criteria: Mapping[str, Any]) -> list[str]:
    """Short human phrases, also part of the ICP's embedded text."""
    parts: list[str] = []
    labels = {
        "industries": "Industries",
        "locations": "Locations",
        "seniorities": "Seniority",
        "title_keywords": "Titles",
        "technologies": "Technologies",
        "funding_stages": "Funding",
    }
    for key, label in labels.items():
        if values := criteria.get(key):
            parts.append(f"{label}: {', '.join(values)}")
    low, high = criteria.get("employee_min"), criteria.get("employee_max")
    if low is not None or high is not None:
        if low is not None and high is not None:
            parts.append(f"Employees: {low}–{high}")
        elif low is not None:
            parts.append(f"Employees: {low}+")
        else:
            parts.append(f"Employees: up to {high}")
    if values := criteria.get("exclusions"):
        parts.append(f"Excluding: {', '.join(values)}")
    return parts


def _norm(text: str) -> str:
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def _contains_any(haystack: str, needles: Iterable[str]) -> str | None:
    hay = f" {_norm(haystack)} "
    for needle in needles:
        if (n := _norm(needle)) and f" {n} " in hay:
            return needle
    return None


@dataclass
class CriteriaCheck:
    matched: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    excluded_by: str | None = None

    @property
    def fit(self) -> float:
        """Share of the set criteria the prospect meets (1.0 when the ICP sets none); 0 when excluded."""
        if self.excluded_by:
            return 0.0
        total = len(self.matched) + len(self.missed)
        return len(self.matched) / total if total else 1.0


def criteria_check(criteria: Mapping[str, Any], prospect: Prospect) -> CriteriaCheck:
    """Which criteria a prospect meets. An unknown value (no industry on record, say) counts as missed."""
    company: Company | None = prospect.company
    check = CriteriaCheck()

    def judge(name: str, ok: bool) -> None:
        (check.matched if ok else check.missed).append(name)

    industry = company.industry if company else ""
    if industries := criteria.get("industries"):
        judge("industry", bool(industry) and _contains_any(industry, industries) is not None)
    low, high = criteria.get("employee_min"), criteria.get("employee_max")
    if low is not None or high is not None:
        size = company.employee_count if company else None
        judge(
            "company size",
            size is not None and (low is None or size >= low) and (high is None or size <= high),
        )
    if locations := criteria.get("locations"):
        where = " ".join(filter(None, [prospect.location, company.location if company else ""]))
        judge("location", _contains_any(where, locations) is not None)
    if seniorities := criteria.get("seniorities"):
        wanted = {_norm(s).replace(" ", "") for s in seniorities}
        judge("seniority", _norm(prospect.seniority).replace(" ", "") in wanted)
    if keywords := criteria.get("title_keywords"):
        judge("title", _contains_any(prospect.title, keywords) is not None)
    if technologies := criteria.get("technologies"):
        have = {_norm(t) for t in (company.technologies if company else [])}
        judge("technologies", any(_norm(t) in have for t in technologies))
    if stages := criteria.get("funding_stages"):
        stage = company.funding_stage if company else ""
        judge("funding stage", bool(stage) and _norm(stage) in {_norm(s) for s in stages})
    if exclusions := criteria.get("exclusions"):
        fields = [
            prospect.title,
            prospect.company_name,
            prospect.company_domain,
            prospect.email.rpartition("@")[2],
            industry,
            company.name if company else "",
            company.domain or "" if company else "",
        ]
        check.excluded_by = _contains_any(" | ".join(fields), exclusions)
    return check
