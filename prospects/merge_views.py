"""The duplicates page: groups of probable duplicates, a merge confirmation, and the merge itself."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from leadgen.access import OrgRequest, member_required
from leadgen.tenancy import get_for_org

from . import merge
from .models import Prospect

TEMPLATE = "prospects/duplicates.html"


def _ids(values: list[str]) -> list[int]:
    return sorted({int(v) for v in values if v.strip().isdigit()})


def _detail_url(prospect: Prospect) -> str | None:
    try:
        return reverse("prospect_detail", args=[prospect.pk])
    except NoReverseMatch:
        return None


@require_GET
@member_required
def duplicate_list(request: OrgRequest) -> HttpResponse:
    merged = None
    if (merged_id := request.GET.get("merged", "")).isdigit():
        merged = Prospect.objects.filter(pk=int(merged_id)).first()
    context = {
        "groups": merge.duplicate_groups(),
        "merged": merged,
        "merged_url": _detail_url(merged) if merged else None,
        "nav": "prospects",
    }
    return render(request, TEMPLATE, context)


@require_POST
@member_required
def duplicate_merge(request: OrgRequest) -> HttpResponse:
    """Without `confirm`: show what the merge will keep. With it: merge and go back to the duplicates."""
    primary = get_for_org(Prospect, pk=request.POST.get("primary", ""))
    duplicate_ids = [pk for pk in _ids(request.POST.getlist("duplicates")) if pk != primary.pk]
    duplicates = list(Prospect.objects.filter(pk__in=duplicate_ids).order_by("pk"))
    if not duplicates or len(duplicates) != len(duplicate_ids):
        messages.error(request, "These duplicates no longer exist: the list has been refreshed.")
        return redirect("prospect_duplicates")
    if request.POST.get("confirm") != "1":
        context = {
            "primary": primary,
            "duplicates": duplicates,
            "preview": merge.merged_values(primary, duplicates),
            "nav": "prospects",
        }
        template = f"{TEMPLATE}#confirm" if request.htmx else TEMPLATE  # type: ignore[attr-defined]
        return render(request, template, context)
    try:
        merged = merge.prospect_merge(primary=primary, duplicates=duplicates, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("prospect_duplicates")
    messages.success(
        request, f"Merged {len(duplicates)} duplicate{'s' if len(duplicates) > 1 else ''} into {merged}."
    )
    return redirect(f"{reverse('prospect_duplicates')}?merged={merged.pk}")
