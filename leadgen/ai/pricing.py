"""What a call costs, from a per-model price table that settings can extend (AI_MODEL_PRICES)."""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)

# USD per million tokens, (input, output), from the providers' public price lists.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
}

_warned: set[str] = set()


def prices() -> dict[str, tuple[float, float]]:
    return {**DEFAULT_PRICES, **getattr(settings, "AI_MODEL_PRICES", {})}


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """Cost of one call; a model missing from the table (a self-hosted one, say) costs 0, logged once."""
    table = prices()
    price = table.get(model)
    if price is None:
        # Dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs.
        family = max((name for name in table if model.startswith(name + "-")), key=len, default=None)
        price = table.get(family) if family else None
    if price is None:
        if model not in _warned:
            _warned.add(model)
            logger.warning(
                "No price for model %r: its calls are counted as free (set AI_MODEL_PRICES)", model
            )
        return 0.0
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
