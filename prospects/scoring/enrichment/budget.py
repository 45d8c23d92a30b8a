"""Per-organisation enrichment settings and the monthly budget: reserve before a paid call, refund what it did not cost, alert admins once at 80% and 100%."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone

from prospects.models import Company, EnrichmentLog, Notification, PipelineSettings, Prospect
from prospects.scoring.enrichment import providers
from prospects.scoring.enrichment.providers import (
    ProviderError,
)

log = logging.getLogger(__name__)


# What a reserved log row says until its call returns; the error prefix of failures worth retrying.
IN_FLIGHT = "interrupted before the provider answered"
TRANSIENT_PREFIX = "temporary: "


class PaidProvidersOff(ProviderError):
    """No key for the provider, or the org's monthly budget is zero or spent."""


def pipeline_settings_for(*, org_id: int) -> PipelineSettings:
    pipeline_settings, _ = PipelineSettings.objects.get_or_create(org_id=org_id)
    return pipeline_settings


def provider_key(pipeline_settings: PipelineSettings, provider: str) -> str:
    return str(getattr(pipeline_settings, f"{provider}_api_key", "") or "")


def month_start(moment: datetime | None = None) -> datetime:
    moment = timezone.localtime(moment or timezone.now(), timezone.get_default_timezone())
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spend() -> Decimal:
    """What the current organisation's enrichment calls cost this calendar month (UTC)."""
    total = EnrichmentLog.objects.filter(created_at__gte=month_start()).aggregate(total=Sum("cost_usd"))
    return total["total"] or Decimal("0")


# The month's spend is summed from the log once, then kept as a counter in Redis (micro-dollars) that reservations
# move under the settings-row lock: a busy org's budget check stays O(1) instead of re-summing a growing month.
SPEND_CACHE_SECONDS = 300


def _spend_key(org_id: int) -> str:
    return f"enrich:spend:{org_id}:{month_start().strftime('%Y-%m')}"


def _micro(amount: Decimal) -> int:
    return int((amount * 1_000_000).to_integral_value())


def _cached_month_spend(org_id: int) -> Decimal:
    key = _spend_key(org_id)
    value = cache.get(key)
    if value is None:
        value = _micro(month_spend())
        cache.set(key, value, SPEND_CACHE_SECONDS)
    return Decimal(int(value)) / 1_000_000


def _spend_adjust(org_id: int, amount: Decimal) -> None:
    key = _spend_key(org_id)
    try:
        if amount >= 0:
            cache.incr(key, _micro(amount))
        else:
            cache.decr(key, _micro(-amount))
    except ValueError:  # expired meanwhile: the next check sums the log again
        cache.delete(key)


def budget_refund(entry: EnrichmentLog) -> None:
    """The call was not billed: release its reservation."""
    if entry.cost_usd:
        _spend_adjust(entry.org_id, -entry.cost_usd)
    entry.cost_usd = Decimal("0")


def budget_reserve(
    *,
    pipeline_settings: PipelineSettings,
    provider: str,
    operation: str,
    prospect: Prospect | None,
    company: Company | None,
) -> EnrichmentLog | None:
    """A log row holding the call's price against the budget, or None when the budget does not allow the call.

    The settings row is locked while the month's spend is summed and the reservation inserted, so two workers
    cannot both take the last dollar. A crash mid-call leaves the reservation counted (never an overspend).
    """
    price = providers.price_usd(provider, operation)
    with transaction.atomic():
        locked = PipelineSettings.objects.select_for_update().get(pk=pipeline_settings.pk)
        budget = locked.monthly_budget_usd
        if budget <= 0:
            return None
        spent = _cached_month_spend(locked.org_id)
        if spent >= budget or spent + price > budget:
            refused = True
        else:
            refused = False
            entry = EnrichmentLog.objects.create(
                org_id=locked.org_id,
                prospect=prospect,
                company=company,
                provider=provider,
                operation=operation,
                cost_usd=price,
                error=IN_FLIGHT,
            )
            _spend_adjust(locked.org_id, price)
    if refused:
        budget_alert(pipeline_settings=locked, spent=spent)
        return None
    return entry


# What a batch's reservation row says until the batch settles it (a crash leaves it counted: never an overspend).
BATCH_RESERVATION = "budget"
BATCH_IN_FLIGHT = "reserved for a batch of paid calls; interrupted before the batch was settled"


class BudgetBlock:
    """One budget reservation for a batch's paid calls, instead of one locked reservation per call.

    The first paid call reserves what the batch plans to spend (`planned`) under the settings-row lock, in one
    log row; the calls then draw from it in memory. When the budget has less room than the plan, a top-up reserves
    only what the call at hand costs, so the budget still stops at the limit exactly and a parallel worker is never
    refused because of money this batch only planned to spend. `settle` (inside the batch's write transaction)
    drops the reservation row once the calls' own log rows are written, and moves the month's counter back by
    what was reserved but not spent. Thread-safe: the enrichment threads of one batch share a block.
    """

    def __init__(self, pipeline_settings: PipelineSettings, *, planned: Decimal = Decimal("0")) -> None:
        self.pipeline_settings = pipeline_settings
        self.planned = planned
        self.reserved = Decimal("0")
        self.used = Decimal("0")
        self.row_id: int | None = None
        self.top_ups = 0
        self._lock = threading.Lock()

    def take(self, price: Decimal) -> bool:
        """Count a call's price against the block (topping it up when short); False when the budget says no."""
        with self._lock:
            short = price - (self.reserved - self.used)
            if short > 0 and not self._top_up(short):
                return False
            self.used += price
            return True

    def release(self, price: Decimal) -> None:
        """The call was not billed: its price goes back to the block (and to the budget at settle)."""
        with self._lock:
            self.used -= price

    def _top_up(self, short: Decimal) -> bool:
        want = max(short, self.planned - self.reserved)
        with transaction.atomic():
            locked = PipelineSettings.objects.select_for_update().get(pk=self.pipeline_settings.pk)
            budget = locked.monthly_budget_usd
            if budget <= 0:
                return False
            spent = _cached_month_spend(locked.org_id)
            room = budget - spent
            amount = want if room >= want else short if room >= short else None
            if amount is not None:
                if self.row_id is None:
                    self.row_id = EnrichmentLog.objects.create(
                        org_id=locked.org_id,
                        provider=BATCH_RESERVATION,
                        operation="reservation",
                        cost_usd=amount,
                        error=BATCH_IN_FLIGHT,
                    ).pk
                else:
                    EnrichmentLog.objects.filter(pk=self.row_id).update(cost_usd=F("cost_usd") + amount)
                _spend_adjust(locked.org_id, amount)
                self.reserved += amount
                self.top_ups += 1
        if amount is None:
            budget_alert(pipeline_settings=locked, spent=spent)
            return False
        return True

    def settle(self) -> None:
        """Drop the reservation row: the calls' own rows (written in the same transaction) now hold their cost."""
        if self.row_id is None:
            return
        EnrichmentLog.objects.filter(pk=self.row_id).delete()
        _spend_adjust(self.pipeline_settings.org_id, self.used - self.reserved)
        self.row_id, self.reserved, self.used = None, Decimal("0"), Decimal("0")

    def forget_counter(self) -> None:
        """The batch's writes rolled back: the month's counter is summed from the log again on the next check."""
        cache.delete(_spend_key(self.pipeline_settings.org_id))


def budget_alert(*, pipeline_settings: PipelineSettings, spent: Decimal) -> bool:
    """Tell the org's admins (in-app and by email) that the budget is spent; at most once per calendar month."""
    from accounts.models import Membership, Role

    month = month_start().strftime("%Y-%m")
    claimed = (
        PipelineSettings.objects.filter(pk=pipeline_settings.pk)
        .exclude(budget_alerted_month=month)
        .update(budget_alerted_month=month)
    )
    if not claimed:
        return False
    admins = [
        membership.user
        for membership in Membership.objects.select_related("user").filter(role__in=[Role.OWNER, Role.ADMIN])
    ]
    budget = pipeline_settings.monthly_budget_usd
    title = f"Enrichment budget reached: ${spent:.2f} of ${budget:.2f} this month"
    body = (
        "Paid enrichment providers are paused until next month. Website facts and email checks continue. "
        "Raise the monthly budget in Settings → Enrichment & scoring to resume now."
    )
    url = reverse("pipeline_settings")
    Notification.objects.bulk_create(
        [
            Notification(
                org_id=pipeline_settings.org_id,
                user=user,
                kind="budget_reached",
                title=title,
                body=body,
                url=url,
            )
            for user in admins
        ]
    )
    recipients = [user.email for user in admins if user.email]
    if recipients:
        link = settings.SITE_URL + url

        def _send() -> None:
            send_mail(title, f"{body}\n\n{link}\n", None, recipients, fail_silently=True)

        transaction.on_commit(_send)
    return True


PIPELINE_SECRETS = ("hunter_api_key", "apollo_api_key", "pdl_api_key", "slack_webhook_url")
PIPELINE_VALUES = ("monthly_budget_usd", "monthly_ai_budget_usd", "freshness_days", "qualification_threshold")


def pipeline_settings_update(
    *, pipeline_settings: PipelineSettings, actor: Any, changes: dict[str, Any]
) -> list[str]:
    """Apply changes ("" clears a secret); audited by field name only, never values."""
    from accounts.services import audit_record

    changed: list[str] = []
    for name, value in changes.items():
        if name not in (*PIPELINE_SECRETS, *PIPELINE_VALUES):
            raise ValueError(f"not a pipeline setting: {name}")
        if isinstance(value, str):
            value = value.strip()
        if getattr(pipeline_settings, name) != value:
            setattr(pipeline_settings, name, value)
            changed.append(name)
    if changed:
        pipeline_settings.updated_at = timezone.now()
        with transaction.atomic():
            pipeline_settings.save(update_fields=[*changed, "updated_at"])
            audit_record(
                org=pipeline_settings.org,
                actor=actor,
                action="pipeline_settings.updated",
                target=pipeline_settings,
                data={"fields": changed},
            )
    return changed
