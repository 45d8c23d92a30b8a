"""ICP pages: list, create/edit (with live top matches), the ICP page with its ranked prospects, delete."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import OrgRequest, member_required
from leadgen.errors import error_text
from leadgen.tenancy import get_for_org
from prospects.icps import selectors as icp_selectors
from prospects.icps.forms import ICPForm
from prospects.icps.services import icp_build, icp_create, icp_delete, icp_make_primary, icp_update
from prospects.models import ICP
from prospects.plain_words import seniority_label
from prospects.scoring.criteria import criteria_summary
from prospects.scoring.embedding import icp_matches
from prospects.scoring.selectors import primary_icp

TEMPLATE_FORM = "prospects/icp_form.html"
DETAIL_MATCHES = 25


def _apply_errors(form: ICPForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            field = name if name in form.fields else None
            for message in errors:
                form.add_error(field, message)
    else:
        form.add_error(None, exc)


def _picker(form: ICPForm | None, icp: ICP | None) -> icp_selectors.ExamplePicker:
    if form is not None and form.is_bound:
        prospect_ids = (
            form.cleaned_data.get("example_prospect_ids", []) if hasattr(form, "cleaned_data") else []
        )
        company_ids = (
            form.cleaned_data.get("example_company_ids", []) if hasattr(form, "cleaned_data") else []
        )
    else:
        prospect_ids = icp.example_prospect_ids if icp else []
        company_ids = icp.example_company_ids if icp else []
    return icp_selectors.example_picker(q="", prospect_ids=prospect_ids, company_ids=company_ids)


def _criteria_lines(icp: ICP) -> list[str]:
    """The ICP's criteria in words, seniority codes as their labels (c_suite → C-level)."""
    criteria = dict(icp.criteria or {})
    if criteria.get("seniorities"):
        criteria["seniorities"] = [seniority_label(s) for s in criteria["seniorities"]]
    return criteria_summary(criteria)


def _form_page(request: OrgRequest, form: ICPForm, icp: ICP | None, status: int = 200) -> HttpResponse:
    context: dict[str, Any] = {"nav": "icps", "form": form, "icp": icp, "picker": _picker(form, icp)}
    return render(request, TEMPLATE_FORM, context, status=status)


@member_required
@require_GET
def icp_list(request: OrgRequest) -> HttpResponse:
    icps = icp_selectors.icp_list()
    rows = [(icp, _criteria_lines(icp)) for icp in icps]
    primary = primary_icp()
    context = {"nav": "icps", "rows": rows, "primary_id": primary.pk if primary else None}
    return render(request, "prospects/icp_list.html", context)


@member_required
@require_http_methods(["GET", "POST"])
def icp_new(request: OrgRequest) -> HttpResponse:
    if request.method != "POST":
        return _form_page(request, ICPForm(initial={"is_active": True}), None)
    form = ICPForm(request.POST)
    if form.is_valid():
        try:
            icp = icp_create(data=form.service_data(), actor=request.user)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"ICP “{icp.name}” created.")
            return redirect("icp_detail", icp_id=icp.pk)
    return _form_page(request, form, None, status=422)


@member_required
@require_GET
def icp_detail(request: OrgRequest, icp_id: int) -> HttpResponse:
    icp = get_for_org(ICP, pk=icp_id)
    matches = icp_matches(icp=icp, limit=DETAIL_MATCHES)
    context = {
        "nav": "icps",
        "icp": icp,
        "criteria": _criteria_lines(icp),
        "matches": matches,
        "picker": _picker(None, icp),
        "is_primary": (primary := primary_icp()) is not None and primary.pk == icp.pk,
    }
    return render(request, "prospects/icp_detail.html", context)


@member_required
@require_POST
def icp_primary(request: OrgRequest, icp_id: int) -> HttpResponse:
    """Make this ICP the one whose score the prospect list, board and prospect pages show by default."""
    icp = get_for_org(ICP, pk=icp_id)
    try:
        icp_make_primary(icp=icp)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(
            request, f"“{icp.name}” is now the primary ICP: scores shown without a chosen ICP are its."
        )
    return redirect("icp_detail", icp_id=icp.pk)


@member_required
@require_http_methods(["GET", "POST"])
def icp_edit(request: OrgRequest, icp_id: int) -> HttpResponse:
    icp = get_for_org(ICP, pk=icp_id)
    if request.method != "POST":
        return _form_page(request, ICPForm.for_icp(icp), icp)
    form = ICPForm(request.POST)
    if form.is_valid():
        try:
            icp_update(icp=icp, data=form.service_data())
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "ICP saved.")
            return redirect("icp_detail", icp_id=icp.pk)
    return _form_page(request, form, icp, status=422)


@member_required
@require_POST
def icp_delete_view(request: OrgRequest, icp_id: int) -> HttpResponse:
    icp = get_for_org(ICP, pk=icp_id)
    name = icp.name
    icp_delete(icp=icp)
    messages.success(request, f"ICP “{name}” deleted.")
    return redirect("icp_list")


@member_required
@require_POST
def icp_preview(request: OrgRequest) -> HttpResponse:
    """The editor's live top matches for the criteria as typed (nothing is saved)."""
    form = ICPForm(request.POST)
    matches: list[icp_selectors.PreviewMatch] = []
    error = ""
    if not form.is_valid():
        error = "Fix the highlighted fields to see matches."
    else:
        data = form.service_data()
        data["name"] = data["name"] or "Draft"
        try:
            matches = icp_selectors.icp_preview(icp=icp_build(data=data))
        except ValidationError as exc:
            error = error_text(exc)
    return render(request, f"{TEMPLATE_FORM}#live-matches", {"matches": matches, "preview_error": error})


@member_required
@require_GET
def icp_examples(request: OrgRequest) -> HttpResponse:
    """The example-customer picker: chosen examples stay checked, the search adds candidates."""
    form = ICPForm(request.GET)
    form.is_valid()  # only the two id lists are read; other fields may be incomplete
    picker = icp_selectors.example_picker(
        q=request.GET.get("example_q", ""),
        prospect_ids=form.cleaned_data.get("example_prospect_ids", []),
        company_ids=form.cleaned_data.get("example_company_ids", []),
    )
    return render(request, f"{TEMPLATE_FORM}#examples", {"picker": picker})
