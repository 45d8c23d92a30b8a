"""The draft rules, one test each, plus sentence counting and the claim screen."""

from __future__ import annotations

import pytest

from outreach.compose.grounding import Citable, screen_sentences
from outreach.compose.locales import locale_for
from outreach.compose.rules import RuleContext, body_sentences, rules_broken, split_sentences

CONTEXT = RuleContext(
    locale="en",
    banned_phrases=("I hope this finds you well", "I came across your profile"),
    names=("Ada", "Lovelace", "Ada Lovelace", "Cloudstack", "cloudstack.test"),
    hook_texts=("400 engineering teams use their platform.", "used by 400 engineering teams"),
    signature="Grace Hopper\nSender Inc",
)
OPENING = "Ada, I read on the Cloudstack website that 400 engineering teams use it."
MIDDLE = "We help platform teams cut deploy times in half. Most set it up in an afternoon. It runs beside CI."
ASK = "Would a short call next week be useful?"
SUBJECT = "Deploy times at Cloudstack"


def body(*sentences: str) -> str:
    return f"Hi Ada,\n\n{' '.join(sentences)}\n\nBest,\nGrace Hopper\nSender Inc"


GOOD = body(OPENING, MIDDLE, ASK)


def test_a_good_draft_breaks_no_rule() -> None:
    assert rules_broken(subject=SUBJECT, body=GOOD, context=CONTEXT) == []


def test_greeting_sign_off_and_signature_are_not_sentences() -> None:
    assert body_sentences(GOOD, signature=CONTEXT.signature) == [OPENING, *split_sentences(MIDDLE), ASK]
    assert split_sentences("See e.g. the docs. Version 2.5 is out. Done!") == [
        "See e.g. the docs.",
        "Version 2.5 is out.",
        "Done!",
    ]


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("A quick idea about deploy times at Cloudstack for you", "The subject has 10 words (at most 8)."),
        ("", "The subject is empty."),
    ],
)
def test_subject_length(subject: str, message: str) -> None:
    assert rules_broken(subject=subject, body=GOOD, context=CONTEXT) == [message]


@pytest.mark.parametrize("text", ["Deploys 🚀", "Deploys ✅", "Deploys 👍🏽", "Deploys ❤️"])
def test_no_emojis(text: str) -> None:
    broken = rules_broken(subject=text, body=GOOD, context=CONTEXT)
    assert len(broken) == 1 and broken[0].startswith("Emojis are not allowed")
    assert rules_broken(
        subject=SUBJECT, body=GOOD.replace("useful?", f"useful {text[-2:]}?"), context=CONTEXT
    )


def test_no_all_caps_words_but_short_acronyms_and_own_names_pass() -> None:
    shouting = rules_broken(subject="AMAZING deploy times", body=GOOD, context=CONTEXT)
    assert shouting == ["All-caps words are not allowed (AMAZING)."]
    acronyms = "Our CRM and B2B GDPR tooling helps a VP of Engineering."
    assert (
        rules_broken(subject="CRM for VP teams", body=body(OPENING, acronyms, MIDDLE, ASK), context=CONTEXT)
        == []
    )
    named = RuleContext(**{**CONTEXT.__dict__, "names": (*CONTEXT.names, "NVIDIA")})
    assert rules_broken(subject="NVIDIA deploy times", body=GOOD, context=named) == []


@pytest.mark.parametrize(
    ("sentences", "count"),
    [((OPENING, ASK), 2), ((OPENING, MIDDLE, "It is fast. It is cheap. It is calm.", ASK), 8)],
)
def test_body_has_four_to_six_sentences(sentences: tuple[str, ...], count: int) -> None:
    broken = rules_broken(subject=SUBJECT, body=body(*sentences), context=CONTEXT)
    assert broken == [f"The body has {count} sentences (4 to 6 wanted)."]


def test_first_sentence_is_specific_to_the_prospect() -> None:
    generic = "Many engineering leaders struggle with slow deploys."
    broken = rules_broken(subject=SUBJECT, body=body(generic, MIDDLE, ASK), context=CONTEXT)
    assert broken == [
        "The first sentence is not specific to the prospect (it names neither them, their company nor a hook)."
    ]
    # A kept hook's fact (a figure, a proper noun, or two of its words) makes it specific without a name.
    hooks = (*CONTEXT.hook_texts, "Uses Kubernetes, a technology this ICP targets.")
    with_kubernetes = RuleContext(**{**CONTEXT.__dict__, "hook_texts": hooks})
    for hooked in ("Four hundred teams rely on one platform there, 400 of them.", "Kubernetes runs it all."):
        assert rules_broken(subject=SUBJECT, body=body(hooked, MIDDLE, ASK), context=with_kubernetes) == []


def test_exactly_one_call_to_action() -> None:
    none = rules_broken(subject=SUBJECT, body=body(OPENING, MIDDLE, "Talk soon."), context=CONTEXT)
    assert none == ["There is no call to action (one question or one ask)."]
    two = body(OPENING, MIDDLE, "Let me know if Tuesday works.", ASK)
    assert rules_broken(subject=SUBJECT, body=two, context=CONTEXT) == [
        "There are 2 calls to action (questions or asks); exactly one is wanted."
    ]
    ask = body(OPENING, MIDDLE, "Let me know if a short call next week would help.")
    assert rules_broken(subject=SUBJECT, body=ask, context=CONTEXT) == []


def test_banned_phrases_whatever_the_case_and_quotes() -> None:
    banned = body("Ada, i hope this finds you well at Cloudstack.", MIDDLE, ASK)
    assert rules_broken(subject=SUBJECT, body=banned, context=CONTEXT) == [
        "Banned phrase used: “I hope this finds you well”."
    ]
    curly = body(OPENING.replace("I read", "I came across your profile and read"), MIDDLE, ASK)
    assert rules_broken(subject=SUBJECT, body=curly, context=CONTEXT) == [
        "Banned phrase used: “I came across your profile”."
    ]


def test_template_syntax_left_in_a_draft() -> None:
    broken = rules_broken(subject="Hi {{first_name}}", body=GOOD, context=CONTEXT)
    assert broken == ["Template syntax ({{ or {%) is left in the text."]


# --- the claim screen -------------------------------------------------------------------------------------------

ITEMS = [
    Citable(id="h1", text="400 engineering teams use their platform.", source="website_about",
            quote="used by 400 engineering teams"),
    Citable(id="f1", text="Ada Lovelace is VP Engineering at Cloudstack.", source="prospect.title",
            quote="VP Engineering"),
]  # fmt: skip
NAMES = ("Ada", "Lovelace", "Ada Lovelace", "Cloudstack")


def _screen(*sentences: dict[str, object]) -> tuple[list[str], list[str]]:
    screened = screen_sentences(
        list(sentences), items=ITEMS, names=NAMES, locale="en", trusted_text="cut by 50%"
    )
    return screened.kept, [dropped["reason"] for dropped in screened.dropped]


def test_grounded_claims_and_sender_sentences_are_kept() -> None:
    kept, dropped = _screen(
        {"text": "Cloudstack is used by 400 engineering teams.", "cites": ["h1"], "about_recipient": True},
        {"text": "As VP Engineering, you own the deploy pipeline.", "cites": ["f1"], "about_recipient": True},
        {"text": "We cut deploy times by 50%.", "cites": [], "about_recipient": False},
        {"text": "Would a short call help?", "cites": [], "about_recipient": False},
    )
    assert len(kept) == 4 and dropped == []


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ({"text": "Cloudstack just signed a $5M deal.", "cites": [], "about_recipient": False},
         "states something about the prospect without citing a kept hook"),
        ({"text": "Congrats on the new office.", "cites": [], "about_recipient": False},
         "states something about the prospect without citing a kept hook"),
        ({"text": "Your team is hiring fast.", "cites": [], "about_recipient": False},
         "states something about the prospect without citing a kept hook"),
        ({"text": "Our product is great.", "cites": [], "about_recipient": True},
         "states something about the prospect without citing a kept hook"),
        ({"text": "We love your work.", "cites": ["h7"], "about_recipient": False},
         "cites h7, which is not a kept hook or company fact"),
        ({"text": "Cloudstack raised $40M from 400 engineering teams.", "cites": ["h1"], "about_recipient": True},
         "holds a figure (40) that is not in the cited evidence"),
        ({"text": "Cloudstack is moving its offices to Lisbon.", "cites": ["h1"], "about_recipient": True},
         "does not use the evidence it cites"),
    ],
)  # fmt: skip
def test_ungrounded_claims_are_dropped_with_their_reason(sentence: dict[str, object], reason: str) -> None:
    assert _screen(sentence) == ([], [reason])


def test_locale_from_explicit_choice_country_timezone_or_email_domain() -> None:
    from types import SimpleNamespace

    def prospect(**values: str) -> SimpleNamespace:
        base = {"location": "", "timezone": "", "email": "x@example.com", "company": None}
        return SimpleNamespace(**{**base, **values})

    assert locale_for(prospect=prospect(location="Lyon, France")) == "fr"
    assert locale_for(prospect=prospect(location="München, Deutschland")) == "de"
    assert locale_for(prospect=prospect(location="Ciudad de México, México")) == "es"
    assert locale_for(prospect=prospect(company=SimpleNamespace(location="Madrid, Spain"))) == "es"
    assert locale_for(prospect=prospect(timezone="Europe/Vienna")) == "de"
    assert locale_for(prospect=prospect(email="jean@exemple.fr")) == "fr"
    assert locale_for(prospect=prospect(location="Geneva, Switzerland"), default="fr") == "fr"
    assert locale_for(prospect=prospect(location="Berlin, Germany"), explicit="es-MX") == "es"
    assert locale_for(prospect=prospect()) == "en"
