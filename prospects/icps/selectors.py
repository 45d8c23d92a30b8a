"""Reads behind the ICP pages: the list, the live preview of matches and the example-customer picker."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from django.db.models import BooleanField, Count, ExpressionWrapper, Q

from prospects.models import ICP, Company, Prospect, Tier
from prospects.scoring.criteria import criteria_check
from prospects.scoring.embedding import icp_vector, nearest_prospects
from prospects.selectors import InvalidCursor, prospect_text_search

PREVIEW_CANDIDATES = 200
PICKER_RESULTS = 10


def icp_list() -> list[ICP]:
    return list(
        ICP.objects.defer("embedding").annotate(judged=Count("qualifications")).order_by("-is_active", "name")
    )


def icp_page(*, cursor: str | None, limit: int) -> tuple[list[ICP], str | None]:
    """The organisation's ICPs by id, each with `has_embedding` (whether a vector exists, without loading 384
    floats per row); the cursor is the last id. Raises InvalidCursor for a bad cursor."""
    qs = (
        ICP.objects.defer("embedding")
        .annotate(has_embedding=ExpressionWrapper(Q(embedding__isnull=False), output_field=BooleanField()))
        .order_by("pk")
    )
    if cursor:
        if not cursor.isdigit():
            raise InvalidCursor("malformed cursor")
        qs = qs.filter(pk__gt=int(cursor))
    rows: list[ICP] = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, str(rows[-1].pk) if more else None


@dataclass
class PreviewMatch:
    prospect: Prospect
    similarity: float
    score: int | None
    tier: str | None
    matched: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    excluded_by: str | None = None


def _rules_judge_available() -> bool:
    return importlib.util.find_spec("prospects.scoring.qualification") is not None


def icp_preview(*, icp: ICP, limit: int = 10, candidates: int = PREVIEW_CANDIDATES) -> list[PreviewMatch]:
    """Top matches for a possibly unsaved ICP: the nearest `candidates` by vector, re-ranked.

    With the rules judge (prospects.scoring.qualification) the ranking is its score, else the share of criteria met;
    ties go to similarity. Excluded prospects drop out.
    """
    vector, _ = icp_vector(icp)
    neighbours = nearest_prospects(vector=vector, limit=candidates)
    prospects = Prospect.objects.select_related("company").in_bulk([n.prospect_id for n in neighbours])
    judge = None
    if _rules_judge_available():
        from prospects.scoring.judges import rules_judge

        judge = rules_judge
    rows: list[tuple[float, float, PreviewMatch]] = []
    for n in neighbours:
        prospect = prospects.get(n.prospect_id)
        if prospect is None:
            continue
        if judge is not None:
            verdict = judge(prospect=prospect, icp=icp, similarity=n.similarity)
            if verdict.tier == Tier.DISQUALIFIED:
                continue
            match = PreviewMatch(
                prospect, n.similarity, verdict.score, verdict.tier, verdict.matched, verdict.missed
            )
            rank = float(verdict.score)
        else:
            check = criteria_check(icp.criteria or {}, prospect)
            if check.excluded_by:
                continue
            match = PreviewMatch(prospect, n.similarity, None, None, check.matched, check.missed)
            rank = check.fit
        rows.append((rank, n.similarity, match))
    rows.sort(key=lambda row: (-row[0], -row[1], row[2].prospect.pk))
    return [match for _, _, match in rows[:limit]]


@dataclass
class ExamplePicker:
    selected_prospects: list[Prospect]
    selected_companies: list[Company]
    found_prospects: list[Prospect]
    found_companies: list[Company]


def example_picker(*, q: str, prospect_ids: list[int], company_ids: list[int]) -> ExamplePicker:
    """The chosen examples (kept checked) and, for a search, prospects and companies by name, email, domain or id."""
    selected_prospects = list(Prospect.objects.filter(pk__in=prospect_ids).order_by("pk"))
    selected_companies = list(Company.objects.filter(pk__in=company_ids).order_by("pk"))
    found_prospects: list[Prospect] = []
    found_companies: list[Company] = []
    q = q.strip()
    if q:
        prospect_q = Q(pk__in=prospect_text_search(Prospect.objects.all(), q).values("pk"))
        company_q = Q(name__icontains=q) | Q(domain__icontains=q)
        if q.isdigit():
            prospect_q |= Q(pk=int(q))
            company_q |= Q(pk=int(q))
        found_prospects = list(
            Prospect.objects.filter(prospect_q)
            .exclude(pk__in=prospect_ids)
            .order_by("-created_at")[:PICKER_RESULTS]
        )
        found_companies = list(
            Company.objects.filter(company_q).exclude(pk__in=company_ids).order_by("name")[:PICKER_RESULTS]
        )
    return ExamplePicker(selected_prospects, selected_companies, found_prospects, found_companies)


def icp_choices() -> list[tuple[int, str]]:
    """(id, name) of the organisation's ICPs for filter pickers, active ones first."""
    return list(ICP.objects.order_by("-is_active", "name").values_list("id", "name"))
