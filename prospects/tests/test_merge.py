"""Duplicate finder, merge service and the duplicates page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import AuditLog
from conftest import Tenant
from prospects import merge
from prospects.models import Activity, Note, Outcome, Prospect, WebhookDelivery
from prospects.services import activity_record, note_create, outcome_record
from prospects.tests.factories import ProspectFactory

pytest_plugins = ["leadgen.tests.browser"]


def _group_ids(groups: list[merge.DuplicateGroup]) -> list[set[int]]:
    return [{p.pk for p in g.prospects} for g in groups]


# --- finder -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_finder_groups_email_linkedin_and_similar_names(tenant: Tenant, other_tenant: Tenant) -> None:
    # Legacy rows: the same address differing in case and whitespace (no normalised key, so no constraint).
    legacy_a = ProspectFactory(org=tenant.org, email="Ada@Acme.test", email_normalized=None)
    legacy_b = ProspectFactory(org=tenant.org, email=" ada@acme.test ", email_normalized=None)
    li_a = ProspectFactory(org=tenant.org, linkedin_normalized="linkedin.com/in/grace-h")
    li_b = ProspectFactory(org=tenant.org, linkedin_normalized="linkedin.com/in/grace-h")
    name_a = ProspectFactory(
        org=tenant.org, first_name="Jonathan", last_name="Smithers", company_domain="initech.test"
    )
    name_b = ProspectFactory(
        org=tenant.org, first_name="Jonathon", last_name="Smithers", company_domain="initech.test"
    )
    # Not duplicates: a similar name at another company, a different name at the same company.
    ProspectFactory(org=tenant.org, first_name="Jonathan", last_name="Smithers", company_domain="globex.test")
    ProspectFactory(org=tenant.org, first_name="Maria", last_name="Garcia", company_domain="initech.test")
    # Another organisation's twin is never grouped with ours.
    ProspectFactory(org=other_tenant.org, linkedin_normalized="linkedin.com/in/grace-h")

    with tenant.scope():
        groups = merge.duplicate_groups()
    assert sorted(_group_ids(groups), key=min) == [
        {legacy_a.pk, legacy_b.pk},
        {li_a.pk, li_b.pk},
        {name_a.pk, name_b.pk},
    ]
    reasons = {frozenset(p.pk for p in g.prospects): g.reasons for g in groups}
    assert reasons[frozenset({name_a.pk, name_b.pk})] == ["similar name at initech.test"]
    assert reasons[frozenset({li_a.pk, li_b.pk})] == ["same LinkedIn URL"]


@pytest.mark.django_db
def test_finder_joins_overlapping_matches_into_one_group(tenant: Tenant) -> None:
    a = ProspectFactory(org=tenant.org, first_name="Ada", last_name="Lovelace", company_domain="acme.test")
    b = ProspectFactory(
        org=tenant.org,
        first_name="Ada",
        last_name="Lovelace",
        company_domain="acme.test",
        linkedin_normalized="linkedin.com/in/ada",
    )
    c = ProspectFactory(
        org=tenant.org, first_name="A.", last_name="King", linkedin_normalized="linkedin.com/in/ada"
    )
    with tenant.scope():
        groups = merge.duplicate_groups()
    assert _group_ids(groups) == [{a.pk, b.pk, c.pk}]
    assert set(groups[0].reasons) == {"similar name at acme.test", "same LinkedIn URL"}


# --- merge ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_merge_keeps_richer_values_and_moves_history(tenant: Tenant) -> None:
    earlier = timezone.now() - timezone.timedelta(days=90)
    primary = ProspectFactory(
        org=tenant.org,
        email="ada@acme.test",
        first_name="Ada",
        last_name="Lovelace",
        title="CTO",
        phone="",
        tags=["vip"],
        custom_fields={"plan": "pro", "seats": ""},
        stage="qualified",
        score=None,
    )
    duplicate = ProspectFactory(
        org=tenant.org,
        email="ada.lovelace@acme.test",
        first_name="Ada",
        last_name="Lovelace",
        title="Chief Technology Officer",
        phone="+44 20 7946 0000",
        tags=["london", "vip"],
        custom_fields={"plan": "free", "seats": 12, "region": "EU"},
        answers={"budget": "50k"},
        stage="meeting",
        score=77,
        tier="A",
        do_not_contact=True,
        created_at=earlier,
        linkedin_url="https://www.linkedin.com/in/ada-l/",
    )
    with tenant.scope():
        note_create(prospect=duplicate, body="Met at the conference", author=tenant.member)
        outcome_record(prospect=duplicate, result="won", reason="signed", actor=None, source="api")
        activity_record(prospect=duplicate, kind="email_opened", summary="opened step 1")
        delivery = WebhookDelivery.objects.create(source="form", dedupe_key="d1", prospect=duplicate)
        merged = merge.prospect_merge(primary=primary, duplicates=[duplicate], actor=tenant.owner)

    assert not Prospect.objects.unscoped().filter(pk=duplicate.pk).exists()
    merged.refresh_from_db()
    assert merged.pk == primary.pk
    assert merged.email == "ada@acme.test"  # the primary keeps its address
    assert merged.title == "Chief Technology Officer"  # the longer text
    assert merged.phone == "+44 20 7946 0000"  # filled beats empty
    assert merged.linkedin_normalized == "linkedin.com/in/ada-l"
    assert merged.tags == ["vip", "london"]
    assert merged.custom_fields == {"plan": "pro", "seats": 12, "region": "EU"}
    assert merged.answers == {"budget": "50k"}
    assert merged.stage == "won"  # the duplicate's outcome moved it furthest
    assert (merged.score, merged.tier) == (77, "A")
    assert merged.do_not_contact is True
    assert merged.created_at == earlier

    with tenant.scope():
        assert list(Note.objects.filter(prospect=merged).values_list("body", flat=True)) == [
            "Met at the conference"
        ]
        assert Outcome.objects.get(prospect=merged).reason == "signed"
        kinds = list(
            Activity.objects.filter(prospect=merged)
            .order_by("created_at", "id")
            .values_list("kind", flat=True)
        )
        assert "email_opened" in kinds and kinds[-1] == "merged"
        merged_activity = Activity.objects.get(prospect=merged, kind="merged")
        delivery.refresh_from_db()
    assert delivery.prospect_id == merged.pk
    assert "ada.lovelace@acme.test" in merged_activity.summary
    assert merged_activity.data["merged"][0]["id"] == duplicate.pk
    assert merged_activity.actor == tenant.owner
    assert AuditLog.objects.unscoped().filter(org=tenant.org, action="prospect.merged").exists()


@pytest.mark.django_db
def test_merge_gives_the_primary_an_email_it_lacked(tenant: Tenant) -> None:
    primary = ProspectFactory(
        org=tenant.org, email="", email_normalized=None, linkedin_normalized="linkedin.com/in/x"
    )
    duplicate = ProspectFactory(org=tenant.org, email="x@acme.test")
    with tenant.scope():
        merged = merge.prospect_merge(primary=primary, duplicates=[duplicate], actor=None)
    merged.refresh_from_db()
    assert (merged.email, merged.email_normalized) == ("x@acme.test", "x@acme.test")


@pytest.mark.django_db
def test_merge_refuses_nothing_to_merge(tenant: Tenant) -> None:
    primary = ProspectFactory(org=tenant.org)
    from django.core.exceptions import ValidationError

    with tenant.scope(), pytest.raises(ValidationError):
        merge.prospect_merge(primary=primary, duplicates=[primary], actor=None)


# --- the duplicates page ----------------------------------------------------------------------------------


def _twins(tenant: Tenant) -> tuple[Prospect, Prospect]:
    a = ProspectFactory(
        org=tenant.org,
        first_name="Jonathan",
        last_name="Smithers",
        company_domain="initech.test",
        email="jonathan@initech.test",
        title="",
    )
    b = ProspectFactory(
        org=tenant.org,
        first_name="Jonathon",
        last_name="Smithers",
        company_domain="initech.test",
        email="j.smithers@initech.test",
        title="Head of Procurement",
    )
    return a, b


@pytest.mark.django_db
def test_duplicates_page_confirm_then_merge(tenant: Tenant, django_assert_max_num_queries: Any) -> None:
    a, b = _twins(tenant)
    client = tenant.member_client
    client.get("/prospects/duplicates/")  # warm the session's org
    with django_assert_max_num_queries(8):
        page = client.get("/prospects/duplicates/")
    assert page.status_code == 200
    assert (
        "jonathan@initech.test" in page.content.decode()
        and "similar name at initech.test" in page.content.decode()
    )

    confirm = client.post(
        "/prospects/duplicates/merge/", {"primary": a.pk, "duplicates": [b.pk]}, HTTP_HX_REQUEST="true"
    )
    body = confirm.content.decode()
    assert confirm.status_code == 200 and "<html" not in body
    assert "Head of Procurement" in body and "Confirm merge" in body
    assert Prospect.objects.unscoped().filter(pk=b.pk).exists()  # nothing merged before confirming

    done = client.post(
        "/prospects/duplicates/merge/", {"primary": a.pk, "duplicates": [b.pk], "confirm": "1"}
    )
    assert done.status_code == 302 and done["Location"].endswith(f"?merged={a.pk}")
    assert not Prospect.objects.unscoped().filter(pk=b.pk).exists()
    after = client.get(done["Location"]).content.decode()
    assert "Merged 1 duplicate into" in after and "No duplicates found." in after


@pytest.mark.django_db
def test_duplicates_merge_refuses_other_orgs_ids(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = ProspectFactory(org=tenant.org)
    theirs = ProspectFactory(org=other_tenant.org)
    client = tenant.member_client
    assert (
        client.post(
            "/prospects/duplicates/merge/", {"primary": theirs.pk, "duplicates": [mine.pk], "confirm": "1"}
        ).status_code
        == 404
    )
    response = client.post(
        "/prospects/duplicates/merge/", {"primary": mine.pk, "duplicates": [theirs.pk], "confirm": "1"}
    )
    assert response.status_code == 302
    assert Prospect.objects.unscoped().filter(pk__in=[mine.pk, theirs.pk]).count() == 2
    assert client.get("/prospects/duplicates/merge/").status_code == 405


@pytest.mark.browser
def test_merge_two_duplicates_in_the_browser(
    live_site: str, new_page: Callable[..., Page], transactional_db: None
) -> None:
    from conftest import make_tenant

    tenant = make_tenant("Initech")
    a, b = _twins(tenant)
    page = new_page("member")
    page.context.add_cookies(
        [{"name": "sessionid", "value": tenant.member_client.cookies["sessionid"].value, "url": live_site}]
    )
    page.goto(f"{live_site}/prospects/duplicates/")
    group = page.locator("article.duplicate-group")
    expect(group).to_have_count(1)
    expect(group).to_contain_text("similar name at initech.test")
    group.get_by_role("button", name="Merge into Jonathan Smithers").click()
    confirm = page.locator("#merge-confirm")
    expect(confirm).to_contain_text("Merge 1 into Jonathan Smithers?")
    expect(confirm).to_contain_text("Head of Procurement")
    confirm.get_by_role("button", name="Confirm merge").click()
    expect(page).to_have_url(re.compile(rf"/prospects/duplicates/\?merged={a.pk}$"))
    expect(page.get_by_role("status")).to_contain_text("Merged 1 duplicate into Jonathan Smithers")
    merged = page.locator("#merged-prospect")
    expect(merged).to_contain_text("jonathan@initech.test")
    expect(merged).to_contain_text("Head of Procurement")
    expect(page.locator("#no-duplicates")).to_be_visible()
    assert not Prospect.objects.unscoped().filter(pk=b.pk).exists()
