"""A row without an email creates a person to enrich; the import result counts them apart, on the page and in the
API (`created_without_email`)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import Tenant
from prospects.tests.imports.support import media_root, run, upload  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

CSV = (
    "email,first_name,last_name,linkedin_url,company\n"
    "ada@engines.io,Ada,Lovelace,,Analytical Engines\n"
    ",Grace,Hopper,https://www.linkedin.com/in/grace-hopper,Navy\n"
    ",Alan,Turing,,Bletchley Park\n"
    ",,,,Nobody Ltd\n"
)


def test_people_without_email_are_created_and_counted(tenant: Tenant) -> None:
    job = run(upload(tenant, CSV), chunk_rows=2)
    assert (job.created_count, job.created_without_email, job.failed_count) == (3, 2, 1)

    page = tenant.owner_client.get(reverse("import_detail", args=[job.pk])).content.decode()
    assert 'data-count="created">3<' in page and 'data-count="created_without_email">2<' in page
    assert "Created, no email" in page
    api = tenant.api().get(f"/api/v1/imports/{job.pk}").json()
    assert (api["created_count"], api["created_without_email"]) == (3, 2)

    again = run(upload(tenant, CSV))
    assert (again.created_count, again.created_without_email) == (0, 0)
    page = tenant.owner_client.get(reverse("import_detail", args=[again.pk])).content.decode()
    assert "Created, no email" not in page
