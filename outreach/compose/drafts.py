"""Grounded drafts: the step's template personalised by the LLM (or offline by rules), checked after generation.

`draft_compose` renders the step's template first: a template that cannot be rendered, or whose variables come out
empty without a default, gives a Draft with `hold_reason` and costs nothing. Then:

- no key configured (neither the org's own in Settings → Pipeline nor the deployment's `OPENAI_API_KEY`): the
  rules provider writes the opening line from the best kept hook, deterministically, in the prospect's locale;
- otherwise the LLM writes the opening line (`mode="opening_line"`) or the whole email (`mode="whole"`) as
  sentences, each citing the kept hooks or company facts it relies on (`grounding`); ungrounded sentences are
  dropped and counted.

The result is checked against `rules`; a draft that breaks one is regenerated once (told which rules it broke),
then the plain rendered template is used instead and the reasons are kept in the Draft. LLM drafts are cached by a
hash of their inputs in `ComposedDraft`, which also records the tokens and cost of every call for the org's AI
spend; a provider failure falls back to the rules provider (the spent tokens still recorded).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from pydantic import BaseModel

from leadgen.ai.errors import AIError
from leadgen.ai.llm import LLMConfig, LLMResult, Prompt, PromptRegistry, complete_json
from outreach.models import ComposedDraft
from prospects.models import PipelineSettings, Prospect, Qualification
from prospects.scoring.ai_budget import RULES_BUDGET_PROVIDER, ai_budget_spent

from .grounding import Citable, citables, numbers_in, screen_sentences
from .locales import locale_for, phrasebook
from .org_settings import outreach_settings_get
from .rules import RULES_VERSION, RuleContext, rules_broken
from .templates import TemplateRenderError, template_context, template_render

logger = logging.getLogger(__name__)

Mode = Literal["opening_line", "whole"]
MODES = ("opening_line", "whole")
PROVIDER_RULES = "rules"
PROVIDER_TEMPLATE = "template"
RULES_PROVIDER_VERSION = "compose-rules-provider-v1"
PROMPT_VERSION = "v1"
PROMPTS = PromptRegistry(Path(__file__).resolve().parent / "prompts")
TEMPERATURE = 0.4
MAX_HOOKS = 5
MAX_QUOTE_CHARS = 140
MAX_FRAME_WORDS = 5  # a greeting or closing the model writes
OPENING_MARK = "[OPENING LINE]"
AI_SLOTS = ("opening_line",)


@dataclass(frozen=True)
class Draft:
    subject: str
    body: str
    provider: str  # "openai:<model>", "rules", or "template" (the plain rendered template)
    model: str = ""
    prompt_version: str = ""
    locale: str = "en"
    mode: str = "opening_line"
    rules_broken: list[str] = field(default_factory=list)  # rules the returned text itself breaks
    rejected: list[str] = field(default_factory=list)  # why each refused attempt was refused
    regenerated: bool = False
    fell_back: bool = False
    dropped_claims: int = 0  # ungrounded sentences the model wrote, over every attempt
    dropped: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # template variables empty without a default
    hold_reason: str = ""  # set when the message cannot be made: the caller holds the prospect
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0  # spent by this call (0 for a cache hit)
    latency_ms: int = 0
    cache_key: str = ""
    cached: bool = False

    def notes(self) -> dict[str, Any]:
        """What `Message.draft_notes` keeps: the subject and body are stored on the message itself."""
        data = asdict(self)
        del data["subject"], data["body"]
        return data


# --- inputs -----------------------------------------------------------------------------------------------------


def prospect_kept_hooks(*, prospect: Prospect) -> list[dict[str, Any]]:
    """The prospect's kept hooks, from its best qualification first, without repeats."""
    rows = Qualification.objects.filter(prospect=prospect, icp__is_active=True).order_by("-score", "icp_id")
    ordered = sorted(rows.values_list("icp_id", "hooks"), key=lambda row: row[0] != prospect.icp_id)
    hooks: dict[str, dict[str, Any]] = {}
    for _icp_id, row_hooks in ordered:
        for hook in row_hooks or []:
            text = str(hook.get("text") or "").strip()
            if text and str((hook.get("evidence") or {}).get("quote") or "").strip():
                hooks.setdefault(text, hook)
    return list(hooks.values())[:MAX_HOOKS]


def draft_llm_config(row: PipelineSettings | None) -> LLMConfig | None:
    """The org's own OpenAI key (on its pipeline settings `row`) wins over the deployment's; None means the rules
    provider writes drafts."""
    key = (row.openai_api_key if row else "") or settings.OPENAI_API_KEY
    if not key:
        return None
    return LLMConfig(
        api_key=key,
        base_url=settings.OPENAI_BASE_URL,
        model=getattr(settings, "AI_DRAFT_MODEL", "") or settings.AI_CHAT_MODEL,
        timeout=float(settings.AI_REQUEST_TIMEOUT),
        max_retries=settings.AI_MAX_RETRIES,
    )


@cache
def draft_prompt(locale: str) -> Prompt:
    return PROMPTS.get(f"draft_{locale}", PROMPT_VERSION)


@dataclass(frozen=True)
class Inputs:
    """Everything one draft depends on (and so its cache key)."""

    org_id: int
    prospect_id: int
    mode: str
    locale: str
    subject_template: str
    body_template: str
    context: dict[str, Any]
    value_proposition: str
    banned_phrases: tuple[str, ...]
    subject: str  # the plain rendered subject
    body: str  # the plain rendered body (no opening line)

    @property
    def items(self) -> list[Citable]:
        return citables(self.context)

    @property
    def names(self) -> tuple[str, ...]:
        person, company = self.context["prospect"], self.context["company"]
        return tuple(
            name
            for name in (
                person["first_name"],
                person["last_name"],
                person["full_name"],
                company["name"],
                company["domain"],
            )
            if name
        )

    def rule_context(self) -> RuleContext:
        hooks = self.context["hooks"]
        return RuleContext(
            locale=self.locale,
            banned_phrases=self.banned_phrases,
            names=self.names,
            hook_texts=tuple(text for hook in hooks for text in (hook["text"], hook["quote"])),
            signature=self.context["sender"].get("signature", ""),
        )

    def trusted_text(self) -> str:
        return f"{self.value_proposition}\n{self.subject}\n{self.body}"


def inputs_hash(inputs: Inputs, *, provider: str, model: str, prompt_version: str) -> str:
    payload = {
        "rules": RULES_VERSION,
        "provider": provider,
        "model": model,
        "prompt": prompt_version,
        "mode": inputs.mode,
        "locale": inputs.locale,
        "subject_template": inputs.subject_template,
        "body_template": inputs.body_template,
        "context": inputs.context,
        "value_proposition": inputs.value_proposition,
        "banned_phrases": list(inputs.banned_phrases),
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


# --- assembling a body ------------------------------------------------------------------------------------------


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _uses_opening_slot(body_template: str) -> bool:
    return "opening_line" in re.findall(r"{{\s*([\w.]+)", body_template)


def _insert_after_greeting(body: str, line: str) -> str:
    lines = body.strip().splitlines()
    first = lines[0].strip() if lines else ""
    if first and len(first.split()) <= MAX_FRAME_WORDS and not first.endswith((".", "?")):
        return _tidy("\n".join([lines[0], "", line, "", *lines[1:]]))
    return _tidy(f"{line}\n\n{body}")


def body_with_opening(inputs: Inputs, line: str) -> str:
    """The step's body with `line` as its first sentence (in `{{ opening_line }}`, else after the greeting)."""
    if _uses_opening_slot(inputs.body_template):
        context = {**inputs.context, "opening_line": line}
        return _tidy(template_render(inputs.body_template, context, allow_empty=AI_SLOTS).text)
    return _insert_after_greeting(inputs.body, line) if line else inputs.body


# --- the rules provider -----------------------------------------------------------------------------------------


def _opening_pattern(source: str, locale: str) -> str:
    book = phrasebook(locale)
    source = source.lower()
    if "technolog" in source:
        return book.opening_technology
    if "funding" in source:
        return book.opening_funding
    if source.startswith("answers"):
        return book.opening_answer
    return book.opening_website


def rules_opening_line(context: Mapping[str, Any], locale: str) -> str:
    """The opening sentence from the best kept hook whose quote is short enough to cite whole."""
    book = phrasebook(locale)
    person, company = context["prospect"], context["company"]
    values = {
        "name": f"{person['first_name']}, " if person["first_name"] else "",
        "company": company["name"] or book.your_company,
        "title": person["title"],
    }
    line = ""
    for hook in context["hooks"]:
        quote = " ".join(hook["quote"].split()).strip(" .…\"'“”«»„")
        if quote and len(quote) <= MAX_QUOTE_CHARS:
            line = _opening_pattern(hook["source"], locale).format(quote=quote, **values)
            break
    if not line:
        pattern = book.opening_role if person["title"] and company["name"] else book.opening_company
        line = pattern.format(quote="", **values)
    return line[0].upper() + line[1:]


# --- the LLM provider -------------------------------------------------------------------------------------------


class DraftSentence(BaseModel):
    text: str
    cites: list[str]
    about_recipient: bool


class OpeningDraft(BaseModel):
    sentences: list[DraftSentence]


class WholeDraft(BaseModel):
    subject: str
    greeting: str
    sentences: list[DraftSentence]
    closing: str


@dataclass
class Attempt:
    subject: str
    body: str
    broken: list[str]
    dropped: list[dict[str, str]]
    result: LLMResult


def _untrusted(inputs: Inputs) -> dict[str, str]:
    person, company = inputs.context["prospect"], inputs.context["company"]
    recipient = {
        key: person[key] for key in ("first_name", "last_name", "full_name", "title", "city", "country")
    }
    recipient["company"] = {key: company[key] for key in ("name", "domain", "industry", "city", "country")}
    outline = body_with_opening(inputs, OPENING_MARK)
    return {
        "recipient": json.dumps(recipient, ensure_ascii=False, sort_keys=True, indent=1),
        "evidence": json.dumps([item.as_data() for item in inputs.items], ensure_ascii=False, indent=1),
        "template": f"Subject: {inputs.subject}\n\n{outline}",
    }


def _variables(inputs: Inputs, feedback: list[str]) -> dict[str, Any]:
    sender = inputs.context["sender"]
    return {
        "mode": inputs.mode,
        "sender_name": sender.get("name") or "the sender",
        "sender_company": sender.get("company") or "their company",
        "value_proposition": inputs.value_proposition or "(not given)",
        "banned_phrases": list(inputs.banned_phrases),
        "feedback": "; ".join(feedback) if feedback else "none",
    }


def _frame(text: str, fallback: str) -> str:
    """A greeting or closing: a few words and no figures, else the plain default (facts never hide there)."""
    text = " ".join(text.split())
    if not text or len(text.split()) > MAX_FRAME_WORDS or any(char.isdigit() for char in text):
        return fallback
    return text


def _whole_body(inputs: Inputs, data: WholeDraft, kept: list[str]) -> str:
    sender = inputs.context["sender"]
    first = inputs.context["prospect"]["first_name"]
    greeting = _frame(data.greeting, f"{first}," if first else "")
    closing = _frame(data.closing, "")
    paragraphs = [kept[0], " ".join(kept[1:-1]), kept[-1]] if len(kept) > 2 else kept
    sign = "\n".join(part for part in (closing, sender.get("signature") or sender.get("name") or "") if part)
    return _tidy("\n\n".join(part for part in (greeting, *paragraphs, sign) if part))


def _subject_grounded(subject: str, inputs: Inputs) -> bool:
    evidence = " ".join(item.evidence for item in inputs.items) + inputs.trusted_text()
    return not (numbers_in(subject) - numbers_in(evidence))


def _llm_attempt(inputs: Inputs, *, config: LLMConfig, feedback: list[str]) -> Attempt:
    whole = inputs.mode == "whole"
    result = complete_json(
        prompt=draft_prompt(inputs.locale),
        variables=_variables(inputs, feedback),
        schema=WholeDraft if whole else OpeningDraft,
        untrusted=_untrusted(inputs),
        temperature=TEMPERATURE,
        config=config,
    )
    data = result.data
    screened = screen_sentences(
        [sentence.model_dump() for sentence in data.sentences],
        items=inputs.items,
        names=inputs.names,
        locale=inputs.locale,
        trusted_text=inputs.trusted_text(),
    )
    dropped, kept = list(screened.dropped), screened.kept
    subject = inputs.subject
    if whole and data.subject.strip():
        if _subject_grounded(data.subject, inputs):
            subject = " ".join(data.subject.split())
        else:
            dropped.append(
                {"text": data.subject[:300], "reason": "subject holds a figure not in the evidence"}
            )
    if not kept:
        return Attempt(
            subject, inputs.body, ["Every sentence written was dropped as ungrounded."], dropped, result
        )
    try:
        body = _whole_body(inputs, data, kept) if whole else body_with_opening(inputs, kept[0])
    except TemplateRenderError as exc:
        return Attempt(subject, inputs.body, [str(exc)], dropped, result)
    return Attempt(
        subject,
        body,
        rules_broken(subject=subject, body=body, context=inputs.rule_context()),
        dropped,
        result,
    )


# --- composing --------------------------------------------------------------------------------------------------


def _fallback(inputs: Inputs, draft: Draft) -> Draft:
    """The plain rendered template, with the reasons the generated drafts were refused."""
    return replace(
        draft,
        subject=inputs.subject,
        body=inputs.body,
        provider=PROVIDER_TEMPLATE,
        fell_back=True,
        rules_broken=rules_broken(subject=inputs.subject, body=inputs.body, context=inputs.rule_context()),
    )


def _rules_draft(inputs: Inputs) -> Draft:
    body = body_with_opening(inputs, rules_opening_line(inputs.context, inputs.locale))
    draft = Draft(
        subject=inputs.subject,
        body=body,
        provider=PROVIDER_RULES,
        prompt_version=RULES_PROVIDER_VERSION,
        locale=inputs.locale,
        mode=inputs.mode,
        cache_key=inputs_hash(
            inputs, provider=PROVIDER_RULES, model="", prompt_version=RULES_PROVIDER_VERSION
        ),
    )
    broken = rules_broken(subject=draft.subject, body=body, context=inputs.rule_context())
    return (
        _fallback(inputs, replace(draft, rejected=[f"rules draft: {m}" for m in broken])) if broken else draft
    )


def _llm_draft(inputs: Inputs, config: LLMConfig, cache_key: str) -> Draft:
    prompt = draft_prompt(inputs.locale)
    draft = Draft(
        subject=inputs.subject,
        body=inputs.body,
        provider=f"openai:{config.model}",
        model=config.model,
        prompt_version=f"{prompt.name}/{prompt.version}",
        locale=inputs.locale,
        mode=inputs.mode,
        cache_key=cache_key,
    )
    feedback: list[str] = []
    for number in (1, 2):
        attempt = _llm_attempt(inputs, config=config, feedback=feedback)
        result = attempt.result
        draft = replace(
            draft,
            provider=f"openai:{result.model}",
            model=result.model,
            regenerated=number == 2,
            dropped_claims=draft.dropped_claims + len(attempt.dropped),
            dropped=draft.dropped + attempt.dropped,
            input_tokens=draft.input_tokens + result.input_tokens,
            output_tokens=draft.output_tokens + result.output_tokens,
            cost_usd=draft.cost_usd + result.cost_usd,
            latency_ms=draft.latency_ms + result.latency_ms,
        )
        if not attempt.broken:
            return replace(draft, subject=attempt.subject, body=attempt.body)
        draft = replace(draft, rejected=draft.rejected + [f"draft {number}: {m}" for m in attempt.broken])
        feedback = attempt.broken
    return _fallback(inputs, draft)


def _record(inputs: Inputs, draft: Draft, *, reusable: bool) -> None:
    ComposedDraft.objects.create(
        org_id=inputs.org_id,
        prospect_id=inputs.prospect_id,
        input_hash=draft.cache_key,
        reusable=reusable,
        provider=draft.provider,
        model=draft.model,
        prompt_version=draft.prompt_version,
        locale=draft.locale,
        mode=draft.mode,
        subject=draft.subject,
        body=draft.body,
        notes=draft.notes(),
        input_tokens=draft.input_tokens,
        output_tokens=draft.output_tokens,
        cost_usd=Decimal(str(round(draft.cost_usd, 6))),
        latency_ms=draft.latency_ms,
    )


def _cached(cache_key: str) -> Draft | None:
    row = ComposedDraft.objects.filter(input_hash=cache_key, reusable=True).order_by("-created_at").first()
    if row is None:
        return None
    known = {name for name in Draft.__dataclass_fields__}
    notes = {key: value for key, value in (row.notes or {}).items() if key in known}
    notes.update(input_tokens=0, output_tokens=0, cost_usd=0.0, latency_ms=0, cached=True)
    return Draft(subject=row.subject, body=row.body, **notes)


def _compose_with_llm(inputs: Inputs, config: LLMConfig) -> Draft:
    prompt = draft_prompt(inputs.locale)
    version = f"{prompt.name}/{prompt.version}:{prompt.sha}"
    cache_key = inputs_hash(inputs, provider="openai", model=config.model, prompt_version=version)
    hit = _cached(cache_key)
    if hit is not None:
        return hit
    try:
        draft = _llm_draft(inputs, config, cache_key)
    except AIError as exc:
        logger.warning("LLM draft failed for prospect %s, using rules: %s", inputs.prospect_id, exc)
        spent = Draft(
            subject="",
            body="",
            provider=f"openai:{config.model}",
            model=config.model,
            prompt_version=f"{prompt.name}/{prompt.version}",
            locale=inputs.locale,
            mode=inputs.mode,
            rejected=[f"the AI provider failed: {exc}"],
            input_tokens=exc.input_tokens,
            output_tokens=exc.output_tokens,
            cost_usd=exc.cost_usd,
            cache_key=cache_key,
        )
        _record(inputs, spent, reusable=False)
        rules = _rules_draft(inputs)
        return replace(
            rules,
            rejected=spent.rejected + rules.rejected,
            input_tokens=exc.input_tokens,
            output_tokens=exc.output_tokens,
            cost_usd=exc.cost_usd,
        )
    _record(inputs, draft, reusable=True)
    return draft


def _held(*, subject: str, body: str, locale: str, mode: str, reason: str, missing: list[str]) -> Draft:
    return Draft(
        subject=subject,
        body=body,
        provider=PROVIDER_TEMPLATE,
        locale=locale,
        mode=mode,
        missing=missing,
        hold_reason=reason,
    )


def _missing_reason(missing: list[str]) -> str:
    names = ", ".join(f"{{{{ {name} }}}}" for name in missing)
    verb = "is" if len(missing) == 1 else "are"
    return f"{names} {verb} empty for this prospect and the template gives no default."


def draft_compose(
    *,
    prospect: Prospect,
    subject_template: str,
    body_template: str,
    sender_context: Mapping[str, str],
    mode: Mode = "opening_line",
    locale: str | None = None,
    hooks: list[dict[str, Any]] | None = None,
) -> Draft:
    """One personalised draft for a prospect; a Draft with `hold_reason` when the template cannot be made.

    Runs inside the prospect's org scope. `sender_context` is the sender's name, email, signature and company
    (`templates.sender_context`); `hooks` defaults to the prospect's kept hooks.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    org_settings = outreach_settings_get(org_id=prospect.org_id)
    chosen = locale_for(prospect=prospect, explicit=locale, default=org_settings.default_locale)
    kept = prospect_kept_hooks(prospect=prospect) if hooks is None else hooks
    context = template_context(prospect=prospect, mailbox=None, hooks=kept, sender=sender_context)
    try:
        subject = template_render(subject_template, context)
        body = template_render(body_template, context, allow_empty=AI_SLOTS)
    except TemplateRenderError as exc:
        return _held(subject="", body="", locale=chosen, mode=mode, reason=str(exc), missing=[])
    missing = list(dict.fromkeys(subject.missing + body.missing))
    if missing:
        reason = _missing_reason(missing)
        return _held(
            subject=subject.text, body=body.text, locale=chosen, mode=mode, reason=reason, missing=missing
        )
    inputs = Inputs(
        org_id=prospect.org_id,
        prospect_id=prospect.pk,
        mode=mode,
        locale=chosen,
        subject_template=subject_template,
        body_template=body_template,
        context=context,
        value_proposition=org_settings.value_proposition,
        banned_phrases=tuple(org_settings.banned_phrases or ()),
        subject=" ".join(subject.text.split()),
        body=_tidy(body.text),
    )
    # One read of the org's pipeline settings: its key, and its monthly AI budget (scoring, drafts, reply intent).
    row = PipelineSettings.objects.filter(org_id=prospect.org_id).first()
    config = draft_llm_config(row)
    if config is None:
        return _rules_draft(inputs)
    if ai_budget_spent(org_id=prospect.org_id, pipeline_settings=row):
        # At the monthly AI budget the offline provider writes the draft, and says why.
        draft = _rules_draft(inputs)
        return replace(draft, provider=RULES_BUDGET_PROVIDER) if draft.provider == PROVIDER_RULES else draft
    return _compose_with_llm(inputs, config)


def draft_month_spend() -> Decimal:
    """What the current org's AI drafts cost this calendar month (every call, cached or not, failed or not)."""
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = ComposedDraft.objects.filter(created_at__gte=start).aggregate(total=Sum("cost_usd"))["total"]
    return total or Decimal("0")
