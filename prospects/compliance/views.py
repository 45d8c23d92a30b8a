"""Compliance pages: the suppression list (admins) and one prospect's GDPR export (members) and erasure (admins)."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterable

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import OrgRequest, admin_required, member_required
from leadgen.errors import error_text
from leadgen.tenancy import get_for_org
from prospects.compliance import services as compliance
from prospects.models import Prospect, Suppression


@member_required
@require_GET
def prospect_gdpr_export(request: OrgRequest, prospect_id: int) -> HttpResponse:
    prospect = get_for_org(Prospect.objects.select_related("company", "org"), pk=prospect_id)
    document = compliance.prospect_export(prospect=prospect, actor=request.user)
    response = HttpResponse(
        json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="prospect-{prospect.pk}-personal-data.json"'
    response["Cache-Control"] = "no-store"
    return response


@admin_required
@require_http_methods(["GET", "POST"])
def prospect_gdpr_erase(request: OrgRequest, prospect_id: int) -> HttpResponse:
    prospect = get_for_org(Prospect.objects.select_related("org"), pk=prospect_id)
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm") == "erase":
            report = compliance.prospect_erase(prospect=prospect, actor=request.user)
            removed = sum(report.deleted.values())
            messages.success(
                request,
                f"The person was erased ({removed} records deleted)."
                + (" Their email stays only as a hash on the suppression list." if report.email_hash else ""),
            )
            return redirect("prospect_list")
        error = "Tick the box to confirm: erasure cannot be undone."
    context = {
        "prospect": prospect,
        "deliveries": compliance.person_deliveries(prospect=prospect).count(),
        "error": error,
    }
    return render(request, "prospects/gdpr_erase.html", context, status=400 if error else 200)


class SuppressionAddForm(forms.Form):
    value = forms.CharField(max_length=254, label="Email or domain")
    reason = forms.CharField(max_length=255, required=False)


class SuppressionImportForm(forms.Form):
    values = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        label="Paste emails or domains",
        help_text="One per line; the first column of a CSV works too.",
    )
    file = forms.FileField(required=False, label="…or upload a text/CSV file")
    reason = forms.CharField(max_length=255, required=False)


@admin_required
def suppression_list(request: OrgRequest) -> HttpResponse:
    add_form = SuppressionAddForm(request.POST or None)
    if request.method == "POST" and add_form.is_valid():
        try:
            suppression = compliance.suppression_add(
                org=request.org,
                value=add_form.cleaned_data["value"],
                actor=request.user,
                reason=add_form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_form.add_error("value", error_text(exc))
        else:
            messages.success(request, f"{suppression.value} will never be imported or contacted.")
            return redirect("suppression_list")
    query = request.GET.get("q", "").strip().lower()
    entries = Suppression.objects.select_related("created_by").order_by("-created_at", "-id")
    if query:
        entries = entries.filter(value__contains=query)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    context = {
        "add_form": add_form,
        "import_form": SuppressionImportForm(),
        "page": page,
        "q": query,
        "section": "suppression",
    }
    template = "prospects/settings_suppression.html"
    return render(request, f"{template}#table" if request.htmx else template, context)  # type: ignore[attr-defined]


@admin_required
@require_POST
def suppression_import(request: OrgRequest) -> HttpResponse:
    form = SuppressionImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "The import could not be read.")
        return redirect("suppression_list")
    lines: Iterable[str] = form.cleaned_data["values"].splitlines()
    upload = form.cleaned_data["file"]
    if upload is not None:
        # Streamed line by line: a large list never sits in memory as one string.
        lines = itertools.chain(lines, io.TextIOWrapper(upload.file, encoding="utf-8-sig", errors="replace"))
    try:
        result = compliance.suppression_import(
            org=request.org, lines=lines, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("suppression_list")
    text = f"Added {result.added}; {result.already} were already on the list."
    if result.invalid:
        text += f" Not understood: {', '.join(result.invalid[:10])}" + (
            "…" if len(result.invalid) > 10 else ""
        )
    messages.success(request, text)
    return redirect("suppression_list")


@admin_required
@require_POST
def suppression_remove(request: OrgRequest, suppression_id: int) -> HttpResponse:
    suppression = get_for_org(Suppression.objects.select_related("org"), pk=suppression_id)
    try:
        compliance.suppression_remove(suppression=suppression, actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{suppression.value} removed from the suppression list.")
    return redirect("suppression_list")
