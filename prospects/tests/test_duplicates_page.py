"""The duplicates page a rep works through: a count, search, pages, names that link, and a merge that can leave a
member out and keep the value chosen for each field."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from conftest import Tenant
from prospects.models import Prospect
from prospects.tests.factories import ProspectFactory
from prospects.tests.test_browser import log_in

pytest_plugins = ["leadgen.tests.browser"]


def _pair(tenant: Tenant, n: int, **extra: Any) -> list[Prospect]:
    return [
        ProspectFactory(
            org=tenant.org, email=f"p{n}@same{n}.test", first_name=f"Pat{n}", last_name="Doe", **extra
        ),
        ProspectFactory(
            org=tenant.org, email=f"P{n}@Same{n}.test ", first_name=f"Pat{n}", last_name="Doe", **extra
        ),
    ]


def _trio(tenant: Tenant) -> list[Prospect]:
    people = [
        ("Jonathan", "jonathan@initech.test", "", "vp"),
        ("Jonathon", "j.smithers@initech.test", "Head of Procurement", ""),
        ("Jonathan", "jsmithers@initech.test", "Procurement Lead", "director"),
    ]
    return [
        ProspectFactory(
            org=tenant.org,
            first_name=first,
            last_name="Smithers",
            company_domain="initech.test",
            email=email,
            title=title,
            seniority=seniority,
        )
        for first, email, title, seniority in people
    ]


@pytest.mark.django_db
def test_count_search_paging_and_links(tenant: Tenant, django_assert_max_num_queries: Any) -> None:
    for n in range(25):
        _pair(tenant, n)
    client = tenant.member_client
    client.get(reverse("prospect_duplicates"))
    with django_assert_max_num_queries(8):
        first = client.get(reverse("prospect_duplicates")).content.decode()
    assert "25 groups</strong> of probable duplicates (50 people)" in first
    assert first.count('class="duplicate-group"') == 20 and "Page 1 of 2" in first
    pat0 = Prospect.objects.unscoped().filter(first_name="Pat0").order_by("pk").first()
    assert pat0 is not None and f'href="{reverse("prospect_detail", args=[pat0.pk])}"' in first
    second = client.get(reverse("prospect_duplicates"), {"page": "2"}).content.decode()
    assert second.count('class="duplicate-group"') == 5 and 'rel="prev"' in second
    found = client.get(reverse("prospect_duplicates"), {"q": "pat17"}).content.decode()
    assert "1 group</strong>" in found and "Pat17 Doe" in found and "Pat18" not in found
    none = client.get(reverse("prospect_duplicates"), {"q": "nobody-like-this"}).content.decode()
    assert "No duplicates match" in none
    assert client.get(reverse("prospect_duplicates"), {"page": "99"}).status_code == 200


@pytest.mark.django_db
def test_a_merge_leaves_one_out_and_keeps_the_picked_values(tenant: Tenant) -> None:
    a, b, c = _trio(tenant)
    client = tenant.member_client
    url = reverse("prospect_merge")
    preview = client.post(
        url,
        {"primary": a.pk, "duplicates": [b.pk], "offered": [b.pk, c.pk], "pick_email": b.pk},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'name="pick_title"' not in preview  # only the primary and b remain: b alone has a title
    assert 'id="preview-email">j.smithers@initech.test' in preview
    assert f'value="{c.pk}" >' in preview or f'value="{c.pk}">' in preview  # c offered again, unticked
    done = client.post(
        url,
        {"primary": a.pk, "duplicates": [b.pk], "pick_email": b.pk, "pick_first_name": a.pk, "confirm": "1"},
    )
    assert done.status_code == 302
    a.refresh_from_db()
    assert (a.email, a.first_name, a.title) == ("j.smithers@initech.test", "Jonathan", "Head of Procurement")
    assert not Prospect.objects.unscoped().filter(pk=b.pk).exists()
    assert Prospect.objects.unscoped().filter(pk=c.pk).exists()


@pytest.mark.django_db
def test_a_pick_of_someone_outside_the_merge_is_ignored(tenant: Tenant, other_tenant: Tenant) -> None:
    a, b, _ = _trio(tenant)
    stranger = ProspectFactory(org=other_tenant.org, title="Stolen title")
    response = tenant.member_client.post(
        reverse("prospect_merge"),
        {"primary": a.pk, "duplicates": [b.pk], "pick_title": stranger.pk, "confirm": "1"},
    )
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.title == "Head of Procurement"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_merge_with_one_left_out_and_a_title_picked(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    a, b, c = _trio(tenant)
    page = new_page("rep", viewport={"width": 1366, "height": 900})
    log_in(page, live_site, tenant.member)
    page.goto(f"{live_site}/prospects/duplicates/")
    expect(page.locator("#duplicate-count")).to_contain_text("1 group")
    group = page.locator("article.duplicate-group")
    group.get_by_role("button", name="Merge into Jonathan Smithers").first.click()
    confirm = page.locator("#merge-confirm")
    expect(confirm).to_contain_text("Merge 2 into Jonathan Smithers?")
    # Pick the third member's title, then leave the second member out: the preview follows each change.
    confirm.get_by_label(re.compile("Procurement Lead")).check()
    expect(page.locator("#preview-title")).to_have_text("Procurement Lead")
    confirm.get_by_role("checkbox", name=re.compile("Jonathon Smithers")).uncheck()
    expect(page.locator("#merge-confirm")).to_contain_text("Merge 1 into Jonathan Smithers?")
    expect(page.locator("#preview-title")).to_have_text("Procurement Lead")
    page.locator("#merge-confirm").get_by_role("button", name="Confirm merge").click()
    expect(page).to_have_url(re.compile(rf"/prospects/duplicates/\?merged={a.pk}$"))
    expect(page.locator("#merged-prospect")).to_contain_text("Procurement Lead")
    a.refresh_from_db()
    assert a.title == "Procurement Lead"
    assert Prospect.objects.unscoped().filter(pk=b.pk).exists()  # left out, still there
    assert not Prospect.objects.unscoped().filter(pk=c.pk).exists()
    # The one left out is still a probable duplicate of the merged prospect.
    expect(page.locator("article.duplicate-group")).to_have_count(1)
