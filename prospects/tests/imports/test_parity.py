"""The CSV import's set-based SQL (imports.engine) against prospect_upsert, row by row: the same rows, fed through
both paths in two fresh organisations, leave the same prospects, companies and counts behind."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from conftest import Tenant, make_tenant
from prospects.imports import formats
from prospects.models import Company, Prospect, Source, Suppression
from prospects.services import prospect_upsert
from prospects.tests.imports.support import media_root, run, upload  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

HEADER = ["email", "first_name", "last_name", "title", "phone", "linkedin_url", "company", "website"]
# Each header's prospect field, as the import maps it and as the rows are handed to prospect_upsert.
FIELD = {"company": "company_name", "website": "company_domain"}
ROWS = [
    # new people: a work address (company from the email domain), a free-mail one, one with a website
    ["ann@bigcorp.com", "Ann", "Lee", "CEO", "", "", "BigCorp", ""],
    ["bob@gmail.com", "Bob", "Ray", "", "555", "", "", ""],
    ["cy@startup.io", "Cy", "Dunn", "CTO", "", "", "Startup", "https://www.startup.io/about"],
    # a new person at a company we already know, without a company name of their own
    ["new@corp.io", "Nia", "Moss", "", "", "", "", ""],
    # an existing person by email, in other case: updated (with "update existing") or left alone
    ["KIM@CORP.IO", "Kimberly", "", "VP Sales", "", "", "", ""],
    # a new email with the LinkedIn URL of a person we know without email: that person gains the email
    ["jo@newco.io", "Jo", "", "Founder", "", "https://www.linkedin.com/in/Jo/", "", ""],
    # a new email with the LinkedIn URL of a person we know: linked to a named company, they take its name
    ["lin@bigcorp.com", "Lin", "", "", "", "linkedin.com/in/lin", "", ""],
    # no email, matched by LinkedIn URL only
    ["", "Max", "Power", "CEO", "", "linkedin.com/in/max", "", ""],
    # suppressed: an address, a domain by email, a domain by website
    ["No@x.io", "No", "Body", "", "", "", "", ""],
    ["ceo@blocked.io", "Ceo", "Blocked", "", "", "", "", ""],
    ["hi@ok.io", "Hi", "There", "", "", "", "", "blocked.io"],
    # no email, a new person known by name only
    ["", "Grace", "Hopper", "Admiral", "", "", "Navy", ""],
    # a row that fails: an invalid address
    ["not-an-email", "Bad", "Row", "", "", "", "", ""],
]


def seed(tenant: Tenant) -> None:
    """The same starting point in each organisation, written through the service."""
    with tenant.scope():
        for data in (
            {"email": "Kim@Corp.io", "first_name": "Kim", "phone": "123", "company_name": "Corp"},
            {"first_name": "Jo", "linkedin_url": "https://linkedin.com/in/jo"},
            {"first_name": "Lin", "linkedin_url": "https://linkedin.com/in/lin"},
            {"first_name": "Maximilian", "linkedin_url": "https://www.linkedin.com/in/max", "title": ""},
        ):
            prospect_upsert(org=tenant.org, data=data, source=Source.MANUAL)
        Suppression.objects.create(org=tenant.org, kind="email", value="no@x.io")
        Suppression.objects.create(org=tenant.org, kind="domain", value="blocked.io")


def through_upsert(tenant: Tenant, *, update_existing: bool) -> Counter[str]:
    statuses: Counter[str] = Counter()
    with tenant.scope():
        for row in ROWS:
            data = {FIELD.get(h, h): v for h, v in zip(HEADER, row, strict=True)}
            try:
                result = prospect_upsert(
                    org=tenant.org, data=data, source=Source.CSV, update_existing=update_existing
                )
            except ValidationError:
                statuses["failed"] += 1
            else:
                statuses[result.status] += 1
    return statuses


def through_import(tenant: Tenant, *, update_existing: bool) -> Counter[str]:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADER, *ROWS])
    job = upload(tenant, buffer.getvalue())
    assert job.mapping == {h: FIELD.get(h, h) for h in HEADER}
    assert not formats.mapping_errors(job.headers, job.mapping)
    done = run(job, update_existing=update_existing)
    counts = {
        "created": done.created_count,
        "updated": done.updated_count,
        "unchanged": done.unchanged_count,
        "suppressed": done.suppressed_count,
        "failed": done.failed_count,
    }
    return Counter({status: n for status, n in counts.items() if n})


PROSPECT_FIELDS = (
    "email",
    "email_normalized",
    "first_name",
    "last_name",
    "title",
    "phone",
    "linkedin_url",
    "linkedin_normalized",
    "location",
    "company_name",
    "company_domain",
    "tags",
    "custom_fields",
    "stage",
    "source",
)


def state(tenant: Tenant) -> dict[str, Any]:
    """What a user sees of the organisation's prospects and companies (ids, timestamps and the free-text
    source_detail aside, which names the import)."""
    with tenant.scope():
        people = sorted(
            (
                *(getattr(p, name) for name in PROSPECT_FIELDS),
                p.company.domain if p.company else None,
            )
            for p in Prospect.objects.select_related("company")
        )
        companies = sorted(Company.objects.values_list("name", "domain"))
    return {"prospects": [tuple(map(str, row)) for row in people], "companies": companies}


def test_the_import_and_prospect_upsert_agree() -> None:
    by_upsert, by_import = make_tenant("By upsert"), make_tenant("By import")
    seed(by_upsert)
    seed(by_import)

    upsert_statuses = through_upsert(by_upsert, update_existing=True)
    import_counts = through_import(by_import, update_existing=True)

    assert import_counts == upsert_statuses
    assert state(by_import) == state(by_upsert)


def test_skipping_existing_people_agrees_on_new_people_and_leaves_the_others_untouched() -> None:
    """The one rule the paths do not share: with "Skip them" the import leaves a person it already has exactly as
    stored (test_update_existing_versus_skip_existing), while prospect_upsert(update_existing=False) still fills
    their blank fields and reports them updated. Everything else agrees."""
    by_upsert, by_import = make_tenant("By upsert"), make_tenant("By import")
    seed(by_upsert)
    seed(by_import)
    seeded = state(by_import)["prospects"]

    upsert_statuses = through_upsert(by_upsert, update_existing=False)
    import_counts = through_import(by_import, update_existing=False)

    skipped = upsert_statuses.pop("updated")
    assert skipped == 4  # Kim, Jo, Lin and Max each have a blank field the row fills
    assert import_counts == {**upsert_statuses, "unchanged": skipped}
    after_import, after_upsert = state(by_import)["prospects"], state(by_upsert)["prospects"]
    source = PROSPECT_FIELDS.index("source")
    created_by_import = [p for p in after_import if p[source] == Source.CSV]
    assert created_by_import == [p for p in after_upsert if p[source] == Source.CSV]
    assert [p for p in after_import if p[source] != Source.CSV] == seeded
