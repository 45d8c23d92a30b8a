"""The CSV import engine on the real database: detection, mapping, dedup, suppression, bad input, idempotency."""

from __future__ import annotations

import codecs
import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from conftest import Tenant
from prospects.imports import engine as importing
from prospects.models import Activity, Company, Import, ImportRowError, ImportStatus, Prospect, Suppression
from prospects.tests.factories import ProspectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


def upload(tenant: Tenant, content: str | bytes, name: str = "people.csv") -> Import:
    data = content.encode() if isinstance(content, str) else content
    return importing.import_create(
        org=tenant.org, user=tenant.owner, upload=SimpleUploadedFile(name, data), name=name
    )


def run(
    job: Import,
    mapping: dict[str, str] | None = None,
    *,
    update_existing: bool = True,
    tags: list[str] | None = None,
    chunk_rows: int = importing.CHUNK_ROWS,
) -> Import:
    """Configure and run synchronously, as the Celery task does after its claim."""
    with transaction.atomic():
        Import.objects.unscoped().filter(pk=job.pk).update(
            mapping=mapping or job.mapping,
            update_existing=update_existing,
            tags=tags or [],
            status=ImportStatus.QUEUED,
        )
    with importing.org_scope(job.org_id):
        claimed = importing.import_claim(import_id=job.pk)
        assert claimed is not None
        importing.import_execute(job=claimed, chunk_rows=chunk_rows)
    return Import.objects.unscoped().get(pk=job.pk)


def prospects(tenant: Tenant) -> list[Prospect]:
    with tenant.scope():
        return list(Prospect.objects.order_by("id"))


def errors(job: Import) -> list[tuple[int, str]]:
    return list(
        ImportRowError.objects.unscoped().filter(job=job).order_by("line").values_list("line", "reason")
    )


APOLLO = (
    "First Name,Last Name,Title,Company,Email,Email Status,Seniority,Departments,Mobile Phone,"
    "Corporate Phone,Person Linkedin Url,Website,Company Linkedin Url,City,State,Country,Keywords\n"
    "Ada,Lovelace,CTO,Analytical Engines,ada@engines.io,Verified,c_suite,Engineering,,+44 20 1234,"
    "http://www.linkedin.com/in/ada-l,https://www.engines.io,http://www.linkedin.com/company/engines,"
    "London,England,United Kingdom,computing\n"
)


# --- detection and mapping -------------------------------------------------------------------------------------


def test_apollo_export_is_mapped_and_imported(tenant: Tenant) -> None:
    job = upload(tenant, APOLLO)
    assert (job.encoding, job.delimiter) == ("utf-8", ",")
    assert job.mapping["Email"] == "email"
    assert job.mapping["Person Linkedin Url"] == "linkedin_url"
    assert job.mapping["Company Linkedin Url"] == "custom:Company Linkedin Url"
    assert job.mapping["Mobile Phone"] == job.mapping["Corporate Phone"] == "phone"
    assert job.mapping["City"] == job.mapping["Country"] == "location"

    done = run(job)

    assert (done.status, done.created_count, done.failed_count) == ("done", 1, 0)
    [ada] = prospects(tenant)
    assert (ada.first_name, ada.last_name, ada.title, ada.email_normalized) == (
        "Ada",
        "Lovelace",
        "CTO",
        "ada@engines.io",
    )
    assert ada.phone == "+44 20 1234"  # the first non-empty of the two phone columns
    assert ada.location == "London, England, United Kingdom"
    assert ada.linkedin_normalized == "linkedin.com/in/ada-l"
    assert ada.company_domain == "engines.io"
    assert ada.custom_fields["Keywords"] == "computing"
    assert ada.source == "csv"
    with tenant.scope():
        assert Company.objects.get(domain="engines.io").name == "Analytical Engines"
        assert ada.company.domain == "engines.io"
        [activity] = Activity.objects.filter(prospect=ada)
    assert activity.kind == "imported"
    assert "people.csv" in activity.summary


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
    mapping = importing.suggest_mapping(headers)
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
    with pytest.raises(importing.ImportFileError, match="empty"):
        upload(tenant, "")
    with pytest.raises(importing.ImportFileError, match="empty"):
        upload(tenant, "\n\n  \n")
    with pytest.raises(importing.ImportFileError, match="no data rows"):
        upload(tenant, "email,name\n")
    with pytest.raises(importing.ImportFileError, match="not a text file"):
        upload(tenant, b"PK\x03\x04\x00\x00binary")
    with tenant.scope():
        assert not Import.objects.exists()


def test_missing_email_column_is_fine_with_names_but_not_without_identity(tenant: Tenant) -> None:
    job = upload(tenant, "First Name,Last Name,Company\nGrace,Hopper,Navy\n")
    assert importing.mapping_errors(job.headers, job.mapping) == []
    assert run(job).created_count == 1

    job = upload(tenant, "Company,Industry\nNavy,Defense\n")
    problems = importing.mapping_errors(job.headers, job.mapping)
    assert problems and "Email, LinkedIn URL or a name" in problems[0]
    with tenant.scope(), pytest.raises(ValidationError, match="Email, LinkedIn URL or a name"):
        importing.import_start(job=job, mapping=job.mapping, update_existing=True)


# --- bad rows never stop the good ones ------------------------------------------------------------------------------


def test_bad_rows_fail_with_line_and_reason_and_good_rows_are_imported(tenant: Tenant) -> None:
    header = ",".join(f"c{i}" for i in range(8))
    content = (
        f"email,first_name,{header}\n"
        f"good1@x.io,Ann,{',' * 7}\n"
        "short@x.io,Bob,only\n"  # 3 columns in a 10-column file
        f"not-an-email,Cy,{',' * 7}\n"
        f",,{',' * 7}x\n"  # no identity (a custom column only)
        f"good2@x.io,Dee,{',' * 7}\n"
    )
    job = upload(tenant, content)
    done = run(job)
    assert (done.created_count, done.failed_count, done.processed_rows) == (2, 3, 5)
    assert errors(done) == [
        (3, "has 3 columns, the header has 10"),
        (4, "invalid email 'not-an-email'"),
        (5, "no email, LinkedIn URL or name to identify the person"),
    ]
    assert {p.email_normalized for p in prospects(tenant)} == {"good1@x.io", "good2@x.io"}


def test_quotes_and_newlines_in_cells_keep_physical_line_numbers(tenant: Tenant) -> None:
    content = (
        "email,first_name,notes\n"
        'a@x.io,"Ann ""the boss""","line one\nline two\nline three"\n'  # lines 2-4
        "bad-email,Bob,x\n"  # line 5
        'c@x.io,Cy,"multi\r\nline"\n'  # lines 6-7
        "also-bad,Dee,y\n"  # line 8
    )
    done = run(upload(tenant, content))
    assert [line for line, _ in errors(done)] == [5, 8]
    ann = next(p for p in prospects(tenant) if p.email_normalized == "a@x.io")
    assert ann.first_name == 'Ann "the boss"'
    assert ann.custom_fields["notes"] == "line one\nline two\nline three"


def test_a_5_mb_cell_fails_its_row_only(tenant: Tenant) -> None:
    huge = "x" * (5 * 1024 * 1024)
    content = f"email,first_name,notes\na@x.io,Ann,ok\nb@x.io,Bob,{huge}\nc@x.io,Cy,fine\n"
    done = run(upload(tenant, content))
    assert (done.created_count, done.failed_count) == (2, 1)
    [(line, reason)] = errors(done)
    assert line == 3
    assert "notes" in reason and "5,242,880 characters" in reason
    raw = ImportRowError.objects.unscoped().get(job=done).raw
    assert len(raw) < 2000  # the huge cell is not stored again


def test_too_long_standard_field_fails_the_row(tenant: Tenant) -> None:
    content = f"email,title\na@x.io,{'T' * 300}\nb@x.io,CEO\n"
    done = run(upload(tenant, content))
    assert errors(done) == [(2, "Job title is 300 characters long (limit 255)")]
    assert done.created_count == 1


def test_formula_payloads_are_stored_as_text_and_escaped_on_export(tenant: Tenant) -> None:
    content = 'email,first_name,last_name\n=cmd@x.io,=HYPERLINK("http://evil"),+1+1\nbad,@SUM(A1),-2\n'
    done = run(upload(tenant, content))
    [person] = prospects(tenant)
    assert (person.first_name, person.last_name) == ('=HYPERLINK("http://evil")', "+1+1")
    with tenant.scope():
        exported = list(csv.reader(io.StringIO("".join(importing.failed_rows_csv(done)))))
    assert exported[0] == ["line", "reason", "email", "first_name", "last_name"]
    assert exported[1] == ["3", "invalid email 'bad'", "bad", "'@SUM(A1)", "'-2"]
    assert importing.csv_safe("\tx") == "'\tx" and importing.csv_safe("\rx") == "'\rx"


# --- dedup, options, suppression ---------------------------------------------------------------------------------


def test_reimporting_the_same_file_creates_nothing_new(tenant: Tenant) -> None:
    content = APOLLO + "Bo,Li,CEO,Acme,bo@acme.com,,,,,,,,,,,,\n"
    first = run(upload(tenant, content))
    assert first.created_count == 2
    with tenant.scope():
        before = (Prospect.objects.count(), Company.objects.count(), Activity.objects.count())
    second = run(upload(tenant, content, name="again.csv"))
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 2)
    with tenant.scope():
        assert (Prospect.objects.count(), Company.objects.count(), Activity.objects.count()) == before


def test_update_existing_versus_skip_existing(tenant: Tenant) -> None:
    with tenant.scope():
        ProspectFactory(org=tenant.org, email="Kim@Corp.io", first_name="Kim", title="", phone="123")
    content = "email,first_name,title,phone\nkim@corp.io,Kimberly,VP Sales,\nnew@corp.io,New,,\n"

    skipped = run(upload(tenant, content), update_existing=False)
    assert (skipped.created_count, skipped.updated_count, skipped.unchanged_count) == (1, 0, 1)
    kim = next(p for p in prospects(tenant) if p.email_normalized == "kim@corp.io")
    assert (kim.first_name, kim.title) == ("Kim", "")

    updated = run(upload(tenant, content), update_existing=True)
    assert (updated.created_count, updated.updated_count, updated.unchanged_count) == (0, 1, 1)
    kim = next(p for p in prospects(tenant) if p.email_normalized == "kim@corp.io")
    assert (kim.first_name, kim.title, kim.phone) == ("Kimberly", "VP Sales", "123")  # blanks never erase
    with tenant.scope():
        assert Activity.objects.filter(prospect=kim, kind="imported").count() == 1


def test_duplicate_emails_in_one_file_merge_into_one_prospect(tenant: Tenant) -> None:
    content = "email,first_name,title,phone\nSam@x.io,Sam,,555\nsam@x.io,Samuel,CTO,\nother@x.io,O,,\n"
    done = run(upload(tenant, content))
    assert (done.created_count, done.unchanged_count) == (2, 1)
    sam = next(p for p in prospects(tenant) if p.email_normalized == "sam@x.io")
    assert (sam.first_name, sam.title, sam.phone) == ("Samuel", "CTO", "555")


def test_duplicates_across_chunks_are_merged_too(tenant: Tenant) -> None:
    content = "email,first_name\n" + "".join(f"p{i % 5}@x.io,P{i}\n" for i in range(12))
    done = run(upload(tenant, content), chunk_rows=4)
    assert len(prospects(tenant)) == 5
    assert done.created_count == 5
    assert done.created_count + done.updated_count + done.unchanged_count == 12


def test_linkedin_url_matches_people_without_email(tenant: Tenant) -> None:
    with tenant.scope():
        known = ProspectFactory(
            org=tenant.org,
            email="",
            email_normalized=None,
            linkedin_url="https://linkedin.com/in/jo",
            linkedin_normalized="linkedin.com/in/jo",
            first_name="Jo",
        )
    content = (
        "First Name,LinkedIn URL,Email,Title\n"
        "Jo,https://www.linkedin.com/in/Jo/,jo@newco.io,Founder\n"
        "Max,linkedin.com/in/max,,CEO\n"
    )
    done = run(upload(tenant, content))
    assert (done.created_count, done.updated_count) == (1, 1)
    known.refresh_from_db()
    assert (known.email_normalized, known.title) == ("jo@newco.io", "Founder")
    again = run(upload(tenant, content))
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 2)
    assert len(prospects(tenant)) == 2


def test_tags_option_and_company_by_email_domain_but_not_free_mail(tenant: Tenant) -> None:
    content = "email,tags\nann@bigcorp.com,vip\nbob@gmail.com,\n"
    run(upload(tenant, content), tags=["fair-2025", "vip"])
    people = {p.email_normalized: p for p in prospects(tenant)}
    assert people["ann@bigcorp.com"].tags == ["vip", "fair-2025"]
    assert people["bob@gmail.com"].tags == ["fair-2025", "vip"]
    assert people["ann@bigcorp.com"].company_domain == "bigcorp.com"
    assert people["bob@gmail.com"].company_id is None
    with tenant.scope():
        assert list(Company.objects.values_list("domain", flat=True)) == ["bigcorp.com"]


def test_suppressed_emails_domains_and_erased_people_are_skipped_and_counted(tenant: Tenant) -> None:
    with tenant.scope():
        Suppression.objects.create(org=tenant.org, kind="email", value="no@x.io")
        Suppression.objects.create(org=tenant.org, kind="domain", value="blocked.io")
        Suppression.objects.create(
            org=tenant.org, kind="email_hash", value=Suppression.hash_email("erased@x.io")
        )
    content = "email,website\nNo@x.io,\nceo@blocked.io,\nerased@x.io,\nyes@x.io,\nhi@ok.io,blocked.io\n"
    done = run(upload(tenant, content))
    assert (done.suppressed_count, done.created_count) == (4, 1)
    assert [p.email_normalized for p in prospects(tenant)] == ["yes@x.io"]


def test_import_touches_only_its_own_organisation(tenant: Tenant, other_tenant: Tenant) -> None:
    with other_tenant.scope():
        theirs = ProspectFactory(org=other_tenant.org, email="same@x.io", first_name="Theirs")
    done = run(upload(tenant, "email,first_name\nsame@x.io,Ours\n"))
    assert done.created_count == 1
    theirs.refresh_from_db()
    assert theirs.first_name == "Theirs"


def test_preview_flags_problems_of_the_first_rows(tenant: Tenant) -> None:
    job = upload(tenant, "email,first_name\nok@x.io,<script>alert(1)</script>\nbroken,Bob\n")
    rows = importing.preview(job)
    assert [(r.line, r.problem) for r in rows] == [(2, ""), (3, "invalid email 'broken'")]
    assert rows[0].values["first_name"] == "<script>alert(1)</script>"


def test_claim_is_idempotent(tenant: Tenant) -> None:
    job = upload(tenant, "email\na@x.io\n")
    Import.objects.unscoped().filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    with tenant.scope():
        assert importing.import_claim(import_id=job.pk) is not None
        assert importing.import_claim(import_id=job.pk) is None
        assert importing.import_run(org_id=tenant.org.pk, import_id=job.pk) is None


# --- the Celery task -------------------------------------------------------------------------------------------


def test_start_enqueues_the_task_and_a_real_worker_runs_it(
    tenant_committed: Tenant, celery_worker: Any
) -> None:
    tenant = tenant_committed
    job = upload(tenant, "email,first_name\nw1@x.io,W\nw2@x.io,X\nw2@x.io,dup\n")
    with tenant.scope():
        importing.import_start(job=job, mapping=job.mapping, update_existing=True, tags="celery")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (ImportStatus.DONE, ImportStatus.FAILED):
            break
        time.sleep(0.1)
    assert (job.status, job.created_count, job.unchanged_count, job.percent) == ("done", 2, 1, 100)
    assert all(p.tags == ["celery"] for p in prospects(tenant))
    assert json.loads(json.dumps(job.mapping)) == {"email": "email", "first_name": "first_name"}


@pytest.fixture
def tenant_committed(transactional_db: None) -> Tenant:
    from conftest import make_tenant

    return make_tenant("Committed")
