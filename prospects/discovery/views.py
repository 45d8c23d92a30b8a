"""Discovery pages: recent runs, start one from an ICP, and a run's counts updating live (HTMX polling)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from accounts.access import OrgRequest, member_required
from leadgen.errors import error_fields
from leadgen.tenancy import get_for_org
from prospects.discovery import selectors as discovery_selectors
from prospects.discovery import services as discovery
from prospects.models import ICP, DiscoveryRun, DiscoveryRunStatus


class DiscoveryRunForm(forms.Form):
    icp = forms.ModelChoiceField(queryset=ICP.objects.unscoped().none(), label="ICP", empty_label=None)
    sources = forms.MultipleChoiceField(choices=[], widget=forms.CheckboxSelectMultiple)
    max_prospects = forms.IntegerField(min_value=1, max_value=discovery.MAX_PROSPECTS_LIMIT, initial=100)
    min_score = forms.IntegerField(
        min_value=0, max_value=100, initial=0, help_text="Prospects below this score count as disqualified."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["icp"].queryset = ICP.objects.filter(is_active=True).order_by("name")  # type: ignore[attr-defined]
        # A source without its key is offered with the reason, never ticked in advance.
        problems = discovery.discovery_source_problems()
        sources = self.fields["sources"]
        assert isinstance(sources, forms.MultipleChoiceField)
        sources.choices = [
            (key, f"{source.label} ({problems[key]})" if problems[key] else source.label)
            for key, source in discovery.SOURCES.items()
        ]
        sources.initial = [key for key in discovery.SOURCES if not problems[key]][:1]


@member_required
def discovery_run_list(request: OrgRequest) -> HttpResponse:
    form = DiscoveryRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = discovery.discovery_run_create(
                org=request.org,
                icp=data["icp"],
                sources=data["sources"],
                max_prospects=data["max_prospects"],
                min_score=data["min_score"],
                actor=request.user,
            )
        except ValidationError as exc:
            for field, problems in error_fields(exc).items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, f"Discovery run for {run.icp.name} started.")
            return redirect("discovery_run_detail", discovery_run_id=run.pk)
    return render(
        request,
        "prospects/discovery_list.html",
        {"form": form, "runs": discovery_selectors.discovery_runs_recent(), "nav": "prospects"},
        status=400 if form.errors else 200,
    )


@member_required
def discovery_run_detail(request: OrgRequest, discovery_run_id: int) -> HttpResponse:
    run = get_for_org(DiscoveryRun.objects.select_related("icp"), pk=discovery_run_id)
    context = {
        "run": run,
        "polling": run.status in (DiscoveryRunStatus.QUEUED, DiscoveryRunStatus.RUNNING),
        "nav": "prospects",
    }
    if getattr(request, "htmx", False):
        return render(request, "prospects/discovery_detail.html#counts", context)
    return render(request, "prospects/discovery_detail.html", context)
