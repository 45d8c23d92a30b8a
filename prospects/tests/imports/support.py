"""Helpers of the CSV import tests: upload a file, run it as the Celery task would, read what it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from conftest import Tenant
from leadgen.tenancy import org_scope
from prospects.imports import engine
from prospects.imports import services as import_services
from prospects.models import Import, ImportRowError, ImportStatus, Prospect

APOLLO = (
    "First Name,Last Name,Title,Company,Email,Email Status,Seniority,Departments,Mobile Phone,"
    "Corporate Phone,Person Linkedin Url,Website,Company Linkedin Url,City,State,Country,Keywords\n"
    "Ada,Lovelace,CTO,Analytical Engines,ada@engines.io,Verified,c_suite,Engineering,,+44 20 1234,"
    "http://www.linkedin.com/in/ada-l,https://www.engines.io,http://www.linkedin.com/company/engines,"
    "London,England,United Kingdom,computing\n"
)


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


def upload(tenant: Tenant, content: str | bytes, name: str = "people.csv") -> Import:
    data = content.encode() if isinstance(content, str) else content
    return import_services.import_create(
        org=tenant.org, user=tenant.owner, upload=SimpleUploadedFile(name, data), name=name
    )


def run(
    job: Import,
    mapping: dict[str, str] | None = None,
    *,
    update_existing: bool = True,
    tags: list[str] | None = None,
    chunk_rows: int = engine.CHUNK_ROWS,
    writers: int | None = None,
    parsers: int | None = None,
) -> Import:
    """Configure and run synchronously, as the Celery task does after its claim."""
    with transaction.atomic():
        Import.objects.unscoped().filter(pk=job.pk).update(
            mapping=mapping or job.mapping,
            update_existing=update_existing,
            tags=tags or [],
            status=ImportStatus.QUEUED,
        )
    with org_scope(job.org_id):
        claimed = import_services.import_claim(import_id=job.pk)
        assert claimed is not None
        engine.import_execute(job=claimed, chunk_rows=chunk_rows, writers=writers, parsers=parsers)
    return Import.objects.unscoped().get(pk=job.pk)


def prospects(tenant: Tenant) -> list[Prospect]:
    with tenant.scope():
        return list(Prospect.objects.order_by("id"))


def errors(job: Import) -> list[tuple[int, str]]:
    return list(
        ImportRowError.objects.unscoped().filter(job=job).order_by("line").values_list("line", "reason")
    )
