"""Grounding: a hook is kept only when its evidence quotes the prospect's stored data; instruction-like text is never evidence."""

from __future__ import annotations

from typing import Any

from leadgen.ai.untrusted import looks_like_instructions, normalise_text

MIN_QUOTE_CHARS = 4


def stringify(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        return [text for item in value.values() for text in stringify(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in stringify(item)]
    return [str(value)]


def grounding_sources(profile: dict[str, Any]) -> dict[str, list[str]]:
    """The stored data by source name (data-block names and field names), normalised for quote matching."""
    person = profile["prospect"]
    company = profile["company"] or {}
    sources: dict[str, list[str]] = {
        "prospect": stringify(
            {key: person[key] for key in person if key not in ("email", "email_check", "do_not_contact")}
        ),
        "company": stringify(company),
        "company_facts": [],
        "website_about": stringify(profile["about_text"]),
        "answers": stringify(profile["answers"]),
    }
    for key, value in company.items():
        sources[f"company.{key}"] = stringify(value)
    sources["company.about_text"] = sources["website_about"]
    for key, value in (profile["answers"] or {}).items():
        sources[f"answers.{key}"] = stringify(value)
    for fact in profile["facts"]:
        if not isinstance(fact, dict):
            continue
        texts = stringify([fact.get("quote"), fact.get("value")])
        sources["company_facts"].extend(texts)
        for name in (fact.get("url"), fact.get("source"), f"company.{fact.get('field')}"):
            if isinstance(name, str) and name:
                sources.setdefault(name, []).extend(texts)
    return {name: [normalise_text(text) for text in texts] for name, texts in sources.items()}


# Text that talks to an AI instead of describing a company: a red flag, and never a hook's evidence.
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
