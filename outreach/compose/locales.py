"""Which language a draft is written in, and the words the rule checks and the offline provider need per language.

The locale comes from an explicit choice, else the prospect's country (its location, else its company's), else its
timezone, else its email's country-code domain, else the organisation's default. Countries with several
languages (Switzerland, Belgium, Canada) decide nothing by themselves.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

LOCALES = ("en", "fr", "de", "es")
DEFAULT_LOCALE = "en"
LOCALE_NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish"}


_QUOTES = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_QUOTES).casefold())
    return "".join(char for char in text if not unicodedata.combining(char)).strip(" .")


# fmt: off
_COUNTRIES: dict[str, tuple[str, ...]] = {
    "en": (
        "us", "usa", "united states", "united states of america", "uk", "gb", "united kingdom", "great britain",
        "england", "scotland", "wales", "ireland", "ie", "australia", "au", "new zealand", "nz", "singapore", "sg",
        "india", "in", "south africa", "za",
    ),
    "fr": ("fr", "france", "monaco", "mc", "quebec", "luxembourg", "lu", "senegal", "sn", "cote d'ivoire", "maroc"),
    "de": ("de", "germany", "deutschland", "at", "austria", "osterreich", "liechtenstein", "li"),
    "es": (
        "es", "spain", "espana", "mx", "mexico", "ar", "argentina", "co", "colombia", "cl", "chile", "pe", "peru",
        "uy", "uruguay", "ve", "venezuela", "ec", "ecuador", "bo", "bolivia", "py", "paraguay", "cr", "costa rica",
        "gt", "guatemala", "pa", "panama", "do", "dominican republic", "republica dominicana",
    ),
}
# fmt: on
_COUNTRY_LOCALE = {_key(name): locale for locale, names in _COUNTRIES.items() for name in names}

_TIMEZONE_LOCALE = {
    "Europe/Paris": "fr", "Europe/Monaco": "fr", "Europe/Luxembourg": "fr", "America/Montreal": "fr",
    "Europe/Berlin": "de", "Europe/Vienna": "de", "Europe/Busingen": "de",
    "Europe/Madrid": "es", "Atlantic/Canary": "es", "America/Mexico_City": "es", "America/Bogota": "es",
    "America/Argentina/Buenos_Aires": "es", "America/Santiago": "es", "America/Lima": "es",
    "America/Montevideo": "es", "America/Caracas": "es", "America/Guayaquil": "es",
    "Europe/London": "en", "Europe/Dublin": "en", "America/New_York": "en", "America/Chicago": "en",
    "America/Denver": "en", "America/Los_Angeles": "en", "Australia/Sydney": "en", "Asia/Singapore": "en",
}  # fmt: skip

# Only two-letter country domains that name one language; .com, .io, .ch, .be, .ca say nothing.
_TLD_LOCALE = {"fr": "fr", "de": "de", "at": "de", "es": "es", "mx": "es", "ar": "es", "cl": "es", "pe": "es",
               "uk": "en", "ie": "en", "au": "en", "nz": "en"}  # fmt: skip


def country_locale(country: str) -> str | None:
    return _COUNTRY_LOCALE.get(_key(country or ""))


def _location_locale(location: str) -> str | None:
    parts = [part for part in (location or "").split(",") if part.strip()]
    return country_locale(parts[-1]) if parts else None


def locale_for(*, prospect: Any, explicit: str | None = None, default: str = DEFAULT_LOCALE) -> str:
    """The draft's locale, one of LOCALES."""
    if explicit:
        base = explicit.replace("_", "-").split("-")[0].lower()
        if base in LOCALES:
            return base
    company = getattr(prospect, "company", None)
    domain = (prospect.email or "").rpartition("@")[2].lower()
    for found in (
        _location_locale(prospect.location or ""),
        _location_locale(company.location if company else ""),
        _TIMEZONE_LOCALE.get(prospect.timezone or ""),
        _TLD_LOCALE.get(domain.rpartition(".")[2]) if "." in domain else None,
    ):
        if found:
            return found
    return default if default in LOCALES else DEFAULT_LOCALE


@dataclass(frozen=True)
class Phrasebook:
    """Per-language words for the rule checks and the offline provider's opening lines."""

    greetings: tuple[str, ...]
    # Words that point at the reader or their company: a sentence using one is about the prospect.
    reader_words: tuple[str, ...]
    # Sentences announcing news about the reader ("congrats on …") are claims even without a pronoun.
    news_words: tuple[str, ...]
    # Requests that are a call to action without a question mark.
    asks: tuple[str, ...]
    # Offline opening lines; {name} is the "First name, " prefix (or nothing), {company} the company.
    opening_website: str
    opening_technology: str
    opening_funding: str
    opening_answer: str
    opening_role: str
    opening_company: str
    your_company: str


PHRASEBOOKS: dict[str, Phrasebook] = {
    "en": Phrasebook(
        greetings=("hi", "hello", "hey", "dear", "good morning", "good afternoon"),
        reader_words=("you", "your", "yours", "you're", "you've", "yourself"),
        news_words=("congrat", "raised", "funding", "acquired", "launched", "hired", "announced", "expanding"),
        asks=("let me know", "reply", "book a", "schedule", "grab a", "pick a time", "click", "sign up", "call me"),
        opening_website="{name}I read this on {company}'s website: “{quote}”.",
        opening_technology="{name}I noticed {company} works with {quote}.",
        opening_funding="{name}I saw that {company} is at the {quote} stage.",
        opening_answer="{name}you wrote to us: “{quote}”.",
        opening_role="{name}I am writing because of your work as {title} at {company}.",
        opening_company="{name}I am writing to you about {company}.",
        your_company="your company",
    ),
    "fr": Phrasebook(
        greetings=("bonjour", "salut", "cher", "chere", "madame", "monsieur", "bonsoir"),
        reader_words=("vous", "votre", "vos", "tu", "ton", "ta", "tes", "toi"),
        news_words=("felicit", "bravo", "levee", "leve", "rachat", "lance", "recrut", "annonc"),
        asks=("dites-moi", "faites-moi savoir", "repondez", "reservez", "n'hesitez pas", "appelez"),
        opening_website="{name}j'ai lu ceci sur le site de {company} : « {quote} ».",
        opening_technology="{name}j'ai vu que {company} travaille avec {quote}.",
        opening_funding="{name}j'ai vu que {company} en est au stade {quote}.",
        opening_answer="{name}vous nous avez écrit : « {quote} ».",
        opening_role="{name}je vous écris au sujet de votre rôle de {title} chez {company}.",
        opening_company="{name}je vous écris au sujet de {company}.",
        your_company="votre entreprise",
    ),
    "de": Phrasebook(
        greetings=("hallo", "guten tag", "guten morgen", "liebe", "lieber", "sehr geehrte", "sehr geehrter", "hi"),
        reader_words=("sie", "ihr", "ihre", "ihren", "ihrem", "ihrer", "ihnen", "du", "dein", "deine", "euch"),
        news_words=("gratul", "gluckwunsch", "finanzierung", "ubernommen", "gestartet", "eingestellt"),
        asks=("lassen sie mich wissen", "geben sie mir bescheid", "antworten sie", "buchen sie", "melden sie sich"),
        opening_website="{name}auf der Website von {company} habe ich gelesen: „{quote}“.",
        opening_technology="{name}ich habe gesehen, dass {company} mit {quote} arbeitet.",
        opening_funding="{name}ich habe gesehen, dass {company} in der Phase {quote} ist.",
        opening_answer="{name}Sie haben uns geschrieben: „{quote}“.",
        opening_role="{name}ich schreibe Ihnen wegen Ihrer Rolle als {title} bei {company}.",
        opening_company="{name}ich schreibe Ihnen wegen {company}.",
        your_company="Ihr Unternehmen",
    ),
    "es": Phrasebook(
        greetings=("hola", "buenos dias", "buenas tardes", "estimado", "estimada", "querido", "querida"),
        reader_words=("usted", "ustedes", "su", "sus", "tu", "tus", "te", "vuestro", "vuestra"),
        news_words=("felicid", "enhorabuena", "ronda", "financiacion", "adquir", "lanz", "contrat", "anunci"),
        asks=("dime", "avisame", "responde", "reserva", "no dudes", "llamame", "escribeme"),
        opening_website="{name}leí esto en la web de {company}: «{quote}».",
        opening_technology="{name}vi que {company} trabaja con {quote}.",
        opening_funding="{name}vi que {company} está en la etapa {quote}.",
        opening_answer="{name}usted nos escribió: «{quote}».",
        opening_role="{name}le escribo por su puesto de {title} en {company}.",
        opening_company="{name}le escribo a propósito de {company}.",
        your_company="su empresa",
    ),
}  # fmt: skip


def phrasebook(locale: str) -> Phrasebook:
    return PHRASEBOOKS.get(locale, PHRASEBOOKS[DEFAULT_LOCALE])


def fold(text: str) -> str:
    """Casefolded, accents removed, whitespace collapsed: how rule checks compare words."""
    return " ".join(_key(text).split())
