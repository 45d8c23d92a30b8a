"""prospects.fields: one name-splitting rule and one alias vocabulary, whatever the way in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from conftest import Tenant
from prospects.fields import field_for_alias, split_full_name
from prospects.imports import services as import_services
from prospects.models import LeadForm, Prospect

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("Ada Lovelace", ("Ada", "Lovelace")),
        ("Lovelace, Ada", ("Ada", "Lovelace")),
        ("  Ludwig   van Beethoven ", ("Ludwig", "van Beethoven")),
        ("Cher", ("Cher", "")),
    ],
)
def test_split_full_name(full_name: str, expected: tuple[str, str]) -> None:
    assert split_full_name(full_name) == expected


def test_export_spellings_are_for_csv_headers_only() -> None:
    assert field_for_alias("E-mail Address") == field_for_alias("email_address") == "email"
    assert field_for_alias("Role") is None  # a web form's "role" stays an answer
    assert field_for_alias("Role", exports=True) == "title"


def test_lovelace_ada_splits_the_same_through_the_api_a_web_form_and_a_csv_row(
    tenant: Tenant, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    response = tenant.api().post(
        "/api/v1/prospects",
        data=json.dumps({"email": "api@x.io", "full_name": "Lovelace, Ada"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content

    lead_form = LeadForm.objects.unscoped().create(org=tenant.org, name="Contact")
    response = Client().post(
        reverse("lead_form_submit", kwargs={"form_key": lead_form.key}),
        data=urlencode({"email": "form@x.io", "name": "Lovelace, Ada"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content

    job = import_services.import_create(
        org=tenant.org,
        user=tenant.owner,
        upload=SimpleUploadedFile("people.csv", b'Email,Name\ncsv@x.io,"Lovelace, Ada"\n'),
        name="people.csv",
    )
    with tenant.scope():
        import_services.import_start(job=job, mapping=job.mapping, update_existing=True)
    import_services.import_run(org_id=tenant.org.pk, import_id=job.pk)

    with tenant.scope():
        names = {p.email_normalized: (p.first_name, p.last_name) for p in Prospect.objects.all()}
    assert names == {
        "api@x.io": ("Ada", "Lovelace"),
        "form@x.io": ("Ada", "Lovelace"),
        "csv@x.io": ("Ada", "Lovelace"),
    }
