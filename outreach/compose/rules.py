"""The rules every draft is checked against after generation (not only asked for in the prompt).

- Subject: 1 to 8 words.
- No emojis, in the subject or the body.
- No all-caps words: a word of five or more letters written in capitals is shouting; acronyms of up to four
  letters ("CRM", "VP", "B2B", "GDPR") pass, and so does any word spelled that way in the prospect's or company's
  own name ("NVIDIA").
- Body: 4 to 6 sentences, not counting the greeting line, the sign-off and the signature.
- The first sentence is specific to the prospect: it names the person, their company, or a fact of a kept hook.
- Exactly one call to action: one question or one ask ("let me know", "reply", "book a …") in the whole body.
- No banned phrase (the organisation's list), compared without case, accents or curly quotes.
- No template syntax (`{{`, `{%`) left in the text.

Each broken rule is one message a user can read; `rules_broken` returns them in this order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .locales import fold, phrasebook

RULES_VERSION = "compose-rules-v1"
MAX_SUBJECT_WORDS = 8
MIN_SENTENCES, MAX_SENTENCES = 4, 6
MAX_ACRONYM_LETTERS = 4
MAX_GREETING_WORDS = 5
MAX_SIGNOFF_WORDS = 3

_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U00002b00-\U00002bff\U0001f1e6-\U0001f1ff"
    "\u200d\ufe0f\u2190-\u21ff\u2300-\u23ff\u25a0-\u25ff\u3030\u303d\u3297\u3299]"
)
_LETTER_WORD = re.compile(r"[^\W\d_]+")
_TOKEN = re.compile(r"\w+")
# Whitespace after ., ! or ? ends a sentence, except after a short abbreviation ("e.g.", "Dr.", "Inc.").
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’»)]*\s+")
_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "dr.", "mr.", "mrs.", "ms.", "inc.", "ltd.", "vs.", "etc.", "z.b.",
                            "bzw.", "usw.", "p.ex.", "sr.", "sra.", "st."})  # fmt: skip
# Words too common to make a sentence specific to anyone.
_STOPWORD_TEXT = (
    "about after again their there these those which while would could should other every where being "
    "apres avant comme dans pour avec votre notre nous vous leurs cette entre aussi "
    "ihnen ihrer unser unsere einen einer nicht haben werden diese durch sobre para como donde nuestro "
    "nuestra usted porque tiene están estan cuando"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class RuleContext:
    """What the checks need to know about this prospect and organisation."""

    locale: str = "en"
    banned_phrases: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # the person's names, the company's name and domain
    hook_texts: tuple[str, ...] = ()  # kept hooks' text and quote
    signature: str = ""


# --- text helpers -----------------------------------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    pieces = _SENTENCE_END.split(" ".join(text.split()))
    sentences: list[str] = []
    for piece in pieces:
        if sentences and sentences[-1].split()[-1].lower() in _ABBREVIATIONS:
            sentences[-1] = f"{sentences[-1]} {piece}"
        elif piece.strip():
            sentences.append(piece.strip())
    return sentences


def _is_greeting(line: str, locale: str) -> bool:
    words = line.split()
    if not words or len(words) > MAX_GREETING_WORDS:
        return False
    if line.rstrip().endswith((",", ":", "!")) or line.rstrip()[-1].isalnum():
        return True
    return fold(words[0]).strip(",!:") in phrasebook(locale).greetings


def body_sentences(body: str, *, signature: str = "", locale: str = "en") -> list[str]:
    """The sentences of a body, without its greeting line, sign-off lines and signature."""
    text = body.replace(signature, "") if signature.strip() else body
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and _is_greeting(lines[0], locale):
        lines = lines[1:]
    while lines and len(lines[-1].split()) <= MAX_SIGNOFF_WORDS:
        lines = lines[:-1]
    return [sentence for line in lines for sentence in split_sentences(line)]


def content_tokens(text: str) -> set[str]:
    """Words that can tie a sentence to a fact: numbers, and longer words that are not filler."""
    return {
        token
        for token in _TOKEN.findall(fold(text))
        if any(char.isdigit() for char in token) or (len(token) >= 5 and token not in _STOPWORDS)
    }


def _stem(token: str) -> str:
    return token if any(char.isdigit() for char in token) else token[:5]


def tokens_overlap(left: Iterable[str], right: Iterable[str]) -> bool:
    """Shared words, by their first five letters so "series"/"série" or "platform"/"platforms" meet."""
    return bool({_stem(token) for token in left} & {_stem(token) for token in right})


def _words(text: str) -> set[str]:
    return set(_TOKEN.findall(fold(text)))


def mentions(text: str, names: Iterable[str]) -> bool:
    """Whether the text names one of `names` (each a name or a domain such as "cloudstack.test")."""
    words = _words(text)
    folded = fold(text)
    for name in names:
        name_folded = fold(name)
        if not name_folded:
            continue
        stem = name_folded.split(".")[0] if "." in name_folded and " " not in name_folded else ""
        if (len(name_folded) >= 3 and re.search(rf"(?<!\w){re.escape(name_folded)}(?!\w)", folded)) or (
            len(stem) >= 3 and stem in words
        ):
            return True
    return False


def is_question(sentence: str) -> bool:
    return sentence.rstrip(" \"'”’»)").endswith("?")


def is_ask(sentence: str, locale: str) -> bool:
    folded = f" {fold(sentence)} "
    return any(f" {fold(ask)}" in folded for ask in phrasebook(locale).asks)


# --- the rules --------------------------------------------------------------------------------------------------


def _subject_rule(subject: str) -> str | None:
    words = len(subject.split())
    if words == 0:
        return "The subject is empty."
    if words > MAX_SUBJECT_WORDS:
        return f"The subject has {words} words (at most {MAX_SUBJECT_WORDS})."
    return None


def _emoji_rule(subject: str, body: str) -> str | None:
    found = _EMOJI.findall(f"{subject}\n{body}")
    return f"Emojis are not allowed ({''.join(dict.fromkeys(found)).strip()})." if found else None


def _caps_rule(subject: str, body: str, names: Iterable[str]) -> str | None:
    allowed = {word for name in names for word in _LETTER_WORD.findall(name)}
    shouting = [
        word
        for word in _LETTER_WORD.findall(f"{subject}\n{body}")
        if len(word) > MAX_ACRONYM_LETTERS and word.isupper() and word not in allowed
    ]
    if shouting:
        return f"All-caps words are not allowed ({', '.join(dict.fromkeys(shouting))})."
    return None


def _length_rule(sentences: list[str]) -> str | None:
    if not MIN_SENTENCES <= len(sentences) <= MAX_SENTENCES:
        return f"The body has {len(sentences)} sentences ({MIN_SENTENCES} to {MAX_SENTENCES} wanted)."
    return None


def _distinctive(text: str) -> set[str]:
    """A hook's numbers and proper nouns (capitalised words that do not open a sentence)."""
    stems = {_stem(token) for token in content_tokens(text) if any(char.isdigit() for char in token)}
    words = text.split()
    for previous, word in zip([".", *words], words, strict=False):
        if word[:1].isupper() and not previous.endswith((".", "!", "?", ":")):
            stems |= {_stem(token) for token in content_tokens(word)}
    return stems


def is_specific(sentence: str, context: RuleContext) -> bool:
    """Names the person or company, or uses a kept hook's fact: a number or name from it, or two of its words."""
    if mentions(sentence, context.names):
        return True
    stems = {_stem(token) for token in content_tokens(sentence)}
    for text in context.hook_texts:
        shared = stems & {_stem(token) for token in content_tokens(text)}
        if len(shared) >= 2 or shared & _distinctive(text):
            return True
    return False


def _specific_rule(sentences: list[str], context: RuleContext) -> str | None:
    if sentences and is_specific(sentences[0], context):
        return None
    return "The first sentence is not specific to the prospect (it names neither them, their company nor a hook)."


def _cta_rule(sentences: list[str], locale: str) -> str | None:
    asks = [sentence for sentence in sentences if is_question(sentence) or is_ask(sentence, locale)]
    if len(asks) == 1:
        return None
    if not asks:
        return "There is no call to action (one question or one ask)."
    return f"There are {len(asks)} calls to action (questions or asks); exactly one is wanted."


def _banned_rule(subject: str, body: str, banned: Iterable[str]) -> str | None:
    text = fold(f"{subject}\n{body}")
    hits = [phrase for phrase in banned if fold(phrase) and fold(phrase) in text]
    return f"Banned phrase used: “{hits[0]}”." if hits else None


def _syntax_rule(subject: str, body: str) -> str | None:
    text = f"{subject}\n{body}"
    return "Template syntax ({{ or {%) is left in the text." if "{{" in text or "{%" in text else None


def rules_broken(*, subject: str, body: str, context: RuleContext) -> list[str]:
    """Every rule the draft breaks, as messages for the review queue; empty when it passes."""
    sentences = body_sentences(body, signature=context.signature, locale=context.locale)
    checks = (
        _syntax_rule(subject, body),
        _subject_rule(subject),
        _emoji_rule(subject, body),
        _caps_rule(subject, body, context.names),
        _length_rule(sentences),
        _specific_rule(sentences, context),
        _cta_rule(sentences, context.locale),
        _banned_rule(subject, body, context.banned_phrases),
    )
    return [message for message in checks if message]
