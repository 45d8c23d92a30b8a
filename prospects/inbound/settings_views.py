"""Settings pages for inbound leads: lead forms and lead sources (Meta, Google)."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.access import OrgRequest, admin_required
from leadgen.tenancy import get_for_org
from prospects import normalize
from prospects.fields import tags_check
from prospects.inbound import services as ingestion
from prospects.models import LeadForm, LeadSourceSettings


class LeadFormForm(forms.ModelForm):
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://www.example.com"}),
        help_text="One website per line (https://host). Empty: any website may embed the form.",
    )
    tags = forms.CharField(
        required=False, help_text="Comma-separated; added to every prospect from this form."
    )

    class Meta:
        model = LeadForm
        fields = ["name", "redirect_url", "allowed_origins", "tags", "is_active"]
        labels = {"redirect_url": "Thank-you page URL", "is_active": "Accepting submissions"}
        help_texts = {"redirect_url": "Browsers are sent here after a plain HTML post. Empty: answer JSON."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["allowed_origins"] = "\n".join(self.instance.allowed_origins)
            self.initial["tags"] = ", ".join(self.instance.tags)

    def clean_allowed_origins(self) -> list[str]:
        origins = []
        for line in self.cleaned_data["allowed_origins"].splitlines():
            value = line.strip().rstrip("/")
            if not value:
                continue
            scheme, _, host = value.partition("://")
            if scheme not in ("http", "https") or not host or "/" in host or " " in host:
                raise ValidationError(f"{value[:80]!r} is not a website origin like https://www.example.com")
            origins.append(f"{scheme}://{host.lower()}")
        return list(dict.fromkeys(origins))

    def clean_tags(self) -> list[str]:
        try:
            return tags_check(normalize.tags(self.cleaned_data["tags"]))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


class LeadSourceForm(forms.Form):
    meta_verify_token = forms.CharField(
        max_length=200,
        required=False,
        label="Meta verify token",
        help_text="Paste this into Meta's webhook setup; Meta sends it back when it subscribes.",
    )
    meta_app_secret = forms.CharField(
        required=False, widget=forms.PasswordInput, label="Meta app secret", max_length=500
    )
    meta_page_access_token = forms.CharField(
        required=False, widget=forms.PasswordInput, label="Meta page access token", max_length=2000
    )
    google_key = forms.CharField(
        required=False, widget=forms.PasswordInput, label="Google Ads lead form key", max_length=500
    )
    generate_google_key = forms.BooleanField(required=False, label="Generate a new Google key for me")
    clear = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[
            ("meta_app_secret", "Remove the Meta app secret"),
            ("meta_page_access_token", "Remove the Meta page access token"),
            ("google_key", "Remove the Google key"),
        ],
    )


def _absolute(path: str) -> str:
    return settings.SITE_URL + path


@admin_required
def lead_form_list(request: OrgRequest) -> HttpResponse:
    form = LeadFormForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        lead_form = form.save(commit=False)
        lead_form.org = request.org
        ingestion.lead_form_save(lead_form=lead_form, actor=request.user)
        messages.success(request, f"Form “{lead_form.name}” created. Paste the snippet into your website.")
        return redirect("lead_form_edit", lead_form_id=lead_form.pk)
    context = {
        "form": form,
        "lead_forms": LeadForm.objects.order_by("name", "id"),
        "section": "lead_forms",
    }
    return render(request, "prospects/settings_lead_forms.html", context)


@admin_required
def lead_form_edit(request: OrgRequest, lead_form_id: int) -> HttpResponse:
    lead_form = get_for_org(LeadForm.objects.select_related("org"), pk=lead_form_id)
    form = LeadFormForm(request.POST or None, instance=lead_form)
    if request.method == "POST" and form.is_valid():
        ingestion.lead_form_save(lead_form=form.save(commit=False), actor=request.user)
        messages.success(request, "Form saved.")
        return redirect("lead_form_edit", lead_form_id=lead_form.pk)
    context = {
        "form": form,
        "lead_form": lead_form,
        "submit_url": _absolute(reverse("lead_form_submit", kwargs={"form_key": lead_form.key})),
        "section": "lead_forms",
    }
    return render(request, "prospects/settings_lead_form.html", context)


@admin_required
@require_POST
def lead_form_delete(request: OrgRequest, lead_form_id: int) -> HttpResponse:
    lead_form = get_for_org(LeadForm.objects.select_related("org"), pk=lead_form_id)
    ingestion.lead_form_delete(lead_form=lead_form, actor=request.user)
    messages.success(request, f"Form “{lead_form.name}” deleted; its URL no longer accepts submissions.")
    return redirect("lead_form_list")


@admin_required
def lead_sources(request: OrgRequest) -> HttpResponse:
    source_settings: LeadSourceSettings = ingestion.lead_source_settings_for(org=request.org)
    form = LeadSourceForm(
        request.POST or None, initial={"meta_verify_token": source_settings.meta_verify_token}
    )
    new_google_key = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes: dict[str, str] = {"meta_verify_token": data["meta_verify_token"]}
        # Secrets are write-only: an empty box keeps the stored value.
        for name in ingestion.LEAD_SOURCE_SECRETS:
            if data[name]:
                changes[name] = data[name]
        for name in data["clear"]:
            changes[name] = ""
        if data["generate_google_key"]:
            new_google_key = changes["google_key"] = secrets.token_urlsafe(32)
        changed = ingestion.lead_source_settings_update(
            source_settings=source_settings, actor=request.user, changes=changes
        )
        messages.success(request, "Lead sources saved." if changed else "Nothing changed.")
        if new_google_key is None:
            return redirect("lead_sources")
        form = LeadSourceForm(initial={"meta_verify_token": source_settings.meta_verify_token})
    context = {
        "form": form,
        "source_settings": source_settings,
        "secret_set": {name: bool(getattr(source_settings, name)) for name in ingestion.LEAD_SOURCE_SECRETS},
        "meta_url": _absolute(reverse("meta_webhook", kwargs={"source_key": source_settings.public_id})),
        "google_url": _absolute(reverse("google_webhook", kwargs={"source_key": source_settings.public_id})),
        "new_google_key": new_google_key,
        "deliveries": ingestion.recent_deliveries(),
        "section": "lead_sources",
    }
    return render(request, "prospects/settings_lead_sources.html", context)
