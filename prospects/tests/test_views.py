"""Prospect pages as a user sees them: list, bulk actions, export, saved views, prospect page, companies, board."""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.template.defaultfilters import date as date_filter
from django.test import AsyncClient, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from conftest import Tenant
from prospects.models import Activity, Note, Outcome, Prospect, SavedView, Stage
from prospects.tests.factories import CompanyFactory, ProspectFactory

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HTMX = {"HTTP_HX_REQUEST": "true"}


def _htmx(target: str) -> dict[str, str]:
    return {**HTMX, "HTTP_HX_TARGET": target}


def _html(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- list --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_the_orgs_prospects_newest_first(tenant: Tenant, other_tenant: Tenant) -> None:
    ProspectFactory(org=tenant.org, first_name="Older", last_name="One")
    ProspectFactory(org=tenant.org, first_name="Newer", last_name="Two")
    ProspectFactory(org=other_tenant.org, first_name="Hidden", last_name="Rival")
    body = _html(tenant.member_client.get(reverse("prospect_list")))
    assert body.index("Newer Two") < body.index("Older One")
    assert "Hidden" not in body
    assert "2 prospects" in body


@pytest.mark.django_db
def test_filter_change_returns_only_the_table(tenant: Tenant) -> None:
    ProspectFactory(org=tenant.org, first_name="Ada", stage=Stage.QUALIFIED)
    ProspectFactory(org=tenant.org, first_name="Bob", stage=Stage.NEW)
    response = tenant.member_client.get(reverse("prospect_list"), {"stage": "qualified"}, **_htmx("results"))
    body = _html(response)
    assert "<html" not in body and 'id="prospect-table"' in body
    assert "Ada" in body and "Bob" not in body
    assert 'name="sort" form="filters" value="-created_at"' in body


@pytest.mark.django_db
def test_sort_headers_and_next_page_links(tenant: Tenant) -> None:
    for i in range(55):
        ProspectFactory(org=tenant.org, last_name=f"Person{i:02d}")
    body = _html(tenant.member_client.get(reverse("prospect_list"), {"sort": "last_name"}))
    assert body.index("Person00") < body.index("Person49")
    assert "Person50" not in body
    assert 'aria-sort="ascending"' in body and "sort=-last_name" in body
    assert "55 prospects" in body
    next_link = body.split('rel="next"')[0].rsplit('href="?', 1)[1].split('"')[0].replace("&amp;", "&")
    second = _html(tenant.member_client.get(f"{reverse('prospect_list')}?{next_link}", **_htmx("results")))
    assert "Person50" in second and "Person54" in second and "Person49" not in second
    assert "First page" in second


@pytest.mark.django_db
def test_a_broken_cursor_falls_back_to_the_first_page(tenant: Tenant) -> None:
    ProspectFactory(org=tenant.org, first_name="Ada")
    body = _html(tenant.member_client.get(reverse("prospect_list"), {"cursor": "garbage"}))
    assert "Ada" in body


@pytest.mark.django_db
def test_list_page_query_count(tenant: Tenant, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    owner_company = CompanyFactory(org=tenant.org)
    for i in range(60):
        ProspectFactory(
            org=tenant.org, owner=tenant.member if i % 2 else None, company=owner_company, score=i
        )
    SavedView.objects.unscoped().create(org=tenant.org, user=tenant.member, name="Mine", query="stage=new")
    client = tenant.member_client
    client.get(reverse("prospect_list"))  # warm the session
    for params in (
        {},
        {"q": "person", "sort": "-score"},
        {"stage": ["new", "won"], "tag": "x", "sort": "title"},
    ):
        # Session user, membership (the org switcher reuses it), the page with its headline scores, the count
        # or estimate (a search may need a second page query), then owners, ICPs and saved views for the filters.
        with django_assert_max_num_queries(8):
            _html(client.get(reverse("prospect_list"), params))
        with django_assert_max_num_queries(5):
            _html(client.get(reverse("prospect_list"), params, **_htmx("results")))


@pytest.mark.django_db
@override_settings(TIME_ZONE="Pacific/Auckland")
def test_list_rows_link_and_date_as_the_prospect_pages_do(tenant: Tenant) -> None:
    """The rows are prepared in Python (not per-row template tags): the same links, local dates and labels."""
    company = CompanyFactory(org=tenant.org, name="Acme Rockets")
    named = ProspectFactory(
        org=tenant.org,
        first_name="Ada",
        last_name="Lovelace",
        company=company,
        owner=tenant.member,
        stage=Stage.MEETING,
    )
    nameless = ProspectFactory(org=tenant.org, first_name="", last_name="", email="anon@x.test", company=None)
    late = dt.datetime(2026, 3, 1, 20, 30, tzinfo=dt.UTC)  # already 2 March in Auckland
    Prospect.objects.unscoped().filter(pk=named.pk).update(created_at=late, updated_at=late)
    body = _html(tenant.member_client.get(reverse("prospect_list")))
    row = body.split(f'<tr data-id="{named.pk}">')[1].split("</tr>")[0]
    assert f'<a href="{reverse("prospect_detail", args=[named.pk])}">Ada Lovelace</a>' in row
    assert f'<a href="{reverse("company_detail", args=[company.pk])}">Acme Rockets</a>' in row
    with timezone.override("Pacific/Auckland"):
        local = timezone.localtime(late)
        iso, day = date_filter(local, "c"), date_filter(local, "j M Y")
    assert day == "2 Mar 2026" and f'<time datetime="{iso}">{day}</time>' in row
    assert '<span class="stage stage-meeting">Meeting</span>' in row
    member = tenant.member
    assert f'title="{member.email}">{member.display_name}</td>' in row
    other = body.split(f'<tr data-id="{nameless.pk}">')[1].split("</tr>")[0]
    assert 'aria-label="Select anon@x.test"' in other and ">(no name)</a>" in other


@pytest.mark.django_db
def test_names_with_html_render_inert(tenant: Tenant) -> None:
    company = CompanyFactory(org=tenant.org, name=XSS)
    prospect = ProspectFactory(org=tenant.org, first_name=XSS, title=XSS, company=company, tags=[XSS])
    SavedView.objects.unscoped().create(org=tenant.org, user=tenant.member, name=XSS, query="q=%3Cscript%3E")
    with tenant.scope():
        Note.objects.create(prospect=prospect, body=XSS)
        Activity.objects.create(prospect=prospect, kind="note", summary=XSS)
    client = tenant.member_client
    pages = [
        reverse("prospect_list"),
        reverse("prospect_list") + "?q=%3Cscript%3E",
        reverse("prospect_detail", args=[prospect.pk]),
        reverse("prospect_board"),
        reverse("company_list"),
        reverse("company_detail", args=[company.pk]),
    ]
    for url in pages:
        body = _html(client.get(url))
        assert "<script>alert" not in body and "<img src=x" not in body, url
        assert "&lt;script&gt;alert(" in body, url


# --- bulk actions ------------------------------------------------------------------------------------------


def _bulk(tenant: Tenant, ids: list[int], **data: object):  # type: ignore[no-untyped-def]
    return tenant.member_client.post(reverse("prospect_bulk"), {"ids": ids, **data}, **_htmx("results"))


@pytest.mark.django_db
def test_bulk_change_stage_writes_the_timeline(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = [ProspectFactory(org=tenant.org) for _ in range(3)]
    theirs = ProspectFactory(org=other_tenant.org)
    body = _html(
        _bulk(
            tenant,
            [p.pk for p in mine[:2]] + [theirs.pk],
            action="stage",
            stage="qualified",
            query="stage=qualified",
        )
    )
    assert "Updated 2 prospects." in body
    with tenant.scope():
        assert sorted(Prospect.objects.filter(stage="qualified").values_list("pk", flat=True)) == sorted(
            p.pk for p in mine[:2]
        )
        assert Activity.objects.filter(kind="stage_changed", prospect__in=mine[:2]).count() == 2
    # The re-rendered table keeps the filters: only qualified prospects are listed.
    assert mine[0].email in body and mine[2].email not in body
    theirs.refresh_from_db()
    assert theirs.stage == Stage.NEW


@pytest.mark.django_db
def test_bulk_owner_and_tags(tenant: Tenant, other_tenant: Tenant) -> None:
    prospects = [ProspectFactory(org=tenant.org, tags=["old", "keep"]) for _ in range(2)]
    ids = [p.pk for p in prospects]
    _bulk(tenant, ids, action="owner", owner=str(tenant.admin.pk))
    _bulk(tenant, ids, action="add_tags", tags="hot, q3")
    _bulk(tenant, ids, action="remove_tags", tags="old")
    for p in prospects:
        p.refresh_from_db()
        assert p.owner_id == tenant.admin.pk
        assert p.tags == ["keep", "hot", "q3"]
    # An owner from another organisation is refused.
    body = _html(_bulk(tenant, ids, action="owner", owner=str(other_tenant.owner.pk)))
    assert "must be a member of this organisation" in body
    _bulk(tenant, ids, action="owner", owner="none")
    prospects[0].refresh_from_db()
    assert prospects[0].owner_id is None


@pytest.mark.django_db
def test_bulk_delete_is_audited_and_spares_other_orgs(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = ProspectFactory(org=tenant.org)
    theirs = ProspectFactory(org=other_tenant.org)
    body = _html(_bulk(tenant, [mine.pk, theirs.pk], delete="1", action="stage"))
    assert "Deleted 1 prospect." in body
    assert not Prospect.objects.unscoped().filter(pk=mine.pk).exists()
    assert Prospect.objects.unscoped().filter(pk=theirs.pk).exists()
    assert AuditLog.objects.unscoped().filter(org=tenant.org, action="prospects.deleted").exists()


@pytest.mark.django_db
def test_bulk_without_selection_says_so(tenant: Tenant) -> None:
    body = _html(
        tenant.member_client.post(
            reverse("prospect_bulk"), {"action": "stage", "stage": "won"}, **_htmx("results")
        )
    )
    assert "Select prospects first." in body


@pytest.mark.django_db
def test_bulk_without_htmx_redirects_back_to_the_filtered_list(tenant: Tenant) -> None:
    p = ProspectFactory(org=tenant.org)
    response = tenant.member_client.post(
        reverse("prospect_bulk"), {"ids": [p.pk], "action": "stage", "stage": "won", "query": "stage=won"}
    )
    assert response.status_code == 302 and response["Location"] == "/prospects/?stage=won"


# --- export ------------------------------------------------------------------------------------------------


def _export(tenant: Tenant, **params: str) -> list[list[str]]:
    response = tenant.member_client.get(reverse("prospect_export"), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.django_db
def test_export_streams_the_filtered_set_with_formulas_escaped(tenant: Tenant, other_tenant: Tenant) -> None:
    ProspectFactory(
        org=tenant.org, first_name='=HYPERLINK("http://evil")', last_name="+1", stage="won", title="@SUM(A1)"
    )
    ProspectFactory(org=tenant.org, first_name="-2", last_name="\tTab", stage="won", title="\rCR")
    ProspectFactory(org=tenant.org, first_name="Plain", stage="new")
    ProspectFactory(org=other_tenant.org, first_name="Rival", stage="won")
    rows = _export(tenant, stage="won")
    header, data = rows[0], rows[1:]
    assert header[:4] == ["id", "first_name", "last_name", "email"]
    assert len(data) == 2
    cells = {cell for row in data for cell in row}
    assert '\'=HYPERLINK("http://evil")' in cells and "'+1" in cells and "'@SUM(A1)" in cells
    assert "'-2" in cells and "'\tTab" in cells and "'\rCR" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells if cell)
    # Without the stage filter the export holds every prospect of this org, and none of the other's.
    assert len(_export(tenant)) - 1 == 3


@pytest.mark.django_db
def test_export_pages_through_more_than_one_batch(tenant: Tenant, settings: Any) -> None:
    settings.PROSPECT_EXPORT_BATCH = 3
    ProspectFactory.create_batch(10, org=tenant.org)
    rows = _export(tenant, sort="last_name")
    ids = [row[0] for row in rows[1:]]
    assert len(ids) == 10 and len(set(ids)) == 10


@pytest.mark.django_db
def test_export_streams_chunk_by_chunk_under_asgi(tenant: Tenant, settings: Any) -> None:
    """Under the ASGI entry point the export is sent a chunk at a time (Django would otherwise collect the whole
    file in memory first), and the file is the one the WSGI path gives."""
    settings.PROSPECT_EXPORT_BATCH = 3
    ProspectFactory.create_batch(10, org=tenant.org)
    client = AsyncClient()
    client.force_login(tenant.member)

    async def fetch() -> tuple[Any, list[bytes]]:
        response = await client.get(reverse("prospect_export"), {"sort": "last_name"})
        return response, [chunk async for chunk in response.streaming_content]

    with warnings.catch_warnings():
        # Django warns when it has to collect a streamed response before sending it.
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume")
        with override_settings(STREAMED_CHUNK_LINES=4):
            response, chunks = async_to_sync(fetch)()
    assert response.status_code == 200 and response.is_async
    assert len(chunks) == 3  # the header and 10 rows, four lines at a time
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert rows == _export(tenant, sort="last_name")


# --- saved views -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_saved_views_are_per_user(tenant: Tenant) -> None:
    client = tenant.member_client
    response = client.post(
        reverse("saved_view_create"), {"name": "Hot leads", "query": "stage=qualified&tag=hot&bogus=1"}
    )
    assert response.status_code == 302
    view = SavedView.objects.unscoped().get(user=tenant.member)
    assert view.query == "stage=qualified&tag=hot"
    assert 'href="/prospects/?stage=qualified&amp;tag=hot">Hot leads</a>' in _html(
        client.get(reverse("prospect_list"))
    )
    assert "Hot leads" not in _html(tenant.admin_client.get(reverse("prospect_list")))
    # Another user of the same org cannot delete it.
    assert tenant.admin_client.post(reverse("saved_view_delete", args=[view.pk])).status_code == 404
    assert client.post(reverse("saved_view_delete", args=[view.pk])).status_code == 302
    assert not SavedView.objects.unscoped().filter(pk=view.pk).exists()


# --- prospect page -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_prospect_page_shows_profile_score_area_and_timeline(tenant: Tenant) -> None:
    company = CompanyFactory(org=tenant.org, name="Initech")
    prospect = ProspectFactory(org=tenant.org, first_name="Ada", company=company)
    with tenant.scope():
        Activity.objects.create(prospect=prospect, kind="created", summary="Created from CSV import")
    body = _html(tenant.member_client.get(reverse("prospect_detail", args=[prospect.pk])))
    assert "Ada" in body and f'href="/companies/{company.pk}/"' in body
    assert "Scoring has not run for this prospect yet." in body
    assert "Created from CSV import" in body
    Prospect.objects.unscoped().filter(pk=prospect.pk).update(score=87, tier="A")
    body = _html(tenant.member_client.get(reverse("prospect_detail", args=[prospect.pk])))
    assert "<strong>87</strong>/100 · tier A" in body


@pytest.mark.django_db
def test_note_stage_and_outcome_via_htmx(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org)
    client = tenant.member_client
    response = client.post(
        reverse("prospect_note", args=[prospect.pk]), {"body": "Called, interested"}, **HTMX
    )
    assert response.status_code == 200 and "timeline-changed" in response["HX-Trigger"]
    timeline = _html(client.get(reverse("prospect_timeline", args=[prospect.pk]), **HTMX))
    assert "Called, interested" in timeline

    response = client.post(reverse("prospect_stage", args=[prospect.pk]), {"stage": "meeting"}, **HTMX)
    assert 'Current: <span class="stage stage-meeting">Meeting</span>' in _html(response)
    response = client.post(
        reverse("prospect_outcome", args=[prospect.pk]), {"result": "won", "reason": "Signed"}, **HTMX
    )
    assert "Outcome recorded." in _html(response)
    prospect.refresh_from_db()
    assert prospect.stage == Stage.WON
    with tenant.scope():
        assert Outcome.objects.get(prospect=prospect).reason == "Signed"
        kinds = list(
            Activity.objects.filter(prospect=prospect)
            .order_by("created_at", "id")
            .values_list("kind", flat=True)
        )
    assert kinds == ["note", "stage_changed", "outcome", "stage_changed"]
    timeline = _html(client.get(reverse("prospect_timeline", args=[prospect.pk]), **HTMX))
    assert timeline.index("Outcome: Won") < timeline.index("Called, interested")  # newest first

    assert "Choose won, lost or disqualified." in _html(
        client.post(reverse("prospect_outcome", args=[prospect.pk]), {"result": "maybe"}, **HTMX)
    )
    body = _html(client.post(reverse("prospect_note", args=[prospect.pk]), {"body": "  "}, **HTMX))
    assert "A note cannot be empty." in body


@pytest.mark.django_db
def test_edit_profile(tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org, first_name="Ada", email="ada@one.test")
    other = ProspectFactory(org=tenant.org, email="taken@one.test")
    client = tenant.member_client
    form = _html(client.get(reverse("prospect_edit", args=[prospect.pk]), **HTMX))
    assert 'id="profile-form"' in form
    data = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@one.test",
        "title": "Countess",
        "tags": "math, engines",
        "owner": str(tenant.member.pk),
        "lawful_basis": "consent",
    }
    response = client.post(reverse("prospect_edit", args=[prospect.pk]), data, **HTMX)
    body = _html(response)
    assert "Countess" in body and "timeline-changed" in response["HX-Trigger"]
    prospect.refresh_from_db()
    assert (prospect.last_name, prospect.tags, prospect.owner_id) == (
        "Lovelace",
        ["math", "engines"],
        tenant.member.pk,
    )
    body = _html(
        client.post(reverse("prospect_edit", args=[prospect.pk]), {**data, "email": other.email}, **HTMX)
    )
    assert "Another prospect already has this email" in body
    body = _html(
        client.post(reverse("prospect_edit", args=[prospect.pk]), {**data, "email": "not an email"}, **HTMX)
    )
    assert "not a valid email address" in body


# --- board -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_board_columns_and_moving_a_card(tenant: Tenant, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    for stage in ("new", "qualified", "qualified", "won"):
        ProspectFactory(org=tenant.org, stage=stage)
    card = ProspectFactory(org=tenant.org, first_name="Mover", stage="new")
    client = tenant.member_client
    client.get(reverse("prospect_board"))
    with django_assert_max_num_queries(5):  # user, membership, the cards, their headline scores, the counts
        body = _html(client.get(reverse("prospect_board")))
    assert body.count('class="board-column"') == len(Stage.values)
    response = client.post(
        reverse("prospect_stage", args=[card.pk]),
        {"stage": "meeting", "view": "board"},
        **_htmx("board-columns"),
    )
    body = _html(response)
    assert 'id="board-columns"' in body and "<html" not in body
    meeting = body.split('aria-labelledby="col-meeting"')[1].split("</section>")[0]
    assert "Mover" in meeting and 'data-count="1"' in meeting
    card.refresh_from_db()
    assert card.stage == Stage.MEETING
    with tenant.scope():
        assert Activity.objects.filter(prospect=card, kind="stage_changed").exists()
    assert (
        client.post(
            reverse("prospect_stage", args=[card.pk]), {"stage": "nope", "view": "board"}, **HTMX
        ).status_code
        == 400
    )


# --- companies ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_company_list_search_and_page(tenant: Tenant, other_tenant: Tenant) -> None:
    acme = CompanyFactory(org=tenant.org, name="Acme Rockets", domain="acme-rockets.test")
    CompanyFactory(org=tenant.org, name="Globex", domain="globex.test")
    CompanyFactory(org=other_tenant.org, name="Acme Rival", domain="rival.test")
    ProspectFactory(org=tenant.org, first_name="Wile", company=acme)
    body = _html(tenant.member_client.get(reverse("company_list"), {"q": "acme"}))
    assert "Acme Rockets" in body and "Globex" not in body and "Acme Rival" not in body
    body = _html(
        tenant.member_client.get(reverse("company_list"), {"q": "globex.test"}, **_htmx("company-results"))
    )
    assert "Globex" in body and "<html" not in body
    body = _html(tenant.member_client.get(reverse("company_detail", args=[acme.pk])))
    assert "Acme Rockets" in body and "Wile" in body


@pytest.mark.django_db
def test_other_org_gets_404(tenant: Tenant, other_tenant: Tenant) -> None:
    prospect = ProspectFactory(org=tenant.org)
    company = CompanyFactory(org=tenant.org)
    view = SavedView.objects.unscoped().create(org=tenant.org, user=tenant.owner, name="v", query="")
    outsider = other_tenant.owner_client
    for name in ("prospect_detail", "prospect_edit", "prospect_timeline", "prospect_profile"):
        assert outsider.get(reverse(name, args=[prospect.pk])).status_code == 404, name
    for name in ("prospect_stage", "prospect_outcome", "prospect_note", "prospect_edit"):
        assert (
            outsider.post(
                reverse(name, args=[prospect.pk]), {"stage": "won", "result": "won", "body": "x"}
            ).status_code
            == 404
        )
    assert outsider.get(reverse("company_detail", args=[company.pk])).status_code == 404
    assert outsider.post(reverse("saved_view_delete", args=[view.pk])).status_code == 404
    prospect.refresh_from_db()
    assert prospect.stage == Stage.NEW


@pytest.mark.django_db
def test_pages_need_a_login(client) -> None:  # type: ignore[no-untyped-def]
    for name in ("prospect_list", "prospect_board", "company_list", "prospect_export"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
