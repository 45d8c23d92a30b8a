"""Reads for the analytics pages and API: every number comes from the rollups or one aggregate query, scoped to the
organisation in scope. Rates are per email sent, human events only (see analytics.models)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from campaigns.models import Campaign, Variant
from leadgen.models import AiSpend
from leadgen.tenancy import require_org_id
from outreach.models import Mailbox, MailboxStatus, Message, MessageStatus, Reply, ReplyKind
from prospects.models import ICP, EnrichmentLog, PipelineSettings

from .filters import Filters
from .models import (
    COUNTERS,
    FUNNEL_STAGES,
    CampaignDaily,
    CampaignTest,
    FunnelDaily,
    HeatmapDaily,
    SegmentDaily,
    SendTimeDaily,
)
from .stats import Rate, lift, rate, two_proportion_p

FUNNEL = (
    ("prospects", "Prospects added"),
    ("enriched", "Enriched"),
    ("qualified", "Qualified"),
    ("enrolled", "In a campaign"),
    ("contacted", "Emailed"),
    ("opened", "Opened (people, not machines)"),
    ("replied", "Replied"),
    ("interested", "Interested"),
    ("meeting", "Meeting booked"),
    ("won", "Won"),
)


@dataclass(frozen=True)
class FunnelStage:
    key: str
    label: str
    count: int
    previous: int
    conversion: float | None  # from the stage before

    @property
    def trend(self) -> float | None:
        return None if not self.previous else self.count / self.previous - 1


def period_sums(model: Any, names: tuple[str, ...], filters: Filters) -> dict[str, int]:
    """Sums of a rollup's columns over the period (`c_<name>`) and the period of the same length before
    (`p_<name>`), in the organisation in scope, narrowed by ICP and campaign when the model has them. Raw SQL: the
    ORM spent longer building these twenty-odd filtered sums than PostgreSQL spent on them."""
    previous = filters.previous
    columns = ", ".join(
        f"COALESCE(SUM({name}) FILTER (WHERE day >= %(start)s), 0), "
        f"COALESCE(SUM({name}) FILTER (WHERE day < %(start)s), 0)"
        for name in names
    )
    where = "org_id = %(org)s AND day >= %(previous)s AND day <= %(end)s"
    if filters.icp_id:
        where += " AND icp_id = %(icp)s"
    if filters.campaign_id and model is CampaignDaily:
        where += " AND campaign_id = %(campaign)s"
    params: dict[str, Any] = {
        "org": require_org_id(),
        "start": filters.start,
        "previous": previous.start,
        "end": filters.end,
        "icp": filters.icp_id,
        "campaign": filters.campaign_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {model._meta.db_table} WHERE {where}", params)  # noqa: S608
        row = cursor.fetchone() or (0,) * (2 * len(names))
    out = {}
    for index, name in enumerate(names):
        out[f"c_{name}"], out[f"p_{name}"] = int(row[2 * index]), int(row[2 * index + 1])
    return out


def funnel(filters: Filters) -> list[FunnelStage]:
    """People added in the period (and the period before, for the trend), and how far they have got: one query on
    the funnel rollup (a row per day and ICP), whatever the number of people."""
    totals = period_sums(FunnelDaily, FUNNEL_STAGES, filters)
    stages, before = [], None
    for key, label in FUNNEL:
        count, previous_count = int(totals[f"c_{key}"] or 0), int(totals[f"p_{key}"] or 0)
        stages.append(FunnelStage(key, label, count, previous_count, (count / before) if before else None))
        before = count
    return stages


# --- what needs attention today --------------------------------------------------------------------------------


# The attention counts stop here: "999+" says enough, and each count reads at most this many index entries.
ATTENTION_CAP = 999


@dataclass(frozen=True)
class Attention:
    replies_waiting: int  # up to ATTENTION_CAP + 1
    drafts_to_review: int  # up to ATTENTION_CAP + 1
    paused_mailboxes: int
    enrichment_spend: Decimal
    enrichment_budget: Decimal | None
    ai_spend: Decimal
    ai_budget: Decimal | None

    @property
    def replies_shown(self) -> str:
        return _capped(self.replies_waiting)

    @property
    def drafts_shown(self) -> str:
        return _capped(self.drafts_to_review)

    @property
    def enrichment_share(self) -> float | None:
        return float(self.enrichment_spend / self.enrichment_budget) if self.enrichment_budget else None

    @property
    def ai_share(self) -> float | None:
        return float(self.ai_spend / self.ai_budget) if self.ai_budget else None


def _capped(count: int) -> str:
    return f"{ATTENTION_CAP}+" if count > ATTENTION_CAP else str(count)


def month_start(moment: dt.datetime | None = None) -> dt.datetime:
    moment = (moment or timezone.now()).astimezone(dt.UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def attention() -> Attention:
    """Unread replies, drafts waiting for review (each counted up to the cap, on an index: the unread-replies partial
    index and (org, status)), paused mailboxes and this month's spend against budget: one query."""
    org_id, since = require_org_id(), month_start()
    sql = f"""SELECT
      (SELECT COUNT(*) FROM (SELECT 1 FROM {Reply._meta.db_table}
        WHERE org_id = %(org)s AND kind = %(reply)s AND read_at IS NULL LIMIT %(cap)s) r),
      (SELECT COUNT(*) FROM (SELECT 1 FROM {Message._meta.db_table}
        WHERE org_id = %(org)s AND status = %(draft)s LIMIT %(cap)s) m),
      (SELECT COUNT(*) FROM {Mailbox._meta.db_table} WHERE org_id = %(org)s AND status = %(paused)s),
      (SELECT COALESCE(SUM(cost_usd), 0) FROM {EnrichmentLog._meta.db_table}
        WHERE org_id = %(org)s AND created_at >= %(since)s),
      (SELECT monthly_budget_usd FROM {PipelineSettings._meta.db_table} WHERE org_id = %(org)s),
      (SELECT COALESCE(SUM(cost_usd), 0) FROM {AiSpend._meta.db_table} WHERE org_id = %(org)s AND created_at >= %(since)s),
      (SELECT monthly_ai_budget_usd FROM {PipelineSettings._meta.db_table} WHERE org_id = %(org)s)"""  # noqa: S608
    params: dict[str, Any] = {
        "org": org_id,
        "reply": ReplyKind.REPLY,
        "draft": MessageStatus.DRAFT,
        "paused": MailboxStatus.PAUSED,
        "since": since,
        "cap": ATTENTION_CAP + 1,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone() or (0,) * 7
    return Attention(
        replies_waiting=int(row[0]),
        drafts_to_review=int(row[1]),
        paused_mailboxes=int(row[2]),
        enrichment_spend=Decimal(row[3] or 0),
        enrichment_budget=Decimal(row[4]) if row[4] else None,
        ai_spend=Decimal(row[5] or 0),
        ai_budget=Decimal(row[6]) if row[6] else None,
    )


# --- rollup reads ------------------------------------------------------------------------------------------------


def _rollup(model: Any, filters: Filters) -> QuerySet[Any]:
    qs = model.objects.filter(day__gte=filters.start, day__lte=filters.end)
    if filters.icp_id:
        qs = qs.filter(icp_id=filters.icp_id)
    if filters.campaign_id:
        qs = qs.filter(campaign_id=filters.campaign_id)
    if filters.industry and model is not CampaignDaily:
        qs = qs.filter(industry=filters.industry)
    return qs


SUMS = {name: Sum(name) for name in COUNTERS}


@dataclass
class Row:
    """A line of counts with its rates (per email sent)."""

    label: str
    counts: dict[str, int]
    key: Any = None
    rates: dict[str, Rate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {name: int(self.counts.get(name) or 0) for name in COUNTERS}
        sent = self.counts["sent"]
        for name in (
            "delivered",
            "bounced",
            "hard_bounced",
            "opened",
            "machine_opened",
            "clicked",
            "replied",
        ):
            self.rates[name] = rate(self.counts[name], sent)
        for name in ("positive", "unsubscribed", "complained"):
            self.rates[name] = rate(self.counts[name], sent)


@dataclass
class Activity:
    """What was sent and came back in the period and the period before, and the period's days (the chart)."""

    current: Row
    previous: Row
    days: dict[dt.date, dict[str, int]]


def activity(filters: Filters) -> Activity:
    """Sums per day of the campaign rollup over both periods, in one query: the totals add its days up (at most
    2 x 731 rows), so the dashboard's chart costs no query of its own."""
    previous = filters.previous
    sums = ", ".join(f"SUM({name})" for name in COUNTERS)
    where = "org_id = %(org)s AND day >= %(previous)s AND day <= %(end)s"
    if filters.icp_id:
        where += " AND icp_id = %(icp)s"
    if filters.campaign_id:
        where += " AND campaign_id = %(campaign)s"
    params: dict[str, Any] = {
        "org": require_org_id(),
        "previous": previous.start,
        "end": filters.end,
        "icp": filters.icp_id,
        "campaign": filters.campaign_id,
    }
    sql = f"SELECT day, {sums} FROM {CampaignDaily._meta.db_table} WHERE {where} GROUP BY day"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    current, before = dict.fromkeys(COUNTERS, 0), dict.fromkeys(COUNTERS, 0)
    days: dict[dt.date, dict[str, int]] = {}
    for day, *values in found:
        counts = {name: int(value or 0) for name, value in zip(COUNTERS, values, strict=True)}
        totals = current if day >= filters.start else before
        for name in COUNTERS:
            totals[name] += counts[name]
        if day >= filters.start:
            days[day] = counts
    return Activity(Row("This period", current), Row("Period before", before), days)


def icp_choices() -> list[tuple[int, str]]:
    return list(ICP.objects.order_by("name").values_list("pk", "name"))


# --- campaign report and A/B -------------------------------------------------------------------------------------

SIGNIFICANCE = 0.05


@dataclass
class VariantResult:
    step: int
    variant: str
    row: Row
    is_control: bool = False
    reached_sample: bool = False
    reply_lift: float | None = None
    reply_p: float | None = None
    positive_lift: float | None = None
    positive_p: float | None = None
    promotable: bool = False  # the scheduler can give every new enrollment this variant


@dataclass
class StepResult:
    step: int
    variants: list[VariantResult]
    winner: str | None = (
        None  # beats every other variant on reply rate at p < 0.05, all at the minimum sample
    )


@dataclass
class CampaignReport:
    campaign: Campaign
    test: CampaignTest
    total: Row
    steps: list[StepResult]


def campaign_test_for(campaign: Campaign) -> CampaignTest:
    return CampaignTest.objects.filter(campaign=campaign).first() or CampaignTest(campaign=campaign)


def _variant_order(campaign: Campaign) -> dict[int, list[str]]:
    """Step number → variant names in the scheduler's slot order (Variant's ordering)."""
    order: dict[int, list[str]] = {}
    for step_order, name in Variant.objects.filter(step__campaign=campaign).values_list(
        "step__order", "name"
    ):
        order.setdefault(step_order + 1, []).append(name)
    return order


def _compare(results: list[VariantResult], min_sends: int) -> str | None:
    control = results[0]
    control.is_control = True
    for result in results:
        result.reached_sample = result.row.counts["sent"] >= min_sends
        if result is control:
            continue
        for name, attr in (("replied", "reply"), ("positive", "positive")):
            mine, theirs = result.row.rates[name], control.row.rates[name]
            setattr(result, f"{attr}_lift", lift(mine.value, theirs.value))
            setattr(result, f"{attr}_p", two_proportion_p(mine.count, mine.total, theirs.count, theirs.total))
    if len(results) < 2 or not all(r.reached_sample for r in results):
        return None
    best = max(results, key=lambda r: r.row.rates["replied"].value or 0.0)
    for other in results:
        if other is best:
            continue
        a, b = best.row.rates["replied"], other.row.rates["replied"]
        p_value = two_proportion_p(a.count, a.total, b.count, b.total)
        if p_value is None or p_value >= SIGNIFICANCE or (a.value or 0) <= (b.value or 0):
            return None
    return best.variant


def campaign_report(campaign: Campaign, filters: Filters | None = None) -> CampaignReport:
    """Per step and variant: counts, rates with 95% intervals, lift and p-value against the step's first variant."""
    qs = CampaignDaily.objects.filter(campaign_id=campaign.pk)
    if filters is not None:
        qs = qs.filter(day__gte=filters.start, day__lte=filters.end)
        if filters.icp_id:
            qs = qs.filter(icp_id=filters.icp_id)
    rows: list[dict[str, Any]] = [
        dict(values) for values in qs.values("step", "variant").annotate(**SUMS).order_by("step", "variant")
    ]
    test = campaign_test_for(campaign)
    order = _variant_order(campaign)
    first_step = order.get(1, [])
    by_step: dict[int, list[VariantResult]] = {}
    for values in rows:
        result = VariantResult(values["step"], values["variant"], Row(values["variant"] or "–", values))
        names = order.get(values["step"], [])
        result.promotable = values["variant"] in names and names.index(values["variant"]) < len(first_step)
        by_step.setdefault(values["step"], []).append(result)
    steps = []
    for number, results in sorted(by_step.items()):
        names = order.get(number, [])
        results.sort(key=lambda r: (names.index(r.variant) if r.variant in names else len(names), r.variant))
        steps.append(StepResult(number, results, _compare(results, test.min_sends)))
    total = Row("All steps", {n: sum(r[n] or 0 for r in rows) for n in COUNTERS})
    return CampaignReport(campaign=campaign, test=test, total=total, steps=steps)


# --- breakdowns and the heatmap ----------------------------------------------------------------------------------

BREAKDOWNS = {
    "icp": "ICP",
    "tier": "Tier",
    "seniority": "Seniority",
    "department": "Department",
    "industry": "Industry",
    "size": "Company size",
    "country": "Country",
    "mailbox": "Mailbox",
    "send_hour": "Send hour (their time)",
}
_SEGMENT_FIELDS = {"icp": "icp_id", "size": "size_band", "tier": "tier", "seniority": "seniority"}
_SEGMENT_FIELDS.update(department="department", industry="industry", country="country")


def _labels(by: str, keys: list[Any]) -> dict[Any, str]:
    if by == "icp":
        return dict(ICP.objects.filter(pk__in=keys).values_list("pk", "name"))
    if by == "mailbox":
        return dict(Mailbox.objects.filter(pk__in=keys).values_list("pk", "name"))
    if by == "send_hour":
        return {hour: f"{hour:02d}:00" for hour in keys}
    return {}


def breakdown(by: str, filters: Filters) -> list[Row]:
    """Counts and rates grouped by one key, most sent first."""
    if by == "mailbox":
        qs, key = _rollup(CampaignDaily, filters), "mailbox_id"
    elif by == "send_hour":
        qs, key = _send_times(filters), "hour"
    else:
        qs, key = _rollup(SegmentDaily, filters), _SEGMENT_FIELDS[by]
    values = list(qs.values(key).annotate(**SUMS).order_by(key))
    labels = _labels(by, [v[key] for v in values if v[key]])
    if by in ("seniority", "department"):  # stored lower-cased so "VP" and "vp" count together
        labels = {
            v[key]: v[key].upper() if len(v[key]) <= 3 else v[key].capitalize() for v in values if v[key]
        }
    rows = [Row(labels.get(v[key]) or (str(v[key]) if v[key] else "Unknown"), v, key=v[key]) for v in values]
    if by == "send_hour":
        return rows
    return sorted(rows, key=lambda r: (-r.counts["sent"], r.label))


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Cell:
    weekday: int
    hour: int
    sent: int
    replied: int
    positive: int

    @property
    def reply_rate(self) -> float | None:
        return self.replied / self.sent if self.sent else None


def _send_times(filters: Filters) -> QuerySet[Any]:
    """The heatmap's grain: HeatmapDaily (no campaign, a fifth of the rows or fewer), or SendTimeDaily when the
    filters name a campaign."""
    return _rollup(SendTimeDaily if filters.campaign_id else HeatmapDaily, filters)


def heatmap(filters: Filters) -> list[list[Cell]]:
    """7 weekdays by 24 hours in the recipient's local time: sends and replies to them."""
    found = {
        (v["weekday"], v["hour"]): v
        for v in _send_times(filters)
        .values("weekday", "hour")
        .annotate(sent=Sum("sent"), replied=Sum("replied"), positive=Sum("positive"))
    }
    grid = []
    for weekday in range(7):
        cells = []
        for hour in range(24):
            v = found.get((weekday, hour), {})
            cells.append(
                Cell(
                    weekday,
                    hour,
                    int(v.get("sent") or 0),
                    int(v.get("replied") or 0),
                    int(v.get("positive") or 0),
                )
            )
        grid.append(cells)
    return grid


def industries(filters: Filters) -> list[str]:
    qs = _send_times(Filters(filters.start, filters.end, filters.icp_id, filters.campaign_id))
    return [
        i for i in qs.exclude(industry="").values_list("industry", flat=True).distinct().order_by("industry")
    ]


# --- deliverability ----------------------------------------------------------------------------------------------

# Mailbox providers' limits: keep hard bounces under 2% of sends; Gmail's bulk-sender rules ask for a spam rate
# under 0.1% and treat 0.3% as the line not to cross.
HARD_BOUNCE_LIMIT = 0.02
SPAM_RATE_WARN = 0.001
SPAM_RATE_LIMIT = 0.003


@dataclass
class DeliverabilityRow:
    label: str
    row: Row
    warnings: list[str] = field(default_factory=list)


def _warnings(row: Row) -> list[str]:
    out = []
    hard, spam = row.rates["hard_bounced"].value, row.rates["complained"].value
    if hard is not None and hard >= HARD_BOUNCE_LIMIT:
        out.append(
            f"Hard bounces at {hard * 100:.1f}% of sends (keep under 2%): clean the list before sending more."
        )
    if spam is not None and spam >= SPAM_RATE_LIMIT:
        out.append(
            f"Marked as spam by {spam * 100:.2f}% (Gmail's limit is 0.3%): pause and review what you send."
        )
    elif spam is not None and spam >= SPAM_RATE_WARN:
        out.append(f"Marked as spam by {spam * 100:.2f}% (Gmail asks for under 0.1%).")
    return out


def deliverability(filters: Filters) -> tuple[list[DeliverabilityRow], list[DeliverabilityRow]]:
    """Bounce and complaint rates per mailbox and per sending domain, with the warnings that apply."""
    values = list(
        _rollup(CampaignDaily, filters).values("mailbox_id").annotate(**SUMS).order_by("mailbox_id")
    )
    mailboxes = {m.pk: m for m in Mailbox.objects.filter(pk__in=[v["mailbox_id"] for v in values])}
    per_mailbox, per_domain_counts = [], {}  # type: ignore[var-annotated]
    for v in values:
        mailbox = mailboxes.get(v["mailbox_id"])
        label = f"{mailbox.name} <{mailbox.from_email}>" if mailbox else "Removed mailbox"
        row = Row(label, v)
        per_mailbox.append(DeliverabilityRow(label, row, _warnings(row)))
        domain = mailbox.from_email.rsplit("@", 1)[-1].lower() if mailbox else "unknown"
        totals = per_domain_counts.setdefault(domain, dict.fromkeys(COUNTERS, 0))
        for name in COUNTERS:
            totals[name] += int(v[name] or 0)
    per_domain = []
    for domain, counts in sorted(per_domain_counts.items()):
        row = Row(domain, counts)
        per_domain.append(DeliverabilityRow(domain, row, _warnings(row)))
    return per_mailbox, per_domain


# --- cost --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthSpend:
    month: dt.date
    enrichment: Decimal
    ai: Decimal
    enrichment_budget: Decimal | None
    ai_budget: Decimal | None


@dataclass(frozen=True)
class Cost:
    enrichment: Decimal
    ai: Decimal
    qualified: int
    replies: int
    meetings: int
    months: list[MonthSpend]

    @property
    def total(self) -> Decimal:
        return self.enrichment + self.ai

    def per(self, count: int) -> Decimal | None:
        return (self.total / count).quantize(Decimal("0.01")) if count else None


def cost(filters: Filters, *, months: int = 6) -> Cost:
    """Spend in the period and per result; the last months' spend against the monthly budgets."""
    from django.db.models.functions import TruncMonth

    start, end = filters.bounds()
    stages = {stage.key: stage.count for stage in funnel(filters)}
    replies = _rollup(CampaignDaily, filters).aggregate(n=Sum("replied"))["n"] or 0
    first_month = month_start(end - dt.timedelta(days=1))
    for _ in range(months - 1):
        first_month = month_start(first_month - dt.timedelta(days=1))
    enrichment = EnrichmentLog.objects.filter(created_at__gte=min(start, first_month), created_at__lt=end)
    ai = AiSpend.objects.filter(created_at__gte=min(start, first_month), created_at__lt=end)
    in_period = Q(created_at__gte=start)
    e_month = dict(
        enrichment.annotate(m=TruncMonth("created_at", tzinfo=dt.UTC))
        .values_list("m")
        .annotate(t=Sum("cost_usd"))
    )
    a_month = dict(
        ai.annotate(m=TruncMonth("created_at", tzinfo=dt.UTC)).values_list("m").annotate(t=Sum("cost_usd"))
    )
    e_total = enrichment.aggregate(t=Sum("cost_usd", filter=in_period))["t"] or Decimal(0)
    a_total = ai.aggregate(t=Sum("cost_usd", filter=in_period))["t"] or Decimal(0)
    settings_row = PipelineSettings.objects.first()
    series, month = [], first_month
    for _ in range(months):
        series.append(
            MonthSpend(
                month.date(),
                Decimal(e_month.get(month) or 0),
                Decimal(a_month.get(month) or 0),
                settings_row.monthly_budget_usd if settings_row and settings_row.monthly_budget_usd else None,
                settings_row.monthly_ai_budget_usd if settings_row else None,
            )
        )
        month = month_start(month + dt.timedelta(days=32))
    return Cost(
        Decimal(e_total), Decimal(a_total), stages["qualified"], int(replies), stages["meeting"], series
    )


# --- score calibration -------------------------------------------------------------------------------------------


@dataclass
class Decile:
    low: int
    high: int
    prospects: int
    outcomes: int

    @property
    def rate(self) -> float | None:
        return self.outcomes / self.prospects if self.prospects else None

    @property
    def predicted(self) -> float:
        return (self.low + self.high) / 200


@dataclass
class IcpCalibration:
    icp_id: int
    name: str
    deciles: list[Decile]
    rules_auc: float | None
    verdict: str


def _auc(scores: list[float], labels: list[int]) -> float | None:
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def _verdict(auc: float | None, deciles: list[Decile]) -> str:
    judged = sum(d.prospects for d in deciles)
    if auc is None:
        return f"Not enough results yet to tell whether the score works ({judged} scored people, none or all won)."
    if auc >= 0.75:
        return (
            f"The score works: higher-scored people book meetings and win clearly more often (AUC {auc:.2f})."
        )
    if auc >= 0.6:
        return f"The score helps a little: higher scores win somewhat more often (AUC {auc:.2f}). Review the ICP."
    return (
        f"The score is not working: high and low scores win about as often (AUC {auc:.2f}). Revisit the ICP."
    )


def calibration() -> tuple[list[IcpCalibration], list[tuple[dt.datetime, float | None, int]]]:
    """Per ICP: meeting-or-won rate by score decile and the rules score's AUC; the trained models' AUC over time."""
    from prospects.models import Qualification, ScoringModel

    rows = Qualification.objects.values_list("icp_id", "icp__name", "score", "prospect__stage")
    per_icp: dict[int, tuple[str, list[tuple[int, int]]]] = {}
    for icp_id, name, score, stage in rows.iterator():
        per_icp.setdefault(icp_id, (name, []))[1].append((score, int(stage in ("meeting", "won"))))
    out = []
    for icp_id, (name, pairs) in sorted(per_icp.items(), key=lambda item: item[1][0]):
        deciles = [Decile(low, low + 9 if low < 90 else 100, 0, 0) for low in range(0, 100, 10)]
        for score, won in pairs:
            decile = deciles[min(score // 10, 9)]
            decile.prospects += 1
            decile.outcomes += won
        auc = _auc([float(s) for s, _ in pairs], [w for _, w in pairs])
        out.append(IcpCalibration(icp_id, name, deciles, auc, _verdict(auc, deciles)))
    models = list(ScoringModel.objects.order_by("created_at").values_list("created_at", "auc", "trained_on"))
    return out, models
