"""Prospect pages: list (search, filters, bulk actions, export, saved views), prospect, companies, board."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypedDict

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from accounts.access import OrgRequest, member_required
from leadgen.csvsafe import csv_safe
from leadgen.errors import error_text
from leadgen.streaming import streamed
from leadgen.tenancy import get_for_org
from prospects import merge, selectors, services
from prospects.fields import PROFILE_FIELDS
from prospects.forms import (
    BULK_ACTIONS,
    BulkForm,
    CustomFieldsForm,
    NoteForm,
    OutcomeForm,
    ProspectAddForm,
    ProspectForm,
    SavedViewForm,
    StageForm,
    custom_value_text,
    member_choices,
)
from prospects.icps import selectors as icp_selectors
from prospects.models import Company, OutcomeResult, Prospect, SavedView, Source, Stage
from prospects.onboarding import onboarding_pending
from prospects.scoring.intake import pipeline_enqueue_on_commit
from prospects.scoring.qualification import prospect_qualifications
from prospects.scoring.selectors import primary_icp_subquery
from prospects.selectors import InvalidCursor, ProspectFilters
from prospects.timezones import SOURCE_FALLBACK, prospect_timezone, timezone_label

TEMPLATE = "prospects/duplicates.html"

LIST_COLUMNS = [
    ("last_name", "Name"),
    ("email", "Email"),
    ("company_name", "Company"),
    ("title", "Title"),
    ("stage", "Stage"),
    ("score", "Score"),
    ("tier", "Tier"),
    ("created_at", "Created"),
    ("updated_at", "Updated"),
]
UNSORTED_COLUMNS = {"tier"}
EXPORT_FIELDS = [
    "id",
    *PROFILE_FIELDS,
    "stage",
    "score",
    "tier",
    "source",
    "source_detail",
    "tags",
    "owner",
    "do_not_contact",
    "created_at",
    "updated_at",
]


def _is_htmx(request: OrgRequest) -> bool:
    return bool(getattr(request, "htmx", False))


# --- list --------------------------------------------------------------------------------------------------


def _shown_score(filters: ProspectFilters) -> ProspectFilters:
    """With no ICP chosen the list shows the primary ICP's score; sorting and filtering by score then use it too."""
    if filters.icp_id is None and filters.reads_score():
        # A subquery, not a lookup first: the page costs no extra query.
        return replace(filters, shown_icp_id=primary_icp_subquery())
    return filters


class ListRow(TypedDict):
    """What one row of the prospect table shows, prepared in Python: a page has 50 rows, and reversing two URLs,
    formatting two dates and localising ids per row in the template cost most of the page's time."""

    prospect: Prospect
    id: str
    name: str
    label: str
    detail_url: str
    company_url: str
    stage_label: str
    created_iso: str
    created_day: str
    updated_iso: str
    updated_day: str
    owner_name: str
    owner_email: str


# An id no row has, reversed once per page and cut out, so that a URL per row is a concatenation.
_URL_ID = 987654321987


def id_url(name: str) -> Callable[[int], str]:
    """`reverse(name, args=[id])` for many ids from one reverse()."""
    prefix, suffix = reverse(name, args=[_URL_ID]).split(str(_URL_ID))
    return lambda pk: f"{prefix}{pk}{suffix}"


def day_formatter() -> Callable[[dt.datetime], tuple[str, str]]:
    """(ISO timestamp, "2 Dec 2026") of a datetime in the current time zone, as the template filters
    `date:'c'` and `date:'j M Y'` print it; the zone and the month names are looked up once, not per row."""
    zone = timezone.get_current_timezone()
    months = ["", *(str(MONTHS_3[month]).title() for month in range(1, 13))]

    def day(value: dt.datetime) -> tuple[str, str]:
        local = value.astimezone(zone)
        return local.isoformat(), f"{local.day} {months[local.month]} {local.year}"

    return day


def _list_rows(prospects: list[Prospect]) -> list[ListRow]:
    detail_url, company_url, day = id_url("prospect_detail"), id_url("company_detail"), day_formatter()
    stage_labels = dict(Stage.choices)
    rows: list[ListRow] = []
    for p in prospects:
        created_iso, created_day = day(p.created_at)
        updated_iso, updated_day = day(p.updated_at)
        name = p.full_name
        rows.append(
            {
                "prospect": p,
                "id": str(p.pk),
                "name": name,
                "label": name or p.email,
                "detail_url": detail_url(p.pk),
                "company_url": company_url(p.company_id) if p.company_id else "",
                "stage_label": str(stage_labels.get(p.stage, p.stage)),
                "created_iso": created_iso,
                "created_day": created_day,
                "updated_iso": updated_iso,
                "updated_day": updated_day,
                "owner_name": p.owner.display_name if p.owner else "",
                "owner_email": p.owner.email if p.owner else "",
            }
        )
    return rows


def _list_context(request: OrgRequest, filters: ProspectFilters, cursor: str | None) -> dict[str, Any]:
    filters = _shown_score(filters)
    try:
        page = selectors.prospect_search(filters=filters, cursor=cursor)
    except InvalidCursor:
        cursor = None
        page = selectors.prospect_search(filters=filters)
    query = filters.query_string()
    return {
        "filters": filters,
        "page": page,
        "rows": _list_rows(page.rows),
        "list_url": reverse("prospect_list"),
        "query": query,
        "cursor": cursor,
        "next_query": "&".join(filter(None, [query, f"cursor={page.next_cursor}"]))
        if page.next_cursor
        else "",
        "columns": [
            (name, label, filters.sort_link(name) if name not in UNSORTED_COLUMNS else "")
            for name, label in LIST_COLUMNS
        ],
        "stages": Stage.choices,
        "bulk_actions": BULK_ACTIONS,
        # A new organisation's empty list shows its first steps instead of an empty table.
        "onboarding": onboarding_pending()
        if not page.rows and not filters.is_filtered and not cursor
        else None,
    }


@member_required
@require_GET
def prospect_list(request: OrgRequest) -> HttpResponse:
    filters = ProspectFilters.from_querydict(request.GET)
    context = _list_context(request, filters, request.GET.get("cursor") or None)
    if _is_htmx(request) and request.htmx.target == "results":  # type: ignore[attr-defined]
        return render(request, "prospects/list.html#results", context)
    owners = member_choices()
    context.update(
        {
            "nav": "prospects",
            "owners": owners,
            "sources": Source.choices,
            "tiers": selectors.TIERS,
            "icps": icp_selectors.icp_choices(),
            "more_filters_active": any(
                value not in (None, "")
                for value in (
                    filters.score_min,
                    filters.score_max,
                    filters.source,
                    filters.tag,
                    filters.created_after,
                    filters.created_before,
                )
            ),
            "saved_views": selectors.saved_view_list(user=request.user),
        }
    )
    return render(request, "prospects/list.html", context)


def _filters_from_saved_query(query: str) -> ProspectFilters:
    return ProspectFilters.from_querydict(QueryDict(query.lstrip("?")))


@member_required
@require_POST
def prospect_bulk(request: OrgRequest) -> HttpResponse:
    data = request.POST.copy()
    if data.get("delete"):  # the "Delete selected" button
        data["action"] = "delete"
    form = BulkForm(data)
    filters = _filters_from_saved_query(request.POST.get("query", ""))
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, errors)
    else:
        cleaned: dict[str, Any] = form.cleaned_data
        action, ids = cleaned["action"], cleaned["ids"]
        try:
            if action == "delete":
                n = services.prospect_bulk_delete(org=request.org, ids=ids, actor=request.user)
                messages.success(request, f"Deleted {n} prospect{'s' if n != 1 else ''}.")
            else:
                kwargs: dict[str, Any] = {}
                if action == "stage":
                    kwargs["stage"] = cleaned["stage"]
                elif action == "owner":
                    owner = (cleaned["owner"] or "").strip()
                    if owner in ("", "none"):
                        kwargs["clear_owner"] = True
                    else:
                        kwargs["owner_id"] = int(owner)
                elif action == "add_tags":
                    kwargs["add_tags"] = cleaned["tags"]
                else:
                    kwargs["remove_tags"] = cleaned["tags"]
                n = services.prospect_bulk_update(ids=ids, actor=request.user, **kwargs)
                messages.success(request, f"Updated {n} prospect{'s' if n != 1 else ''}.")
        except ValidationError as exc:
            messages.error(request, error_text(exc))
    if _is_htmx(request):
        context = _list_context(request, filters, None)
        return render(request, "prospects/list.html#results", context)
    return redirect(reverse("prospect_list") + (f"?{filters.query_string()}" if filters.is_filtered else ""))


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, bool):
        value = "yes" if value else "no"
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    return csv_safe(value)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _export_lines(filters: ProspectFilters, org_id: int) -> Iterator[str]:
    """The profile columns, then one column per custom field any exported prospect has (named as the field, or
    "custom: <name>" where that would repeat a profile column's name)."""
    writer = csv.writer(_Echo())
    custom_keys = selectors.prospect_custom_field_keys(filters=filters, org_id=org_id)
    custom_headers = [f"custom: {key}" if key in EXPORT_FIELDS else key for key in custom_keys]
    yield writer.writerow([*EXPORT_FIELDS, *(csv_safe(header) for header in custom_headers)])
    for prospect in selectors.prospect_export_rows(filters=filters, org_id=org_id):
        row = []
        for name in EXPORT_FIELDS:
            if name == "owner":
                value = prospect.owner.email if prospect.owner else ""
            else:
                value = getattr(prospect, name)
            row.append(_csv_cell(value))
        custom = prospect.custom_fields
        row += [_csv_cell(_custom_cell(custom[key])) if key in custom else "" for key in custom_keys]
        yield writer.writerow(row)


def _custom_cell(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else custom_value_text(value)


@member_required  # type: ignore[arg-type]  # a streamed response is not an HttpResponse subclass
@require_GET
def prospect_export(request: OrgRequest) -> StreamingHttpResponse:
    filters = _shown_score(ProspectFilters.from_querydict(request.GET))
    response = streamed(
        request, _export_lines(filters, request.org.pk), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="prospects-{stamp}.csv"'
    return response


@member_required
@require_POST
def saved_view_create(request: OrgRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if form.is_valid():
        # Store the canonical form: only known filters, so a saved link can carry nothing else.
        query = _filters_from_saved_query(form.cleaned_data["query"]).query_string()
        try:
            saved = services.saved_view_save(
                org=request.org, user=request.user, name=form.cleaned_data["name"], query=query
            )
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"Saved view “{saved.name}”.")
    else:
        messages.error(request, "Give the view a name (at most 100 characters).")
    return redirect(
        reverse("prospect_list") + (f"?{form.data.get('query', '')}" if form.data.get("query") else "")
    )


@member_required
@require_POST
def saved_view_delete(request: OrgRequest, saved_view_id: int) -> HttpResponse:
    saved = get_for_org(SavedView.objects.filter(user=request.user), pk=saved_view_id)
    services.saved_view_delete(saved_view=saved)
    messages.success(request, f"Deleted view “{saved.name}”.")
    return redirect("prospect_list")


# --- one prospect ------------------------------------------------------------------------------------------


@member_required
def prospect_new(request: OrgRequest) -> HttpResponse:
    """ "Add prospect": one person and their company; a duplicate links to the person already on file."""
    form = ProspectAddForm(request.POST or None)
    duplicate: Prospect | None = None
    if request.method == "POST" and form.is_valid():
        try:
            prospect = services.prospect_add(org=request.org, data=form.service_data(), actor=request.user)
        except services.DuplicateProspect as exc:
            duplicate = exc.existing
        except services.SuppressedProspect:
            form.add_error(
                None, "This person or their domain is on the suppression list, so they were not added."
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            pipeline_enqueue_on_commit(org_id=prospect.org_id, prospect_ids=[prospect.pk])
            messages.success(request, f"Added {prospect}. Enrichment and scoring have started.")
            return redirect("prospect_detail", prospect_id=prospect.pk)
    context = {"form": form, "duplicate": duplicate, "nav": "prospects"}
    status = 400 if form.errors or duplicate else 200
    return render(request, "prospects/new.html", context, status=status)


def _prospect(prospect_id: int) -> Prospect:
    return get_for_org(Prospect.objects.select_related("company", "owner"), pk=prospect_id)


def _controls_context(prospect: Prospect, **extra: Any) -> dict[str, Any]:
    return {
        "prospect": prospect,
        "stages": Stage.choices,
        "outcomes": OutcomeResult.choices,
        "stage_form": extra.pop("stage_form", None) or StageForm(initial={"stage": prospect.stage}),
        "outcome_form": extra.pop("outcome_form", None) or OutcomeForm(),
        "qualifications": prospect_qualifications(prospect=prospect),
        **extra,
    }


@member_required
@require_GET
def prospect_detail(request: OrgRequest, prospect_id: int) -> HttpResponse:
    prospect = _prospect(prospect_id)
    zone, zone_source = prospect_timezone(prospect, fallback=request.org.timezone or "UTC")
    context = _controls_context(
        prospect,
        nav="prospects",
        # Campaigns send in this zone; with none known, each campaign uses its own fallback.
        effective_timezone=timezone_label(zone, zone_source) if zone_source != SOURCE_FALLBACK else "",
        timeline=selectors.prospect_timeline(prospect=prospect),
        notes=selectors.prospect_notes(prospect=prospect),
        note_form=NoteForm(),
        custom_rows=_custom_rows(prospect),
        # Without JavaScript, "Edit custom fields" links here with ?custom=edit.
        custom_form=CustomFieldsForm(prospect=prospect) if request.GET.get("custom") == "edit" else None,
    )
    return render(request, "prospects/detail.html", context)


@member_required
def prospect_edit(request: OrgRequest, prospect_id: int) -> HttpResponse:
    prospect = _prospect(prospect_id)
    form = ProspectForm(request.POST or None, instance=prospect)
    if request.method == "POST" and form.is_valid():
        try:
            services.prospect_update(prospect=prospect, data=form.service_data(), actor=request.user)
        except services.DuplicateProspect as exc:
            form.add_error("email", f"Another prospect already has this email (id {exc.existing.pk}).")
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            prospect = _prospect(prospect_id)
            if _is_htmx(request):
                response = render(request, "prospects/detail.html#profile", {"prospect": prospect})
                return trigger_client_event(response, "timeline-changed")
            messages.success(request, "Saved.")
            return redirect("prospect_detail", prospect_id=prospect.pk)
    template = "prospects/detail.html#profile-form" if _is_htmx(request) else "prospects/edit.html"
    return render(request, template, {"prospect": prospect, "form": form, "nav": "prospects"})


def _custom_rows(prospect: Prospect) -> list[tuple[str, str]]:
    return [(key, custom_value_text(value)) for key, value in prospect.custom_fields.items()]


@member_required
def prospect_custom_fields(request: OrgRequest, prospect_id: int) -> HttpResponse:
    """The custom-fields block: GET the edit form (`?cancel=1`: the read-only block), POST saves it."""
    prospect = _prospect(prospect_id)
    htmx = _is_htmx(request)
    if request.method == "GET" and request.GET.get("cancel"):
        context = {"prospect": prospect, "custom_rows": _custom_rows(prospect)}
        return render(request, "prospects/detail.html#custom-fields", context)
    form = CustomFieldsForm(request.POST if request.method == "POST" else None, prospect=prospect)
    if request.method == "POST" and form.is_valid():
        try:
            services.prospect_update(
                prospect=prospect, data={"custom_fields": form.cleaned_data["fields"]}, actor=request.user
            )
        except ValidationError as exc:
            form.add_error(None, error_text(exc))
        else:
            if not htmx:
                messages.success(request, "Custom fields saved.")
                return redirect("prospect_detail", prospect_id=prospect.pk)
            context = {"prospect": prospect, "custom_rows": _custom_rows(prospect), "custom_saved": True}
            response = render(request, "prospects/detail.html#custom-fields", context)
            return trigger_client_event(response, "timeline-changed")
    if htmx:
        context = {"prospect": prospect, "custom_form": form}
        return render(request, "prospects/detail.html#custom-fields-form", context)
    if form.is_bound:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect(reverse("prospect_detail", args=[prospect.pk]) + "?custom=edit#custom-fields")


@member_required
@require_GET
def prospect_profile(request: OrgRequest, prospect_id: int) -> HttpResponse:
    """The read-only profile block (what "Cancel" in the edit form swaps back in)."""
    return render(request, "prospects/detail.html#profile", {"prospect": _prospect(prospect_id)})


@member_required
@require_GET
def prospect_timeline(request: OrgRequest, prospect_id: int) -> HttpResponse:
    prospect = _prospect(prospect_id)
    context = {
        "prospect": prospect,
        "timeline": selectors.prospect_timeline(prospect=prospect),
        "notes": selectors.prospect_notes(prospect=prospect),
    }
    return render(request, "prospects/detail.html#timeline", context)


@member_required
@require_POST
def prospect_stage(request: OrgRequest, prospect_id: int) -> HttpResponse:
    prospect = _prospect(prospect_id)
    form = StageForm(request.POST)
    from_board = request.POST.get("view") == "board"
    if form.is_valid():
        services.prospect_change_stage(
            prospect=prospect, stage=form.cleaned_data["stage"], actor=request.user
        )
    elif not _is_htmx(request):
        messages.error(request, "Choose a valid stage.")
    if from_board:
        if not _is_htmx(request):
            return redirect("prospect_board")
        context = {**_board_context(), "moved_id": str(prospect.pk)}
        response = render(request, "prospects/board.html#columns", context)
        return response if form.is_valid() else HttpResponse(status=400)
    if not _is_htmx(request):
        return redirect("prospect_detail", prospect_id=prospect.pk)
    response = render(request, "prospects/detail.html#controls", _controls_context(prospect, stage_form=form))
    return trigger_client_event(response, "timeline-changed") if form.is_valid() else response


@member_required
@require_POST
def prospect_outcome(request: OrgRequest, prospect_id: int) -> HttpResponse:
    prospect = _prospect(prospect_id)
    form = OutcomeForm(request.POST)
    ok = form.is_valid()
    if ok:
        services.outcome_record(
            prospect=prospect,
            result=form.cleaned_data["result"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
        form = OutcomeForm()
    if not _is_htmx(request):
        if not ok:
            messages.error(request, "Choose won, lost or disqualified.")
        return redirect("prospect_detail", prospect_id=prospect.pk)
    context = _controls_context(prospect, outcome_form=form, outcome_saved=ok)
    response = render(request, "prospects/detail.html#controls", context)
    return trigger_client_event(response, "timeline-changed") if ok else response


@member_required
@require_POST
def prospect_note(request: OrgRequest, prospect_id: int) -> HttpResponse:
    prospect = _prospect(prospect_id)
    form = NoteForm(request.POST)
    ok = False
    if form.is_valid():
        try:
            services.note_create(prospect=prospect, body=form.cleaned_data["body"], author=request.user)
        except ValidationError as exc:
            form.add_error("body", error_text(exc))
        else:
            ok = True
            form = NoteForm()
    if not _is_htmx(request):
        if not ok:
            messages.error(request, "A note cannot be empty.")
        return redirect("prospect_detail", prospect_id=prospect.pk)
    response = render(request, "prospects/detail.html#note-form", {"prospect": prospect, "note_form": form})
    return trigger_client_event(response, "timeline-changed") if ok else response


# --- board -------------------------------------------------------------------------------------------------


class BoardCard(TypedDict):
    """One card of the board, prepared in Python (a board has up to 225 cards; see ListRow)."""

    prospect: Prospect
    id: str
    name: str
    label: str
    detail_url: str
    stage_url: str


def _board_cards(prospects: list[Prospect]) -> list[BoardCard]:
    detail_url, stage_url = id_url("prospect_detail"), id_url("prospect_stage")
    cards: list[BoardCard] = []
    for p in prospects:
        label = p.full_name or p.email
        cards.append(
            {
                "prospect": p,
                "id": str(p.pk),
                "name": label or "(no name)",
                "label": label,
                "detail_url": detail_url(p.pk),
                "stage_url": stage_url(p.pk),
            }
        )
    return cards


def _board_context() -> dict[str, Any]:
    columns = selectors.prospect_board()
    return {
        "columns": [(column, _board_cards(column.cards)) for column in columns],
        "list_url": reverse("prospect_list"),
    }


@member_required
@require_GET
def prospect_board(request: OrgRequest) -> HttpResponse:
    context = {**_board_context(), "nav": "prospects"}
    if _is_htmx(request) and request.htmx.target == "board-columns":  # type: ignore[attr-defined]
        return render(request, "prospects/board.html#columns", context)
    return render(request, "prospects/board.html", context)


# --- companies ---------------------------------------------------------------------------------------------


@member_required
@require_GET
def company_list(request: OrgRequest) -> HttpResponse:
    q = " ".join(request.GET.get("q", "").split())[:200]
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.company_search(q=q, cursor=cursor)
    except InvalidCursor:
        page = selectors.company_search(q=q)
    context = {"page": page, "q": q, "nav": "prospects"}
    if _is_htmx(request) and request.htmx.target == "company-results":  # type: ignore[attr-defined]
        return render(request, "prospects/companies.html#company-results", context)
    return render(request, "prospects/companies.html", context)


@member_required
@require_GET
def company_detail(request: OrgRequest, company_id: int) -> HttpResponse:
    company = get_for_org(Company, pk=company_id)
    prospects, total, capped = selectors.company_prospects(company=company)
    context = {
        "company": company,
        "prospects": prospects,
        "total": total,
        "capped": capped,
        "nav": "prospects",
    }
    return render(request, "prospects/company.html", context)


def _ids(values: list[str]) -> list[int]:
    return sorted({int(v) for v in values if v.strip().isdigit()})


def _detail_url(prospect: Prospect) -> str | None:
    try:
        return reverse("prospect_detail", args=[prospect.pk])
    except NoReverseMatch:
        return None


DUPLICATE_GROUPS_PER_PAGE = 20
# The fields a merge lets a person pick, in the order the confirmation shows them.
MERGE_PICK_FIELDS = [
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("email", "Email"),
    ("title", "Title"),
    ("seniority", "Seniority"),
    ("department", "Department"),
    ("company_name", "Company"),
    ("company_domain", "Company website"),
    ("phone", "Phone"),
    ("linkedin_url", "LinkedIn"),
    ("location", "Location"),
]


def _group_matches(group: merge.DuplicateGroup, q: str) -> bool:
    needle = q.lower()
    return any(
        needle in " ".join([p.full_name, p.email, p.company_name, p.company_domain, p.title]).lower()
        for p in group.prospects
    )


@require_GET
@member_required
def duplicate_list(request: OrgRequest) -> HttpResponse:
    merged = None
    if (merged_id := request.GET.get("merged", "")).isdigit():
        merged = Prospect.objects.filter(pk=int(merged_id)).first()
    q = " ".join(request.GET.get("q", "").split())[:200]
    groups = merge.duplicate_groups()
    if q:
        groups = [group for group in groups if _group_matches(group, q)]
    pages = max(1, -(-len(groups) // DUPLICATE_GROUPS_PER_PAGE))
    raw_page = request.GET.get("page", "1")
    page = min(max(int(raw_page) if raw_page.isdigit() else 1, 1), pages)
    start = (page - 1) * DUPLICATE_GROUPS_PER_PAGE
    context = {
        "groups": groups[start : start + DUPLICATE_GROUPS_PER_PAGE],
        "group_count": len(groups),
        "people_count": sum(len(group.prospects) for group in groups),
        "capped": not q and len(groups) >= merge.MAX_GROUPS,
        "q": q,
        "page": page,
        "pages": pages,
        "merged": merged,
        "merged_url": _detail_url(merged) if merged else None,
        "nav": "prospects",
    }
    return render(request, TEMPLATE, context)


def _merge_choices(everyone: list[Prospect], preview: dict[str, Any]) -> list[dict[str, Any]]:
    """For each field whose members differ: the distinct values, who has them, and the one the merge keeps."""
    rows = []
    for name, label in MERGE_PICK_FIELDS:
        options: dict[str, Prospect] = {}
        for p in everyone:
            value = getattr(p, name)
            if value not in ("", None):
                options.setdefault(value, p)
        if len(options) > 1:
            rows.append(
                {
                    "name": name,
                    "label": label,
                    "options": [(value, p, value == preview[name]) for value, p in options.items()],
                }
            )
    return rows


@require_POST
@member_required
def duplicate_merge(request: OrgRequest) -> HttpResponse:
    """Without `confirm`: show what the merge will keep, with a box per member (untick to leave one out) and a
    choice per field whose values differ. With it: merge and go back to the duplicates."""
    primary = get_for_org(Prospect, pk=request.POST.get("primary", ""))
    duplicate_ids = [pk for pk in _ids(request.POST.getlist("duplicates")) if pk != primary.pk]
    duplicates = list(Prospect.objects.filter(pk__in=duplicate_ids).order_by("pk"))
    if len(duplicates) != len(duplicate_ids):
        messages.error(request, "These duplicates no longer exist: the list has been refreshed.")
        return redirect("prospect_duplicates")
    if not duplicates and request.POST.get("confirm") == "1":
        messages.error(request, "Keep at least one other prospect in the merge.")
        return redirect("prospect_duplicates")
    members = [primary.pk, *duplicate_ids]
    picks = {
        name: int(value)
        for name, _ in MERGE_PICK_FIELDS
        if (value := request.POST.get(f"pick_{name}", "")).isdigit() and int(value) in members
    }
    if request.POST.get("confirm") != "1":
        # Everyone first offered stays on the page, so a member left out can be ticked back in.
        offered_ids = _ids(request.POST.getlist("offered")) or duplicate_ids
        offered = list(Prospect.objects.filter(pk__in=offered_ids).exclude(pk=primary.pk).order_by("pk"))
        preview = merge.merged_values(primary, duplicates, picks)
        context = {
            "primary": primary,
            "duplicates": duplicates,
            "offered": offered,
            "preview": preview,
            "choices": _merge_choices([primary, *duplicates], preview),
            "nav": "prospects",
        }
        template = f"{TEMPLATE}#confirm" if request.htmx else TEMPLATE  # type: ignore[attr-defined]
        return render(request, template, context)
    try:
        merged = merge.prospect_merge(primary=primary, duplicates=duplicates, actor=request.user, picks=picks)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("prospect_duplicates")
    messages.success(
        request, f"Merged {len(duplicates)} duplicate{'s' if len(duplicates) > 1 else ''} into {merged}."
    )
    return redirect(f"{reverse('prospect_duplicates')}?merged={merged.pk}")
