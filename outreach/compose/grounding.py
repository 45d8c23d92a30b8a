"""Grounding of AI drafts: every sentence that states something about the prospect cites stored evidence.

What a sentence may cite: the prospect's kept hooks (ids h1, h2, … in the order of `template_context`) and the
company facts on record (f1, f2, …: role, industry, location, size, technologies, funding stage), each with the
stored value it rests on.

A sentence is treated as a claim about the prospect when the model says so, or when it names the person or their
company, speaks to the reader ("your team …") without asking a question, holds a figure, or announces news
("congrats on …"). A claim is kept only if it cites at least one existing item, shares a word with what it cites
(names aside), and every figure in it appears in the cited evidence or in the sender's own text. A sentence citing
an id that does not exist is dropped whatever it says. The model's own label can only add claims, never remove one,
so text injected through website content cannot wave a sentence through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .locales import fold, phrasebook
from .rules import content_tokens, is_question, mentions, tokens_overlap

_NUMBER = re.compile(r"\d+(?:[.,\u00a0 ]\d{3})*(?:[.,]\d+)?")


@dataclass(frozen=True)
class Citable:
    id: str
    text: str
    source: str
    quote: str

    @property
    def evidence(self) -> str:
        return f"{self.text} {self.quote}"

    def as_data(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text, "source": self.source, "quote": self.quote}


@dataclass
class Screened:
    kept: list[str] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)  # {"text", "reason"}


def _facts(person: Mapping[str, Any], company: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    name = company.get("name") or "The company"
    who = person.get("full_name") or "The prospect"
    technologies = ", ".join(list(company.get("technologies") or [])[:5])
    candidates = [
        (person.get("title"), f"{who} is {person.get('title')} at {name}.", "prospect.title"),
        (company.get("industry"), f"{name} is in {company.get('industry')}.", "company.industry"),
        (company.get("location"), f"{name} is based in {company.get('location')}.", "company.location"),
        (
            company.get("employee_count"),
            f"{name} has {company.get('employee_count')} employees.",
            "company.size",
        ),
        (technologies, f"{name} uses {technologies}.", "company.technologies"),
        (
            company.get("funding_stage"),
            f"{name} is at the {company.get('funding_stage')} stage.",
            "company.funding",
        ),
    ]
    return [(text, source, str(value)) for value, text, source in candidates if value]


def citables(context: Mapping[str, Any]) -> list[Citable]:
    """The kept hooks and company facts of a template context, each with the id a draft cites it by."""
    items = [
        Citable(id=hook["id"], text=hook["text"], source=hook["source"], quote=hook["quote"])
        for hook in context.get("hooks") or []
    ]
    for index, (text, source, quote) in enumerate(_facts(context["prospect"], context["company"]), start=1):
        items.append(Citable(id=f"f{index}", text=text, source=source, quote=quote))
    return items


def numbers_in(text: str) -> set[str]:
    return {re.sub(r"[.,\u00a0 ]", "", number) for number in _NUMBER.findall(text)}


def is_claim(text: str, *, labelled: bool, names: Iterable[str], locale: str, trusted_text: str = "") -> bool:
    book = phrasebook(locale)
    words = set(re.findall(r"\w+", fold(text)))
    if labelled or numbers_in(text) - numbers_in(trusted_text):
        return True
    if any(word.startswith(fold(news)) for word in words for news in book.news_words):
        return True
    speaks_to_reader = bool(words & {fold(word) for word in book.reader_words})
    return not is_question(text) and (speaks_to_reader or mentions(text, names))


def _drop_reason(
    text: str,
    cites: list[str],
    *,
    claim: bool,
    by_id: Mapping[str, Citable],
    names: Iterable[str],
    trusted_text: str,
) -> str | None:
    unknown = [cite for cite in cites if cite not in by_id]
    if unknown:
        return f"cites {', '.join(unknown)}, which is not a kept hook or company fact"
    if not claim:
        return None
    if not cites:
        return "states something about the prospect without citing a kept hook"
    evidence = " ".join(by_id[cite].evidence for cite in cites)
    unbacked = numbers_in(text) - numbers_in(evidence) - numbers_in(trusted_text)
    if unbacked:
        return f"holds a figure ({', '.join(sorted(unbacked))}) that is not in the cited evidence"
    name_words = set().union(*(content_tokens(name) for name in names)) if names else set()
    if not tokens_overlap(content_tokens(text) - name_words, content_tokens(evidence) - name_words):
        return "does not use the evidence it cites"
    return None


def screen_sentences(
    sentences: list[dict[str, Any]],
    *,
    items: list[Citable],
    names: tuple[str, ...],
    locale: str,
    trusted_text: str = "",
) -> Screened:
    """Keep the grounded sentences of a model's draft; the others are dropped with their reason."""
    by_id = {item.id: item for item in items}
    screened = Screened()
    for sentence in sentences:
        text = " ".join(str(sentence.get("text") or "").split())
        if not text:
            continue
        cites = [str(cite).strip() for cite in sentence.get("cites") or [] if str(cite).strip()]
        labelled = bool(sentence.get("about_recipient"))
        claim = is_claim(text, labelled=labelled, names=names, locale=locale, trusted_text=trusted_text)
        reason = _drop_reason(text, cites, claim=claim, by_id=by_id, names=names, trusted_text=trusted_text)
        if reason:
            screened.dropped.append({"text": text[:300], "reason": reason})
        else:
            screened.kept.append(text)
    return screened
