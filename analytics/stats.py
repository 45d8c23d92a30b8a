"""Rates with 95% Wilson intervals and the two-proportion z-test, wrapped so empty samples answer None instead of
NaN. The p-value is statsmodels' `proportions_ztest`; the interval is Wilson's closed formula, which the tests hold
equal to statsmodels' `proportion_confint(method="wilson")`: every page shows rates, and importing statsmodels
costs seconds, so only the A/B comparison pays for it."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile


@dataclass(frozen=True)
class Rate:
    count: int
    total: int
    value: float | None  # count / total
    low: float | None  # 95% Wilson interval
    high: float | None

    @property
    def percent(self) -> str:
        return "–" if self.value is None else f"{self.value * 100:.1f}%"

    @property
    def interval(self) -> str:
        if self.low is None or self.high is None:
            return ""
        return f"{self.low * 100:.1f}–{self.high * 100:.1f}%"


def rate(count: int, total: int) -> Rate:
    if total <= 0:
        return Rate(count, total, None, None, None)
    # In a date range, replies can answer emails sent before it: the interval is for at most every email.
    share, z2 = min(count / total, 1.0), Z95 * Z95
    centre = (share + z2 / (2 * total)) / (1 + z2 / total)
    half = Z95 * math.sqrt(share * (1 - share) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return Rate(count, total, count / total, max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_p(count_a: int, total_a: int, count_b: int, total_b: int) -> float | None:
    """Two-sided p-value that the two rates differ (pooled z-test); None when it is undefined (no sends, or both
    rates 0 or both 1)."""
    if total_a <= 0 or total_b <= 0:
        return None
    pooled = (count_a + count_b) / (total_a + total_b)
    if pooled in (0.0, 1.0):
        return None
    from statsmodels.stats.proportion import proportions_ztest

    _, p_value = proportions_ztest([count_a, count_b], [total_a, total_b])
    value = float(p_value)
    return None if math.isnan(value) else value


def lift(rate_variant: float | None, rate_control: float | None) -> float | None:
    """Relative change of the variant's rate over the control's (0.25 = 25% more)."""
    if rate_variant is None or not rate_control:
        return None
    return rate_variant / rate_control - 1
