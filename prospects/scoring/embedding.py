"""Profile texts, their vectors, ICP vectors and ICP similarity search (pgvector HNSW, cosine distance).

A prospect is embedded from a compact profile text built from its own and its company's fields; the vector is
stored in ProspectEmbedding with the hash of that text (and of the embedding model), so an unchanged profile is
never embedded twice. An ICP's vector is the renormalised mean of its description's vector and its examples'
vectors. Similarity search uses pgvector 0.8 iterative index scans so that a query filtered to one organisation
still returns the full k rows when k exist (a plain HNSW scan stops after ef_search candidates, most of which may
belong to other organisations).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import connection, transaction
from django.utils.timezone import now

from leadgen.ai.embeddings import LOCAL_MODEL, LOCAL_PROVIDER, EmbeddingConfig, embed_texts
from leadgen.tenancy import require_org_id
from prospects.models import EMBEDDING_DIM, ICP, Company, Prospect, ProspectEmbedding, Qualification
from prospects.scoring.criteria import criteria_summary

# Bump when the profile texts change shape, so every stored vector is recomputed once. 2: role and company are
# embedded apart and summed (profile_vectors), the name left out.
PROFILE_VERSION = "2"
# A company's half of its people's vectors is kept this long in the cache (1.5 KB each).
COMPANY_VECTOR_CACHE_SECONDS = 24 * 3600
SNIPPET_CHARS = 300
MAX_TECHNOLOGIES = 15
# Rows embedded per call of the provider (and per upsert).
EMBED_CHUNK = 256
# HNSW search settings (pgvector 0.8). ef_search is the candidate list per scan; iterative scans keep going
# (up to max_scan_tuples visited tuples) until the org filter has let through `limit` rows. Tuned by
# bench/icp_bench.py.
EF_SEARCH_MIN = 200
MAX_SCAN_TUPLES = 100_000
PREVIEW_CACHE_SECONDS = 3600


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


def company_text(company: Company) -> str:
    lines = [f"Company: {company.name or company.domain or ''}".rstrip()]
    facts = []
    if company.industry:
        facts.append(company.industry)
    if company.employee_count is not None:
        facts.append(f"{company.employee_count} employees")
    if company.funding_stage:
        facts.append(f"funding {company.funding_stage}")
    if company.location:
        facts.append(company.location)
    if facts:
        lines.append("; ".join(facts))
    if company.technologies:
        lines.append("Technologies: " + ", ".join(company.technologies[:MAX_TECHNOLOGIES]))
    if company.description:
        lines.append(_snippet(company.description))
    if company.about_text:
        lines.append("About: " + _snippet(company.about_text))
    return "\n".join(line for line in lines if line.strip() and line != "Company:")


def person_text(prospect: Prospect) -> str:
    """Role and location: what an ICP says about the person. The name carries no fit signal and is left out."""
    role = prospect.title
    extra = [v for v in (prospect.seniority, prospect.department) if v]
    if extra:
        role = f"{role} ({', '.join(extra)})" if role else ", ".join(extra)
    lines = []
    if role:
        lines.append(f"Role: {role}")
    if prospect.location:
        lines.append(f"Location: {prospect.location}")
    return "\n".join(lines)


def company_part(prospect: Prospect) -> str:
    if prospect.company is not None:
        return company_text(prospect.company)
    if prospect.company_name or prospect.company_domain:
        return f"Company: {prospect.company_name or prospect.company_domain}"
    return ""


def profile_parts(prospect: Prospect) -> tuple[str, str]:
    """(person text, company text): a prospect's vector is made from both halves, see profile_vectors."""
    person, company = person_text(prospect), company_part(prospect)
    if not person and not company:
        # Nothing about role or company yet: the name (or email) still gives the prospect a vector.
        person = f"Name: {prospect.full_name}" if prospect.full_name else prospect.email
    return person, company


def _provider_model(config: EmbeddingConfig) -> tuple[str, str]:
    """The provider and model names stored with a vector made under `config`."""
    if config.provider == "local":
        return LOCAL_PROVIDER, LOCAL_MODEL
    return config.provider, config.model


def _model_key(config: EmbeddingConfig) -> str:
    return ":".join(_provider_model(config))


def _hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def parts_hash(parts: tuple[str, str], *, config: EmbeddingConfig | None = None) -> str:
    config = config or EmbeddingConfig.from_settings()
    return _hash(PROFILE_VERSION, _model_key(config), *parts)


def _normalise(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _company_cache_key(text: str, config: EmbeddingConfig) -> str:
    return f"profile-company-vector:{_hash(PROFILE_VERSION, _model_key(config), text)}"


@dataclass(frozen=True)
class ProfileVectors:
    vectors: np.ndarray  # (n, DIM) float32, unit length
    provider: str
    model: str


def profile_vectors(
    parts: Sequence[tuple[str, str]], *, config: EmbeddingConfig | None = None
) -> ProfileVectors:
    """One unit vector per (person text, company text): the renormalised sum of the two halves' unit vectors.

    Embedding the halves apart weighs role and company equally however long the company's description is (in one
    mean-pooled text, 130 word pieces of company prose drown a 10-piece job title), and a company's half is
    embedded once for all its people: within a call, and across calls through the cache
    (COMPANY_VECTOR_CACHE_SECONDS). Each distinct text is embedded once, in one provider call.
    """
    config = config or EmbeddingConfig.from_settings()
    companies = list(dict.fromkeys(company for _, company in parts if company))
    keys = {text: _company_cache_key(text, config) for text in companies}
    cached = cache.get_many(list(keys.values())) if keys else {}
    known: dict[str, np.ndarray] = {
        text: np.frombuffer(cached[key], dtype=np.float32) for text, key in keys.items() if key in cached
    }
    new_companies = [text for text in companies if text not in known]
    todo = list(dict.fromkeys([*(person for person, _ in parts if person), *new_companies]))
    provider, model = _provider_model(config)
    if todo:
        result = embed_texts(todo, config=config)
        provider, model = result.provider, result.model
        for text, vector in zip(todo, result.vectors, strict=True):
            known[text] = _normalise(np.asarray(vector, dtype=np.float32)).astype(np.float32)
        if new_companies:
            fresh = {keys[text]: known[text].tobytes() for text in new_companies}
            cache.set_many(fresh, COMPANY_VECTOR_CACHE_SECONDS)
    out = np.zeros((len(parts), EMBEDDING_DIM), dtype=np.float32)
    for row, (person, company) in enumerate(parts):
        halves = [known[text] for text in (person, company) if text]
        out[row] = _normalise(np.sum(halves, axis=0)) if halves else 0.0
    return ProfileVectors(vectors=out, provider=provider, model=model)


# --- prospects ----------------------------------------------------------------------------------------------


def prospects_embed(*, prospect_ids: Sequence[int], config: EmbeddingConfig | None = None) -> int:
    """Embed the given prospects of the current org whose profile changed; returns how many were embedded."""
    config = config or EmbeddingConfig.from_settings()
    org_id = require_org_id()
    embedded = 0
    ids = list(dict.fromkeys(int(i) for i in prospect_ids))
    for start in range(0, len(ids), EMBED_CHUNK):
        chunk = ids[start : start + EMBED_CHUNK]
        prospects = list(Prospect.objects.filter(pk__in=chunk).select_related("company").order_by("pk"))
        stored = dict(
            ProspectEmbedding.objects.filter(prospect_id__in=chunk).values_list("prospect_id", "text_hash")
        )
        todo: list[tuple[Prospect, tuple[str, str], str]] = []
        for prospect in prospects:
            parts = profile_parts(prospect)
            digest = parts_hash(parts, config=config)
            if stored.get(prospect.pk) != digest:
                todo.append((prospect, parts, digest))
        if not todo:
            continue
        result = profile_vectors([parts for _, parts, _ in todo], config=config)
        stamp = now()
        rows = [
            ProspectEmbedding(
                org_id=org_id,
                prospect_id=prospect.pk,
                vector=result.vectors[i],
                text_hash=digest,
                provider=result.provider,
                model=result.model,
                updated_at=stamp,
            )
            for i, (prospect, _, digest) in enumerate(todo)
        ]
        # An upsert: two workers embedding the same prospect both succeed and the row ends up consistent.
        ProspectEmbedding.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["prospect"],
            update_fields=["vector", "text_hash", "provider", "model", "updated_at"],
        )
        embedded += len(rows)
    return embedded


# --- ICPs ---------------------------------------------------------------------------------------------------


def icp_text(icp: ICP) -> str:
    lines = [f"Ideal customer: {icp.name}".rstrip(": ")]
    if icp.description.strip():
        lines.append(" ".join(icp.description.split()))
    lines.extend(criteria_summary(icp.criteria or {}))
    return "\n".join(lines)


def _icp_inputs(icp: ICP) -> tuple[list[str], list[tuple[str, str]]]:
    """What an ICP's vector is made from: its own text and its example companies' texts, and the profile parts of
    its example prospects (embedded the way prospects are, see profile_vectors)."""
    texts = [icp_text(icp)]
    example_parts: list[tuple[str, str]] = []
    if icp.example_prospect_ids:
        examples = Prospect.objects.filter(pk__in=icp.example_prospect_ids).select_related("company")
        example_parts = [profile_parts(p) for p in examples.order_by("pk")]
    if icp.example_company_ids:
        companies = Company.objects.filter(pk__in=icp.example_company_ids).order_by("pk")
        texts.extend(company_text(c) for c in companies)
    return texts, example_parts


def icp_vector(icp: ICP, *, config: EmbeddingConfig | None = None) -> tuple[np.ndarray, str]:
    """The ICP's vector and its input hash, without saving: the mean of the normalised vectors, renormalised.

    Also used by the live editor for unsaved criteria; vectors are cached by input hash, so typing back to an
    earlier state costs no embedding call.
    """
    config = config or EmbeddingConfig.from_settings()
    texts, example_parts = _icp_inputs(icp)
    digest = _hash(
        PROFILE_VERSION, _model_key(config), *texts, *(p for parts in example_parts for p in parts)
    )
    cache_key = f"icp-vector:{digest}"
    if (cached := cache.get(cache_key)) is not None:
        return np.asarray(cached, dtype=np.float32), digest
    vectors = [_normalise(v) for v in embed_texts(texts, config=config).vectors]
    if example_parts:
        vectors.extend(profile_vectors(example_parts, config=config).vectors)
    mean = _normalise(np.mean(vectors, axis=0)).astype(np.float32)
    cache.set(cache_key, mean.tolist(), PREVIEW_CACHE_SECONDS)
    return mean, digest


def icp_embed(*, icp: ICP, config: EmbeddingConfig | None = None) -> None:
    """Store the ICP's vector; no write when its inputs (description, criteria, examples) are unchanged."""
    vector, digest = icp_vector(icp, config=config)
    if icp.embedding is not None and icp.embedding_hash == digest:
        return
    icp.embedding, icp.embedding_hash = vector, digest
    ICP.objects.filter(pk=icp.pk).update(embedding=vector, embedding_hash=digest)


def _ensure_icp_vector(icp: ICP) -> np.ndarray:
    if icp.embedding is None:
        icp_embed(icp=icp)
    return np.asarray(icp.embedding, dtype=np.float32)


def _similarity(distance: float) -> float:
    """Cosine distance (0..2) → similarity clipped to 0..1 (opposite directions carry no signal here)."""
    return min(1.0, max(0.0, 1.0 - float(distance)))


def icp_similarities(*, icp: ICP, prospect_ids: Iterable[int]) -> dict[int, float]:
    """Cosine similarity (0..1) of each prospect's vector to the ICP's; prospects never embedded are embedded."""
    ids = list(dict.fromkeys(int(i) for i in prospect_ids))
    if not ids:
        return {}
    have = set(ProspectEmbedding.objects.filter(prospect_id__in=ids).values_list("prospect_id", flat=True))
    if missing := [i for i in ids if i not in have]:
        prospects_embed(prospect_ids=missing)
    vector = _ensure_icp_vector(icp)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT prospect_id, vector <=> %s::vector FROM prospects_prospectembedding "
            "WHERE org_id = %s AND prospect_id = ANY(%s)",
            [_literal(vector), require_org_id(), ids],
        )
        return {pid: _similarity(distance) for pid, distance in cursor.fetchall()}


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


@dataclass(frozen=True)
class Neighbour:
    prospect_id: int
    similarity: float


def nearest_prospects(
    *,
    vector: np.ndarray,
    limit: int,
    org_id: int | None = None,
    exclude_ids: Sequence[int] = (),
    iterative_scan: str = "relaxed_order",
    ef_search: int | None = None,
    max_scan_tuples: int = MAX_SCAN_TUPLES,
) -> list[Neighbour]:
    """The org's `limit` prospects closest to `vector`, best first (HNSW index, iterative scan).

    relaxed_order lets the index return rows slightly out of distance order (faster); the materialised CTE then
    sorts the final k exactly. The settings are SET LOCAL (set_config(..., true)) so they end with the transaction.
    """
    org_id = org_id if org_id is not None else require_org_id()
    ef = ef_search or max(EF_SEARCH_MIN, limit)
    literal = _literal(vector)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', %s, true), set_config('hnsw.ef_search', %s, true), "
            "set_config('hnsw.max_scan_tuples', %s, true)",
            [iterative_scan, str(ef), str(max_scan_tuples)],
        )
        cursor.execute(
            "WITH nearest AS MATERIALIZED ("
            "  SELECT prospect_id, vector <=> %s::vector AS distance FROM prospects_prospectembedding"
            "  WHERE org_id = %s AND NOT (prospect_id = ANY(%s::bigint[]))"
            "  ORDER BY vector <=> %s::vector LIMIT %s"
            ") SELECT prospect_id, distance FROM nearest ORDER BY distance, prospect_id",
            [literal, org_id, list(exclude_ids), literal, limit],
        )
        return [Neighbour(pid, _similarity(distance)) for pid, distance in cursor.fetchall()]


@dataclass
class Match:
    prospect: Prospect
    similarity: float | None
    score: int | None = None
    tier: str | None = None
    reasoning: str | None = None


def icp_matches(*, icp: ICP, limit: int = 100, min_score: int | None = None) -> list[Match]:
    """The ICP's best prospects: judged ones (Qualification rows) by score, then unjudged ones by similarity.

    With `min_score`, only judged prospects scoring at least that are returned (an unjudged prospect has no score).
    """
    qualified = list(
        Qualification.objects.filter(icp=icp, **({"score__gte": min_score} if min_score is not None else {}))
        .select_related("prospect")
        .order_by("-score", "-similarity", "prospect_id")[:limit]
    )
    matches = [
        Match(
            prospect=q.prospect,
            similarity=q.similarity,
            score=q.score,
            tier=q.tier,
            reasoning=q.reasoning,
        )
        for q in qualified
    ]
    if min_score is not None or len(matches) >= limit:
        return matches
    # Fill with unjudged prospects, nearest first. Every judged prospect is already listed (fewer than `limit`).
    neighbours = nearest_prospects(
        vector=_ensure_icp_vector(icp),
        limit=limit - len(matches),
        exclude_ids=[m.prospect.pk for m in matches],
    )
    prospects = Prospect.objects.in_bulk([n.prospect_id for n in neighbours])
    matches.extend(
        Match(prospect=prospects[n.prospect_id], similarity=n.similarity)
        for n in neighbours
        if n.prospect_id in prospects
    )
    return matches
