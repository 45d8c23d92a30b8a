"""CSV import pages: upload, column mapping with a live preview, progress (HTMX polling) and the result."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import OrgRequest, member_required
from leadgen.streaming import streamed
from leadgen.tenancy import get_for_org
from prospects.imports import formats
from prospects.imports import services as import_services
from prospects.models import Import, ImportRowError, ImportStatus

RECENT_IMPORTS = 50
SHOWN_ERRORS = 100


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Exports of Apollo, HubSpot, LinkedIn Sales Navigator, Salesforce or any spreadsheet saved as CSV.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,text/csv"}),
    )


class StartForm(forms.Form):
    """The column mapping (one select per column) and the import options."""

    update_existing = forms.TypedChoiceField(
        label="People already in your list",
        choices=[
            ("1", "Update them and their companies with the file's values"),
            ("0", "Skip them (their companies only gain what they lack)"),
        ],
        coerce=lambda value: value == "1",
        initial="1",
        widget=forms.RadioSelect,
    )
    tags = forms.CharField(
        label="Tags for every imported prospect",
        required=False,
        max_length=500,
        help_text="Comma separated, e.g. “webinar-2025, emea”.",
    )

    def __init__(self, *args: Any, job: Import, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job = job
        for index, header in enumerate(job.headers):
            self.fields[f"col{index}"] = forms.ChoiceField(
                label=header,
                choices=_target_choices(header),
                initial=job.mapping.get(header, formats.IGNORE),
            )

    def column_fields(self) -> list[forms.BoundField]:
        return [self[f"col{index}"] for index in range(len(self.job.headers))]

    def mapping(self) -> dict[str, str]:
        """The mapping as submitted (also from an incomplete form, for the preview)."""
        data = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else {}
        mapping = {}
        for index, header in enumerate(self.job.headers):
            key = f"col{index}"
            value = data.get(key) or (self.data.get(key) if self.is_bound else None)
            mapping[header] = value or self.job.mapping.get(header, formats.IGNORE)
        return mapping

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for problem in formats.mapping_errors(self.job.headers, self.mapping()):
            self.add_error(None, problem)
        return cleaned


def _target_choices(header: str) -> list[tuple[str, str]]:
    return [
        *formats.FIELD_TARGETS.items(),
        (
            formats.custom_target(header),
            f"Keep as custom field “{formats.custom_target(header)[len(formats.CUSTOM_PREFIX) :]}”",
        ),
        (formats.IGNORE, "Ignore this column"),
    ]


@member_required
def import_list(request: OrgRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_services.import_create(
                org=request.org, user=request.user, upload=upload, name=upload.name
            )
        except formats.ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("import_detail", import_id=job.pk)
    imports = Import.objects.select_related("created_by").order_by("-created_at", "-id")[:RECENT_IMPORTS]
    return render(
        request,
        "prospects/import_list.html",
        {"form": form, "imports": imports, "nav": "prospects"},
        status=400 if form.errors else 200,
    )


@member_required
def import_detail(request: OrgRequest, import_id: int) -> HttpResponse:
    job = get_for_org(Import.objects.select_related("created_by"), pk=import_id)
    if getattr(request, "htmx", False) and job.status != ImportStatus.UPLOADED:
        return render(request, "prospects/import_detail.html#progress", _result_context(job))
    if job.status != ImportStatus.UPLOADED:
        return render(request, "prospects/import_detail.html", _result_context(job))
    form = StartForm(request.POST or None, job=job)
    if request.method == "POST" and form.is_valid():
        try:
            import_services.import_start(
                job=job,
                mapping=form.mapping(),
                update_existing=form.cleaned_data["update_existing"],
                tags=form.cleaned_data["tags"],
            )
        except ValidationError as exc:
            for problem in exc.messages:
                form.add_error(None, problem)
        else:
            messages.success(request, f"Import of {job.original_name} started.")
            return redirect("import_detail", import_id=job.pk)
    return render(
        request,
        "prospects/import_detail.html",
        _mapping_context(job, form),
        status=400 if form.errors else 200,
    )


@member_required
@require_POST
def import_preview(request: OrgRequest, import_id: int) -> HttpResponse:
    """The preview table for the mapping currently chosen in the form (HTMX, on every change)."""
    job = get_for_org(Import, pk=import_id)
    form = StartForm(request.POST, job=job)
    form.is_valid()
    context = {"job": job, "preview_rows": _preview(job, form), "mapping_problems": form.non_field_errors()}
    return render(request, "prospects/import_detail.html#preview", context)


@member_required
def import_errors_csv(request: OrgRequest, import_id: int) -> HttpResponse:
    job = get_for_org(Import, pk=import_id)
    response = streamed(request, import_services.failed_rows_csv(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-failed-rows.csv"'
    return response  # type: ignore[return-value]  # streamed: the file can hold a million rows


def _preview(job: Import, form: StartForm) -> list[import_services.PreviewRow]:
    try:
        return import_services.preview(job, form.mapping())
    except (formats.ImportFileError, OSError):
        return []


def _mapping_context(job: Import, form: StartForm) -> dict[str, Any]:
    try:
        samples = import_services.sample_values(job)
    except (formats.ImportFileError, OSError):
        samples = [[] for _ in job.headers]
    return {
        "job": job,
        "form": form,
        "columns": list(zip(form.column_fields(), samples, strict=True)),
        "preview_rows": _preview(job, form),
        "mapping_problems": form.non_field_errors() if form.is_bound else [],
        "delimiter_name": formats.DELIMITER_NAMES.get(job.delimiter, job.delimiter),
        "nav": "prospects",
    }


def _result_context(job: Import) -> dict[str, Any]:
    finished = job.status in (ImportStatus.DONE, ImportStatus.FAILED)
    errors = (
        list(ImportRowError.objects.filter(job=job).order_by("line")[:SHOWN_ERRORS])
        if finished and job.failed_count
        else []
    )
    return {
        "job": job,
        "finished": finished,
        "polling": not finished,
        "row_errors": errors,
        "more_errors": max(job.failed_count - len(errors), 0),
        "nav": "prospects",
    }
