"""Import pages as a member uses them: upload, map, preview, start, watch progress, read and download results."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from conftest import Tenant
from prospects.imports import services as importing
from prospects.models import Import, ImportStatus, Prospect

pytestmark = pytest.mark.django_db

CSV = (
    "Full Name,E-mail,Job Title,Company Name,Notes\n"
    "<script>alert('x')</script> Smith,evil@x.io,CTO,Acme,=HYPERLINK(\"http://evil\")\n"
    "Ann Lee,ann@acme.io,CEO,Acme,\n"
    "Bad Row,not-an-email,CFO,Acme,\n"
)


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


def upload(client: Client, content: str | bytes, name: str = "leads.csv") -> Any:
    data = content.encode() if isinstance(content, str) else content
    return client.post(reverse("import_list"), {"file": SimpleUploadedFile(name, data, "text/csv")})


def job_of(tenant: Tenant) -> Import:
    return Import.objects.unscoped().filter(org=tenant.org).latest("id")


def start_data(job: Import, **overrides: str) -> dict[str, str]:
    data = {f"col{i}": job.mapping[h] for i, h in enumerate(job.headers)}
    data |= {"update_existing": "1", "tags": ""}
    return data | overrides


def test_upload_shows_mapping_and_preview_with_problems_flagged_and_html_inert(tenant: Tenant) -> None:
    response = upload(tenant.member_client, CSV)
    job = job_of(tenant)
    assert response.status_code == 302 and response.url == reverse("import_detail", args=[job.pk])

    page = tenant.member_client.get(response.url).content.decode()
    assert "comma separated" in page and "5 columns" in page
    assert '<option value="full_name" selected>' in page
    assert '<option value="custom:Notes" selected>' in page
    assert "invalid email &#x27;not-an-email&#x27;" in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_preview_follows_the_mapping_being_edited(tenant: Tenant) -> None:
    upload(tenant.member_client, CSV)
    job = job_of(tenant)
    url = reverse("import_preview", args=[job.pk])
    response = tenant.member_client.post(
        url, start_data(job, col1="ignore", col0="ignore"), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="preview"')
    assert "Map at least one column to Email, LinkedIn URL or a name" in body
    assert "no email, LinkedIn URL or name" in body


def test_bad_files_get_a_clear_message(tenant: Tenant) -> None:
    for content, message in [
        ("", "The submitted file is empty."),
        ("email,name\n", "no data rows"),
        (b"PK\x03\x04\x00\x00", "not a text file"),
    ]:
        response = upload(tenant.member_client, content)
        assert response.status_code == 400
        assert message in response.content.decode()
    assert not Import.objects.unscoped().filter(org=tenant.org).exists()


def test_start_refuses_a_mapping_without_identity(tenant: Tenant) -> None:
    upload(tenant.member_client, CSV)
    job = job_of(tenant)
    url = reverse("import_detail", args=[job.pk])
    response = tenant.member_client.post(url, start_data(job, col0="ignore", col1="custom:E-mail"))
    assert response.status_code == 400
    assert "Map at least one column to Email" in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


def test_start_then_progress_partial_and_result_page(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    upload(tenant.member_client, CSV)
    job = job_of(tenant)
    url = reverse("import_detail", args=[job.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        response = tenant.member_client.post(url, start_data(job, tags="fair, emea"))
    assert response.status_code == 302
    assert len(callbacks) == 1  # the task is enqueued only once the transaction commits
    job.refresh_from_db()
    assert (job.status, job.tags) == (ImportStatus.QUEUED, ["fair", "emea"])

    partial = tenant.member_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<section id="import-progress"')
    assert 'hx-trigger="every 1s"' in partial

    # Run what the worker would run (the Celery path itself is covered in test_services).
    importing.import_run(org_id=tenant.org.pk, import_id=job.pk)
    partial = tenant.member_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "every 1s" not in partial  # polling stops
    assert 'value="100"' in partial
    assert '<td data-count="created">2</td>' in partial
    assert '<td data-count="failed">1</td>' in partial
    assert "not-an-email" in partial and "Download failed rows" in partial

    page = tenant.member_client.get(url).content.decode()
    assert "<script>alert" not in page
    with tenant.scope():
        assert Prospect.objects.filter(tags__contains=["fair", "emea"]).count() == 2
    # A second start of the same job is refused.
    assert tenant.member_client.post(url, start_data(job)).status_code == 200
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE


def test_failed_rows_download_is_formula_escaped(tenant: Tenant) -> None:
    content = "email,first_name\n=1+2,@cmd\nok@x.io,Fine\n"
    upload(tenant.member_client, content)
    job = job_of(tenant)
    with tenant.scope():
        importing.import_start(job=job, mapping=job.mapping, update_existing=True)
    importing.import_run(org_id=tenant.org.pk, import_id=job.pk)
    response = tenant.member_client.get(reverse("import_errors_csv", args=[job.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="import-{job.pk}-failed-rows.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["line", "reason", "email", "first_name"],
        ["2", "invalid email '=1+2'", "'=1+2", "'@cmd"],
    ]


def test_list_shows_own_imports_only_in_few_queries(
    tenant: Tenant, other_tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        upload(tenant.member_client, f"email\np{i}@x.io\n", name=f"mine-{i}.csv")
    upload(other_tenant.member_client, "email\nz@y.io\n", name="theirs.csv")
    with django_assert_max_num_queries(8):
        response = tenant.member_client.get(reverse("import_list"))
    body = response.content.decode()
    assert all(f"mine-{i}.csv" in body for i in range(5))
    assert "theirs.csv" not in body


def test_other_org_gets_404_on_every_import_route(tenant: Tenant, other_tenant: Tenant) -> None:
    upload(tenant.member_client, CSV)
    job = job_of(tenant)
    client = other_tenant.owner_client
    for name in ("import_detail", "import_preview", "import_errors_csv"):
        url = reverse(name, args=[job.pk])
        assert client.get(url).status_code in (404, 405)
        assert client.post(url, start_data(job)).status_code in (404, 405)
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED
