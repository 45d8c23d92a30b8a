"""Rows as imports.cleaning sees them: bad rows fail with line and reason, the good ones are imported."""

from __future__ import annotations

import csv
import gc
import io
import weakref

import pytest

from conftest import Tenant
from leadgen.csvsafe import csv_safe
from prospects import normalize
from prospects.imports import services as import_services
from prospects.imports.cleaning import RowCleaner, RowError
from prospects.imports.cleaning import linkedin as import_linkedin
from prospects.imports.engine import clean_batch
from prospects.models import ImportRowError
from prospects.tests.imports.support import errors, media_root, prospects, run, upload  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


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
        exported = list(csv.reader(io.StringIO("".join(import_services.failed_rows_csv(done)))))
    assert exported[0] == ["line", "reason", "email", "first_name", "last_name"]
    assert exported[1] == ["3", "invalid email 'bad'", "bad", "'@SUM(A1)", "'-2"]
    assert csv_safe("\tx") == "'\tx" and csv_safe("\rx") == "'\rx"


def test_duplicate_emails_in_one_file_merge_into_one_prospect(tenant: Tenant) -> None:
    content = "email,first_name,title,phone\nSam@x.io,Sam,,555\nsam@x.io,Samuel,CTO,\nother@x.io,O,,\n"
    done = run(upload(tenant, content))
    assert (done.created_count, done.unchanged_count) == (2, 1)
    sam = next(p for p in prospects(tenant) if p.email_normalized == "sam@x.io")
    assert (sam.first_name, sam.title, sam.phone) == ("Samuel", "CTO", "555")


def test_a_chunk_with_failed_rows_is_freed_as_soon_as_it_is_cleaned() -> None:
    """A failed email raises Django's ValidationError, which refers to itself: unless its frames are dropped, it
    keeps the chunk being cleaned (every row of it) alive until a full garbage collection, and a parser's memory
    grows with the file."""

    class Rows(list):  # type: ignore[type-arg]  # a list that can be watched with a weak reference
        pass

    cleaner = RowCleaner(["email", "first_name"], {"email": "email", "first_name": "first_name"})
    rows = Rows(
        [
            (line, [f"bad-{line}-at-x.io" if line % 3 else f"ok{line}@x.io", "Ann"], "")
            for line in range(2, 50)
        ]
    )
    watched = weakref.ref(rows)
    gc.collect()
    gc.disable()
    try:
        chunk = clean_batch(cleaner, 0, rows)
        del rows
        assert watched() is None
    finally:
        gc.enable()
    assert len(chunk.errors) == 32 and chunk.errors[0][1].startswith("invalid email")


@pytest.mark.parametrize(
    "url",
    [
        "https://www.linkedin.com/in/ada-l",
        "http://linkedin.com/in/Ada_L/",
        "HTTPS://WWW.LINKEDIN.COM/company/Engines",
        "https://uk.linkedin.com/in/ada-l?trk=x",
        "linkedin.com/in/ada-l",
        "https://www.linkedin.com/in/ad%C3%A9",
        "https://www.linkedin.com/pub/ada/1/2/3",
        "https://www.linkedin.com/sales/lead/ACwAAA,NAME",
    ],
)
def test_the_import_reads_a_linkedin_url_as_every_other_entry_point(url: str) -> None:
    assert import_linkedin(url) == normalize.linkedin(url)


@pytest.mark.parametrize("url", ["javascript:alert(1)//linkedin.com/in/x", "//linkedin.com/in/x"])
def test_a_linkedin_url_that_is_not_a_web_address_fails_the_row(url: str) -> None:
    with pytest.raises(RowError, match="must be a web address"):
        import_linkedin(url)
