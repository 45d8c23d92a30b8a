"""Settings → Email writing: what drafts may say and where tracking links point."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import OrgRequest, admin_required
from accounts.services import audit_record

from .drafts import draft_month_spend
from .forms import OutreachSettingsForm
from .org_settings import outreach_settings_get, outreach_settings_update

FIELDS = ("value_proposition", "banned_phrases", "default_locale", "tracking_domain")


@admin_required
@require_http_methods(["GET", "POST"])
def outreach_settings(request: OrgRequest) -> HttpResponse:
    current = outreach_settings_get(org_id=request.org.pk)
    form = OutreachSettingsForm.for_settings(current, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        before = {name: getattr(current, name) for name in FIELDS}
        try:
            row = outreach_settings_update(org_id=request.org.pk, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            changed = sorted(name for name in FIELDS if getattr(row, name) != before[name])
            if changed:
                audit_record(
                    org=request.org, actor=request.user, action="outreach_settings.updated", target=row,
                    data={"fields": changed},
                )  # fmt: skip
            messages.success(request, "Email writing settings saved." if changed else "Nothing changed.")
            return redirect("outreach_settings")
    context = {
        "form": form,
        "section": "email_writing",
        "app_host": urlsplit(settings.SITE_URL).hostname or "",
        "draft_spend": draft_month_spend(),
    }
    return render(request, "outreach/settings_writing.html", context, status=422 if form.errors else 200)
