"""Third-party text (websites, form answers, enrichment data) is data, never instructions: how we compare it and
how we recognise text that tries to instruct the model. Used by qualification's grounding and by outreach drafts."""

from __future__ import annotations

import re
import unicodedata

_QUOTES = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)


def normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return " ".join(text.split())


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
