"""What the pages say instead of stored codes: seniority labels, who scored a prospect, enrichment errors in words.

Pure functions (no database), used by templates through `prospects/templatetags/plain_words.py`. The stored values
stay as they are (Apollo's seniority codes, the provider's raw error); only what a person reads changes.
"""

from __future__ import annotations

import re

# Apollo's seniority codes (the ones its people search accepts), most senior first; the ICP editor's picker offers
# them in this order.
SENIORITY_LABELS: dict[str, str] = {
    "owner": "Owner",
    "founder": "Founder",
    "c_suite": "C-level",
    "partner": "Partner",
    "vp": "VP",
    "head": "Head of",
    "director": "Director",
    "manager": "Manager",
    "senior": "Senior individual contributor",
    "entry": "Entry level",
    "intern": "Intern",
}
SENIORITY_CHOICES: list[tuple[str, str]] = list(SENIORITY_LABELS.items())
_SENIORITY_KEYS = {code.replace("_", ""): code for code in SENIORITY_LABELS} | {
    "clevel": "c_suite",
    "csuite": "c_suite",
    "vicepresident": "vp",
    "headof": "head",
    "entrylevel": "entry",
}


def seniority_code(value: str | None) -> str | None:
    """'C-level', 'c_suite', 'C Suite' → 'c_suite'; None for anything outside the vocabulary."""
    key = re.sub(r"[^a-z]", "", (value or "").lower())
    return _SENIORITY_KEYS.get(key)


def seniority_label(value: str | None) -> str:
    """The label for a seniority code ('c_suite' → 'C-level'); a value outside the vocabulary is shown as given,
    with underscores as spaces."""
    if not value:
        return ""
    code = seniority_code(value)
    return SENIORITY_LABELS[code] if code else value.replace("_", " ")


def scored_by(provider: str | None) -> str:
    """'rules' → 'Scored by the built-in rules'; 'openai:gpt-4o-mini' → 'Scored by the AI model gpt-4o-mini';
    'rules (AI budget reached)' → 'Scored by the built-in rules (AI budget reached)'."""
    provider = (provider or "rules").strip()
    if provider == "rules" or provider.startswith("rules ("):
        return f"Scored by the built-in rules{provider.removeprefix('rules')}"
    _, _, model = provider.partition(":")
    return f"Scored by the AI model {model}" if model else f"Scored by {provider}"


# Raw enrichment errors (EnrichmentLog.error: the website fetcher's and the providers' messages) → what happened, in
# the words a rep uses. First match wins; the raw text stays behind a disclosure on the page.
_COMMON_WORDS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"interrupted before the provider answered", re.I),
        "the lookup was interrupted; it will run again",
    ),
    (re.compile(r"^gave up after", re.I), "the lookup kept failing, so it was stopped"),
]
_WEBSITE_WORDS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"blocked:", re.I),
        "the company's website points to a private address, which is never fetched",
    ),
    (
        re.compile(r"dns lookup|name or service not known|no host in|no address", re.I),
        "the company's website could not be found",
    ),
    (re.compile(r"robots", re.I), "the company's website asks robots not to read it"),
    (re.compile(r"timed? ?out|timeout", re.I), "the company's website took too long to answer"),
    (re.compile(r"certificate|ssl|tls", re.I), "the company's website has a broken security certificate"),
    (
        re.compile(r"could not connect|connection|connecterror|network", re.I),
        "the company's website could not be reached",
    ),
    (re.compile(r"answered HTTP (404|410)", re.I), "the company's website has no such page"),
    (re.compile(r"answered HTTP [45]\d\d", re.I), "the company's website refused the visit"),
    (re.compile(r"not HTML", re.I), "the company's website is not a page that can be read"),
    (re.compile(r"cut at \d+ bytes", re.I), "the company's website page was too large to read whole"),
]
_PROVIDER_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b401\b|\b403\b|unauthori[sz]ed|invalid.*key|api.?key|authenticat", re.I), "the provider refused the API key: check it in Settings → Enrichment & scoring"),
    (re.compile(r"quota|credits?|usage limit|\b402\b", re.I), "the provider's credits or quota are used up"),
    (re.compile(r"rate.?limit|\b429\b|too many requests", re.I), "the provider was busy; it will be tried again"),
    (re.compile(r"network|timed? ?out|timeout|connect", re.I), "the provider could not be reached; it will be tried again"),
    (re.compile(r"\b5\d\d\b|server error", re.I), "the provider had a problem on its side; it will be tried again"),
    (re.compile(r"not found|no match|\b404\b", re.I), "the provider has no record of this person or company"),
    (re.compile(r"^temporary:", re.I), "the provider could not answer now; it will be tried again"),
]  # fmt: skip


def enrichment_error_words(error: str | None, provider: str = "") -> str:
    """An enrichment error in plain words ('' for no error). `provider` is the log's provider ("website" for the
    company's own site, else a paid provider's key)."""
    error = (error or "").strip()
    if not error:
        return ""
    patterns = _COMMON_WORDS + (_WEBSITE_WORDS if provider == "website" else _PROVIDER_WORDS)
    for pattern, words in patterns:
        if pattern.search(error):
            return words
    return "the company's website could not be read" if provider == "website" else "the lookup failed"
