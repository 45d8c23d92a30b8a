"""GDPR pages of one prospect: export everything held on them (members), erase them (admins)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from leadgen.access import OrgRequest, admin_required, member_required
from leadgen.tenancy import get_for_org

from . import compliance
from .models import Prospect


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
