"""Offline embedding throughput: the all-MiniLM-L6-v2 NumPy forward pass (leadgen/ai/minilm.py).

Run (no database needed):

    .venv/bin/python bench/embed_bench.py [--texts 1000] [--batch-size 32] [--threads N]

Embeds generated prospect-profile texts (the kind of text issue 4's profile builder produces: name, title,
company, industry, size, location, technologies) after one warm-up call that loads the weights, and writes
bench/results/embed.json. `--threads` is the BLAS thread limit the model sets around its forward pass (default 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

from _fakedata import (
    CITIES,
    COMPANY_KINDS,
    COMPANY_SIZES,
    COMPANY_WORDS,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    TECHNOLOGIES,
    TITLES,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "embed.json"

# Twelve first names, ten last names, ten titles, eight industries, six places: the shape of the texts is this
# bench's; the values are the shared ones.
FIRST = FIRST_NAMES[:12]
LAST = LAST_NAMES[:10]
PROFILE_TITLES = TITLES[:10]
PROFILE_INDUSTRIES = INDUSTRIES[:8]
PLACES = [f"{city}, {country}" for city, country in CITIES]


def profile_texts(count: int, seed: int = 42) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
        tech = ", ".join(rng.sample(TECHNOLOGIES, rng.randint(0, 4)))
        text = (
            f"{rng.choice(FIRST)} {rng.choice(LAST)}, {rng.choice(PROFILE_TITLES)} at {company}. "
            f"Industry: {rng.choice(PROFILE_INDUSTRIES)}. Employees: {rng.choice(COMPANY_SIZES)}. Location: {rng.choice(PLACES)}."
        )
        if tech:
            text += f" Technologies: {tech}."
        if rng.random() < 0.3:
            text += " Recently raised a Series A and is hiring across sales and engineering."
        texts.append(text)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads during the forward pass (default 1)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from leadgen.ai import minilm

    texts = profile_texts(args.texts)
    started = time.perf_counter()
    minilm.encode(["warm-up"])
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    vectors, tokens = minilm.encode_counting(texts, batch_size=args.batch_size, threads=args.threads)
    elapsed = time.perf_counter() - started

    assert vectors.shape == (len(texts), minilm.DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    result = {
        "benchmark": "offline embeddings: all-MiniLM-L6-v2, NumPy forward pass (leadgen/ai/minilm.py)",
        "texts": len(texts),
        "batch_size": args.batch_size,
        "blas_threads": args.threads,
        "word_pieces_per_text": round(tokens / len(texts), 1),
        "load_and_first_call_s": round(load_s, 2),
        "seconds": round(elapsed, 2),
        "texts_per_s": round(len(texts) / elapsed, 1),
        "word_pieces_per_s": round(tokens / elapsed),
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
