"""Embedding providers behind one call: the offline MiniLM model or any OpenAI-compatible endpoint.

Every provider answers EMBEDDING_DIM-dimensional unit vectors so one pgvector HNSW index serves the whole
deployment (DESIGN.md "AI layer").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .errors import AIProviderError, AIResponseError
from .pricing import cost_usd

if TYPE_CHECKING:
    import openai

EMBEDDING_DIM = 384
LOCAL_PROVIDER = "local-minilm"
LOCAL_MODEL = "all-MiniLM-L6-v2"
PROVIDERS = ("local", "openai")


@dataclass(frozen=True)
class EmbeddingConfig:
    provider: str = "local"
    model: str = "text-embedding-3-small"
    api_key: str | None = None
    base_url: str | None = None
    batch_size: int = 64
    timeout: float = 30.0
    max_retries: int = 3
    local_threads: int = 1  # BLAS threads for the offline model (see minilm.DEFAULT_THREADS)

    @classmethod
    def from_settings(cls) -> EmbeddingConfig:
        provider = settings.AI_EMBEDDING_PROVIDER
        if provider not in PROVIDERS:
            raise ImproperlyConfigured(f"AI_EMBEDDING_PROVIDER must be one of {PROVIDERS}, got {provider!r}")
        if provider == "openai" and not settings.OPENAI_API_KEY:
            raise ImproperlyConfigured("AI_EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY")
        if settings.AI_EMBEDDING_BATCH_SIZE < 1:
            raise ImproperlyConfigured("AI_EMBEDDING_BATCH_SIZE must be at least 1")
        if settings.AI_EMBEDDING_THREADS < 1:
            raise ImproperlyConfigured("AI_EMBEDDING_THREADS must be at least 1")
        return cls(
            provider=provider,
            model=settings.AI_EMBEDDING_MODEL,
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL,
            batch_size=settings.AI_EMBEDDING_BATCH_SIZE,
            timeout=float(settings.AI_REQUEST_TIMEOUT),
            max_retries=settings.AI_MAX_RETRIES,
            local_threads=settings.AI_EMBEDDING_THREADS,
        )


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: np.ndarray  # (len(texts), EMBEDDING_DIM) float32, unit length, in input order
    provider: str
    model: str
    tokens: int
    cost_usd: float
    latency_ms: int


def embed_texts(texts: list[str], *, config: EmbeddingConfig | None = None) -> EmbeddingResult:
    config = config or EmbeddingConfig.from_settings()
    started = time.perf_counter()
    if config.provider == "local":
        from . import minilm

        try:
            vectors, tokens = minilm.encode_counting(list(texts), threads=config.local_threads)
        except minilm.ModelNotInstalled as exc:
            raise ImproperlyConfigured(str(exc)) from exc
        provider, model, cost = LOCAL_PROVIDER, LOCAL_MODEL, 0.0
    elif config.provider == "openai":
        vectors, tokens = _embed_openai(list(texts), config)
        provider, model, cost = "openai", config.model, cost_usd(config.model, tokens, 0)
    else:
        raise ImproperlyConfigured(f"Unknown embedding provider {config.provider!r}")
    return EmbeddingResult(
        vectors=vectors,
        provider=provider,
        model=model,
        tokens=tokens,
        cost_usd=cost,
        latency_ms=round((time.perf_counter() - started) * 1000),
    )


def openai_client(
    *, api_key: str | None, base_url: str | None, timeout: float, max_retries: int
) -> openai.OpenAI:
    """The openai client retries 429 and 5xx itself, honouring retry-after, with exponential backoff."""
    import openai

    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)


def _embed_openai(texts: list[str], config: EmbeddingConfig) -> tuple[np.ndarray, int]:
    import openai

    client = openai_client(
        api_key=config.api_key,
        base_url=config.base_url,
        timeout=config.timeout,
        max_retries=config.max_retries,
    )
    out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
    tokens = 0
    for start in range(0, len(texts), config.batch_size):
        # The API rejects empty strings; a single space embeds as "nothing" just the same.
        chunk = [text if text.strip() else " " for text in texts[start : start + config.batch_size]]
        try:
            response = client.embeddings.create(
                model=config.model, input=chunk, dimensions=EMBEDDING_DIM, encoding_format="float"
            )
        except openai.APIStatusError as exc:
            raise AIProviderError.from_openai(exc, what="embeddings") from exc
        except openai.APIError as exc:  # connection errors and timeouts, after the client's retries
            raise AIProviderError(f"embeddings request failed: {exc}", provider="openai") from exc
        if len(response.data) != len(chunk):
            raise AIResponseError(
                f"embeddings reply has {len(response.data)} vectors for {len(chunk)} inputs",
                provider="openai",
            )
        for item in response.data:
            vector = np.asarray(item.embedding, dtype=np.float32)
            if vector.shape != (EMBEDDING_DIM,):
                raise AIResponseError(
                    f"model {config.model!r} answered {vector.shape[0]} dimensions, expected {EMBEDDING_DIM}; "
                    "it must support the dimensions parameter",
                    provider="openai",
                )
            if not 0 <= item.index < len(chunk):
                raise AIResponseError(
                    f"embeddings reply has index {item.index} out of range", provider="openai"
                )
            norm = float(np.linalg.norm(vector))
            out[start + item.index] = vector / norm if norm > 0 else vector
        if response.usage is not None:
            tokens += response.usage.prompt_tokens
    return out, tokens
