"""Qualification: each (prospect, ICP) judged by the rules or the LLM, then one score per prospect.

A judgement is cached in Qualification by a hash of everything it depends on (the prospect's stored data, the
ICP, the similarity, the provider, model and prompt version), so a rerun with the same inputs costs nothing.
Hooks are grounded: one survives only if its evidence quote is found in the prospect's stored data; the others
are dropped and counted. The prospect's score combines fit (best ICP), intent (source and form answers) and
engagement (human email events, once outreach exists), optionally adjusted by the org's model fitted on outcomes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from pydantic import BaseModel, Field

from leadgen.ai.errors import AIError
from leadgen.ai.llm import LLMConfig, Prompt, complete_json, get_prompt
from leadgen.emailcheck import free_mail_domains
from leadgen.tenancy import org_scope

from .icp_criteria import CriteriaCheck, criteria_check
from .models import (
    ICP,
    Outcome,
    OutcomeResult,
    PipelineSettings,
    Prospect,
    Qualification,
    ScoringModel,
    Source,
    Stage,
)
from .services import prospect_change_stage

logger = logging.getLogger(__name__)

RULES_PROVIDER = "rules"
RULES_VERSION = "rules-v1"
PROMPT_NAME = "qualify"
PROMPT_VERSION = "v2"
DEFAULT_THRESHOLD = 70

# Points per criterion the ICP sets; the rules score is the share of points met.
CRITERIA_WEIGHTS: dict[str, int] = {
    "industry": 20,
    "company size": 15,
    "seniority": 15,
    "title": 15,
    "technologies": 15,
    "location": 10,
    "funding stage": 10,
}
# Share of the rules score that comes from vector similarity when both are known.
SIMILARITY_SHARE = 0.3
# Cosine similarities of short profile texts against a persona rarely leave this band (MiniLM and
# text-embedding-3-small alike); it is stretched onto 0-100.
SIMILARITY_FLOOR, SIMILARITY_CEILING = 0.15, 0.65
TIER_A, TIER_B = 75, 50
TIERS = ("A", "B", "C", "disqualified")
MAX_HOOKS = 3
MIN_QUOTE_CHARS = 4

# Prospect score: fit dominates; engagement's weight stays 0 until outreach records human events.
DEFAULT_WEIGHTS: dict[str, float] = {"fit": 0.75, "intent": 0.25, "engagement": 0.0}
SOURCE_INTENT: dict[str, int] = {
    Source.FORM: 60,
    Source.META: 60,
    Source.GOOGLE: 60,
    Source.API: 40,
    Source.MANUAL: 35,
    Source.DISCOVERY: 30,
    Source.CSV: 25,
}
# A keyword heuristic, not a model: each distinct buying signal in the free-text answers adds points.
INTENT_KEYWORDS = (
    "pricing",
    "price",
    "quote",
    "demo",
    "trial",
    "budget",
    "purchase",
    "buy",
    "contract",
    "proposal",
    "asap",
    "this quarter",
    "this month",
    "timeline",
    "evaluate",
    "evaluating",
    "replace",
    "switch",
    "implement",
    "looking for",
    "need a",
    "urgent",
)
INTENT_POINTS_PER_KEYWORD, INTENT_KEYWORD_CAP = 10, 40

# Feedback loop.
MIN_OUTCOMES = 30
MIN_NEW_OUTCOMES = 5
MIN_PER_CLASS = 3
HELD_OUT_SHARE = 0.3
# A model that ranks held-out outcomes no better than this stays stored but inactive: the defaults keep scoring.
MIN_AUC_TO_ACTIVATE = 0.6
MODEL_BLEND = 0.5
FEATURES = (
    "fit",
    "similarity",
    "judgement",
    "intent",
    "engagement",
    "tier_A",
    "tier_B",
    "tier_C",
    "tier_disqualified",
)


@dataclass(frozen=True)
class QualifyOutcome:
    old_score: int | None
    new_score: int | None
    crossed_threshold: bool
    tier: str = ""
    stage: str = ""
    judged: int = 0  # (prospect, ICP) pairs judged afresh
    cached: int = 0  # pairs whose inputs had not changed


@dataclass
class Judgement:
    score: int
    tier: str
    reasoning: str
    red_flags: list[str]
    hooks: list[dict[str, Any]]
    matched: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    provider: str = RULES_PROVIDER
    model: str = ""
    prompt_version: str = RULES_VERSION
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0


# --- what a judgement depends on ------------------------------------------------------------------------------


def _email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower() if "@" in email else ""


def prospect_profile(prospect: Prospect) -> dict[str, Any]:
    """Every stored value a judgement may read, as plain JSON: the cache key's prospect half."""
    company = prospect.company
    return {
        "prospect": {
            "email": prospect.email,
            "email_status": prospect.email_status,
            "email_check": prospect.email_check or {},
            "title": prospect.title,
            "seniority": prospect.seniority,
            "department": prospect.department,
            "location": prospect.location,
            "company_name": prospect.company_name,
            "company_domain": prospect.company_domain,
            "source": prospect.source,
            "do_not_contact": prospect.do_not_contact,
        },
        "company": None
        if company is None
        else {
            "name": company.name,
            "domain": company.domain or "",
            "industry": company.industry,
            "employee_count": company.employee_count,
            "location": company.location,
            "description": company.description,
            "technologies": list(company.technologies or []),
            "funding_stage": company.funding_stage,
        },
        "facts": list(company.facts or []) if company else [],
        "about_text": company.about_text if company else "",
        "answers": prospect.answers or {},
    }


def _icp_inputs(icp: ICP) -> dict[str, Any]:
    return {"name": icp.name, "description": icp.description, "criteria": icp.criteria or {}}


def input_hash(
    *, profile: dict[str, Any], icp: ICP, similarity: float | None, provider: str, version: str
) -> str:
    payload = {
        "profile": profile,
        "icp": _icp_inputs(icp),
        "similarity": None if similarity is None else round(similarity, 4),
        "provider": provider,
        "version": version,
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


# --- grounding ------------------------------------------------------------------------------------------------

_QUOTES = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)


def normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return " ".join(text.split())


def _stringify(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        return [text for item in value.values() for text in _stringify(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _stringify(item)]
    return [str(value)]


def grounding_sources(profile: dict[str, Any]) -> dict[str, list[str]]:
    """The stored data by source name (data-block names and field names), normalised for quote matching."""
    person = profile["prospect"]
    company = profile["company"] or {}
    sources: dict[str, list[str]] = {
        "prospect": _stringify(
            {key: person[key] for key in person if key not in ("email", "email_check", "do_not_contact")}
        ),
        "company": _stringify(company),
        "company_facts": [],
        "website_about": _stringify(profile["about_text"]),
        "answers": _stringify(profile["answers"]),
    }
    for key, value in company.items():
        sources[f"company.{key}"] = _stringify(value)
    sources["company.about_text"] = sources["website_about"]
    for key, value in (profile["answers"] or {}).items():
        sources[f"answers.{key}"] = _stringify(value)
    for fact in profile["facts"]:
        if not isinstance(fact, dict):
            continue
        texts = _stringify([fact.get("quote"), fact.get("value")])
        sources["company_facts"].extend(texts)
        for name in (fact.get("url"), fact.get("source"), f"company.{fact.get('field')}"):
            if isinstance(name, str) and name:
                sources.setdefault(name, []).extend(texts)
    return {name: [normalise_text(text) for text in texts] for name, texts in sources.items()}


# Text that talks to an AI instead of describing a company: a red flag, and never a hook's evidence.
_INSTRUCTIONS = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier|preceding) (?:instructions|prompts?|rules)"
    r"|disregard (?:all |any |the |your )?(?:previous |prior )?(?:instructions|rules|prompt)"
    r"|(?:system|hidden) prompt|reveal (?:the |your )?(?:prompt|instructions)|you are now|developer mode"
    r"|new instructions|(?:score|rate) (?:this|me|us|him|her|them|the prospect|this lead|it)\b.{0,20}\b100"
    r"|add (?:a |an |these |this |the following )?hooks?\b",
    re.IGNORECASE,
)


def looks_like_instructions(text: str) -> bool:
    return bool(_INSTRUCTIONS.search(normalise_text(text)))


def ground_hooks(
    hooks: list[dict[str, Any]], sources: dict[str, list[str]]
) -> tuple[list[dict[str, Any]], int]:
    """Keep hooks whose quote is in the stored data (in the named source when the name is known)."""
    kept: list[dict[str, Any]] = []
    dropped = 0
    everything = [text for texts in sources.values() for text in texts]
    for hook in hooks:
        evidence = hook.get("evidence") or {}
        text = str(hook.get("text") or "").strip()
        source = str(evidence.get("source") or "").strip()
        quote = str(evidence.get("quote") or "").strip()
        needle = normalise_text(quote).strip(" .…'\"")
        named = source if source in sources else source.lower()
        haystack = sources.get(named, everything)
        if (
            text
            and not looks_like_instructions(text)
            and not looks_like_instructions(quote)
            and len(needle.replace(" ", "")) >= MIN_QUOTE_CHARS
            and any(needle in candidate for candidate in haystack)
        ):
            kept.append({"text": text[:300], "evidence": {"source": source[:200], "quote": quote[:300]}})
        else:
            dropped += 1
    return kept, dropped


# --- the rules provider ---------------------------------------------------------------------------------------


def _similarity_points(similarity: float) -> float:
    stretched = (similarity - SIMILARITY_FLOOR) / (SIMILARITY_CEILING - SIMILARITY_FLOOR)
    return 100 * min(1.0, max(0.0, stretched))


def _criterion_detail(name: str, prospect: Prospect, criteria: dict[str, Any]) -> str:
    """The prospect's value for a criterion, for the reasoning ("industry (Software)")."""
    company = prospect.company
    value: str = ""
    if name == "industry":
        value = company.industry if company else ""
    elif name == "company size":
        count = company.employee_count if company else None
        value = f"{count} employees" if count is not None else ""
    elif name == "location":
        value = prospect.location or (company.location if company else "")
    elif name == "seniority":
        value = prospect.seniority
    elif name == "title":
        value = prospect.title
    elif name == "technologies":
        have = {t.lower(): t for t in (company.technologies if company else [])}
        wanted = [have[t.lower()] for t in criteria.get("technologies") or [] if t.lower() in have]
        value = ", ".join(wanted) if wanted else (", ".join(list(have.values())[:3]) if have else "")
    elif name == "funding stage":
        value = company.funding_stage if company else ""
    return f"{name} ({value})" if value else f"{name} (not on record)"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def deterministic_red_flags(prospect: Prospect, check: CriteriaCheck) -> list[str]:
    flags: list[str] = []
    email = prospect.email.strip()
    domain = _email_domain(email)
    email_check = prospect.email_check or {}
    if not email:
        flags.append("No email address on record.")
    elif prospect.email_status == "invalid" or "@" not in email or not domain or "." not in domain:
        reason = email_check.get("reason") or "invalid address"
        flags.append(f"Email address is unusable: {reason}.")
    elif prospect.email_status == "risky":
        flags.append(f"Email address is risky: {email_check.get('reason') or 'unverified'}.")
    if domain:
        labels = domain.split(".")
        if email_check.get("is_free_mail") or any(
            ".".join(labels[i:]) in free_mail_domains() for i in range(len(labels) - 1)
        ):
            flags.append(f"Free-mail address ({domain}), not a company address.")
        if email_check.get("is_disposable"):
            flags.append("Disposable email domain.")
        if email_check.get("is_role"):
            flags.append("Role address, not a person.")
    if check.excluded_by:
        flags.append(f"Matches the ICP exclusion “{check.excluded_by}”.")
    company = prospect.company
    if company is None:
        flags.append("No company linked: industry and size cannot be checked.")
    elif not company.industry and company.employee_count is None:
        flags.append("Company data missing: no industry or employee count on record.")
    if prospect.do_not_contact:
        flags.append("Marked do not contact.")
    outside_text = _stringify(prospect.answers or {})
    if company is not None:
        outside_text += [company.about_text, company.description, *_stringify(company.facts or [])]
    if any(looks_like_instructions(text) for text in outside_text if text):
        flags.append(
            "Website text or form answers contain instructions aimed at an AI; they were treated as data."
        )
    return flags


def _fact_hook_text(fact: dict[str, Any]) -> str:
    name = str(fact.get("field") or "").lower()
    value = str(fact.get("value") or "").strip()
    quote = str(fact.get("quote") or "").strip()
    if name in ("technology", "technologies") and value:
        return f"Their website shows they use {value}."
    if name in ("funding", "funding_stage") and value:
        return f"The company reports {value} funding."
    shown = value if value and len(value) <= 160 else quote[:160]
    label = name.replace("_", " ") or "website"
    return f"From their {label}: “{shown}”."


def rules_hooks(prospect: Prospect, criteria: dict[str, Any]) -> list[dict[str, Any]]:
    """Hooks from stored facts only: ICP technologies the company uses, its funding stage, website facts."""
    company = prospect.company
    if company is None:
        return []
    hooks: list[dict[str, Any]] = []
    wanted = {t.lower() for t in criteria.get("technologies") or []}
    for tech in company.technologies or []:
        if tech.lower() in wanted:
            hooks.append(
                {
                    "text": f"Uses {tech}, a technology this ICP targets.",
                    "evidence": {"source": "company.technologies", "quote": tech},
                }
            )
    if company.funding_stage:
        hooks.append(
            {
                "text": f"{company.name or 'The company'} is at the {company.funding_stage} stage.",
                "evidence": {"source": "company.funding_stage", "quote": company.funding_stage},
            }
        )
    for fact in company.facts or []:
        if not isinstance(fact, dict) or not str(fact.get("quote") or "").strip():
            continue
        source = fact.get("url") or fact.get("source") or "company_facts"
        hooks.append(
            {
                "text": _fact_hook_text(fact),
                "evidence": {"source": str(source), "quote": str(fact["quote"]).strip()[:300]},
            }
        )
    unique: dict[str, dict[str, Any]] = {}
    for hook in hooks:
        unique.setdefault(hook["text"], hook)
    return list(unique.values())[:MAX_HOOKS]


def rules_judge(*, prospect: Prospect, icp: ICP, similarity: float | None) -> Judgement:
    """Deterministic: the same stored data, ICP and similarity give the same judgement, byte for byte."""
    criteria = icp.criteria or {}
    check = criteria_check(criteria, prospect)
    weights = {name: CRITERIA_WEIGHTS.get(name, 10) for name in check.matched + check.missed}
    total = sum(weights.values())
    criteria_points = 100 * sum(weights[name] for name in check.matched) / total if total else None
    if criteria_points is not None and similarity is not None:
        raw = (1 - SIMILARITY_SHARE) * criteria_points + SIMILARITY_SHARE * _similarity_points(similarity)
    elif criteria_points is not None:
        raw = criteria_points
    elif similarity is not None:
        raw = _similarity_points(similarity)
    else:
        raw = 0.0
    score = math.floor(raw + 0.5)
    if check.excluded_by:
        score, tier = 0, "disqualified"
    else:
        tier = "A" if score >= TIER_A else "B" if score >= TIER_B else "C"

    matched = [_criterion_detail(name, prospect, criteria) for name in check.matched]
    missed = [_criterion_detail(name, prospect, criteria) for name in check.missed]
    sentences: list[str] = []
    if check.excluded_by:
        sentences.append(f"Disqualified: the prospect matches the exclusion “{check.excluded_by}”.")
    if total:
        if matched:
            sentences.append(f"Matched {len(matched)} of {len(weights)} criteria: {_join(matched)}.")
        else:
            sentences.append(f"Matched none of the {len(weights)} criteria.")
        if missed:
            sentences.append(f"Missed: {_join(missed)}.")
    else:
        sentences.append("The ICP sets no structured criteria, so the score rests on similarity alone.")
    if similarity is not None:
        sentences.append(f"Profile similarity to the ICP is {similarity:.2f}.")
    else:
        sentences.append("No profile vector yet, so similarity was not used.")
    if len(sentences) > 3:
        # Keep it to three sentences: fold the similarity into the last one.
        sentences = [*sentences[:2], f"{sentences[2][:-1]}; {sentences[3][0].lower()}{sentences[3][1:]}"]
    return Judgement(
        score=score,
        tier=tier,
        reasoning=" ".join(sentences),
        red_flags=deterministic_red_flags(prospect, check),
        hooks=rules_hooks(prospect, criteria),
        matched=matched,
        missed=missed,
    )


# --- the LLM provider -----------------------------------------------------------------------------------------


class HookEvidence(BaseModel):
    source: str
    quote: str


class HookOut(BaseModel):
    text: str
    evidence: HookEvidence


class QualificationJudgement(BaseModel):
    score: int = Field(ge=0, le=100)
    tier: Literal["A", "B", "C", "disqualified"]
    reasoning: str
    red_flags: list[str]
    hooks: list[HookOut]


def _pipeline_settings(org_id: int) -> PipelineSettings | None:
    return (
        PipelineSettings.objects.filter(org_id=org_id)
        .only("org_id", "openai_api_key", "qualification_threshold")
        .first()
    )


def llm_config(org_id: int, row: PipelineSettings | None = None) -> LLMConfig | None:
    """The org's own OpenAI key wins over the deployment's; None means the rules provider judges."""
    row = row or _pipeline_settings(org_id)
    key = (row.openai_api_key if row else "") or settings.OPENAI_API_KEY
    if not key:
        return None
    return LLMConfig(
        api_key=key,
        base_url=settings.OPENAI_BASE_URL,
        model=settings.AI_CHAT_MODEL,
        timeout=float(settings.AI_REQUEST_TIMEOUT),
        max_retries=settings.AI_MAX_RETRIES,
    )


def qualify_prompt() -> Prompt:
    return get_prompt(PROMPT_NAME, PROMPT_VERSION)


def untrusted_blocks(profile: dict[str, Any]) -> dict[str, str]:
    """Everything about the prospect goes to the model as fenced data, never into the prompt itself."""
    person = dict(profile["prospect"])
    person["email_domain"] = _email_domain(person.pop("email"))
    person["email_check"] = (person.get("email_check") or {}).get("reason", "")

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)

    return {
        "prospect": dump(person),
        "company": dump(profile["company"]) if profile["company"] else "(no company on record)",
        "company_facts": dump(
            [
                {key: fact.get(key) for key in ("field", "value", "quote", "url")}
                for fact in profile["facts"]
                if isinstance(fact, dict)
            ]
        ),
        "website_about": (profile["about_text"] or "")[:4000],
        "answers": dump(profile["answers"])[:4000],
    }


def llm_judge(
    *, prospect: Prospect, icp: ICP, similarity: float | None, profile: dict[str, Any], config: LLMConfig
) -> Judgement:
    prompt = qualify_prompt()
    check = criteria_check(icp.criteria or {}, prospect)
    result = complete_json(
        prompt=prompt,
        variables={
            "icp_name": icp.name,
            "icp_description": icp.description or "(none)",
            "icp_criteria": icp.criteria or {},
            "similarity": "null" if similarity is None else f"{similarity:.3f}",
            "matched_criteria": check.matched,
            "missed_criteria": check.missed,
        },
        schema=QualificationJudgement,
        untrusted=untrusted_blocks(profile),
        temperature=0.0,
        config=config,
    )
    data: QualificationJudgement = result.data
    score, tier = data.score, data.tier
    flags = deterministic_red_flags(prospect, check)
    if check.excluded_by:
        # Exclusions are the org's hard rules; no model reply overrides them.
        score, tier = 0, "disqualified"
    for flag in data.red_flags[:10]:
        if flag.strip() and flag.strip() not in flags:
            flags.append(flag.strip()[:300])
    return Judgement(
        score=score,
        tier=tier,
        reasoning=data.reasoning.strip()[:2000],
        red_flags=flags,
        hooks=[hook.model_dump() for hook in data.hooks[:10]],
        matched=list(check.matched),
        missed=list(check.missed),
        provider=f"openai:{result.model}",
        model=result.model,
        prompt_version=f"{result.prompt_name}/{result.prompt_version}",
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        cost_usd=result.cost_usd,
        latency_ms=result.latency_ms,
    )


# --- similarity -----------------------------------------------------------------------------------------------


def _similarities(icps: list[ICP], prospect_id: int) -> dict[int, float | None]:
    """Cosine similarity (0..1) per ICP; the embedding module embeds a prospect or ICP seen for the first time."""
    from .embedding import icp_similarities

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
    row = row or _pipeline_settings(org_id)
    return row.qualification_threshold if row else DEFAULT_THRESHOLD


def intent_score(prospect: Prospect) -> dict[str, Any]:
    """Intent from the lead's source and buying words in its free-text answers (a keyword heuristic)."""
    base = SOURCE_INTENT.get(prospect.source, 25)
    text = f" {normalise_text(' '.join(_stringify(prospect.answers or {})))} "
    found = [word for word in INTENT_KEYWORDS if re.search(rf"\b{re.escape(word)}\b", text)]
    keyword_points = min(INTENT_KEYWORD_CAP, INTENT_POINTS_PER_KEYWORD * len(found))
    return {
        "score": min(100, base + keyword_points),
        "source": prospect.source,
        "source_points": base,
        "keywords": found,
        "keyword_points": keyword_points,
        "method": "source of the lead plus buying keywords in form answers (keyword heuristic)",
    }


def engagement_score(prospect: Prospect) -> dict[str, Any]:
    """Human (non-bot) email events; outreach does not exist yet, so the slot is empty."""
    return {"score": 0, "human_events": 0, "note": "no outreach yet"}


def score_features(
    *, fit: float, similarity: float | None, judgement: float, intent: float, engagement: float, tier: str
) -> dict[str, float]:
    return {
        "fit": round(fit / 100, 4),
        "similarity": round(similarity or 0.0, 4),
        "judgement": round(judgement / 100, 4),
        "intent": round(intent / 100, 4),
        "engagement": round(engagement / 100, 4),
        **{f"tier_{name}": 1.0 if tier == name else 0.0 for name in TIERS},
    }


def active_scoring_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(is_active=True).order_by("-created_at", "-pk").first()


def win_probability(model: ScoringModel, features: dict[str, float]) -> float:
    z = model.intercept + sum(
        float(model.coefficients.get(name, 0.0)) * features.get(name, 0.0) for name in model.features
    )
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))


def _best(qualifications: list[Qualification]) -> Qualification | None:
    return max(qualifications, key=lambda q: (q.tier != "disqualified", q.score, -q.icp_id), default=None)


def prospect_qualify(*, prospect_id: int, icp_ids: list[int] | None = None) -> QualifyOutcome:
    """Judge the prospect against each active ICP (cached by input hash) and recompute its score."""
    prospect = Prospect.objects.select_related("company").get(pk=prospect_id)
    icps_qs = ICP.objects.filter(is_active=True)
    if icp_ids is not None:
        icps_qs = icps_qs.filter(pk__in=icp_ids)
    icps = list(icps_qs.order_by("pk"))
    old_score = prospect.score
    org_settings = _pipeline_settings(prospect.org_id)
    threshold = qualification_threshold(prospect.org_id, org_settings)
    profile = prospect_profile(prospect)
    config = llm_config(prospect.org_id, org_settings) if icps else None
    similarities = _similarities(icps, prospect.pk)
    existing = {q.icp_id: q for q in Qualification.objects.filter(prospect=prospect, icp__in=icps)}
    sources = grounding_sources(profile)
    judged = cached = 0
    for icp in icps:
        similarity = similarities.get(icp.pk)
        expected = _expected_hash(profile=profile, icp=icp, similarity=similarity, config=config)
        current = existing.get(icp.pk)
        if current is not None and current.input_hash == expected:
            cached += 1
            continue
        judgement, hash_ = _judge(
            prospect=prospect, icp=icp, similarity=similarity, profile=profile, config=config
        )
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
        if prospect.stage in (Stage.NEW, Stage.ENRICHED):
            target = Stage.DISQUALIFIED if best.tier == "disqualified" else Stage.QUALIFIED
            prospect_change_stage(
                prospect=prospect, stage=target, actor=None, reason=f"score {new_score}, tier {best.tier}"
            )
    crossed = (
        best.tier != "disqualified"
        and new_score >= threshold
        and (old_score is None or old_score < threshold)
    )
    return QualifyOutcome(old_score, new_score, crossed, best.tier, prospect.stage, judged, cached)


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
    fit = 0 if best.tier == "disqualified" else best.score
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


# --- feedback loop --------------------------------------------------------------------------------------------


def labelled_outcomes() -> list[tuple[dict[str, float], int]]:
    """(features, won?) per prospect with an outcome and a scored breakdown; the latest outcome counts."""
    latest = (
        Outcome.objects.order_by("prospect_id", "-created_at", "-pk")
        .distinct("prospect_id")
        .values_list("prospect_id", "result")
    )
    labels = {prospect_id: int(result == OutcomeResult.WON) for prospect_id, result in latest}
    rows = Prospect.objects.filter(pk__in=list(labels)).values_list("pk", "score_breakdown")
    out = []
    for pk, breakdown in rows.order_by("pk"):
        features = (breakdown or {}).get("features")
        if isinstance(features, dict):
            out.append(({name: float(features.get(name, 0.0)) for name in FEATURES}, labels[pk]))
    return out


def scoring_model_train(*, org_id: int) -> ScoringModel | None:
    """Fit a logistic regression on outcomes; None (the defaults stay) below MIN_OUTCOMES or with one class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    with org_scope(org_id):
        data = labelled_outcomes()
        labels = [label for _, label in data]
        if len(data) < MIN_OUTCOMES or min(labels.count(0), labels.count(1)) < MIN_PER_CLASS:
            return None
        matrix = [[features[name] for name in FEATURES] for features, _ in data]
        x_train, x_test, y_train, y_test = train_test_split(
            matrix, labels, test_size=HELD_OUT_SHARE, random_state=0, stratify=labels
        )
        classifier = LogisticRegression(max_iter=1000)
        classifier.fit(x_train, y_train)
        auc = float(roc_auc_score(y_test, classifier.predict_proba(x_test)[:, 1]))
        with transaction.atomic():
            ScoringModel.objects.filter(is_active=True).update(is_active=False)
            return ScoringModel.objects.create(
                org_id=org_id,
                features=list(FEATURES),
                coefficients={
                    name: round(float(value), 6)
                    for name, value in zip(FEATURES, classifier.coef_[0], strict=True)
                },
                intercept=float(classifier.intercept_[0]),
                auc=round(auc, 4),
                trained_on=len(data),
                is_active=auc >= MIN_AUC_TO_ACTIVATE,
            )


def orgs_due_for_training() -> list[int]:
    """Orgs with at least MIN_OUTCOMES outcomes and MIN_NEW_OUTCOMES more than their last model saw."""
    counts = dict(
        Outcome.objects.unscoped()
        .values("org_id")
        .annotate(n=Count("prospect_id", distinct=True))
        .filter(n__gte=MIN_OUTCOMES)
        .values_list("org_id", "n")
    )
    if not counts:
        return []
    last_seen: dict[int, int] = {}
    for org_id, trained_on in (
        ScoringModel.objects.unscoped()
        .filter(org_id__in=list(counts))
        .order_by("org_id", "-created_at", "-pk")
        .distinct("org_id")
        .values_list("org_id", "trained_on")
    ):
        last_seen[org_id] = trained_on
    return sorted(org_id for org_id, n in counts.items() if n - last_seen.get(org_id, 0) >= MIN_NEW_OUTCOMES)
