"""imports.services: preview, an idempotent claim, and the start that queues a real Celery task."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conftest import Tenant
from prospects.imports import services as import_services
from prospects.models import Import, ImportStatus
from prospects.tests.imports.support import media_root, prospects, upload  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_preview_flags_problems_of_the_first_rows(tenant: Tenant) -> None:
    job = upload(tenant, "email,first_name\nok@x.io,<script>alert(1)</script>\nbroken,Bob\n")
    rows = import_services.preview(job)
    assert [(r.line, r.problem) for r in rows] == [(2, ""), (3, "invalid email 'broken'")]
    assert rows[0].values["first_name"] == "<script>alert(1)</script>"


def test_claim_is_idempotent(tenant: Tenant) -> None:
    job = upload(tenant, "email\na@x.io\n")
    Import.objects.unscoped().filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    with tenant.scope():
        assert import_services.import_claim(import_id=job.pk) is not None
        assert import_services.import_claim(import_id=job.pk) is None
        assert import_services.import_run(org_id=tenant.org.pk, import_id=job.pk) is None


def test_start_enqueues_the_task_and_a_real_worker_runs_it(
    tenant_committed: Tenant, celery_worker: Any
) -> None:
    tenant = tenant_committed
    job = upload(tenant, "email,first_name\nw1@x.io,W\nw2@x.io,X\nw2@x.io,dup\n")
    with tenant.scope():
        import_services.import_start(job=job, mapping=job.mapping, update_existing=True, tags="celery")
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
