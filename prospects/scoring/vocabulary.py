"""What a title and an industry label mean, the way a sales rep reads them.

- Seniority from a title when the source gives none: "SDR" is entry level, "Head of Sales" is a head, "SVP, Global
  Sales" a VP, "Co-founder & CTO" a founder. Codes are Apollo's (owner, founder, c_suite, partner, vp, head, director,
  manager, senior, entry, intern), on a ladder so "one step short" can count for something.
- Title keywords matched on whole words (with plural and -ing/-er endings folded, and CxO/VP/SDR acronyms spelled
  out): "sales" is in "VP Sales" and in "Sales Development Representative" but not in "Salesforce Admin".
- Industries through a vocabulary (`data/industries.json`) that knows LinkedIn's, Apollo's and NAICS-style names for
  the same business, falling back to the offline MiniLM similarity of the two labels for names it does not know.

Pure functions over strings; the only state is a per-process cache of label vectors.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from prospects.plain_words import SENIORITY_LABELS

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# --- words --------------------------------------------------------------------------------------------------------

# Spelled out before matching, so "CTO" meets an ICP asking for "technology" and "SDR" is read as entry level.
ACRONYMS: dict[str, str] = {
    "ceo": "chief executive officer",
    "cto": "chief technology officer",
    "cfo": "chief financial officer",
    "coo": "chief operating officer",
    "cmo": "chief marketing officer",
    "cro": "chief revenue officer",
    "cio": "chief information officer",
    "cpo": "chief product officer",
    "cso": "chief sales officer",
    "cco": "chief commercial officer",
    "cgo": "chief growth officer",
    "cdo": "chief data officer",
    "ciso": "chief information security officer",
    "chro": "chief human resources officer",
    "vp": "vice president",
    "svp": "senior vice president",
    "evp": "executive vice president",
    "avp": "assistant vice president",
    "sdr": "sales development representative",
    "bdr": "business development representative",
    "ae": "account executive",
    "gm": "general manager",
    "md": "managing director",
    "sr": "senior",
    "jr": "junior",
    "mgr": "manager",
    "dir": "director",
    "eng": "engineering",
    "ops": "operations",
    "revops": "revenue operations",
    "hr": "human resources",
}


def words(text: str) -> list[str]:
    """Lower-case words with acronyms spelled out and "&" read as "and"."""
    raw = _NON_ALNUM.sub(" ", (text or "").lower().replace("&", " and ")).split()
    out: list[str] = []
    for word in raw:
        out.extend(ACRONYMS.get(word, word).split())
    return out


def stem(word: str) -> str:
    """A light stemmer: enough that "engineer" meets "engineering" and "sales" meets "sale", no more."""
    for _ in range(2):  # "engineering" → "engineer" → "engine", the same place "engineers" ends
        for suffix in ("ing", "ers", "er", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)]
                break
    return word


def _stems(text: str) -> list[str]:
    return [stem(word) for word in words(text)]


def keyword_in_title(keyword: str, title: str) -> bool:
    """A keyword (one or more words) found as whole words, in order, in the title."""
    needle, hay = _stems(keyword), _stems(title)
    if not needle:
        return False
    return any(hay[i : i + len(needle)] == needle for i in range(len(hay) - len(needle) + 1))


# --- seniority ----------------------------------------------------------------------------------------------------

# Apollo's seniority codes on one ladder. Founders, owners and partners sit with the C-level: they sign.
SENIORITY_RANK: dict[str, int] = {
    "intern": 0,
    "entry": 1,
    "senior": 2,
    "manager": 3,
    "director": 4,
    "head": 4,
    "vp": 5,
    "c_suite": 6,
    "partner": 6,
    "founder": 6,
    "owner": 6,
}
# The plain labels (prospects.plain_words), as they read mid-sentence: "VP" and "C-level" keep their capitals.
SENIORITY_WORDS: dict[str, str] = {
    code: label if label[:2].isupper() else label[0].lower() + label[1:]
    for code, label in SENIORITY_LABELS.items()
}
# A title with none of the words below (Account Executive, Software Engineer) is an individual contributor: above
# entry level, below a senior one.
INDIVIDUAL_CONTRIBUTOR_RANK = 1.5
_SENIORITY_ALIASES: dict[str, str] = {
    "clevel": "c_suite",
    "csuite": "c_suite",
    "cxo": "c_suite",
    "executive": "c_suite",
    "chief": "c_suite",
    "vicepresident": "vp",
    "headof": "head",
    "entrylevel": "entry",
    "junior": "entry",
    "seniorindividualcontributor": "senior",
    "cofounder": "founder",
}
# First match wins, most senior first; each pattern runs over the spelled-out words joined by single spaces.
_TITLE_LADDER: list[tuple[str, re.Pattern[str]]] = [
    ("founder", re.compile(r"\b(co ?founder|founder|founding partner)\b")),
    ("owner", re.compile(r"(?<!product )(?<!process )\bowner\b")),
    ("senior", re.compile(r"\bchief of staff\b")),
    ("c_suite", re.compile(r"\b(chief \w+|president|managing director)\b")),
    ("partner", re.compile(r"\b(managing|general|senior|equity) partner\b|^partner\b")),
    ("vp", re.compile(r"\bvice president\b")),
    ("head", re.compile(r"\bhead\b")),
    ("director", re.compile(r"\b(director|general manager)\b")),
    ("manager", re.compile(r"\bmanager\b")),
    ("intern", re.compile(r"\b(intern|internship|werkstudent|working student|trainee|apprentice)\b")),
    ("senior", re.compile(r"\b(senior|staff|principal|lead)\b")),
    (
        "entry",
        re.compile(
            r"\b(representative|rep|associate|assistant|coordinator|junior|graduate|ambassador|analyst|"
            r"specialist|support|agent|clerk)\b"
        ),
    ),
]


def seniority_code(value: str) -> str:
    """A stored seniority ('C-level', 'c_suite', 'VP') as Apollo's code, or '' when it is not one."""
    key = re.sub(r"[^a-z]", "", (value or "").lower())
    if key in SENIORITY_RANK:
        return key
    if key.replace("_", "") == "csuite":
        return "c_suite"
    return _SENIORITY_ALIASES.get(key, "")


def seniority_from_title(title: str) -> str:
    """Apollo's code read from a title ('' when the title names no level)."""
    text = " ".join(words(title))
    # "Vice president" must not read as the C-level "president".
    text_for_c = text.replace("vice president", "vice_president")
    for code, pattern in _TITLE_LADDER:
        if pattern.search(text_for_c if code == "c_suite" else text):
            return code
    return ""


@dataclass(frozen=True)
class Seniority:
    code: str  # '' for an individual contributor or an unknown title
    rank: float | None  # None when there is nothing to go on
    inferred: bool  # read from the title, not given by the source

    @property
    def words(self) -> str:
        if self.code:
            return SENIORITY_WORDS.get(self.code, self.code)
        return "individual contributor" if self.rank is not None else ""


def prospect_seniority(*, seniority: str, title: str) -> Seniority:
    """The source's seniority when it is a known code, else the one the title implies."""
    if code := seniority_code(seniority):
        return Seniority(code, SENIORITY_RANK[code], inferred=False)
    if code := seniority_from_title(title):
        return Seniority(code, SENIORITY_RANK[code], inferred=True)
    if words(title):
        return Seniority("", INDIVIDUAL_CONTRIBUTOR_RANK, inferred=True)
    return Seniority("", None, inferred=True)


def seniority_credit(person: Seniority, wanted: list[str]) -> float:
    """1 for a wanted level; partial for the same rung under another name, for one rung short and for above."""
    codes = {code for value in wanted if (code := seniority_code(value))}
    if person.rank is None or not codes:
        return 0.0
    if person.code in codes:
        return 1.0
    ranks = [SENIORITY_RANK[code] for code in codes]
    low, high = min(ranks), max(ranks)
    if low <= person.rank <= high:
        return 0.8  # e.g. a "head of" when the ICP lists director and VP
    if person.rank > high:
        return 0.6  # more senior than asked: still a buyer, rarely the one who runs the project
    return 0.35 if low - person.rank <= 1 else 0.0


# --- industries ---------------------------------------------------------------------------------------------------

# Cosine similarity of two short labels under MiniLM, mapped onto a 0..1 credit: measured on label pairs,
# unrelated businesses sit below 0.45 (Financial services ~ Hospitality 0.38) and the same business above 0.65
# (E-commerce ~ Online Retail 0.67).
LABEL_SIMILARITY_FLOOR, LABEL_SIMILARITY_CEILING = 0.45, 0.65
RELATED_CREDIT = 0.5


def label_key(label: str) -> str:
    return " ".join(_NON_ALNUM.sub(" ", (label or "").lower().replace("&", " and ")).split())


@dataclass(frozen=True)
class IndustryVocabulary:
    group_of: dict[str, str]  # label key → group name
    related: dict[str, frozenset[str]]  # group name → related group names


@cache
def industry_vocabulary() -> IndustryVocabulary:
    data = json.loads((DATA_DIR / "industries.json").read_text(encoding="utf-8"))
    group_of: dict[str, str] = {}
    related: dict[str, set[str]] = {}
    for group in data["groups"]:
        name = group["name"]
        for label in [name, *group["labels"]]:
            group_of.setdefault(label_key(label), name)
        related.setdefault(name, set()).update(group.get("related", []))
        for other in group.get("related", []):
            related.setdefault(other, set()).add(name)
    return IndustryVocabulary(group_of, {name: frozenset(names) for name, names in related.items()})


def industry_group(label: str) -> str:
    return industry_vocabulary().group_of.get(label_key(label), "")


@lru_cache(maxsize=4096)
def _label_vector(key: str) -> np.ndarray | None:
    from leadgen.ai.embeddings import EmbeddingConfig, embed_texts

    try:
        return embed_texts([key], config=EmbeddingConfig(provider="local")).vectors[0]
    except Exception:  # no offline model installed: the fallback is simply not available
        logger.warning("industry label similarity unavailable", exc_info=True)
        return None


def label_similarity(first: str, second: str) -> float | None:
    a, b = _label_vector(label_key(first)), _label_vector(label_key(second))
    if a is None or b is None:
        return None
    return float(np.dot(a, b))


@dataclass(frozen=True)
class IndustryMatch:
    credit: float
    wanted: str  # the ICP's label that matched best ('' when none did)
    how: str  # "same", "vocabulary", "words", "related", "similarity" or "" for a miss


def industry_match(industry: str, wanted: list[str]) -> IndustryMatch:
    """How well a company's industry label answers the ICP's list, best of the ICP's labels."""
    have_key, have_group = label_key(industry), industry_group(industry)
    vocabulary = industry_vocabulary()
    best = IndustryMatch(0.0, "", "")
    for label in wanted:
        key, group = label_key(label), industry_group(label)
        if not key:
            continue
        if key == have_key:
            return IndustryMatch(1.0, label, "same")
        if group and group == have_group:
            return IndustryMatch(1.0, label, "vocabulary")
        if f" {key} " in f" {have_key} ":  # "Software" in "Enterprise Software"
            return IndustryMatch(1.0, label, "words")
        if group and have_group:
            if have_group in vocabulary.related.get(group, frozenset()) and best.credit < RELATED_CREDIT:
                best = IndustryMatch(RELATED_CREDIT, label, "related")
            continue  # both names are known and differ: no need to guess
        similarity = label_similarity(industry, label)
        if similarity is None:
            continue
        stretched = (similarity - LABEL_SIMILARITY_FLOOR) / (
            LABEL_SIMILARITY_CEILING - LABEL_SIMILARITY_FLOOR
        )
        credit = round(min(1.0, max(0.0, stretched)), 2)
        if credit > best.credit:
            best = IndustryMatch(credit, label, "similarity")
    return best
