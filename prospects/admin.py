"""Django admin for operators: every organisation's prospects data, read-only.

Writes go through services (audit log, dedup, suppression, the pipeline), so the admin only shows: no add, change or
delete. Querysets use `.unscoped()` (the default manager refuses to run without an organisation in scope) and every
list shows the organisation first. Secrets (provider keys, webhook secrets, lead-source tokens) are never shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from prospects.models import (
    ICP,
    Activity,
    Company,
    DiscoveryRun,
    EnrichmentLog,
    Import,
    ImportRowError,
    LeadForm,
    LeadSourceSettings,
    Note,
    Notification,
    Outcome,
    PipelineSettings,
    Prospect,
    Qualification,
    ScoringModel,
    Suppression,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)


class ReadOnlyOrgAdmin(admin.ModelAdmin):
    """Every organisation's rows, newest first, org shown and filterable; nothing can be written here."""

    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over millions of prospects on every page is not worth it

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        related = self.list_select_related if isinstance(self.list_select_related, list | tuple) else ()
        qs = self.model.objects.unscoped().select_related("org", *related)
        ordering = self.get_ordering(request)
        return qs.order_by(*ordering) if ordering else qs

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        # Every field, shown read-only: no model form is built, so no foreign-key choice list queries a scoped
        # manager (which would refuse without an org in scope).
        excluded = set(self.exclude or ())
        return tuple(
            f.name for f in self.model._meta.concrete_fields if not f.primary_key and f.name not in excluded
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        return self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Prospect)
class ProspectAdmin(ReadOnlyOrgAdmin):
    list_display = (
        "org",
        "email",
        "first_name",
        "last_name",
        "company_name",
        "stage",
        "score",
        "tier",
        "source",
    )
    list_filter = ("org", "stage", "tier", "source", "do_not_contact")
    search_fields = ("email", "first_name", "last_name", "company_name", "linkedin_url")
    ordering = ("-created_at", "-id")
    date_hierarchy = "created_at"
    exclude = ("search_text",)


@admin.register(Company)
class CompanyAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "name", "domain", "industry", "employee_count")
    list_filter = ("org",)
    search_fields = ("name", "domain")
    ordering = ("name", "id")


@admin.register(Note)
class NoteAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "prospect", "author", "created_at", "__str__")
    list_select_related = ("org", "prospect", "author")
    list_filter = ("org",)
    search_fields = ("body", "prospect__email")
    ordering = ("-created_at", "-id")


@admin.register(Activity)
class ActivityAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "prospect", "kind", "summary", "actor", "created_at")
    list_select_related = ("org", "prospect", "actor")
    list_filter = ("org", "kind")
    search_fields = ("prospect__email", "summary")
    ordering = ("-created_at", "-id")


@admin.register(Outcome)
class OutcomeAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "prospect", "result", "reason", "source", "created_at")
    list_select_related = ("org", "prospect")
    list_filter = ("org", "result", "source")
    search_fields = ("prospect__email", "reason")
    ordering = ("-created_at", "-id")


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "kind", "value", "reason", "created_by", "created_at")
    list_select_related = ("org", "created_by")
    list_filter = ("org", "kind")
    search_fields = ("value", "reason")
    ordering = ("-created_at", "-id")


@admin.register(Import)
class ImportAdmin(ReadOnlyOrgAdmin):
    list_display = (
        "org",
        "original_name",
        "status",
        "total_rows",
        "created_count",
        "updated_count",
        "failed_count",
        "created_at",
    )
    list_filter = ("org", "status")
    search_fields = ("original_name", "error")
    ordering = ("-created_at", "-id")


@admin.register(ImportRowError)
class ImportRowErrorAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "job", "line", "reason")
    list_select_related = ("org", "job")
    list_filter = ("org",)
    search_fields = ("reason", "job__original_name")
    ordering = ("job", "line", "id")


@admin.register(ICP)
class ICPAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "name", "is_active", "created_at", "updated_at")
    list_filter = ("org", "is_active")
    search_fields = ("name", "description")
    ordering = ("org", "name", "id")
    exclude = ("embedding",)


@admin.register(Qualification)
class QualificationAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "prospect", "icp", "score", "tier", "provider", "created_at")
    list_select_related = ("org", "prospect", "icp")
    list_filter = ("org", "tier", "provider")
    search_fields = ("prospect__email", "icp__name", "reasoning")
    ordering = ("-created_at", "-id")


@admin.register(EnrichmentLog)
class EnrichmentLogAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "provider", "operation", "prospect", "company", "cost_usd", "error", "created_at")
    list_select_related = ("org", "prospect", "company")
    list_filter = ("org", "provider")
    search_fields = ("prospect__email", "company__domain", "error")
    ordering = ("-created_at", "-id")


@admin.register(PipelineSettings)
class PipelineSettingsAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "monthly_budget_usd", "freshness_days", "qualification_threshold", "updated_at")
    ordering = ("org",)
    exclude = ("hunter_api_key", "apollo_api_key", "pdl_api_key", "openai_api_key", "slack_webhook_url")


@admin.register(ScoringModel)
class ScoringModelAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "auc", "trained_on", "is_active", "created_at")
    list_filter = ("org", "is_active")
    ordering = ("-created_at", "-id")


@admin.register(DiscoveryRun)
class DiscoveryRunAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "icp", "status", "discovered", "qualified", "disqualified", "failed", "created_at")
    list_select_related = ("org", "icp")
    list_filter = ("org", "status")
    search_fields = ("icp__name", "error")
    ordering = ("-created_at", "-id")


@admin.register(LeadForm)
class LeadFormAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "name", "is_active", "redirect_url", "created_at")
    list_filter = ("org", "is_active")
    search_fields = ("name", "key")
    ordering = ("org", "name", "id")


@admin.register(LeadSourceSettings)
class LeadSourceSettingsAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "public_id")
    ordering = ("org",)
    exclude = ("meta_verify_token", "meta_app_secret", "meta_page_access_token", "google_key")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "source", "status", "dedupe_key", "prospect", "received_at", "processed_at")
    list_select_related = ("org", "prospect")
    list_filter = ("org", "source", "status")
    search_fields = ("dedupe_key", "error")
    ordering = ("-received_at", "-id")
    exclude = ("headers",)  # may carry the provider's signature


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "url", "events", "is_active", "created_at")
    list_filter = ("org", "is_active")
    search_fields = ("url",)
    ordering = ("org", "url", "id")
    exclude = ("secret",)


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "event_type", "endpoint", "status", "attempts", "last_status_code", "created_at")
    list_select_related = ("org", "endpoint")
    list_filter = ("org", "status", "event_type")
    search_fields = ("message_id", "endpoint__url", "last_error")
    ordering = ("-created_at", "-id")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyOrgAdmin):
    list_display = ("org", "kind", "title", "user", "read_at", "created_at")
    list_select_related = ("org", "user")
    list_filter = ("org", "kind")
    search_fields = ("title", "body")
    ordering = ("-created_at", "-id")
