"""CSV files as imports.formats reads them: encoding, delimiter, headers and the suggested mapping."""

from __future__ import annotations

import codecs
import csv
import io

import pytest
from django.core.exceptions import ValidationError

from conftest import Tenant
from prospects.imports import formats
from prospects.imports import services as import_services
from prospects.models import Import
from prospects.tests.imports.support import media_root, prospects, run, upload  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (  # HubSpot
            ["First Name", "Last Name", "Email", "Job Title", "Company Name", "Phone Number", "Website URL"],
            ["first_name", "last_name", "email", "title", "company_name", "phone", "company_domain"],
        ),
        (  # LinkedIn Sales Navigator
            ["First Name", "Last Name", "Title", "Company", "Profile URL", "LinkedIn URL", "Location"],
            ["first_name", "last_name", "title", "company_name", "linkedin_url", "linkedin_url", "location"],
        ),
        (  # Salesforce
            ["FirstName", "LastName", "Email", "Title", "Company", "Phone", "LeadSource"],
            ["first_name", "last_name", "email", "title", "company_name", "phone", "custom:LeadSource"],
        ),
        (  # generic
            ["Full name", "e-mail", "job title", "company domain", "tags", "Lifecycle Stage"],
            ["full_name", "email", "title", "company_domain", "tags", "custom:Lifecycle Stage"],
        ),
    ],
)
def test_headers_of_real_exports_are_mapped(headers: list[str], expected: list[str]) -> None:
    mapping = formats.suggest_mapping(headers)
    assert [mapping[h] for h in headers] == expected


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tenant: Tenant, delimiter: str) -> None:
    rows = [["email", "first name", "company"], ["a@x.io", "Ann", "X, Inc; Ltd"], ["b@y.io", "Bob", "Y"]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    job = upload(tenant, buffer.getvalue())
    assert job.delimiter == delimiter
    assert job.headers == ["email", "first name", "company"]
    assert run(job).created_count == 2


def test_latin1_and_bom_files_keep_their_accents(tenant: Tenant) -> None:
    latin = upload(tenant, "email;first_name;company\nzoe@x.fr;Zoë;Société Générale\n".encode("cp1252"))
    assert latin.encoding == "cp1252"
    bom = upload(tenant, codecs.BOM_UTF8 + "Email,First Name\nrene@y.fr,René\n".encode())
    assert bom.encoding == "utf-8-sig"
    assert bom.headers == ["Email", "First Name"]  # no BOM glued to the first header
    run(latin)
    run(bom)
    names = {p.email_normalized: (p.first_name, p.company_name) for p in prospects(tenant)}
    assert names == {"zoe@x.fr": ("Zoë", "Société Générale"), "rene@y.fr": ("René", "")}


def test_empty_and_header_only_files_are_refused_with_a_message(tenant: Tenant) -> None:
    with pytest.raises(formats.ImportFileError, match="empty"):
        upload(tenant, "")
    with pytest.raises(formats.ImportFileError, match="empty"):
        upload(tenant, "\n\n  \n")
    with pytest.raises(formats.ImportFileError, match="no data rows"):
        upload(tenant, "email,name\n")
    with pytest.raises(formats.ImportFileError, match="not a text file"):
        upload(tenant, b"PK\x03\x04\x00\x00binary")
    with tenant.scope():
        assert not Import.objects.exists()


def test_missing_email_column_is_fine_with_names_but_not_without_identity(tenant: Tenant) -> None:
    job = upload(tenant, "First Name,Last Name,Company\nGrace,Hopper,Navy\n")
    assert formats.mapping_errors(job.headers, job.mapping) == []
    assert run(job).created_count == 1

    job = upload(tenant, "Company,Industry\nNavy,Defense\n")
    problems = formats.mapping_errors(job.headers, job.mapping)
    assert problems and "Email, LinkedIn URL or a name" in problems[0]
    with tenant.scope(), pytest.raises(ValidationError, match="Email, LinkedIn URL or a name"):
        import_services.import_start(job=job, mapping=job.mapping, update_existing=True)
