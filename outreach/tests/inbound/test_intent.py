"""reply_intent's offline rules: interested, not now (with the date given), not interested, wrong person (with the
colleague named), unsubscribe, other; in English, German, French and Spanish."""

from __future__ import annotations

import datetime

import pytest

from conftest import Tenant
from outreach.inbound.intent import follow_up_date, intent_rules, referral_parse, reply_intent

TODAY = datetime.date(2026, 12, 2)


@pytest.mark.parametrize(
    ("body", "intent"),
    [
        ("Sounds interesting, can we talk on Tuesday?", "interested"),
        ("Yes, I'd be interested. Send me more details please.", "interested"),
        ("Let's set up a call next week.", "interested"),
        ("Klingt gut, gerne können wir telefonieren.", "interested"),
        ("Ça m'intéresse, on peut prévoir un appel ?", "interested"),
        ("Me interesa, ¿hablamos el jueves?", "interested"),
        ("Not right now, try me again in March.", "not_now"),
        ("Timing isn't right, maybe next quarter.", "not_now"),
        ("Derzeit nicht, melden Sie sich gerne im Frühjahr wieder.", "not_now"),
        ("Pas pour le moment, recontactez-moi au 2e trimestre.", "not_now"),
        ("Ahora no, quizás el próximo año.", "not_now"),
        ("Not interested, thanks.", "not_interested"),
        ("We already use HubSpot for this, so we'll pass.", "not_interested"),
        ("Danke, kein Interesse.", "not_interested"),
        ("Non merci, nous ne sommes pas intéressés.", "not_interested"),
        ("No nos interesa, gracias.", "not_interested"),
        ("I'm not the right person, talk to Jane Doe (jane@acme.com), our VP Sales.", "referral"),
        ("Dafür bin ich nicht zuständig, wenden Sie sich an Anna Berger.", "referral"),
        ("Je ne suis pas la bonne personne, contactez Marie Dubois.", "referral"),
        ("No soy la persona adecuada, hable con Carlos Ruiz.", "referral"),
        ("Please remove me from your list.", "unsubscribe"),
        ("Not interested. Stop emailing me.", "unsubscribe"),
        ("Bitte aus dem Verteiler austragen.", "unsubscribe"),
        ("Merci de me désabonner.", "unsubscribe"),
        ("Por favor, darme de baja de la lista.", "unsubscribe"),
        ("What does it cost for a team of five?", "other"),
    ],
)
def test_rules_read_the_intent(body: str, intent: str) -> None:
    result = intent_rules(body=body)

    assert result.intent == intent
    assert result.provider == "rules"
    assert result.reason


def test_the_reason_quotes_the_words_that_decided() -> None:
    assert (
        intent_rules(body="Thanks, not interested.").reason
        == "Not interested: the reply says “not interested”"
    )


def test_not_now_carries_the_date_they_gave() -> None:
    result = intent_rules(body="Not now, try me in March.")

    today = datetime.date.today()
    expected_year = today.year if today.month < 3 else today.year + 1
    assert (result.intent, result.date) == ("not_now", datetime.date(expected_year, 3, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("try me in March", datetime.date(2027, 3, 1)),
        ("melden Sie sich im Februar", datetime.date(2027, 2, 1)),
        ("recontactez-moi en avril", datetime.date(2027, 4, 1)),
        ("escríbeme en mayo", datetime.date(2027, 5, 1)),
        ("ping me after 15 January", datetime.date(2027, 1, 15)),
        ("circle back in Q2", datetime.date(2027, 4, 1)),
        ("au 2e trimestre", datetime.date(2027, 4, 1)),
        ("in 3 weeks", datetime.date(2026, 12, 23)),
        ("in zwei Monaten", datetime.date(2027, 1, 31)),
        ("next month", datetime.date(2027, 1, 1)),
        ("next quarter", datetime.date(2027, 1, 1)),
        ("next year", datetime.date(2027, 1, 1)),
        ("el próximo año", datetime.date(2027, 1, 1)),
        ("after the summer", datetime.date(2027, 9, 1)),
        ("not right now", None),
    ],
)
def test_follow_up_dates(text: str, expected: datetime.date | None) -> None:
    assert follow_up_date(text, today=TODAY) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "I'm not the right person, talk to Jane Doe (jane@acme.com), our VP Sales",
            {"name": "Jane Doe", "email": "jane@acme.com", "title": "VP Sales"},
        ),
        (
            "Please reach out to Mark Lee <mark.lee@acme.com>, he is our Head of Marketing.",
            {"name": "Mark Lee", "email": "mark.lee@acme.com", "title": "Head of Marketing"},
        ),
        (
            "Ich bin nicht zuständig, wenden Sie sich bitte an Frau Anna Berger (anna.berger@firma.de), unsere "
            "Leiterin Vertrieb.",
            {"name": "Anna Berger", "email": "anna.berger@firma.de", "title": "Leiterin Vertrieb"},
        ),
        (
            "Je ne suis pas la bonne personne, contactez Marie Dubois (marie.dubois@societe.fr), notre directrice "
            "commerciale.",
            {"name": "Marie Dubois", "email": "marie.dubois@societe.fr", "title": "directrice commerciale"},
        ),
        (
            "No soy la persona adecuada, hable con Carlos Ruiz (carlos@empresa.es), nuestro director de ventas.",
            {"name": "Carlos Ruiz", "email": "carlos@empresa.es", "title": "director de ventas"},
        ),
        (
            "Not me - you should talk to Priya Patel, our Head of RevOps.",
            {"name": "Priya Patel", "title": "Head of RevOps"},
        ),
        (
            "Wrong person. Try tom.baker@acme.com instead.",
            {"name": "Tom Baker", "email": "tom.baker@acme.com"},
        ),
    ],
)
def test_the_colleague_is_parsed_from_a_referral(body: str, expected: dict[str, str]) -> None:
    assert referral_parse(body) == expected
    assert intent_rules(body=body).referral == expected


def test_a_reply_that_copies_a_colleague_in_is_a_referral() -> None:
    result = intent_rules(body="Cc'ing Lena (lena.fischer@acme.com) who runs this.")

    assert result.intent == "referral"
    assert result.referral["email"] == "lena.fischer@acme.com"


@pytest.mark.django_db
def test_without_a_key_the_rules_decide_on_the_cleaned_body(tenant: Tenant, settings: object) -> None:
    settings.OPENAI_API_KEY = ""  # type: ignore[attr-defined]
    body = (
        "Not interested.\n\nOn Mon, Nov 30, 2026 at 10:00 AM Sam <sam@x.com> wrote:\n> Let's set up a call?"
    )

    result = reply_intent(body=body, subject="Re: Quick question", org_id=tenant.org.pk)

    assert (result.intent, result.provider) == ("not_interested", "rules")
