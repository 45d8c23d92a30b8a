"""An ICP's structured criteria: cleaning what users and API clients send, and checking a prospect against them.

Pure functions over already-loaded rows (no queries), so the live editor, the matches endpoint and the rules
judgement can all call them in loops. Titles, seniorities and industries are read through `vocabulary`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from leadgen.errors import error_text
from prospects.models import Company, Prospect
from prospects.scoring.vocabulary import (
    industry_match,
    keyword_in_title,
    prospect_seniority,
    seniority_credit,
)

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


# A criterion counts as met from this credit up; below it, as missed (with "partly" when the credit is not 0).
MATCH_CREDIT = 0.5


@dataclass
class CriteriaCheck:
    """Each criterion the ICP sets, judged: a credit from 0 to 1, or unknown when the record lacks the value."""

    matched: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    credits: dict[str, float] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)  # name → the prospect's value, in words
    excluded_by: str | None = None

    @property
    def fit(self) -> float:
        """Mean credit over the criteria whose value is known (1.0 when none is); 0 when excluded."""
        if self.excluded_by:
            return 0.0
        return sum(self.credits.values()) / len(self.credits) if self.credits else 1.0

    def judge(self, name: str, credit: float | None, detail: str = "") -> None:
        if detail:
            self.details[name] = detail
        if credit is None:
            self.unknown.append(name)
            return
        self.credits[name] = round(credit, 3)
        (self.matched if credit >= MATCH_CREDIT else self.missed).append(name)

    def describe(self, name: str) -> str:
        """ "industry (Software)", "company size (not on record)"."""
        detail = self.details.get(name, "")
        return f"{name} ({detail})" if detail else f"{name} (not on record)"


def _size_credit(size: int, low: int | None, high: int | None) -> float:
    """1 inside the range; 0.5 within half the bound outside it (48 for 50+, 1,400 for up to 1,000); else 0."""
    if (low is None or size >= low) and (high is None or size <= high):
        return 1.0
    if low is not None and size < low:
        return 0.5 if size >= low / 1.5 else 0.0
    assert high is not None
    return 0.5 if size <= high * 1.5 else 0.0


def criteria_check(criteria: Mapping[str, Any], prospect: Prospect) -> CriteriaCheck:
    """How well a prospect meets each criterion. A value the record lacks is unknown: neither met nor missed."""
    company: Company | None = prospect.company
    check = CriteriaCheck()

    industry = company.industry if company else ""
    if industries := criteria.get("industries"):
        if industry:
            match = industry_match(industry, industries)
            check.judge("industry", match.credit, industry)
        else:
            check.judge("industry", None)
    low, high = criteria.get("employee_min"), criteria.get("employee_max")
    if low is not None or high is not None:
        size = company.employee_count if company else None
        if size is None:
            check.judge("company size", None)
        else:
            check.judge("company size", _size_credit(size, low, high), f"{size} employees")
    if locations := criteria.get("locations"):
        where = " ".join(filter(None, [prospect.location, company.location if company else ""]))
        if where.strip():
            found = _contains_any(where, locations) is not None
            check.judge(
                "location", 1.0 if found else 0.0, prospect.location or (company.location if company else "")
            )
        else:
            check.judge("location", None)
    if seniorities := criteria.get("seniorities"):
        person = prospect_seniority(seniority=prospect.seniority, title=prospect.title)
        if person.rank is None:
            check.judge("seniority", None)
        else:
            detail = person.words + (", from the title" if person.inferred else "")
            check.judge("seniority", seniority_credit(person, list(seniorities)), detail)
    if keywords := criteria.get("title_keywords"):
        if prospect.title.strip():
            found = any(keyword_in_title(keyword, prospect.title) for keyword in keywords)
            check.judge("title", 1.0 if found else 0.0, prospect.title)
        else:
            check.judge("title", None)
    if technologies := criteria.get("technologies"):
        have = {_norm(t): t for t in (company.technologies if company else [])}
        if have:
            wanted = [have[_norm(t)] for t in technologies if _norm(t) in have]
            shown = ", ".join(wanted) if wanted else ", ".join(list(have.values())[:3])
            check.judge("technologies", 1.0 if wanted else 0.0, shown)
        else:
            check.judge("technologies", None)
    if stages := criteria.get("funding_stages"):
        stage = company.funding_stage if company else ""
        if stage:
            check.judge("funding stage", 1.0 if _norm(stage) in {_norm(s) for s in stages} else 0.0, stage)
        else:
            check.judge("funding stage", None)
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
