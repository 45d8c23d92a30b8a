"""Qualification: each (prospect, ICP) judged by the rules or the LLM, then one score per prospect.

A judgement is cached in Qualification by a hash of everything it depends on (the prospect's stored data, the
ICP, the similarity, the provider, model and prompt version), so a rerun with the same inputs costs nothing.
Hooks are grounded: one survives only if its evidence quote is found in the prospect's stored data; the others
are dropped and counted. The prospect's score combines fit (best ICP), intent (source and form answers) and
engagement (human email events, once outreach exists), optionally adjusted by the org's model fitted on outcomes.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from leadgen.ai.errors import AIError
from leadgen.ai.llm import LLMConfig
from prospects.engagement import engagement_score
from prospects.models import (
    ICP,
    Activity,
    PipelineSettings,
    Prospect,
    Qualification,
    ScoringModel,
    Stage,
    Tier,
)
from prospects.scoring.ai_budget import RULES_BUDGET_PROVIDER, ai_budget_spent
from prospects.scoring.bulk import rows_update
from prospects.scoring.grounding import ground_hooks, grounding_sources
from prospects.scoring.judges import (
    MAX_HOOKS,
    RULES_PROVIDER,
    RULES_VERSION,
    Judgement,
    input_hash,
    llm_config,
    llm_judge,
    pipeline_settings_row,
    prospect_profile,
    qualify_prompt,
    rules_judge,
)
from prospects.scoring.model import (
    MODEL_BLEND,
    active_scoring_model,
    intent_score,
    score_features,
    win_probability,
)

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 70


# Prospect score: fit dominates; engagement's weight stays 0 until outreach records human events.
DEFAULT_WEIGHTS: dict[str, float] = {"fit": 0.75, "intent": 0.25, "engagement": 0.0}


@dataclass(frozen=True)
class QualifyOutcome:
    old_score: int | None
    new_score: int | None
    crossed_threshold: bool
    tier: str = ""
    stage: str = ""
    judged: int = 0  # (prospect, ICP) pairs judged afresh
    cached: int = 0  # pairs whose inputs had not changed


# --- similarity -----------------------------------------------------------------------------------------------


def _similarities(icps: list[ICP], prospect_ids: list[int]) -> dict[int, dict[int, float]]:
    """Cosine similarity (0..1) per ICP and prospect, one query per ICP for the whole batch; the embedding module
    embeds a prospect or ICP seen for the first time."""
    from prospects.scoring.embedding import icp_similarities

    return {icp.pk: icp_similarities(icp=icp, prospect_ids=prospect_ids) for icp in icps}


# --- one prospect ---------------------------------------------------------------------------------------------


def _judge(
    *,
    prospect: Prospect,
    icp: ICP,
    similarity: float | None,
    profile: dict[str, Any],
    config: LLMConfig | None,
) -> tuple[Judgement, str]:
    rules_hash = input_hash(
        profile=profile, icp=icp, similarity=similarity, provider=RULES_PROVIDER, version=RULES_VERSION
    )
    if config is None:
        return rules_judge(prospect=prospect, icp=icp, similarity=similarity), rules_hash
    try:
        judgement = llm_judge(
            prospect=prospect, icp=icp, similarity=similarity, profile=profile, config=config
        )
    except AIError as exc:
        # The rules stand in; the row keeps the rules hash so the next run tries the model again.
        logger.warning("LLM qualification failed for prospect %s, using rules: %s", prospect.pk, exc)
        judgement = rules_judge(prospect=prospect, icp=icp, similarity=similarity)
        judgement.input_tokens, judgement.output_tokens = exc.input_tokens, exc.output_tokens
        judgement.cost_usd = exc.cost_usd
        return judgement, rules_hash
    return judgement, _llm_hash(profile=profile, icp=icp, similarity=similarity, config=config)


def _llm_hash(*, profile: dict[str, Any], icp: ICP, similarity: float | None, config: LLMConfig) -> str:
    prompt = qualify_prompt()
    return input_hash(
        profile=profile,
        icp=icp,
        similarity=similarity,
        provider=f"openai:{config.model}",
        version=f"{prompt.name}/{prompt.version}:{prompt.sha}",
    )


def _expected_hash(
    *, profile: dict[str, Any], icp: ICP, similarity: float | None, config: LLMConfig | None
) -> str:
    if config is None:
        return input_hash(
            profile=profile, icp=icp, similarity=similarity, provider=RULES_PROVIDER, version=RULES_VERSION
        )
    return _llm_hash(profile=profile, icp=icp, similarity=similarity, config=config)


def qualification_threshold(org_id: int, row: PipelineSettings | None = None) -> int:
    row = row or pipeline_settings_row(org_id)
    return row.qualification_threshold if row else DEFAULT_THRESHOLD


def _best(qualifications: list[Qualification]) -> Qualification | None:
    return max(qualifications, key=lambda q: (q.tier != Tier.DISQUALIFIED, q.score, -q.icp_id), default=None)


@dataclass
class _Context:
    """What every judgement of a batch reads, read once per batch instead of once per prospect."""

    org_id: int
    icps: list[ICP]
    org_settings: PipelineSettings | None
    threshold: int
    config: LLMConfig | None
    similarities: dict[int, dict[int, float]]
    existing: dict[tuple[int, int], Qualification]
    model: ScoringModel | None


@dataclass
class QualifyBatch:
    outcomes: dict[int, QualifyOutcome] = field(default_factory=dict)
    failed: dict[int, BaseException] = field(default_factory=dict)


def _context(prospects: list[Prospect], icp_ids: list[int] | None) -> _Context:
    org_id = prospects[0].org_id
    icps_qs = ICP.objects.filter(is_active=True)
    if icp_ids is not None:
        icps_qs = icps_qs.filter(pk__in=icp_ids)
    icps = list(icps_qs.order_by("pk"))
    org_settings = pipeline_settings_row(org_id)
    ids = [p.pk for p in prospects]
    existing = Qualification.objects.filter(prospect_id__in=ids, icp__in=icps) if icps else []
    return _Context(
        org_id=org_id,
        icps=icps,
        org_settings=org_settings,
        threshold=qualification_threshold(org_id, org_settings),
        config=llm_config(org_id, org_settings) if icps else None,
        similarities=_similarities(icps, ids),
        existing={(q.prospect_id, q.icp_id): q for q in existing},
        model=active_scoring_model(),
    )


# The columns a judgement writes on its Qualification row.
JUDGEMENT_FIELDS = (
    "score",
    "tier",
    "similarity",
    "reasoning",
    "red_flags",
    "hooks",
    "matched_criteria",
    "missed_criteria",
    "unknown_criteria",
    "confidence",
    "dropped_hooks",
    "provider",
    "model",
    "prompt_version",
    "input_hash",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "created_at",
)


def _judgement_values(
    judgement: Judgement, *, similarity: float | None, hash_: str, sources: Any
) -> dict[str, Any]:
    hooks, dropped = ground_hooks(judgement.hooks, sources)
    return {
        "score": max(0, min(100, judgement.score)),
        "tier": judgement.tier,
        "similarity": similarity,
        "reasoning": judgement.reasoning,
        "red_flags": judgement.red_flags,
        "hooks": hooks[:MAX_HOOKS],
        "matched_criteria": judgement.matched,
        "missed_criteria": judgement.missed,
        "unknown_criteria": judgement.unknown,
        "confidence": judgement.confidence,
        "dropped_hooks": min(dropped, 32767),
        "provider": judgement.provider,
        "model": judgement.model,
        "prompt_version": judgement.prompt_version,
        "input_hash": hash_,
        "input_tokens": judgement.input_tokens,
        "output_tokens": judgement.output_tokens,
        "cost_usd": Decimal(str(round(judgement.cost_usd, 6))),
        "latency_ms": judgement.latency_ms,
        "created_at": timezone.now(),
    }


def _judge_prospect(prospect: Prospect, ctx: _Context) -> tuple[list[Qualification], int, int]:
    """The prospect's Qualification rows whose inputs changed, judged afresh (not yet written); and the counts."""
    config = ctx.config
    # At the monthly AI budget the rules judge instead; an AI judgement whose inputs have not changed is kept.
    budget_held: LLMConfig | None = None
    if config is not None and ai_budget_spent(org_id=prospect.org_id, pipeline_settings=ctx.org_settings):
        config, budget_held = None, config
    profile = prospect_profile(prospect)
    sources = grounding_sources(profile)
    rows: list[Qualification] = []
    cached = 0
    for icp in ctx.icps:
        similarity = ctx.similarities.get(icp.pk, {}).get(prospect.pk)
        expected = _expected_hash(profile=profile, icp=icp, similarity=similarity, config=config)
        current = ctx.existing.get((prospect.pk, icp.pk))
        unchanged = {expected}
        if budget_held is not None:
            unchanged.add(_llm_hash(profile=profile, icp=icp, similarity=similarity, config=budget_held))
        if current is not None and current.input_hash in unchanged:
            cached += 1
            continue
        judgement, hash_ = _judge(
            prospect=prospect, icp=icp, similarity=similarity, profile=profile, config=config
        )
        if budget_held is not None:
            judgement.provider = RULES_BUDGET_PROVIDER
        values = _judgement_values(judgement, similarity=similarity, hash_=hash_, sources=sources)
        row = current or Qualification(org_id=prospect.org_id, prospect=prospect, icp=icp)
        for name, value in values.items():
            setattr(row, name, value)
        rows.append(row)
    return rows, len(rows), cached


def _qualifications_write(rows: list[Qualification]) -> None:
    """Judged rows in two statements: an UPDATE of the known rows, an upsert of the new (when another worker
    judged the same pair first, the newer judgement wins, as before)."""
    known = [row for row in rows if row.pk is not None]
    new = [row for row in rows if row.pk is None]
    if known:
        rows_update(Qualification, known, JUDGEMENT_FIELDS)
    if new:
        Qualification.objects.bulk_create(
            new,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["org", "prospect", "icp"],
            update_fields=list(JUDGEMENT_FIELDS),
        )


def prospects_qualify(*, prospect_ids: list[int], icp_ids: list[int] | None = None) -> QualifyBatch:
    """Judge a batch of prospects against each active ICP (cached by input hash) and recompute their scores.

    The reads every judgement shares (ICPs, settings, similarities, existing rows, the scoring model) are made once
    per batch and the writes are a few bulk statements, so the round trips do not grow with the batch. A prospect
    whose judgement raises is reported in `failed`; the others go on.
    """
    result = QualifyBatch()
    prospects = list(Prospect.objects.select_related("company").filter(pk__in=prospect_ids))
    if not prospects:
        return result
    ctx = _context(prospects, icp_ids)
    rows: list[Qualification] = []
    counts: dict[int, tuple[int, int]] = {}
    for prospect in prospects:
        try:
            judged_rows, judged, cached = _judge_prospect(prospect, ctx)
        except Exception as exc:  # one prospect's failure must not stop the others
            logger.warning("qualification of prospect %s failed", prospect.pk, exc_info=True)
            result.failed[prospect.pk] = exc
            continue
        rows.extend(judged_rows)
        counts[prospect.pk] = (judged, cached)
    scored = [p for p in prospects if p.pk in counts]
    with transaction.atomic():
        _qualifications_write(rows)
        by_prospect: dict[int, list[Qualification]] = defaultdict(list)
        for q in Qualification.objects.filter(
            prospect_id__in=[p.pk for p in scored], icp__is_active=True
        ).select_related("icp"):
            by_prospect[q.prospect_id].append(q)
        result.outcomes = _scores_write(scored, by_prospect, counts, ctx)
    return result


def prospect_qualify(*, prospect_id: int, icp_ids: list[int] | None = None) -> QualifyOutcome:
    """Judge one prospect against each active ICP and recompute its score: a batch of one."""
    result = prospects_qualify(prospect_ids=[prospect_id], icp_ids=icp_ids)
    if prospect_id in result.failed:
        raise result.failed[prospect_id]
    if prospect_id not in result.outcomes:
        raise Prospect.DoesNotExist(f"prospect {prospect_id} not found")
    return result.outcomes[prospect_id]


def _scores_write(
    prospects: list[Prospect],
    by_prospect: dict[int, list[Qualification]],
    counts: dict[int, tuple[int, int]],
    ctx: _Context,
) -> dict[int, QualifyOutcome]:
    """Each prospect's score from its best judgement (one bulk UPDATE), and the stages that follow the score."""
    updated: list[tuple[Prospect, Qualification, int | None]] = []
    now = timezone.now()
    for prospect in prospects:
        best = _best(by_prospect.get(prospect.pk, []))
        if best is None:
            continue
        old_score = prospect.score
        new_score, breakdown = _combine(prospect=prospect, best=best, model=ctx.model)
        prospect.score, prospect.tier, prospect.icp_id = new_score, best.tier, best.icp_id
        prospect.score_breakdown, prospect.scored_at = breakdown, now
        updated.append((prospect, best, old_score))
    if updated:
        rows_update(
            Prospect,
            [prospect for prospect, _best_q, _old in updated],
            ["score", "tier", "icp_id", "score_breakdown", "scored_at"],
        )
    held = _stages_held([prospect for prospect, _best_q, _old in updated])
    _stages_follow(
        [(p, best, p.score or 0) for p, best, _old in updated if p.pk in held], threshold=ctx.threshold
    )
    outcomes: dict[int, QualifyOutcome] = {}
    for prospect in prospects:
        judged, cached = counts[prospect.pk]
        outcomes[prospect.pk] = QualifyOutcome(
            prospect.score, prospect.score, False, prospect.tier, prospect.stage, judged, cached
        )
    for prospect, best, old_score in updated:
        judged, cached = counts[prospect.pk]
        new_score = prospect.score or 0
        crossed = (
            best.tier != Tier.DISQUALIFIED
            and new_score >= ctx.threshold
            and (old_score is None or old_score < ctx.threshold)
        )
        outcomes[prospect.pk] = QualifyOutcome(
            old_score, new_score, crossed, best.tier, prospect.stage, judged, cached
        )
    return outcomes


# --- stage -----------------------------------------------------------------------------------------------------

# The stages the pipeline sets. Once a person (or an API client) puts a prospect anywhere, the pipeline leaves it
# there: a rep who qualified a 60 by hand keeps it qualified, and a rescore never undoes a "Contacted".
PIPELINE_STAGES = (Stage.NEW, Stage.ENRICHED, Stage.QUALIFIED, Stage.DISQUALIFIED)
PIPELINE_MARK = "scoring"
# How the first pipeline (before it marked its stage changes) worded them: "Stage New → Qualified (score 21, tier C)".
_LEGACY_PIPELINE_SUMMARY = re.compile(r"\(score \d+, tier \w+\)$")


def _follows(stage: str, last: Mapping[str, Any] | None) -> bool:
    """Whether a qualified/disqualified stage is the pipeline's own, from the prospect's last stage change."""
    if last is None or (last["data"] or {}).get("to") != stage:
        return False
    if (last["data"] or {}).get("by") == PIPELINE_MARK:
        return True
    return last["actor_id"] is None and bool(_LEGACY_PIPELINE_SUMMARY.search(last["summary"] or ""))


def _stages_held(prospects: list[Prospect]) -> set[int]:
    """The prospects whose stage is the pipeline's to set: new or enriched, or qualified/disqualified by the
    pipeline itself (its last stage change carries the pipeline's mark). One query for the batch's last changes."""
    held = {p.pk for p in prospects if p.stage in (Stage.NEW, Stage.ENRICHED)}
    ask = [p for p in prospects if p.stage in PIPELINE_STAGES and p.pk not in held]
    if ask:
        last = {
            row["prospect_id"]: row
            for row in Activity.objects.filter(prospect_id__in=[p.pk for p in ask], kind="stage_changed")
            .order_by("prospect_id", "-created_at", "-id")
            .distinct("prospect_id")
            .values("prospect_id", "actor_id", "summary", "data")
        }
        held.update(p.pk for p in ask if _follows(p.stage, last.get(p.pk)))
    return held


def stage_for_score(*, prospect: Prospect, tier: str, score: int, threshold: int) -> str:
    """Disqualified when the judgement says so, qualified at or above the threshold, else enriched (or new when
    enrichment never ran)."""
    if tier == Tier.DISQUALIFIED:
        return Stage.DISQUALIFIED
    if score >= threshold:
        return Stage.QUALIFIED
    return Stage.ENRICHED if prospect.enriched_at or prospect.stage != Stage.NEW else Stage.NEW


def _disqualified_reason(best: Qualification) -> str:
    for flag in best.red_flags or []:
        if "exclusion" in str(flag).lower():
            return str(flag).rstrip(".")
    return (best.reasoning or "the judgement disqualified it").split(". ")[0].rstrip(".")


def _stage_reason(*, target: str, best: Qualification, score: int, threshold: int) -> str:
    icp_name = best.icp.name
    if target == Stage.DISQUALIFIED:
        return f"{icp_name}: {_disqualified_reason(best)}"
    if target == Stage.QUALIFIED:
        return f"score {score} for {icp_name}, at or above the threshold {threshold}"
    return f"score {score} for {icp_name}, below the threshold {threshold}"


def _stages_follow(moves: list[tuple[Prospect, Qualification, int]], *, threshold: int) -> None:
    """Move pipeline-held stages to where the scores put them (one UPDATE per target stage), with the reason on
    each timeline (one bulk insert)."""
    by_target: dict[str, list[int]] = defaultdict(list)
    activities: list[Activity] = []
    now = timezone.now()
    for prospect, best, score in moves:
        target = stage_for_score(prospect=prospect, tier=best.tier, score=score, threshold=threshold)
        old = prospect.stage
        if target == old:
            continue
        reason = _stage_reason(target=target, best=best, score=score, threshold=threshold)
        prospect.stage, prospect.updated_at = target, now
        by_target[target].append(prospect.pk)
        activities.append(
            Activity(
                org_id=prospect.org_id,
                prospect=prospect,
                kind="stage_changed",
                summary=f"Stage {Stage(old).label} → {Stage(target).label} ({reason})"[:500],
                data={
                    "from": old,
                    "to": target,
                    "by": PIPELINE_MARK,
                    "score": score,
                    "threshold": threshold,
                    "tier": best.tier,
                    "icp_id": best.icp_id,
                },
            )
        )
    for target, ids in by_target.items():
        Prospect.objects.filter(pk__in=ids).update(stage=target, updated_at=now)
    if activities:
        Activity.objects.bulk_create(activities)


def _combine(
    *, prospect: Prospect, best: Qualification, model: ScoringModel | None
) -> tuple[int, dict[str, Any]]:
    fit = 0 if best.tier == Tier.DISQUALIFIED else best.score
    intent = intent_score(prospect)
    engagement = engagement_score(prospect)
    weights = dict(DEFAULT_WEIGHTS)
    default_score = math.floor(
        weights["fit"] * fit
        + weights["intent"] * intent["score"]
        + weights["engagement"] * engagement["score"]
        + 0.5
    )
    features = score_features(
        fit=fit,
        similarity=best.similarity,
        judgement=best.score,
        intent=intent["score"],
        engagement=engagement["score"],
        tier=best.tier,
    )
    score = default_score
    model_info: dict[str, Any] | None = None
    if model is not None:
        probability = win_probability(model, features)
        score = math.floor((1 - MODEL_BLEND) * default_score + MODEL_BLEND * 100 * probability + 0.5)
        model_info = {
            "id": model.pk,
            "auc": model.auc,
            "trained_on": model.trained_on,
            "win_probability": round(probability, 4),
            "blend": MODEL_BLEND,
        }
    breakdown = {
        "fit": fit,
        "intent": intent["score"],
        "engagement": engagement["score"],
        "weights": weights,
        "default_score": default_score,
        "best_icp_id": best.icp_id,
        "best_icp_name": best.icp.name,
        "provider": best.provider,
        "components": {
            "similarity": best.similarity,
            "judgement": best.score,
            "tier": best.tier,
            "intent": intent,
            "engagement": engagement,
        },
        "features": features,
        "model": model_info,
    }
    return max(0, min(100, score)), breakdown


def prospect_qualifications(*, prospect: Prospect) -> list[Qualification]:
    """The prospect's judgements against active ICPs, best first (for the prospect page and the API)."""
    return list(
        Qualification.objects.filter(prospect=prospect, icp__is_active=True)
        .select_related("icp")
        .order_by("-score", "icp_id")
    )
