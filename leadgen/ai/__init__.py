"""AI client layer: embeddings (offline MiniLM or OpenAI-compatible) and structured LLM judgements.

Infrastructure only: nothing here imports an app. Every LLM call is charged to its organisation's month in the
AiSpend ledger (budget.py); apps keep the budget and ask `ai_budget_reached` before a call.
"""

from __future__ import annotations

from .budget import ai_budget_reached, ai_month_spend
from .embeddings import EMBEDDING_DIM, EmbeddingConfig, EmbeddingResult, embed_texts
from .errors import AIError, AIProviderError, AIResponseError
from .llm import LLMConfig, LLMResult, Prompt, complete_json, fence_untrusted, get_prompt

__all__ = [
    "EMBEDDING_DIM",
    "AIError",
    "AIProviderError",
    "AIResponseError",
    "EmbeddingConfig",
    "EmbeddingResult",
    "LLMConfig",
    "LLMResult",
    "Prompt",
    "ai_budget_reached",
    "ai_month_spend",
    "complete_json",
    "embed_texts",
    "fence_untrusted",
    "get_prompt",
]
