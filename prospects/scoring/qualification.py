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
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
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
    Stage,
    Tier,
)
from prospects.scoring.ai_budget import RULES_BUDGET_PROVIDER, ai_budget_spent
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
from prospects.services import activity_record

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


def _similarities(icps: list[ICP], prospect_id: int) -> dict[int, float | None]:
    """Cosine similarity (0..1) per ICP; the embedding module embeds a prospect or ICP seen for the first time."""
    from prospects.scoring.embedding import icp_similarities

    return {icp.pk: icp_similarities(icp=icp, prospect_ids=[prospect_id]).get(prospect_id) for icp in icps}


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


def prospect_qualify(*, prospect_id: int, icp_ids: list[int] | None = None) -> QualifyOutcome:
    """Judge the prospect against each active ICP (cached by input hash) and recompute its score."""
    prospect = Prospect.objects.select_related("company").get(pk=prospect_id)
    icps_qs = ICP.objects.filter(is_active=True)
    if icp_ids is not None:
        icps_qs = icps_qs.filter(pk__in=icp_ids)
    icps = list(icps_qs.order_by("pk"))
    old_score = prospect.score
    org_settings = pipeline_settings_row(prospect.org_id)
    threshold = qualification_threshold(prospect.org_id, org_settings)
    profile = prospect_profile(prospect)
    config = llm_config(prospect.org_id, org_settings) if icps else None
    # At the monthly AI budget the rules judge instead; an AI judgement whose inputs have not changed is kept.
    budget_held: LLMConfig | None = None
    if config is not None and ai_budget_spent(org_id=prospect.org_id, pipeline_settings=org_settings):
        config, budget_held = None, config
    similarities = _similarities(icps, prospect.pk)
    existing = {q.icp_id: q for q in Qualification.objects.filter(prospect=prospect, icp__in=icps)}
    sources = grounding_sources(profile)
    judged = cached = 0
    for icp in icps:
        similarity = similarities.get(icp.pk)
        expected = _expected_hash(profile=profile, icp=icp, similarity=similarity, config=config)
        current = existing.get(icp.pk)
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
        hooks, dropped = ground_hooks(judgement.hooks, sources)
        values = {
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
        _qualification_save(prospect=prospect, icp=icp, current=current, values=values)
        judged += 1
    qualifications = list(
        Qualification.objects.filter(prospect=prospect, icp__is_active=True).select_related("icp")
    )
    best = _best(qualifications)
    if best is None:
        return QualifyOutcome(old_score, old_score, False, prospect.tier, prospect.stage, judged, cached)
    new_score, breakdown = _combine(prospect=prospect, best=best)
    with transaction.atomic():
        Prospect.objects.filter(pk=prospect.pk).update(
            score=new_score,
            tier=best.tier,
            icp_id=best.icp_id,
            score_breakdown=breakdown,
            scored_at=timezone.now(),
        )
        if stage_follows_score(prospect):
            _stage_follow(prospect=prospect, best=best, score=new_score, threshold=threshold)
    crossed = (
        best.tier != Tier.DISQUALIFIED
        and new_score >= threshold
        and (old_score is None or old_score < threshold)
    )
    return QualifyOutcome(old_score, new_score, crossed, best.tier, prospect.stage, judged, cached)


# --- stage -----------------------------------------------------------------------------------------------------

# The stages the pipeline sets. Once a person (or an API client) puts a prospect anywhere, the pipeline leaves it
# there: a rep who qualified a 60 by hand keeps it qualified, and a rescore never undoes a "Contacted".
PIPELINE_STAGES = (Stage.NEW, Stage.ENRICHED, Stage.QUALIFIED, Stage.DISQUALIFIED)
PIPELINE_MARK = "scoring"
# How the first pipeline (before it marked its stage changes) worded them: "Stage New → Qualified (score 21, tier C)".
_LEGACY_PIPELINE_SUMMARY = re.compile(r"\(score \d+, tier \w+\)$")


def stage_follows_score(prospect: Prospect) -> bool:
    """True when the prospect's stage is the pipeline's to set: new or enriched, or qualified/disqualified by the
    pipeline itself (its last stage change carries the pipeline's mark)."""
    if prospect.stage in (Stage.NEW, Stage.ENRICHED):
        return True
    if prospect.stage not in PIPELINE_STAGES:
        return False
    last = (
        Activity.objects.filter(prospect_id=prospect.pk, kind="stage_changed")
        .order_by("-created_at", "-id")
        .values("actor_id", "summary", "data")
        .first()
    )
    if last is None or (last["data"] or {}).get("to") != prospect.stage:
        return False
    if (last["data"] or {}).get("by") == PIPELINE_MARK:
        return True
    return last["actor_id"] is None and bool(_LEGACY_PIPELINE_SUMMARY.search(last["summary"] or ""))


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


def _stage_follow(*, prospect: Prospect, best: Qualification, score: int, threshold: int) -> None:
    """Move a pipeline-held stage to where the score puts it, with the reason on the timeline."""
    target = stage_for_score(prospect=prospect, tier=best.tier, score=score, threshold=threshold)
    old = prospect.stage
    if target == old:
        return
    icp_name = best.icp.name
    if target == Stage.DISQUALIFIED:
        reason = f"{icp_name}: {_disqualified_reason(best)}"
    elif target == Stage.QUALIFIED:
        reason = f"score {score} for {icp_name}, at or above the threshold {threshold}"
    else:
        reason = f"score {score} for {icp_name}, below the threshold {threshold}"
    prospect.stage = target
    prospect.updated_at = timezone.now()
    Prospect.objects.filter(pk=prospect.pk).update(stage=target, updated_at=prospect.updated_at)
    activity_record(
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


def _qualification_save(
    *, prospect: Prospect, icp: ICP, current: Qualification | None, values: dict[str, Any]
) -> None:
    if current is not None:
        Qualification.objects.filter(pk=current.pk).update(**values)
        return
    try:
        with transaction.atomic():
            Qualification.objects.create(org_id=prospect.org_id, prospect=prospect, icp=icp, **values)
    except IntegrityError:  # another worker judged the same pair first; the newer judgement wins
        Qualification.objects.filter(prospect=prospect, icp=icp).update(**values)


def _combine(*, prospect: Prospect, best: Qualification) -> tuple[int, dict[str, Any]]:
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
    model = active_scoring_model()
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
