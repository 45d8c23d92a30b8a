"""Every list endpoint pages the same way: `?limit=&cursor=`, a limit out of range brought into 1..200, a bad
cursor answered 400 `invalid_cursor` in the API's one error shape."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import Tenant
from prospects.models import ICP, DiscoveryRun, Import, ImportRowError, Note
from prospects.schemas import LIST_LIMIT_MAX
from prospects.tests.factories import CompanyFactory, ProspectFactory, SuppressionFactory

pytestmark = pytest.mark.django_db

ROWS = 3


def _prospects(tenant: Tenant) -> str:
    for _ in range(ROWS):
        ProspectFactory(org=tenant.org)
    return "/api/v1/prospects"


def _notes(tenant: Tenant) -> str:
    prospect = ProspectFactory(org=tenant.org)
    for _ in range(ROWS):
        Note.objects.create(org=tenant.org, prospect=prospect, body="hello")
    return f"/api/v1/prospects/{prospect.pk}/notes"


def _companies(tenant: Tenant) -> str:
    for i in range(ROWS):
        CompanyFactory(org=tenant.org, name=f"Widget {i}")
    return "/api/v1/companies"


def _imports(tenant: Tenant) -> str:
    for _ in range(ROWS):
        Import.objects.create(org=tenant.org, original_name="a.csv", file_path="imports/a.csv")
    return "/api/v1/imports"


def _import_errors(tenant: Tenant) -> str:
    job = Import.objects.create(org=tenant.org, original_name="a.csv", file_path="imports/a.csv")
    for line in range(ROWS):
        ImportRowError.objects.create(org=tenant.org, job=job, line=line + 2, reason="invalid email")
    return f"/api/v1/imports/{job.pk}/errors"


def _icps(tenant: Tenant) -> str:
    for i in range(ROWS):
        ICP.objects.create(org=tenant.org, name=f"ICP {i}")
    return "/api/v1/icps"


def _discovery_runs(tenant: Tenant) -> str:
    icp = ICP.objects.create(org=tenant.org, name="Discovery")
    for _ in range(ROWS):
        DiscoveryRun.objects.create(org=tenant.org, icp=icp, sources=["apollo"])
    return "/api/v1/discovery-runs"


def _suppressions(tenant: Tenant) -> str:
    for _ in range(ROWS):
        SuppressionFactory(org=tenant.org)
    return "/api/v1/suppressions"


LISTS: dict[str, Callable[[Tenant], str]] = {
    "prospects": _prospects,
    "notes": _notes,
    "companies": _companies,
    "imports": _imports,
    "import_errors": _import_errors,
    "icps": _icps,
    "discovery_runs": _discovery_runs,
    "suppressions": _suppressions,
}


@pytest.mark.parametrize("name", LISTS)
def test_every_list_pages_clamps_the_limit_and_refuses_a_bad_cursor(tenant: Tenant, name: str) -> None:
    with tenant.scope():
        url = LISTS[name](tenant)
    api = tenant.api()

    seen: list[int] = []
    body = api.get(f"{url}?limit=1").json()
    while True:
        assert len(body["items"]) == 1
        seen.append(body["items"][0].get("id") or body["items"][0]["line"])
        if body["next_cursor"] is None:
            break
        body = api.get(f"{url}?limit=1&cursor={body['next_cursor']}").json()
    assert len(seen) == len(set(seen)) == ROWS

    for limit in (0, -5, LIST_LIMIT_MAX + 1, 10_000):
        response = api.get(f"{url}?limit={limit}")
        assert response.status_code == 200, (limit, response.content)
        assert len(response.json()["items"]) == (1 if limit < 1 else ROWS)

    for cursor in ("garbage!", "x-y", "9" * 30):
        bad = api.get(f"{url}?cursor={cursor}")
        if cursor == "9" * 30 and name in ("icps",):
            continue  # a well-formed id cursor past the end is an empty page, not an error
        assert bad.status_code == 400, (cursor, bad.content)
        assert bad.json() == {
            "detail": "The cursor is invalid or belongs to another sort order.",
            "code": "invalid_cursor",
        }
