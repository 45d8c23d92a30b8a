"""A real-format Apollo people export (Apollo's header row, ten people at four companies): every company column
lands on the Company, so the ICP check finds industry, size, technologies and funding on record."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import Tenant
from prospects.models import Company, Prospect
from prospects.scoring.judges import rules_judge
from prospects.tests.factories import ICPFactory
from prospects.tests.imports.support import media_root, run, upload  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]
pytest_plugins = ["leadgen.tests.browser"]
SCREENSHOTS = Path(os.environ.get("LEADGEN_SCREENSHOTS", "test-results"))

# Apollo's people export header row, in Apollo's order.
APOLLO_HEADER = [
    "First Name", "Last Name", "Title", "Company", "Company Name for Emails", "Email", "Email Status",
    "Primary Email Source", "Email Confidence", "Primary Email Catch-all Status", "Primary Email Last Verified At",
    "Seniority", "Departments", "Sub Departments", "Contact Owner", "First Phone", "Work Direct Phone", "Home Phone",
    "Mobile Phone", "Corporate Phone", "Other Phone", "Stage", "Lists", "Last Contacted", "Account Owner",
    "# Employees", "Industry", "Keywords", "Person Linkedin Url", "Website", "Company Linkedin Url", "Facebook Url",
    "Twitter Url", "City", "State", "Country", "Company Address", "Company City", "Company State",
    "Company Country", "Company Phone", "SEO Description", "Technologies", "Annual Revenue", "Total Funding",
    "Latest Funding", "Latest Funding Amount", "Last Raised At", "Email Sent", "Email Open", "Email Bounced",
    "Replied", "Demoed", "Number of Retail Locations", "Apollo Contact Id", "Apollo Account Id",
]  # fmt: skip

COMPANIES = {
    "northwind.io": {
        "Company": "Northwind Analytics",
        "# Employees": "240",
        "Industry": "Computer Software",
        "Keywords": "analytics, business intelligence, saas",
        "Company Linkedin Url": "http://www.linkedin.com/company/northwind-analytics",
        "Company City": "Austin",
        "Company State": "Texas",
        "Company Country": "United States",
        "Technologies": "Salesforce, HubSpot, Amazon AWS, Segment",
        "Total Funding": "42000000",
        "Latest Funding": "Series B",
        "Latest Funding Amount": "30000000",
    },
    "brightpath.com": {
        "Company": "BrightPath Logistics",
        "# Employees": "1200",
        "Industry": "Logistics & Supply Chain",
        "Keywords": "freight, last mile",
        "Company Linkedin Url": "http://www.linkedin.com/company/brightpath",
        "Company City": "Rotterdam",
        "Company State": "South Holland",
        "Company Country": "Netherlands",
        "Technologies": "SAP, Microsoft Office 365",
        "Total Funding": "",
        "Latest Funding": "Private Equity",
        "Latest Funding Amount": "",
    },
    "kestrel.ai": {
        "Company": "Kestrel AI",
        "# Employees": "35",
        "Industry": "Information Technology & Services",
        "Keywords": "machine learning, computer vision",
        "Company Linkedin Url": "http://www.linkedin.com/company/kestrel-ai",
        "Company City": "London",
        "Company State": "England",
        "Company Country": "United Kingdom",
        "Technologies": "Google Cloud, Python, Slack",
        "Total Funding": "6500000",
        "Latest Funding": "Seed",
        "Latest Funding Amount": "6500000",
    },
    "hollis-bank.com": {
        "Company": "Hollis Bank",
        "# Employees": "8500",
        "Industry": "Banking",
        "Keywords": "retail banking",
        "Company Linkedin Url": "http://www.linkedin.com/company/hollis-bank",
        "Company City": "Charlotte",
        "Company State": "North Carolina",
        "Company Country": "United States",
        "Technologies": "Oracle, Salesforce",
        "Total Funding": "",
        "Latest Funding": "",
        "Latest Funding Amount": "",
    },
}
PEOPLE = [
    ("Maya", "Chen", "VP of Sales", "vp", "Sales", "northwind.io"),
    ("Tom", "Alvarez", "Sales Development Representative", "entry", "Sales", "northwind.io"),
    ("Priya", "Nair", "Chief Revenue Officer", "c_suite", "Sales", "northwind.io"),
    ("Joost", "de Vries", "Head of Operations", "head", "Operations", "brightpath.com"),
    ("Anna", "Bakker", "Procurement Manager", "manager", "Operations", "brightpath.com"),
    ("Oliver", "Grant", "Founder & CEO", "founder", "C-Suite", "kestrel.ai"),
    ("Sofia", "Rossi", "Head of Growth", "head", "Marketing", "kestrel.ai"),
    ("Liam", "Walsh", "Account Executive", "senior", "Sales", "kestrel.ai"),
    ("Grace", "Kim", "Director of Sales Operations", "director", "Sales", "hollis-bank.com"),
    ("Noah", "Patel", "Marketing Intern", "entry", "Marketing", "hollis-bank.com"),
]


def apollo_export() -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=APOLLO_HEADER, restval="")
    writer.writeheader()
    for n, (first, last, title, seniority, department, domain) in enumerate(PEOPLE, start=1):
        company = COMPANIES[domain]
        writer.writerow(
            {
                **company,
                "First Name": first,
                "Last Name": last,
                "Title": title,
                "Company Name for Emails": company["Company"],
                "Email": f"{first.lower()}.{last.lower().replace(' ', '')}@{domain}",
                "Email Status": "Verified",
                "Seniority": seniority,
                "Departments": department,
                "First Phone": f"+1 512 555 01{n:02d}",
                "Corporate Phone": "+1 512 555 0100",
                "Person Linkedin Url": f"http://www.linkedin.com/in/{first.lower()}-{last.lower().replace(' ', '')}",
                "Website": f"http://www.{domain}",
                "City": "Austin",
                "State": "Texas",
                "Country": "United States",
                "Apollo Contact Id": f"64a{n:05d}",
            }
        )
    return buffer.getvalue()


def test_an_apollo_export_maps_every_company_column_onto_the_company(tenant: Tenant) -> None:
    job = upload(tenant, apollo_export(), name="apollo-contacts-export.csv")
    mapping = job.mapping
    assert {h: mapping[h] for h in ("# Employees", "Industry", "Keywords", "Technologies")} == {
        "# Employees": "company_employee_count",
        "Industry": "company_industry",
        "Keywords": "company_keywords",
        "Technologies": "company_technologies",
    }
    assert mapping["Total Funding"] == "company_funding_total"
    assert mapping["Latest Funding"] == "company_funding_stage"
    assert mapping["Company Linkedin Url"] == "company_linkedin_url"
    assert (
        mapping["Company City"]
        == mapping["Company State"]
        == mapping["Company Country"]
        == "company_location"
    )
    assert mapping["City"] == mapping["State"] == mapping["Country"] == "location"
    assert mapping["First Phone"] == mapping["Work Direct Phone"] == mapping["Mobile Phone"] == "phone"
    assert mapping["Person Linkedin Url"] == "linkedin_url"
    assert (mapping["Seniority"], mapping["Departments"]) == ("seniority", "department")
    # The company's switchboard is not the person's phone; Apollo's ids and statuses stay custom fields.
    assert mapping["Company Phone"] == "custom:Company Phone"
    assert mapping["Latest Funding Amount"] == "custom:Latest Funding Amount"

    done = run(job)

    assert (done.status, done.created_count, done.failed_count) == ("done", 10, 0)
    with tenant.scope():
        companies = {c.domain: c for c in Company.objects.all()}
        people = list(Prospect.objects.select_related("company").order_by("id"))
    assert set(companies) == set(COMPANIES)
    northwind = companies["northwind.io"]
    assert (northwind.name, northwind.industry, northwind.employee_count) == (
        "Northwind Analytics",
        "Computer Software",
        240,
    )
    assert northwind.technologies == ["Salesforce", "HubSpot", "Amazon AWS", "Segment"]
    assert northwind.keywords == ["analytics", "business intelligence", "saas"]
    assert (northwind.funding_stage, northwind.funding_total) == ("Series B", 42_000_000)
    assert northwind.linkedin_url == "http://www.linkedin.com/company/northwind-analytics"
    assert northwind.location == "Austin, Texas, United States"
    for domain, row in COMPANIES.items():
        company = companies[domain]
        assert company.industry == row["Industry"]
        assert company.employee_count == int(row["# Employees"])
        assert company.location == f"{row['Company City']}, {row['Company State']}, {row['Company Country']}"
        assert company.funding_stage == row["Latest Funding"]
        assert company.funding_total == (int(row["Total Funding"]) if row["Total Funding"] else None)
    maya = next(p for p in people if p.email == "maya.chen@northwind.io")
    assert (maya.phone, maya.location, maya.seniority) == (
        "+1 512 555 0101",
        "Austin, Texas, United States",
        "vp",
    )
    assert maya.company == northwind
    assert "Industry" not in maya.custom_fields and "# Employees" not in maya.custom_fields
    assert maya.custom_fields["Latest Funding Amount"] == "30000000"

    icp = ICPFactory(
        org=tenant.org,
        name="Revenue leaders at software companies",
        criteria={"industries": ["Computer Software"], "employee_min": 50, "employee_max": 1000},
    )
    with tenant.scope():
        judgements = [rules_judge(prospect=p, icp=icp, similarity=None) for p in people]
    for judgement in judgements:
        assert "industry (not on record)" not in judgement.reasoning
        assert "company size (not on record)" not in judgement.reasoning
        assert not any("Company data missing" in flag for flag in judgement.red_flags)
    assert "industry (Computer Software)" in judgements[people.index(maya)].reasoning


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_mapping_page_shows_apollo_company_columns_mapped(
    live_site: str, new_page: Any, tenant: Tenant, settings: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from prospects.tests.test_browser import log_in

    settings.MEDIA_ROOT = tmp_path
    page = new_page("member", viewport={"width": 1366, "height": 900})
    log_in(page, live_site, tenant.member)
    page.goto(f"{live_site}/prospects/imports/")
    page.get_by_label("CSV file").set_input_files(
        {"name": "apollo-contacts-export.csv", "mimeType": "text/csv", "buffer": apollo_export().encode()}
    )
    page.get_by_role("button", name="Upload and map columns").click()
    expect(page.get_by_label("Industry", exact=True)).to_have_value("company_industry")
    expect(page.get_by_label("# Employees", exact=True)).to_have_value("company_employee_count")
    expect(page.get_by_label("First Phone", exact=True)).to_have_value("phone")
    page.get_by_label("Industry", exact=True).scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "apollo-mapping.png"))
    expect(page.get_by_text("Update them and their companies with the file's values")).to_be_visible()
