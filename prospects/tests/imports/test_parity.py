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
from prospects.fields import COMPANY_FIELDS
from prospects.imports import formats
from prospects.models import Company, Prospect, Source, Suppression
from prospects.services import prospect_upsert
from prospects.tests.imports.support import media_root, run, upload  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

HEADER = [
    "email",
    "first_name",
    "last_name",
    "title",
    "phone",
    "linkedin_url",
    "company",
    "website",
    "timezone",
    "do_not_contact",
    "company_industry",
    "company_employee_count",
    "company_technologies",
    "company_funding_stage",
    "company_funding_total",
    "company_linkedin_url",
    "company_location",
    "company_keywords",
]
# Each header's prospect field, as the import maps it and as the rows are handed to prospect_upsert.
FIELD = {"company": "company_name", "website": "company_domain"}
# The company columns of a row: industry, size, technologies, funding stage, total funding, LinkedIn, location,
# keywords.
NO_COMPANY = [""] * 8
ROWS = [
    # new people: a work address (company from the email domain), a free-mail one, one with a website
    [
        "ann@bigcorp.com",
        "Ann",
        "Lee",
        "CEO",
        "",
        "",
        "BigCorp",
        "",
        "europe/berlin",
        "",
        "Banking",
        "1,200",
        "Salesforce, AWS",
        "Series C",
        "$40M",
        "linkedin.com/company/bigcorp",
        "",
        "fintech",
    ],
    # a free-mail address: no company to hold the company values, which stay on the person as custom fields
    [
        "bob@gmail.com",
        "Bob",
        "Ray",
        "",
        "555",
        "",
        "",
        "",
        "",
        "no",
        "Retail",
        "11-50",
        "",
        "",
        "",
        "",
        "Leeds",
        "",
    ],
    [
        "cy@startup.io",
        "Cy",
        "Dunn",
        "CTO",
        "",
        "",
        "Startup",
        "https://www.startup.io/about",
        "",
        "",
        "Software",
        "51-200",
        "Python; Postgres",
        "Seed",
        "2500000",
        "https://www.linkedin.com/company/startup",
        "Berlin",
        "",
    ],
    # a new person at a company we already know (enrichment found its industry), without a company name of their own
    [
        "new@corp.io",
        "Nia",
        "Moss",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "Computer Software",
        "250",
        "",
        "",
        "",
        "",
        "",
        "",
    ],
    # an existing person by email, in other case: updated (with "update existing") or left alone
    ["KIM@CORP.IO", "Kimberly", "", "VP Sales", "", "", "", "", "", "yes", *NO_COMPANY],
    # a new email with the LinkedIn URL of a person we know without email: that person gains the email
    ["jo@newco.io", "Jo", "", "Founder", "", "https://www.linkedin.com/in/Jo/", "", "", "", "", *NO_COMPANY],
    # a new email with the LinkedIn URL of a person we know: linked to a named company, they take its name; a second
    # row at BigCorp whose values differ (the first in the file fills, the last replaces with "update existing")
    [
        "lin@bigcorp.com",
        "Lin",
        "",
        "",
        "",
        "linkedin.com/in/lin",
        "",
        "",
        "",
        "",
        "Finance",
        "",
        "",
        "Series D",
        "",
        "",
        "London",
        "",
    ],
    # no email, matched by LinkedIn URL only
    ["", "Max", "Power", "CEO", "", "linkedin.com/in/max", "", "", "America/New_York", "", *NO_COMPANY],
    # suppressed: an address, a domain by email, a domain by website
    ["No@x.io", "No", "Body", "", "", "", "", "", "", "", *NO_COMPANY],
    ["ceo@blocked.io", "Ceo", "Blocked", "", "", "", "", "", "", "", "Mining", *NO_COMPANY[1:]],
    ["hi@ok.io", "Hi", "There", "", "", "", "", "blocked.io", "", "", *NO_COMPANY],
    # no email, a new person known by name only; no domain either, so the company's location stays on the person
    ["", "Grace", "Hopper", "Admiral", "", "", "Navy", "", "", "", "", "", "", "", "", "", "Arlington", ""],
    # rows that fail: an invalid address, a size that is no number, a time zone that is none, a javascript: link
    ["not-an-email", "Bad", "Row", "", "", "", "", "", "", "", *NO_COMPANY],
    ["ed@lots.io", "Ed", "Lots", "", "", "", "", "", "", "", "", "lots", "", "", "", "", "", ""],
    ["fay@tz.io", "Fay", "Zone", "", "", "", "", "", "Mars/Olympus", "", *NO_COMPANY],
    ["gil@js.io", "Gil", "Js", "", "", "", "", "", "", "", "", "", "", "", "", "javascript:alert(1)", "", ""],
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
        # What enrichment found about Corp: kept unless the import says "update existing".
        Company.objects.filter(domain="corp.io").update(industry="Software", technologies=["HubSpot"])
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
    "timezone",
    "do_not_contact",
)
COMPANY_COLUMNS = ("name", "domain", *COMPANY_FIELDS.values())


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
        companies = sorted(tuple(map(str, row)) for row in Company.objects.values_list(*COMPANY_COLUMNS))
    return {"prospects": [tuple(map(str, row)) for row in people], "companies": companies}


def test_the_import_and_prospect_upsert_agree() -> None:
    by_upsert, by_import = make_tenant("By upsert"), make_tenant("By import")
    seed(by_upsert)
    seed(by_import)

    upsert_statuses = through_upsert(by_upsert, update_existing=True)
    import_counts = through_import(by_import, update_existing=True)

    assert import_counts == upsert_statuses
    assert import_counts["failed"] == 4
    assert state(by_import) == state(by_upsert)
    companies = {
        row[1]: dict(zip(COMPANY_COLUMNS, row, strict=True)) for row in state(by_import)["companies"]
    }
    # "Update existing": the file's values replace what enrichment found; BigCorp's last row wins where it has one.
    assert (companies["corp.io"]["industry"], companies["corp.io"]["employee_count"]) == (
        "Computer Software",
        "250",
    )
    assert companies["corp.io"]["technologies"] == "['HubSpot']"
    assert companies["bigcorp.com"]["industry"] == "Finance"
    assert companies["bigcorp.com"]["funding_stage"] == "Series D"
    assert companies["bigcorp.com"]["location"] == "London"
    assert companies["bigcorp.com"]["employee_count"] == "1200"
    assert companies["bigcorp.com"]["funding_total"] == "40000000"
    assert companies["bigcorp.com"]["technologies"] == "['Salesforce', 'AWS']"
    assert companies["startup.io"]["employee_count"] == "126"  # the middle of 51-200
    assert companies["startup.io"]["linkedin_url"] == "https://www.linkedin.com/company/startup"
    assert "blocked.io" not in companies
    with by_import.scope():
        bob = Prospect.objects.get(email_normalized="bob@gmail.com")
        grace = Prospect.objects.get(last_name="Hopper")
        kim = Prospect.objects.get(email_normalized="kim@corp.io")
        ann = Prospect.objects.get(email_normalized="ann@bigcorp.com")
    assert bob.custom_fields == {
        "Company industry": "Retail",
        "Company size (employees)": "30",
        "Company location": "Leeds",
    }
    assert grace.custom_fields == {"Company location": "Arlington"}
    assert (kim.do_not_contact, bob.do_not_contact, ann.timezone) == (True, False, "Europe/Berlin")


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
    # Companies agree: the file only fills what they lack, the first value in the file first.
    assert state(by_import)["companies"] == state(by_upsert)["companies"]
    companies = {
        row[1]: dict(zip(COMPANY_COLUMNS, row, strict=True)) for row in state(by_import)["companies"]
    }
    assert (companies["corp.io"]["industry"], companies["corp.io"]["employee_count"]) == ("Software", "250")
    assert (companies["bigcorp.com"]["industry"], companies["bigcorp.com"]["funding_stage"]) == (
        "Banking",
        "Series C",
    )
    assert companies["bigcorp.com"]["location"] == "London"  # blank in the first row: the second fills it
    after_import, after_upsert = state(by_import)["prospects"], state(by_upsert)["prospects"]
    source = PROSPECT_FIELDS.index("source")
    created_by_import = [p for p in after_import if p[source] == Source.CSV]
    assert created_by_import == [p for p in after_upsert if p[source] == Source.CSV]
    assert [p for p in after_import if p[source] != Source.CSV] == seeded
