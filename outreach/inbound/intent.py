"""What a human reply means: interested, not now (with the date they gave), not interested, wrong person (with the
colleague they named), a request to unsubscribe, or something else.

The org's OpenAI-compatible model reads it when a key is configured (the org's own in Settings → Pipeline, else the
deployment's) and the month's AI budget is not spent; the reply is fenced as untrusted data and the answer comes
back in a strict JSON schema, checked again here (a date in the past or a malformed address is dropped). Without a
key, at the budget, or when the provider fails, deterministic rules in English, German, French and Spanish decide.
The result names who decided: "rules", "rules (AI budget reached)", "rules (AI unavailable)" or "openai:<model>".
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from django.utils import timezone
from pydantic import BaseModel

from leadgen.ai.errors import AIError
from leadgen.ai.llm import LLMConfig, PromptRegistry, complete_json
from leadgen.tenancy import org_scope
from outreach.models import ReplyIntent
from prospects.scoring.ai_budget import RULES_BUDGET_PROVIDER, ai_budget_spent
from prospects.scoring.judges import llm_config, pipeline_settings_row

from .classify import clean_body
from .dates import dates_in, fold, month_in

logger = logging.getLogger(__name__)

PROVIDER_RULES = "rules"
PROVIDER_RULES_UNAVAILABLE = "rules (AI unavailable)"
PROMPT_NAME = "reply_intent"
PROMPT_VERSION = "v1"
PROMPTS = PromptRegistry(Path(__file__).resolve().parent / "prompts")
MAX_BODY_CHARS = 6000


@dataclass
class IntentResult:
    intent: str  # outreach.models.ReplyIntent value
    provider: str  # "rules" | "openai:<model>"
    reason: str
    date: datetime.date | None = None  # "not now, try me in March" → 2027-03-01
    referral: dict[str, str] = field(default_factory=dict)  # {"name", "email", "title"}


def reply_intent(*, body: str, subject: str, org_id: int) -> IntentResult:
    """The reply's intent, by the org's model when it has one (and budget), else by the rules."""
    text = clean_body(body or "")
    with org_scope(org_id):
        row = pipeline_settings_row(org_id)
        config = llm_config(org_id, row)
        if config is None:
            return intent_rules(body=text, subject=subject)
        if ai_budget_spent(org_id=org_id, pipeline_settings=row):
            result = intent_rules(body=text, subject=subject)
            result.provider = RULES_BUDGET_PROVIDER
            return result
        try:
            return intent_llm(body=text, subject=subject, config=config)
        except AIError as exc:
            logger.warning("Reply intent by the model failed, the rules decide: %s", exc)
            result = intent_rules(body=text, subject=subject)
            result.provider = PROVIDER_RULES_UNAVAILABLE
            return result


# --- the model --------------------------------------------------------------------------------------------------


class IntentJudgement(BaseModel):
    intent: Literal["interested", "not_now", "not_interested", "referral", "unsubscribe", "other"]
    reason: str
    follow_up_date: str | None  # YYYY-MM-DD
    referral_name: str | None
    referral_email: str | None
    referral_title: str | None


_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def intent_llm(*, body: str, subject: str, config: LLMConfig) -> IntentResult:
    """One call to the org's model; its answer is trusted only as far as our own checks allow."""
    today = timezone.localdate()
    result = complete_json(
        prompt=PROMPTS.get(PROMPT_NAME, PROMPT_VERSION),
        variables={"today": today.isoformat()},
        schema=IntentJudgement,
        untrusted={"reply_subject": subject[:500], "reply_body": body[:MAX_BODY_CHARS]},
        temperature=0.0,
        config=config,
    )
    data: IntentJudgement = result.data
    date: datetime.date | None = None
    if data.follow_up_date:
        try:
            date = datetime.date.fromisoformat(data.follow_up_date.strip())
        except ValueError:
            date = None
        if date is not None and date < today:
            date = None
    referral: dict[str, str] = {}
    if data.intent == ReplyIntent.REFERRAL:
        email = (data.referral_email or "").strip()
        referral = {
            "name": (data.referral_name or "").strip()[:200],
            "email": email.lower() if _EMAIL.fullmatch(email) and email.lower() in body.lower() else "",
            "title": (data.referral_title or "").strip()[:200],
        }
        referral = {key: value for key, value in referral.items() if value}
    return IntentResult(
        intent=data.intent,
        provider=f"{result.provider}:{result.model}",
        reason=data.reason.strip()[:500] or "The model gave no reason",
        date=date if data.intent == ReplyIntent.NOT_NOW else None,
        referral=referral,
    )


# --- the rules --------------------------------------------------------------------------------------------------

# Matched against the folded text (lower case, accents removed), in this order: the first intent that matches wins.
_UNSUBSCRIBE = (
    r"unsubscribe|remove me|take me off|opt(ing)? (me )?out|stop (emailing|e-mailing|contacting|sending|writing)"
    r"|(don'?t|do not|never) (email|e-mail|contact|write to|message) (me|us)|no more (e-?mails|messages)"
    r"|abmelden|austragen|aus (ihrem|dem|eurem) verteiler|keine (weiteren )?(e-?mails|nachrichten)"
    r"|nicht mehr (kontaktieren|anschreiben)|loschen sie meine"
    r"|desabonner|desinscri|retirez[- ]moi|ne (plus|jamais) me (contacter|recontacter|solliciter|ecrire)"
    r"|ne plus recevoir|supprimez mes|dar(me)? de baja|baja de (la|su|vuestra) lista"
    r"|no (me|nos) (vuelvan? a )?(contacte|escriba|envie)n?s?|elimin(ar|en)(me)? de"
)
_REFERRAL = (
    r"(not|wrong) (the )?(right|best|correct|appropriate) (person|contact)|wrong person|not my (area|department)"
    r"|(is|would be) (the )?(better|right|best|correct) (person|contact)|(better|best) (person|contact) (is|would be)"
    r"|you (should|could|might want to|may want to) (talk|speak|reach out|contact|write|get in touch)"
    r"|(talk|speak|reach out|write) (to|with)|get in touch with|(handles|owns|is responsible for|looks after) (this|that)"
    r"|nicht (der|die) richtige|nicht zustandig|wenden sie sich (bitte )?an|(ist|sind) (dafur )?zustandig"
    r"|richtige(r)? ansprechpartner|pas (la|le) bon(ne)? (personne|interlocuteur|contact)|adressez[- ]vous a"
    r"|contactez (plutot )?|(s'occupe|est en charge|est responsable) de"
    r"|no soy (la persona|el contacto) (adecuad|indicad|correct)|hable con|contacte (a|con)|habla con"
    r"|(se encarga|es responsable) de|es la persona (adecuada|indicada)"
)
_NOT_NOW = (
    r"not (right )?now|not at (the|this) (moment|time|point)|not (this|the current) (quarter|year|month)"
    r"|(not interested|no interest) (at|for) (the moment|this time|now|right now|the time being)"
    r"|maybe later|(reach|circle|check|get|come|follow) (back|up)( with me| to me| in touch)? (in|after|next|later|around)"
    r"|try (me|us|again)( again)? (in|after|next|later|around)|(contact|email|ping) (me|us) (again )?(in|after|next|around)"
    r"|next (quarter|year|month|fiscal year)|after (the )?(summer|holidays|new year)|\bin q[1-4]\b|revisit"
    r"|timing (isn'?t|is not) right|bad timing|no budget (this|until|right now)"
    r"|nicht jetzt|derzeit nicht|momentan nicht|im moment nicht|zurzeit nicht|aktuell nicht|spater|nachstes jahr"
    r"|nachsten (monat|quartal|jahr)|melden sie sich (gerne )?(im|in|nach|wieder)|nach dem sommer"
    r"|pas (maintenant|pour le moment|pour l'instant|en ce moment)|plus tard|l'annee prochaine|(recontactez|relancez)[- ]moi"
    r"|revenez vers (moi|nous)|le trimestre prochain|ahora no|no por ahora|mas adelante|el (proximo|ano que viene)"
    r"|en este momento no|(contacte|contacta|escriba|escribe)(me|nos) (en|despues|el proximo)|el proximo (ano|trimestre)"
)
_NOT_INTERESTED = (
    r"not interested|no interest|no,? thanks|no,? thank you|we('re| are) (all )?(set|good)|not a (good )?fit"
    r"|not for us|(don'?t|do not) need|not relevant|already (have|use|work with|using)|pass on this|we'?ll pass"
    r"|kein interesse|nicht interessiert|kein bedarf|nein,? danke|passt nicht|brauchen wir nicht"
    r"|pas interess|pas d'interet|aucun interet|non,? merci|pas besoin|ne sommes pas interess"
    r"|no (estoy|estamos) interesad|no (me|nos) interesa|no,? gracias|no tenemos interes|no necesitamos"
)
_INTERESTED = (
    r"interested|sounds (good|great|interesting)|let'?s (talk|chat|connect|set up|schedule|meet|do it)"
    r"|happy to (chat|talk|meet|hop on|jump on)|(book|schedule|set up|arrange) (a|some) (call|meeting|demo|time|chat)"
    r"|send (me |us )?(more )?(info|information|details|pricing)|tell me more|when are you (free|available)"
    r"|what times?|how about|(can|could|shall) we (talk|meet|chat)|my calendar|\bdemo\b|would love|keen to"
    r"|interessiert|interessant|klingt gut|gerne|termin|lassen sie uns|mehr informationen|telefonieren"
    r"|interess|volontiers|avec plaisir|rendez[- ]vous|un appel|discuter|plus d'informations"
    r"|me interesa|interesante|con gusto|me encantaria|una llamada|reunion|mas informacion|hablemos"
)
_RULES: tuple[tuple[str, str], ...] = (
    (ReplyIntent.UNSUBSCRIBE, _UNSUBSCRIBE),
    (ReplyIntent.REFERRAL, _REFERRAL),
    (ReplyIntent.NOT_NOW, _NOT_NOW),
    (ReplyIntent.NOT_INTERESTED, _NOT_INTERESTED),
    (ReplyIntent.INTERESTED, _INTERESTED),
)
_LABELS = dict(ReplyIntent.choices)


def intent_rules(*, body: str, subject: str = "") -> IntentResult:
    """The offline rules: the first intent whose words appear, with a date for "not now", a colleague for
    "wrong person"; a referral that names nobody is still a referral."""
    folded = fold(body)
    for intent, pattern in _RULES:
        match = re.search(pattern, folded)
        if match is None:
            continue
        phrase = body[match.start() : match.end()] if len(body) == len(folded) else match.group(0)
        result = IntentResult(
            intent=intent,
            provider=PROVIDER_RULES,
            reason=f"{_LABELS[intent]}: the reply says “{phrase.strip()}”",
        )
        if intent == ReplyIntent.NOT_NOW:
            result.date = follow_up_date(body, today=timezone.localdate())
        if intent == ReplyIntent.REFERRAL:
            result.referral = referral_parse(body)
        return result
    if _EMAIL.search(body) and re.search(r"\b(cc|cc'?d|cc'?ing|copied|looping in|forwarded)\b", folded):
        return IntentResult(
            intent=ReplyIntent.REFERRAL,
            provider=PROVIDER_RULES,
            reason="Wrong person / referral: the reply copies in a colleague",
            referral=referral_parse(body),
        )
    return IntentResult(
        intent=ReplyIntent.OTHER, provider=PROVIDER_RULES, reason="No rule matched the reply's words"
    )


_QUARTER = re.compile(
    r"\b(?:q|quarter |quartal |trimestre )([1-4])\b|\b([1-4])(?:st|nd|rd|th|e|er|eme|o|\.)? ?(?:quarter|quartal|trimestre)",
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"\b(?:in|en|dans|en unas|in etwa)\s+(\d{1,2}|two|three|four|six|zwei|drei|vier|deux|trois|quatre|dos|tres|cuatro)"
    r"\s+(weeks?|months?|wochen|monate[n]?|semaines|mois|semanas|meses)\b",
    re.IGNORECASE,
)
_NUMBERS = {
    "two": 2,
    "three": 3,
    "four": 4,
    "six": 6,
    "zwei": 2,
    "drei": 3,
    "vier": 4,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
}


def _add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.month - 1 + months
    return datetime.date(day.year + index // 12, index % 12 + 1, 1)


def follow_up_date(text: str, *, today: datetime.date) -> datetime.date | None:
    """When "not now" says to come back: a date, a month ("in March"), a quarter ("Q2"), "in 3 weeks", "next
    month/quarter/year", "after the summer"; None when it gives none."""
    folded = fold(text)
    named = [found for found in dates_in(text, today=today) if not found.weekday_only]
    month = month_in(text, today=today)
    if named or month:
        candidates = named + ([month] if month else [])
        return min(candidates, key=lambda found: found.start).date
    quarter = _QUARTER.search(folded)
    if quarter:
        first = datetime.date(today.year, 3 * (int(quarter.group(1) or quarter.group(2)) - 1) + 1, 1)
        return first if first > today else datetime.date(today.year + 1, first.month, 1)
    relative = _RELATIVE.search(folded)
    if relative:
        count = _NUMBERS.get(relative.group(1)) or int(relative.group(1))
        if relative.group(2).startswith(("week", "woche", "semaine", "semana")):
            return today + datetime.timedelta(weeks=count)
        return today + datetime.timedelta(days=30 * count)
    if re.search(r"next month|nachsten monat|le mois prochain|proximo mes|mes que viene", folded):
        return _add_months(today, 1)
    if re.search(r"next quarter|nachsten quartal|trimestre prochain|(proximo|siguiente) trimestre", folded):
        return _add_months(today, 3 - (today.month - 1) % 3)
    if re.search(r"next year|nachstes jahr|l'annee prochaine|proximo ano|ano que viene", folded):
        return datetime.date(today.year + 1, 1, 1)
    if re.search(r"after (the )?summer|nach dem sommer|apres l'ete|despues del verano", folded):
        september = datetime.date(today.year, 9, 1)
        return september if september > today else datetime.date(today.year + 1, 9, 1)
    return None


_NOT_NAME = {
    "contact",
    "talk",
    "speak",
    "please",
    "reach",
    "email",
    "e-mail",
    "write",
    "try",
    "ask",
    "i",
    "hi",
    "hello",
    "kontaktieren",
    "bitte",
    "wenden",
    "sie",
    "contactez",
    "hable",
    "habla",
    "contacte",
    "escriba",
    "sprechen",
    "he",
    "she",
    "our",
    "my",
    "the",
    "unsere",
    "unser",
    "notre",
    "nuestro",
    "nuestra",
    "mit",
    "con",
    "avec",
}
_HONORIFICS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "frau",
    "herr",
    "mme",
    "m",
    "monsieur",
    "madame",
    "sr",
    "sra",
    "senor",
    "senora",
}
_TITLE_AFTER = re.compile(
    r"^[\s)>\]]*(?:[,–—-]|\s)\s*(?:(?:who is|she is|he is|she's|he's|is|ist|die|der|qui est|quien es|que es|es)\s+)?"
    r"(?:our|my|the|unsere?[nr]?|notre|nos|nuestr[ao]s?)\s+(?P<title>[^.,;:!?\n()<>]{2,60})",
    re.IGNORECASE,
)
_TITLE_PAREN = re.compile(r"^\s*\((?P<title>[^()@\n]{2,60})\)")
_TITLE_BEFORE = re.compile(
    r"(?:our|unsere?[nr]?|notre|nuestr[ao])\s+(?P<title>[^,.;:\n]{2,60}),\s*$", re.IGNORECASE
)
_TITLE_END = re.compile(
    r"\s+(?:who|and|und|et|y|handles|is|ist|est|es|can|kann|peut|puede|will)\b.*$", re.IGNORECASE
)
_TRIGGER = re.compile(
    r"(?:talk to|speak (?:to|with)|reach out to|get in touch with|contact|wenden sie sich (?:bitte )?an|an"
    r"|contactez|adressez-vous a|hable con|habla con|contacte (?:a|con))\s+$",
    re.IGNORECASE,
)


def _name_before(text: str) -> tuple[str, int]:
    """The capitalised words right before a position ("… talk to Jane Doe (" → "Jane Doe"), and where they start."""
    tokens = list(re.finditer(r"[^\s,;:()<>\[\]\"“”]+", text))
    words: list[re.Match[str]] = []
    for token in reversed(tokens[-6:]):
        word = token.group(0).strip(".")
        plain = fold(word)
        if not word or not word[0].isupper() or plain in _NOT_NAME or "@" in word:
            break
        if plain in _HONORIFICS:
            break
        words.insert(0, token)
        if len(words) == 3:
            break
    if not words or text[words[-1].end() :].strip(" \t([<").strip():
        return "", len(text)
    return " ".join(w.group(0).strip(".") for w in words), words[0].start()


def _name_from_email(address: str) -> str:
    local = address.split("@")[0]
    parts = [part for part in re.split(r"[._-]", local) if part.isalpha() and len(part) > 1]
    return " ".join(part.capitalize() for part in parts) if len(parts) >= 2 else ""


def _title_clean(title: str) -> str:
    return _TITLE_END.sub("", title).strip(" -–—")[:120]


def referral_parse(body: str) -> dict[str, str]:
    """The colleague a "wrong person" reply names: {"name", "email", "title"}, the keys it could read."""
    found: dict[str, str] = {}
    email_match = _EMAIL.search(body)
    if email_match:
        found["email"] = email_match.group(0).lower()
        name, name_start = _name_before(body[: email_match.start()])
        rest = body[email_match.end() :]
    else:
        trigger = next((m for m in re.finditer(r"\S+", body) if _TRIGGER.search(body[: m.start()])), None)
        if trigger is None:
            return {}
        tail = re.match(
            r"(?:(?:Mr|Mrs|Ms|Dr|Frau|Herr|Mme|M|Sr|Sra)\.?\s+)?((?:[A-ZÀ-Ý][\w'’-]+\s?){1,3})",
            body[trigger.start() :],
        )
        if tail is None:
            return {}
        name, name_start = tail.group(1).strip(), trigger.start()
        rest = body[trigger.start() + tail.end() :]
    name = name or (_name_from_email(found["email"]) if "email" in found else "")
    if name:
        found["name"] = name
    title = _TITLE_AFTER.match(rest) or _TITLE_PAREN.match(rest) or _TITLE_BEFORE.search(body[:name_start])
    if title and _title_clean(title.group("title")):
        found["title"] = _title_clean(title.group("title"))
    return found
