"""AI client layer: embeddings (offline MiniLM or OpenAI-compatible) and structured LLM judgements.

Infrastructure only: nothing here imports an app. Callers record usage from the returned results.
"""

from __future__ import annotations

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
    "complete_json",
    "embed_texts",
    "fence_untrusted",
    "get_prompt",
]
