"""The set-based SQL of imports.engine on the real database: mapping to rows, dedup, options, suppression."""

from __future__ import annotations

import pytest

from conftest import Tenant
from prospects.models import Activity, Company, Prospect, Suppression
from prospects.selectors import prospect_timeline
from prospects.tests.factories import ProspectFactory
from prospects.tests.imports.support import APOLLO, errors, media_root, prospects, run, upload  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_apollo_export_is_mapped_and_imported(tenant: Tenant) -> None:
    job = upload(tenant, APOLLO)
    assert (job.encoding, job.delimiter) == ("utf-8", ",")
    assert job.mapping["Email"] == "email"
    assert job.mapping["Person Linkedin Url"] == "linkedin_url"
    assert job.mapping["Company Linkedin Url"] == "company_linkedin_url"
    assert job.mapping["Keywords"] == "company_keywords"
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
    assert ada.custom_fields == {"Email Status": "Verified"}
    assert ada.source == "csv"
    with tenant.scope():
        company = Company.objects.get(domain="engines.io")
        assert company.name == "Analytical Engines"
        assert company.keywords == ["computing"]
        assert company.linkedin_url == "http://www.linkedin.com/company/engines"
        assert ada.company.domain == "engines.io"
        # One timeline entry, read from the import: no Activity row is written per imported person.
        assert not Activity.objects.filter(prospect=ada).exists()
        [entry] = prospect_timeline(prospect=ada)
    assert (entry.kind, entry.summary, entry.actor) == (
        "imported",
        "Imported from people.csv (row 2)",
        tenant.owner,
    )


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
        assert [entry.summary for entry in prospect_timeline(prospect=kim)] == [
            "Updated by import of people.csv (row 2)"
        ]
        assert not Activity.objects.filter(prospect=kim).exists()


def test_duplicates_across_chunks_are_merged_too(tenant: Tenant) -> None:
    content = "email,first_name\n" + "".join(f"p{i % 5}@x.io,P{i}\n" for i in range(12))
    done = run(upload(tenant, content), chunk_rows=4)
    assert len(prospects(tenant)) == 5
    assert done.created_count == 5
    assert done.created_count + done.updated_count + done.unchanged_count == 12


def test_a_person_repeated_across_chunks_is_folded_once_and_unchanged_on_reimport(tenant: Tenant) -> None:
    """The file-wide fold: the last row of a person wins wherever it is, earlier rows fill its blanks, and a
    re-import of the same file (chunks of 3, so every person spans chunks) changes nobody."""
    content = (
        "email,first_name,title,phone\n"
        "ann@x.io,Ann,CTO,111\n"
        "bob@x.io,Bob,,\n"
        "cy@x.io,Cy,,\n"
        "ann@x.io,Annie,,\n"  # second chunk: a new first name, blanks that must not erase
        "dee@x.io,Dee,,\n"
        "bob@x.io,Bob,CEO,222\n"
        "ann@x.io,,VP Sales,\n"  # third chunk
    )
    first = run(upload(tenant, content), chunk_rows=3)
    assert (first.created_count, first.updated_count, first.unchanged_count, first.processed_rows) == (
        4,
        0,
        3,
        7,
    )
    by_email = {p.email_normalized: p for p in prospects(tenant)}
    assert (by_email["ann@x.io"].first_name, by_email["ann@x.io"].title, by_email["ann@x.io"].phone) == (
        "Annie",
        "VP Sales",
        "111",
    )
    assert (by_email["bob@x.io"].title, by_email["bob@x.io"].phone) == ("CEO", "222")
    # The timeline points at the row that decided the values: Ann's last row is line 8.
    assert (by_email["ann@x.io"].import_job_id, by_email["ann@x.io"].import_line) == (first.pk, 8)

    again = run(upload(tenant, content, name="again.csv"), chunk_rows=3)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 7)
    assert {p.email_normalized: p.updated_at for p in prospects(tenant)} == {
        email: p.updated_at for email, p in by_email.items()
    }


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


@pytest.mark.django_db(transaction=True)
def test_two_writers_on_their_own_connections_give_the_one_writer_result() -> None:
    """IMPORT_WRITERS: ranges applied at once by threads with their own connections (committed data only, so
    this test commits) end as one writer would: same people, same counts, the staging table gone."""
    from django.db import connection

    from conftest import make_tenant

    rows = "".join(
        f"p{i % 40}@x.io,P{i},Title {i % 3},https://www.x{i % 40 % 7}.io\n" if i % 11 else f"broken{i},B,,\n"
        for i in range(120)
    )
    content = "email,first_name,title,website\n" + rows
    results = []
    for writers in (1, 2):
        tenant = make_tenant(f"Writers {writers}")
        done = run(upload(tenant, content), chunk_rows=10, writers=writers)
        people = sorted(
            (p.email_normalized, p.first_name, p.title, p.company_domain) for p in prospects(tenant)
        )
        counts = (done.created_count, done.updated_count, done.unchanged_count, done.failed_count)
        results.append((done.status, counts, done.processed_rows, people))
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_tables WHERE tablename = %s", [f"import_stage_{done.pk}"])
            assert cursor.fetchone()[0] == 0
    assert results[0] == results[1]
    status, (created, updated, unchanged, failed), processed, people = results[1]
    assert (status, created, updated, failed, processed) == ("done", 40, 0, 11, 120)
    assert unchanged == 120 - 40 - 11 and len(people) == 40


def test_rows_cleaned_in_worker_processes_give_the_one_process_result(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    """IMPORT_PARSERS: a file of several chunks is cleaned by forked processes; the people, the counts and every
    failed row's line number and reason are what one process gives, and the same person in two chunks is one."""

    def bad(i: int) -> bool:
        return i % 13 == 5 or i % 17 == 3

    rows = []
    for i in range(95):
        if i % 13 == 5:
            rows.append(f"not-an-email-{i},Bad,,\n")
        elif i % 17 == 3:
            rows.append(f"short{i}@x.io\n")
        else:
            rows.append(f"p{i % 60}@x.io,P{i},Title {i % 4},https://www.x{i % 9}.io\n")
    content = "email,first_name,title,website\n" + "".join(rows)
    results = []
    for parsers, who in ((1, tenant), (2, other_tenant)):
        done = run(upload(who, content), chunk_rows=10, writers=1, parsers=parsers)
        people = [(p.email_normalized, p.first_name, p.title, p.company_domain) for p in prospects(who)]
        counts = (done.created_count, done.updated_count, done.unchanged_count, done.failed_count)
        results.append((done.status, counts, done.processed_rows, sorted(people), errors(done)))
    assert results[0] == results[1]
    status, (created, _updated, _unchanged, failed), processed, people, failures = results[1]
    assert (status, processed) == ("done", 95)
    assert created == len({i % 60 for i in range(95) if not bad(i)})
    assert failed == len(failures) == sum(1 for i in range(95) if bad(i))
    # Line numbers count the header: row i is line i + 2.
    assert failures[:2] == [(5, "has 1 columns, the header has 4"), (7, "invalid email 'not-an-email-5'")]
    assert ("p1@x.io", "P61", "Title 1", "x7.io") in people  # row 61 (7th chunk) won over row 1 (1st chunk)


def test_the_later_row_wins_past_the_tenth_row(tenant: Tenant) -> None:
    """Rows are folded in file order by number, not as text ("11" sorts before "2")."""
    rows = [f"p{i}@x.io,P{i}\n" for i in range(12)]
    rows[2] = "ann@x.io,Early\n"
    rows[11] = "ann@x.io,Late\n"
    done = run(upload(tenant, "email,first_name\n" + "".join(rows)), chunk_rows=5, parsers=1)
    ann = next(p for p in prospects(tenant) if p.email_normalized == "ann@x.io")
    assert (done.created_count, ann.first_name, ann.import_line) == (11, "Late", 13)


def quoted_file(rows: int, *, bom: bool = False, newline: str = "\n", stray_quote: bool = False) -> bytes:
    """Cells with quoted newlines, commas and quotes, blank lines and people repeated across chunks."""
    lines = ["email,first_name,title,notes"]
    for i in range(rows):
        if i % 9 == 4:
            lines.append("")
        notes = f'"first line{newline}second, with ""quotes""{newline}third"' if i % 4 == 1 else "plain"
        title = '5" screen' if stray_quote and i == 3 else f"Title {i % 3}"
        email = f"p{i % 30}@x.io" if i % 11 else f"bad-{i}"
        lines.append(f"{email},P{i},{title},{notes}")
    data = (newline.join(lines) + newline).encode()
    return b"\xef\xbb\xbf" + data if bom else data


@pytest.mark.parametrize(
    "shape",
    [{}, {"bom": True, "newline": "\r\n"}, {"stray_quote": True}],
    ids=["quoted-newlines", "bom-crlf", "stray-quote"],
)
def test_files_cut_into_blocks_give_the_one_reader_result(
    tenant: Tenant, other_tenant: Tenant, shape: dict[str, bool | str], caplog: pytest.LogCaptureFixture
) -> None:
    """With two parsers the file is cut into blocks of bytes that the workers parse: quoted newlines across a
    block's end, a byte order mark and CRLF give the people, counts and failed lines of one reader; a stray quote
    that would cut a record in two sends the import back to one reader, with the same result."""
    content = quoted_file(80, **shape)  # type: ignore[arg-type]
    results = []
    for parsers, who in ((1, tenant), (2, other_tenant)):
        done = run(upload(who, content), chunk_rows=7, writers=1, parsers=parsers)
        people = sorted(
            (p.email_normalized, p.first_name, p.title, p.custom_fields.get("notes"), p.import_line)
            for p in prospects(who)
        )
        counts = (done.created_count, done.updated_count, done.unchanged_count, done.failed_count)
        results.append((done.status, counts, done.processed_rows, people, errors(done)))
    assert results[0] == results[1]
    status, (created, _, _, failed), processed, people, failures = results[1]
    assert (status, processed, created) == ("done", 80, 30)
    assert failed == len(failures) == len([i for i in range(80) if i % 11 == 0])
    newline = str(shape.get("newline", "\n"))
    assert any(notes == f'first line{newline}second, with "quotes"{newline}third' for *_, notes, _ in people)
    assert ("reading the file with one reader" in caplog.text) == bool(shape.get("stray_quote"))


def test_backslashes_tabs_and_newlines_in_cells_are_stored_as_written(tenant: Tenant) -> None:
    """COPY's text format gives a backslash, a tab and a newline their own meaning: values holding them, and the
    two characters \\N that COPY reads as NULL, are stored exactly as the file has them, in a chunk beside plain
    rows and in a chunk of plain rows only."""
    odd = {
        "a@x.io": "R\\&D lead",
        "b@x.io": "\\N",
        "c@x.io": "Head\tof sales",
        "d@x.io": "VP\nSales",
        "e@x.io": "C:\\temp\\",
    }
    rows = [f'{email},"{title}"' for email, title in odd.items()]
    rows += [f"plain{n}@x.io,Plain {n}" for n in range(5)]
    done = run(upload(tenant, "email,title\n" + "\n".join(rows) + "\n"), chunk_rows=5, writers=1)
    assert (done.created_count, done.failed_count) == (10, 0)
    stored = {p.email_normalized: p.title for p in prospects(tenant)}
    assert {email: stored[email] for email in odd} == odd
    assert stored["plain3@x.io"] == "Plain 3"
