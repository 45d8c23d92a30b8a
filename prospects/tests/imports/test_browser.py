"""End to end in Debian's chromium: upload a CSV, fix one column's mapping, run it on a real Celery worker and watch
the progress bar reach 100% and the result counts appear."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from conftest import Tenant, make_tenant
from prospects.models import Prospect

pytest_plugins = ["leadgen.tests.browser"]

ROWS = 1500
SCREENSHOTS = Path(os.environ.get("LEADGEN_SCREENSHOTS", "test-results"))


def _csv() -> bytes:
    lines = ["First Name,Last Name,Email,Firm,Notes"]
    lines.append("Broken,Row,not-an-email,Initech,")
    lines.append("<img src=x onerror=alert(1)>,Evil,evil@initech.test,Initech,")
    lines += [f"P{i},Tester,p{i}@initech.test,Initech,note {i}" for i in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


def _log_in(page: Page, live_site: str, tenant: Tenant) -> None:
    client = Client()
    client.force_login(tenant.member)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_site}]
    )


@pytest.mark.browser
def test_upload_map_run_and_watch_progress(
    live_site: str, celery_worker: Any, new_page: Callable[..., Page], settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    tenant = make_tenant("Initech")
    page = new_page("member", viewport={"width": 1366, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _log_in(page, live_site, tenant)

    page.goto(f"{live_site}/prospects/imports/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Import prospects")
    page.get_by_label("CSV file").set_input_files(
        {"name": "initech.csv", "mimeType": "text/csv", "buffer": _csv()}
    )
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Import initech.csv")
    firm = page.get_by_label("Firm", exact=True)
    expect(firm).to_have_value("custom:Firm")  # an unknown header is kept as a custom field
    preview = page.locator("#preview")
    expect(preview).not_to_contain_text("Initech (initech.test)")
    firm.select_option("company_name")  # the user says it is the company
    expect(preview).to_contain_text("Initech (initech.test)")  # the HTMX preview follows the new mapping
    expect(preview).to_contain_text("invalid email 'not-an-email'")
    expect(preview).to_contain_text("<img src=x onerror=alert(1)>")  # shown as text, not markup
    page.get_by_label("Tags for every imported prospect").fill("initech-fair")
    page.get_by_role("button", name="Start import").click()

    bar = page.locator("#import-bar")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("value", "100", timeout=30_000)
    expect(page.locator("#import-percent")).to_have_text("100%")
    expect(page.locator('[data-count="created"]')).to_have_text(f"{ROWS + 1:,}")
    expect(page.locator('[data-count="failed"]')).to_have_text("1")
    expect(page.locator("#import-errors")).to_contain_text("invalid email 'not-an-email'")
    assert dialogs == []  # no injected script ran

    with tenant.scope():
        assert (
            Prospect.objects.filter(company_name="Initech", tags__contains=["initech-fair"]).count()
            == ROWS + 1
        )

    # The person's timeline names the file and its row, read from the import (no Activity row per person).
    with tenant.scope():
        p7 = Prospect.objects.get(email_normalized="p7@initech.test")
    page.goto(f"{live_site}/prospects/{p7.pk}/")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Imported from initech.csv (row 11)")
    expect(timeline).to_contain_text(f"by {tenant.member.email}")
    timeline.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "prospect-timeline-imported.png"))
