"""Search by word prefix (Prospect.search_vector): what a sales rep's search finds and what it does not."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import QueryDict

from conftest import Tenant
from prospects.models import Prospect
from prospects.selectors import ProspectFilters, prospect_search, search_terms
from prospects.tests.factories import ProspectFactory


@pytest.fixture
def people(tenant: Tenant, other_tenant: Tenant) -> list[Prospect]:
    specs = [
        ("Jan", "Kowalski", "jan.kowalski@acme-corp.example", "Acme Corp", "VP Sales EMEA"),
        ("Joanna", "Nowak", "joanna@globex.example", "Globex", "Head of Marketing"),
        ("Zoë", "Ångström", "zoe@nordic.example", "Nordisk Ltd", "CTO"),
        ("Mary-Jane", "O'Neil", "mj_oneil@initech.example", "Initech", "Sales Development Rep"),
    ]
    rows = [
        ProspectFactory(
            org=tenant.org, first_name=first, last_name=last, email=email, company_name=company, title=title
        )
        for first, last, email, company, title in specs
    ]
    # The same person in another organisation never shows up.
    ProspectFactory(
        org=other_tenant.org, first_name="Jan", last_name="Kowalski", email="jan@acme-corp.example"
    )
    return rows


def _found(q: str) -> list[str]:
    query = QueryDict(mutable=True)
    query["q"] = q
    page = prospect_search(filters=ProspectFilters.from_querydict(query))
    return sorted(p.last_name for p in page.rows)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("jan", ["Kowalski", "O'Neil"]),  # the start of "Jan" and of "Jane" (in "Mary-Jane")...
        ("JAN", ["Kowalski", "O'Neil"]),  # ...in any case
        ("kowal", ["Kowalski"]),
        ("acme", ["Kowalski"]),  # the company, and the email's domain
        ("acme-corp", ["Kowalski"]),
        ("jan.kowalski@acme", ["Kowalski"]),  # the email as typed
        ("globex.example", ["Nowak"]),
        ("vp sal", ["Kowalski"]),  # every word must start a word of the person
        ("sales", ["Kowalski", "O'Neil"]),
        ("sales rep", ["O'Neil"]),
        ("zoë", ["Ångström"]),  # letters beyond ASCII
        ("ångst", ["Ångström"]),
        ("mary", ["O'Neil"]),
        ("jane o'neil", ["O'Neil"]),
        ("oneil", ["O'Neil"]),  # the email's local part: mj_oneil
        ("example", ["Kowalski", "Nowak", "O'Neil", "Ångström"]),
    ],
)
def test_word_prefixes_of_names_email_company_and_title_match(
    tenant: Tenant, people: list[Prospect], q: str, expected: list[str]
) -> None:
    with tenant.scope():
        assert _found(q) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    "q",
    [
        "anna",  # inside "Joanna": not the start of a word
        "owalski",  # inside a name
        "corpx",  # longer than any word
        "vp marketing",  # both words exist, never on the same person
        "%",  # nothing to search for
        "&|!:*",  # tsquery syntax is never read as such
    ],
)
def test_inner_fragments_and_punctuation_find_nobody(tenant: Tenant, people: list[Prospect], q: str) -> None:
    with tenant.scope():
        assert _found(q) == []


def test_the_query_holds_only_letters_and_digits() -> None:
    assert search_terms("VP  Sal") == "vp:* & sal:*"
    assert search_terms("jan.k@acme") == "jan:* & k:* & acme:*"
    assert search_terms("a'b) | !c:*") == "a:* & b:* & c:*"
    assert search_terms("%") == ""


@pytest.mark.django_db
def test_the_prospect_table_has_the_word_index_and_no_trigram_or_redundant_fk_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'prospects_prospect'")
        indexes = dict(cursor.fetchall())
    assert "gin (search_vector)" in indexes["prospect_search_words"]
    assert not [name for name, sql in indexes.items() if "trgm" in sql]
    single_column = {sql.rsplit("(", 1)[1].rstrip(")") for sql in indexes.values() if "btree" in sql}
    assert "org_id" not in single_column and "owner_id" not in single_column
