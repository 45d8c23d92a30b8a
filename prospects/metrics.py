"""What the prospects app adds to the /metrics scrape (registered from ProspectsConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from prospects.models import EnrichmentLog, Qualification

# Summing a month of enrichment logs and qualifications on every scrape (every 15-30 s) is wasted work.
SPEND_CACHE_SECONDS = 60


class SpendCollector(Collector):
    """What enrichment providers and AI judgements cost this calendar month (UTC), across organisations."""

    def collect(self) -> Iterator[Metric]:
        spend: dict[str, dict[str, float]] = (
            cache.get_or_set("metrics:spend", self._spend, SPEND_CACHE_SECONDS) or {}
        )
        enrichment = GaugeMetricFamily(
            "leadgen_enrichment_spend_usd_month",
            "Enrichment provider cost this month, USD.",
            labels=["provider"],
        )
        for provider, total in sorted(spend.get("enrichment", {}).items()):
            enrichment.add_metric([provider], total)
        yield enrichment
        ai = GaugeMetricFamily(
            "leadgen_ai_spend_usd_month", "LLM qualification cost this month, USD.", labels=["provider"]
        )
        for provider, total in sorted(spend.get("ai", {}).items()):
            ai.add_metric([provider], total)
        yield ai

    @staticmethod
    def _spend() -> dict[str, dict[str, float]]:
        since = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        # Cross-tenant by nature: the operator's view of the whole deployment.
        enrichment = (
            EnrichmentLog.objects.unscoped()
            .filter(created_at__gte=since)
            .values_list("provider")
            .annotate(total=Sum("cost_usd"))
        )
        ai = (
            Qualification.objects.unscoped()
            .filter(created_at__gte=since, cost_usd__gt=0)
            .values_list("provider")
            .annotate(total=Sum("cost_usd"))
        )
        return {
            "enrichment": {provider: float(total or 0) for provider, total in enrichment},
            "ai": {provider: float(total or 0) for provider, total in ai},
        }
