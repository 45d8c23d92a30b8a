"""JSON API of analytics: the funnel, a campaign's report with significance, breakdowns. The filters are the
pages' (`from`, `to`, `icp`, `campaign`, `industry`), and the numbers come from the same selectors."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router
from ninja.errors import HttpError

from campaigns.models import Campaign
from leadgen.tenancy import get_for_org

from . import selectors
from .filters import FilterError, Filters, filters_parse
from .models import COUNTERS
from .stats import Rate

router = Router(tags=["analytics"])


def _filters(request: HttpRequest) -> Filters:
    try:
        return filters_parse(request.GET)
    except FilterError as exc:
        raise HttpError(400, str(exc)) from None


def _rate(value: Rate) -> dict[str, Any]:
    return {"rate": value.value, "ci95": [value.low, value.high] if value.low is not None else None}


def _row(row: selectors.Row) -> dict[str, Any]:
    return {
        "counts": {name: row.counts[name] for name in COUNTERS},
        "rates": {name: _rate(value) for name, value in row.rates.items()},
    }


def _period(filters: Filters) -> dict[str, Any]:
    return {"from": filters.start, "to": filters.end, "icp": filters.icp_id, "campaign": filters.campaign_id}


@router.get("/analytics/funnel")
def funnel(request: HttpRequest) -> Any:
    """People added in the period and how far they got; `previous` is the period of the same length before."""
    filters = _filters(request)
    stages = [
        {
            "stage": s.key,
            "label": s.label,
            "count": s.count,
            "conversion": s.conversion,
            "previous": s.previous,
        }
        for s in selectors.funnel(filters)
    ]
    return {"period": _period(filters), "stages": stages}


@router.get("/analytics/campaigns/{campaign_id}")
def campaign(request: HttpRequest, campaign_id: int) -> Any:
    """Per step and variant: counts, rates with 95% Wilson intervals, lift and two-proportion p-values against the
    step's first variant. Without `from`/`to`, since the campaign started."""
    item = get_for_org(Campaign, pk=campaign_id)
    all_time = "from" not in request.GET and "to" not in request.GET
    report = selectors.campaign_report(item, None if all_time else _filters(request))
    steps = [
        {
            "step": step.step,
            "winner": step.winner,
            "variants": [
                {
                    "variant": v.variant,
                    "is_baseline": v.is_control,
                    "reached_min_sample": v.reached_sample,
                    "reply_lift": v.reply_lift,
                    "reply_p_value": v.reply_p,
                    "positive_lift": v.positive_lift,
                    "positive_p_value": v.positive_p,
                    **_row(v.row),
                }
                for v in step.variants
            ],
        }
        for step in report.steps
    ]
    test = report.test
    return {
        "campaign": {"id": item.pk, "name": item.name},
        "min_sends": test.min_sends,
        "auto_promote": test.auto_promote,
        "promoted": {"step": test.promoted_step, "variant": test.promoted_variant, "at": test.promoted_at}
        if test.promoted_at
        else None,
        "total": _row(report.total),
        "steps": steps,
    }


@router.get("/analytics/breakdown")
def breakdown(request: HttpRequest, by: str = "icp") -> Any:
    """Reply and positive-reply rate grouped by one of: icp, tier, seniority, department, industry, size, country,
    mailbox, send_hour."""
    if by not in selectors.BREAKDOWNS:
        raise HttpError(400, f"'by' must be one of: {', '.join(selectors.BREAKDOWNS)}.")
    filters = _filters(request)
    rows = [{"key": r.key, "label": r.label, **_row(r)} for r in selectors.breakdown(by, filters)]
    return {"period": _period(filters), "by": by, "rows": rows}
