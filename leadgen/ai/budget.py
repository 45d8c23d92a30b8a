"""The monthly AI budget: what an organisation's LLM calls cost this calendar month, from the AiSpend ledger.

`complete_json` charges every call (also one whose reply was unusable: its tokens were billed) to the organisation
in scope. Apps keep the budget itself (prospects: PipelineSettings.monthly_ai_budget_usd) and ask
`ai_budget_reached` before a call; this module imports no app. The check comes before a call whose price is not
known until it returns, so the call that crosses the budget completes: a month may end a few cents over.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

if TYPE_CHECKING:
    from leadgen.models import AiSpend

logger = logging.getLogger(__name__)

# The month's spend is summed from the ledger once, then kept in the cache as micro-dollars that each call adds to:
# a busy organisation's check stays one cache read instead of a sum over a growing month.
SPEND_CACHE_SECONDS = 300


def month_start(moment: datetime | None = None) -> datetime:
    moment = timezone.localtime(moment or timezone.now(), timezone.get_default_timezone())
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _spend_key(org_id: int) -> str:
    return f"ai:spend:{org_id}:{month_start().strftime('%Y-%m')}"


def _micro(amount: Decimal) -> int:
    return int((amount * 1_000_000).to_integral_value())


def ai_spend_record(
    *,
    purpose: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float,
    org_id: int | None = None,
) -> AiSpend | None:
    """Charge one call to `org_id` (default: the organisation in scope); None when no organisation is in scope."""
    from leadgen.tenancy import current_org_id  # tenancy defines models: imported when a call is charged

    org_id = org_id if org_id is not None else current_org_id()
    if org_id is None:
        logger.warning("LLM call (%s) outside an organisation's scope: not charged to a budget", purpose)
        return None
    cost = Decimal(str(round(cost_usd, 6)))
    from leadgen.models import AiSpend  # the model needs the app registry; the offline embedder does not

    entry = AiSpend.objects.create(
        org_id=org_id,
        purpose=purpose[:64],
        model=model[:100],
        input_tokens=max(0, input_tokens),
        output_tokens=max(0, output_tokens),
        cost_usd=cost,
    )
    with contextlib.suppress(ValueError):  # not cached (or expired): the next check sums the ledger
        cache.incr(_spend_key(org_id), _micro(cost))
    return entry


def ai_month_spend(*, org_id: int) -> Decimal:
    """What the organisation's LLM calls cost since the first of this month."""
    key = _spend_key(org_id)
    value = cache.get(key)
    if value is None:
        total = (
            _ledger()
            .filter(org_id=org_id, created_at__gte=month_start())
            .aggregate(total=Sum("cost_usd"))["total"]
        )
        value = _micro(total or Decimal("0"))
        cache.add(key, value, SPEND_CACHE_SECONDS)
    return Decimal(int(value)) / 1_000_000


def ai_budget_reached(*, org_id: int, monthly_budget_usd: Decimal | None) -> bool:
    """Whether this month's spend has reached the budget; None is unlimited, 0 allows no call."""
    if monthly_budget_usd is None:
        return False
    return ai_month_spend(org_id=org_id) >= monthly_budget_usd


def _ledger():  # type: ignore[no-untyped-def]
    from leadgen.models import AiSpend

    return AiSpend.objects.unscoped()
