"""Analytics pages: the dashboard (home), campaign report, breakdowns, send-time heatmap, cost, score calibration,
deliverability. Each page is one template; HTMX filter changes re-render its `report` partial; `?format=csv`
downloads the table a chart shows."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from accounts.access import OrgRequest, member_required
from campaigns.models import Campaign
from leadgen.csvsafe import csv_safe
from leadgen.tenancy import get_for_org
from prospects.onboarding import onboarding_pending

from . import selectors, services
from .filters import FilterError, Filters, filters_parse

NAV = {"nav": "analytics"}
TABS = (
    ("analytics", "Breakdowns"),
    ("analytics_heatmap", "Best time to send"),
    ("analytics_cost", "Cost"),
    ("analytics_calibration", "Score check"),
    ("analytics_deliverability", "Deliverability"),
)


def _filters(request: OrgRequest) -> tuple[Filters, str]:
    try:
        return filters_parse(request.GET), ""
    except FilterError as exc:
        return filters_parse({}), str(exc)


def _page(request: OrgRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    if request.htmx:  # type: ignore[attr-defined]
        template = f"{template}#report"
    return render(request, template, {**NAV, "tabs": TABS, **context})


def _csv(name: str, header: list[str], rows: Iterable[Iterable[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_safe(str(value)) if isinstance(value, str) else value for value in row])
    return response


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


# --- dashboard ---------------------------------------------------------------------------------------------------


def _onboarding() -> Any:
    """The checklist until it is done; once done it stays done, so the home page stops asking (three queries)."""
    from leadgen.tenancy import require_org_id

    key = f"analytics:onboarded:{require_org_id()}"
    if cache.get(key):
        return None
    steps = onboarding_pending()
    if steps is None:
        cache.set(key, True, timeout=None)
    return steps


def daily_series(filters: Filters, found: dict[dt.date, dict[str, int]]) -> dict[str, list[Any]]:
    """Per day of the period: emails sent, opened by people, replied (the dashboard's chart)."""
    days = [filters.start + dt.timedelta(days=n) for n in range(filters.days)]
    return {
        "day": [d.isoformat() for d in days],
        "sent": [found.get(d, {}).get("sent", 0) for d in days],
        "opened": [found.get(d, {}).get("opened", 0) for d in days],
        "replied": [found.get(d, {}).get("replied", 0) for d in days],
    }


@member_required
@require_GET
def dashboard(request: OrgRequest) -> HttpResponse:
    filters, error = _filters(request)
    stages = selectors.funnel(filters)
    if request.GET.get("format") == "csv":
        rows = [(s.label, s.count, _pct(s.conversion), s.previous) for s in stages]
        return _csv("funnel", ["Stage", "People", "From the stage before (%)", "Period before"], rows)
    activity = selectors.activity(filters)
    current, previous = activity.current, activity.previous
    series = daily_series(filters, activity.days)
    context = {
        "nav": "dashboard",
        "filters": filters,
        "filter_error": error,
        "stages": stages,
        "activity": (current, previous),
        "series": series,
        "series_rows": list(
            zip(series["day"], series["sent"], series["opened"], series["replied"], strict=True)
        ),
        "attention": selectors.attention(),
        "icps": selectors.icp_choices(),
        "onboarding": _onboarding(),
    }
    htmx = request.htmx  # type: ignore[attr-defined]
    template = "analytics/dashboard.html#report" if htmx else "analytics/dashboard.html"
    return render(request, template, context)


# --- campaign report ---------------------------------------------------------------------------------------------


@member_required
@require_GET
def campaign_report(request: OrgRequest, campaign_id: int) -> HttpResponse:
    campaign = get_for_org(Campaign, pk=campaign_id)
    filters, error = _filters(request)
    all_time = request.GET.get("from") is None and request.GET.get("to") is None
    report = selectors.campaign_report(campaign, None if all_time else filters)
    if request.GET.get("format") == "csv":
        header = [
            "Step",
            "Version",
            "Sent",
            "Bounced",
            "Opened (people)",
            "Machine opens",
            "Clicked",
            "Replied",
        ]
        header += ["Interested", "Unsubscribed", "Marked as spam", "Reply rate (%)", "Reply p-value"]
        rows = [
            (
                v.step,
                v.variant,
                *(v.row.counts[n] for n in ("sent", "bounced", "opened", "machine_opened")),
                *(v.row.counts[n] for n in ("clicked", "replied", "positive", "unsubscribed", "complained")),
                _pct(v.row.rates["replied"].value),
                "" if v.reply_p is None else f"{v.reply_p:.4f}",
            )
            for s in report.steps
            for v in s.variants
        ]
        return _csv(f"campaign-{campaign.pk}", header, rows)
    context = {
        "campaign": campaign,
        "report": report,
        "filters": filters,
        "filter_error": error,
        "all_time": all_time,
    }
    return _page(request, "analytics/campaign.html", context)


@member_required
@require_POST
def campaign_promote(request: OrgRequest, campaign_id: int) -> HttpResponse:
    campaign = get_for_org(Campaign, pk=campaign_id)
    try:
        step = int(request.POST.get("step", ""))
        services.variant_promote(campaign=campaign, step=step, variant=request.POST.get("variant", ""))
    except (ValueError, ValidationError) as exc:
        messages.error(
            request, " ".join(exc.messages) if isinstance(exc, ValidationError) else "Pick a version."
        )
    else:
        messages.success(
            request, "Promoted: every new prospect in this campaign gets this version from now on."
        )
    return redirect("analytics_campaign", campaign_id=campaign.pk)


@member_required
@require_POST
def campaign_test_settings(request: OrgRequest, campaign_id: int) -> HttpResponse:
    campaign = get_for_org(Campaign, pk=campaign_id)
    try:
        services.campaign_test_update(
            campaign=campaign,
            min_sends=int(request.POST.get("min_sends", "")),
            auto_promote=request.POST.get("auto_promote") == "on",
        )
    except (ValueError, ValidationError):
        messages.error(
            request, "The minimum sample must be a whole number of sends between 10 and 1,000,000."
        )
    else:
        messages.success(request, "A/B test settings saved.")
    return redirect("analytics_campaign", campaign_id=campaign.pk)


# --- breakdowns, heatmap, cost, calibration, deliverability ------------------------------------------------------


@member_required
@require_GET
def breakdowns(request: OrgRequest) -> HttpResponse:
    filters, error = _filters(request)
    by = request.GET.get("by", "icp")
    if by not in selectors.BREAKDOWNS:
        by, error = "icp", f"Unknown breakdown '{by[:30]}': showing by ICP."
    rows = selectors.breakdown(by, filters)
    if request.GET.get("format") == "csv":
        data = [
            (
                r.label,
                r.counts["sent"],
                r.counts["replied"],
                _pct(r.rates["replied"].value),
                r.counts["positive"],
                _pct(r.rates["positive"].value),
            )
            for r in rows
        ]
        header = [
            selectors.BREAKDOWNS[by],
            "Sent",
            "Replied",
            "Reply rate (%)",
            "Interested",
            "Interested rate (%)",
        ]
        return _csv(f"breakdown-{by}", header, data)
    chart = {
        "labels": [r.label for r in rows],
        "reply": [round((r.rates["replied"].value or 0) * 100, 2) for r in rows],
        "positive": [round((r.rates["positive"].value or 0) * 100, 2) for r in rows],
    }
    context = {
        "filters": filters,
        "filter_error": error,
        "by": by,
        "rows": rows,
        "chart": chart,
        "choices": selectors.BREAKDOWNS,
        "icps": selectors.icp_choices(),
        "active": "analytics",
    }
    return _page(request, "analytics/breakdowns.html", context)


_CELL = (
    '<span role="cell" tabindex="0" class="heatmap-cell{empty}" data-sent="{sent}" data-replied="{replied}" '
    'style="--level: {level}" title="{label}"><span class="visually-hidden">{label}</span></span>'
)
_DATA_ROW = (
    '<tr><td>{day}</td><td>{hour:02d}:00</td><td class="num">{sent}</td><td class="num">{replied}</td></tr>'
)
_ROW = (
    '<div role="row" class="heatmap-row"><span role="rowheader" class="heatmap-day">{day}</span>{cells}</div>'
)


def heatmap_html(grid: list[list[selectors.Cell]]) -> tuple[SafeString, SafeString]:
    """The grid's rows and the "show data" table's rows. Built here rather than in the template: 168 cells made
    about 1,500 template variable renders, most of the page's time (more than the rollup query), where this takes
    about a millisecond. Safe without escaping: every value is an integer or one of the fixed weekday names."""
    top = max(c.reply_rate or 0 for row in grid for c in row) or 1.0
    rows, data = [], []
    for cells in grid:
        day = selectors.WEEKDAYS[cells[0].weekday]
        spans = []
        for c in cells:
            spans.append(
                _CELL.format(
                    empty="" if c.sent else " empty",
                    sent=int(c.sent),
                    replied=int(c.replied),
                    level=round((c.reply_rate or 0) / top * 100) if c.sent else 0,
                    label=f"{day} {c.hour:02d}:00 – {int(c.replied)} replies from {int(c.sent)} sent",
                )
            )
            if c.sent:
                data.append(
                    _DATA_ROW.format(day=day, hour=int(c.hour), sent=int(c.sent), replied=int(c.replied))
                )
        rows.append(_ROW.format(day=day, cells="".join(spans)))
    return mark_safe("".join(rows)), mark_safe("".join(data))  # noqa: S308 (integers and constants only)


@member_required
@require_GET
def heatmap(request: OrgRequest) -> HttpResponse:
    filters, error = _filters(request)
    grid = selectors.heatmap(filters)
    if request.GET.get("format") == "csv":
        data = [
            (selectors.WEEKDAYS[c.weekday], f"{c.hour:02d}:00", c.sent, c.replied, _pct(c.reply_rate))
            for row in grid
            for c in row
        ]
        return _csv("send-times", ["Weekday", "Hour (their time)", "Sent", "Replied", "Reply rate (%)"], data)
    grid_html, data_html = heatmap_html(grid)
    context = {
        "filters": filters,
        "filter_error": error,
        "grid_html": grid_html,
        "data_html": data_html,
        "hours": [f"{hour:02d}" for hour in range(24)],
        "industries": selectors.industries(filters),
        "icps": selectors.icp_choices(),
        "active": "analytics_heatmap",
    }
    return _page(request, "analytics/heatmap.html", context)


@member_required
@require_GET
def cost(request: OrgRequest) -> HttpResponse:
    filters, error = _filters(request)
    spend = selectors.cost(filters)
    if request.GET.get("format") == "csv":
        data = [
            (m.month.strftime("%Y-%m"), m.enrichment, m.enrichment_budget or "", m.ai, m.ai_budget or "")
            for m in spend.months
        ]
        return _csv(
            "spend", ["Month", "Enrichment (USD)", "Enrichment budget", "AI (USD)", "AI budget"], data
        )
    chart = {
        "labels": [m.month.strftime("%b %Y") for m in spend.months],
        "enrichment": [float(m.enrichment) for m in spend.months],
        "ai": [float(m.ai) for m in spend.months],
    }
    context = {
        "filters": filters,
        "filter_error": error,
        "cost": spend,
        "chart": chart,
        "icps": selectors.icp_choices(),
        "active": "analytics_cost",
    }
    return _page(request, "analytics/cost.html", context)


@member_required
@require_GET
def calibration(request: OrgRequest) -> HttpResponse:
    per_icp, models = selectors.calibration()
    if request.GET.get("format") == "csv":
        data = [
            (c.name, f"{d.low}-{d.high}", d.prospects, d.outcomes, _pct(d.rate))
            for c in per_icp
            for d in c.deciles
        ]
        return _csv("score-check", ["ICP", "Score", "People", "Meeting or won", "Rate (%)"], data)
    charts = [
        {
            "id": c.icp_id,
            "predicted": [round(d.predicted * 100, 1) for d in c.deciles],
            "observed": [None if d.rate is None else round(d.rate * 100, 1) for d in c.deciles],
        }
        for c in per_icp
    ]
    context = {"per_icp": per_icp, "models": models, "charts": charts, "active": "analytics_calibration"}
    return _page(request, "analytics/calibration.html", context)


@member_required
@require_GET
def deliverability(request: OrgRequest) -> HttpResponse:
    filters, error = _filters(request)
    per_mailbox, per_domain = selectors.deliverability(filters)
    if request.GET.get("format") == "csv":
        data = [
            (
                r.label,
                r.row.counts["sent"],
                r.row.counts["hard_bounced"],
                _pct(r.row.rates["hard_bounced"].value),
                r.row.counts["complained"],
                _pct(r.row.rates["complained"].value),
            )
            for r in per_mailbox + per_domain
        ]
        header = [
            "Mailbox or domain",
            "Sent",
            "Hard bounces",
            "Hard bounce rate (%)",
            "Spam reports",
            "Spam rate (%)",
        ]
        return _csv("deliverability", header, data)
    context = {
        "filters": filters,
        "filter_error": error,
        "per_mailbox": per_mailbox,
        "per_domain": per_domain,
        "icps": selectors.icp_choices(),
        "active": "analytics_deliverability",
    }
    return _page(request, "analytics/deliverability.html", context)
