"""The two judges of a prospect against an ICP: the offline rules judge and the LLM judge (strict JSON, fenced untrusted data). Both return the same Judgement."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from pydantic import BaseModel, Field

from leadgen.ai.llm import LLMConfig, Prompt, complete_json, get_prompt
from leadgen.ai.untrusted import looks_like_instructions
from leadgen.emailcheck import free_mail_domains
from prospects.models import (
    ICP,
    PipelineSettings,
    Prospect,
    Tier,
)
from prospects.scoring.criteria import CriteriaCheck, criteria_check
from prospects.scoring.grounding import stringify

RULES_PROVIDER = "rules"
# v2: seniority from titles, whole-word titles, the industry vocabulary, unknowns, shrinkage and confidence.
RULES_VERSION = "rules-v2"
PROMPT_NAME = "qualify"
PROMPT_VERSION = "v2"
# How much each criterion the ICP sets weighs. Who the person is (seniority) weighs more than the words of the
# title: a "Sales Development Representative" has "sales" in it and is still not a revenue leader.
CRITERIA_WEIGHTS: dict[str, int] = {
    "seniority": 22,
    "industry": 20,
    "title": 15,
    "company size": 15,
    "technologies": 10,
    "location": 10,
    "funding stage": 10,
}
# Profile similarity to the ICP counts as one more piece of evidence, of this weight.
SIMILARITY_WEIGHT = 15
# Cosine similarities of short profile texts against a persona rarely leave this band (MiniLM and
# text-embedding-3-small alike); it is stretched onto 0-100.
SIMILARITY_FLOOR, SIMILARITY_CEILING = 0.15, 0.65
# The score knowing nothing (just under the B line, so an empty record is never a B) and how many points of
# evidence that prior is worth; see rules_score.
PRIOR_SCORE, PRIOR_WEIGHT = 45.0, 15.0
# A missed criterion's credit inside the geometric mean (0 would make one miss erase everything else).
MISS_CREDIT = 0.05
TIER_A, TIER_B = 75, 50
TIERS = tuple(Tier.values)
MAX_HOOKS = 3


@dataclass
class Judgement:
    score: int
    tier: str
    reasoning: str
    red_flags: list[str]
    hooks: list[dict[str, Any]]
    matched: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    # Share of the evidence the judgement could have had that it did have (0..1); None from the LLM.
    confidence: float | None = None
    provider: str = RULES_PROVIDER
    model: str = ""
    prompt_version: str = RULES_VERSION
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0


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


def _similarity_points(similarity: float) -> float:
    stretched = (similarity - SIMILARITY_FLOOR) / (SIMILARITY_CEILING - SIMILARITY_FLOOR)
    return 100 * min(1.0, max(0.0, stretched))


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
    outside_text = stringify(prospect.answers or {})
    if company is not None:
        outside_text += [company.about_text, company.description, *stringify(company.facts or [])]
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


def rules_score(check: CriteriaCheck, similarity: float | None) -> tuple[int, float]:
    """The rules score (0-100) and the confidence (0-1) of a criteria check plus an optional similarity.

    Each piece of evidence i has a weight w_i (CRITERIA_WEIGHTS; SIMILARITY_WEIGHT for the profile similarity) and,
    when the record has the value, a credit c_i in 0..1. With K the weight known and A the weight the ICP asks
    (similarity always counts as asked):

        fit        = weighted geometric mean of the known criteria's credits (a miss counts MISS_CREDIT), then
                     averaged with the similarity by weight: one clear miss pulls hard, the way a rep reads a
                     profile ("right title, wrong industry" is not 80 % right)
        evidence   = K / (A + PRIOR_WEIGHT)
        score      = PRIOR_SCORE + (100 * fit - PRIOR_SCORE) * evidence
        confidence = K / A

    An unknown criterion adds to A but not to K: it neither helps nor hurts, it pulls the score toward the
    middle and lowers confidence. PRIOR_WEIGHT does the same for an ICP that asks little: meeting all of a loose
    ICP's three criteria gives 81 (91 with a top similarity), meeting seven gives 88 (94), never 100.
    """
    known = sum(CRITERIA_WEIGHTS.get(name, 10) for name in check.credits)
    asked = known + sum(CRITERIA_WEIGHTS.get(name, 10) for name in check.unknown) + SIMILARITY_WEIGHT
    fit_weight, fit_sum = 0.0, 0.0
    if known:
        log_mean = (
            sum(
                CRITERIA_WEIGHTS.get(name, 10) * math.log(max(credit, MISS_CREDIT))
                for name, credit in check.credits.items()
            )
            / known
        )
        fit_weight, fit_sum = known, known * math.exp(log_mean)
    if similarity is not None:
        fit_weight += SIMILARITY_WEIGHT
        fit_sum += SIMILARITY_WEIGHT * _similarity_points(similarity) / 100
    if not fit_weight:
        return math.floor(PRIOR_SCORE + 0.5), 0.0
    fit = fit_sum / fit_weight
    evidence = fit_weight / (asked + PRIOR_WEIGHT)
    raw = PRIOR_SCORE + (100 * fit - PRIOR_SCORE) * evidence
    return math.floor(raw + 0.5), round(fit_weight / asked, 2)


def rules_judge(*, prospect: Prospect, icp: ICP, similarity: float | None) -> Judgement:
    """Deterministic: the same stored data, ICP and similarity give the same judgement, byte for byte."""
    criteria = icp.criteria or {}
    check = criteria_check(criteria, prospect)
    score, confidence = rules_score(check, similarity)
    if check.excluded_by:
        score, tier = 0, Tier.DISQUALIFIED
    else:
        tier = Tier.A if score >= TIER_A else Tier.B if score >= TIER_B else Tier.C

    matched = [check.describe(name) for name in check.matched]
    missed = [check.describe(name) + (" partly" if check.credits.get(name) else "") for name in check.missed]
    unknown = list(check.unknown)
    checked = len(matched) + len(missed)
    sentences: list[str] = []
    if check.excluded_by:
        sentences.append(f"Disqualified: the prospect matches the exclusion “{check.excluded_by}”.")
    if checked:
        if matched:
            sentences.append(f"Matched {len(matched)} of {checked} criteria on record: {_join(matched)}.")
        else:
            sentences.append(f"Matched none of the {checked} criteria on record.")
        if missed:
            sentences.append(f"Missed: {_join(missed)}.")
    elif not unknown:
        sentences.append("The ICP sets no structured criteria, so the score rests on similarity alone.")
    if unknown:
        sentences.append(
            f"Not on record, so neither met nor missed: {_join(unknown)} (confidence {confidence:.0%})."
        )
    if similarity is not None:
        sentences.append(f"Profile similarity to the ICP is {similarity:.2f}.")
    else:
        sentences.append("No profile vector yet, so similarity was not used.")
    return Judgement(
        score=score,
        tier=tier,
        reasoning=" ".join(sentences),
        red_flags=deterministic_red_flags(prospect, check),
        hooks=rules_hooks(prospect, criteria),
        matched=matched,
        missed=missed,
        unknown=unknown,
        confidence=confidence,
    )


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


def pipeline_settings_row(org_id: int) -> PipelineSettings | None:
    return (
        PipelineSettings.objects.filter(org_id=org_id)
        .only("org_id", "openai_api_key", "qualification_threshold", "monthly_ai_budget_usd")
        .first()
    )


def llm_config(org_id: int, row: PipelineSettings | None = None) -> LLMConfig | None:
    """The org's own OpenAI key wins over the deployment's; None means the rules provider judges."""
    row = row or pipeline_settings_row(org_id)
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
    score, tier = data.score, Tier(data.tier)
    flags = deterministic_red_flags(prospect, check)
    if check.excluded_by:
        # Exclusions are the org's hard rules; no model reply overrides them.
        score, tier = 0, Tier.DISQUALIFIED
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
