from __future__ import annotations

from django.urls import path

from prospects import views
from prospects.compliance import views as gdpr_views
from prospects.crm import urls as crm_urls
from prospects.discovery import views as discovery_views
from prospects.icps import views as icp_views
from prospects.imports import views as import_views
from prospects.inbound import settings_views
from prospects.inbound import views as hooks
from prospects.routing import views as routing_views
from prospects.scoring import views as scoring_views

urlpatterns: list = [
    path("prospects/", views.prospect_list, name="prospect_list"),
    path("prospects/bulk/", views.prospect_bulk, name="prospect_bulk"),
    path("prospects/export.csv", views.prospect_export, name="prospect_export"),
    path("prospects/views/", views.saved_view_create, name="saved_view_create"),
    path("prospects/views/<int:saved_view_id>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("prospects/board/", views.prospect_board, name="prospect_board"),
    path("prospects/new/", views.prospect_new, name="prospect_new"),
    path("prospects/<int:prospect_id>/", views.prospect_detail, name="prospect_detail"),
    path("prospects/<int:prospect_id>/edit/", views.prospect_edit, name="prospect_edit"),
    path("prospects/<int:prospect_id>/profile/", views.prospect_profile, name="prospect_profile"),
    path(
        "prospects/<int:prospect_id>/custom-fields/",
        views.prospect_custom_fields,
        name="prospect_custom_fields",
    ),
    path("prospects/<int:prospect_id>/timeline/", views.prospect_timeline, name="prospect_timeline"),
    path("prospects/<int:prospect_id>/stage/", views.prospect_stage, name="prospect_stage"),
    path("prospects/<int:prospect_id>/outcome/", views.prospect_outcome, name="prospect_outcome"),
    path("prospects/<int:prospect_id>/notes/", views.prospect_note, name="prospect_note"),
    path("companies/", views.company_list, name="company_list"),
    path("companies/<int:company_id>/", views.company_detail, name="company_detail"),
    path("prospects/imports/", import_views.import_list, name="import_list"),
    path("prospects/imports/<int:import_id>/", import_views.import_detail, name="import_detail"),
    path("prospects/imports/<int:import_id>/preview/", import_views.import_preview, name="import_preview"),
    path(
        "prospects/imports/<int:import_id>/errors.csv",
        import_views.import_errors_csv,
        name="import_errors_csv",
    ),
    path("prospects/duplicates/", views.duplicate_list, name="prospect_duplicates"),
    path("prospects/duplicates/merge/", views.duplicate_merge, name="prospect_merge"),
    # Inbound leads (public; keyed by form key / the org's lead-source public id, never by org id).
    path("hooks/forms/<str:form_key>", hooks.form_submit, name="lead_form_submit"),
    path("hooks/meta/<uuid:source_key>", hooks.meta_webhook, name="meta_webhook"),
    path("hooks/google/<uuid:source_key>", hooks.google_webhook, name="google_webhook"),
    path("settings/lead-forms/", settings_views.lead_form_list, name="lead_form_list"),
    path("settings/lead-forms/<int:lead_form_id>/", settings_views.lead_form_edit, name="lead_form_edit"),
    path(
        "settings/lead-forms/<int:lead_form_id>/delete/",
        settings_views.lead_form_delete,
        name="lead_form_delete",
    ),
    path("settings/lead-sources/", settings_views.lead_sources, name="lead_sources"),
    path("settings/scoring/", scoring_views.scoring_settings, name="scoring_settings"),
    path("settings/suppression/", gdpr_views.suppression_list, name="suppression_list"),
    path("settings/suppression/import/", gdpr_views.suppression_import, name="suppression_import"),
    path(
        "settings/suppression/<int:suppression_id>/remove/",
        gdpr_views.suppression_remove,
        name="suppression_remove",
    ),
    path("settings/pipeline/", scoring_views.pipeline_settings, name="pipeline_settings"),
    path(
        "prospects/<int:prospect_id>/enrichment/",
        scoring_views.prospect_enrichment,
        name="prospect_enrichment",
    ),
    path(
        "prospects/<int:prospect_id>/gdpr/export",
        gdpr_views.prospect_gdpr_export,
        name="prospect_gdpr_export",
    ),
    path(
        "prospects/<int:prospect_id>/gdpr/erase", gdpr_views.prospect_gdpr_erase, name="prospect_gdpr_erase"
    ),
    # The pipeline's routing (notifications, outbound webhooks) and discovery runs.
    path("notifications/", routing_views.notification_list, name="notification_list"),
    path("notifications/badge/", routing_views.notification_badge, name="notification_badge"),
    path("notifications/read/", routing_views.notification_read_all, name="notification_read_all"),
    path("settings/webhooks/", routing_views.webhook_endpoint_list, name="webhook_endpoint_list"),
    path(
        "settings/webhooks/<int:webhook_endpoint_id>/",
        routing_views.webhook_endpoint_detail,
        name="webhook_endpoint_detail",
    ),
    path("prospects/discovery/", discovery_views.discovery_run_list, name="discovery_run_list"),
    path(
        "prospects/discovery/<int:discovery_run_id>/",
        discovery_views.discovery_run_detail,
        name="discovery_run_detail",
    ),
    # Ideal customer profiles.
    path("icps/", icp_views.icp_list, name="icp_list"),
    path("icps/new/", icp_views.icp_new, name="icp_new"),
    path("icps/preview/", icp_views.icp_preview, name="icp_preview"),
    path("icps/examples/", icp_views.icp_examples, name="icp_examples"),
    path("icps/<int:icp_id>/", icp_views.icp_detail, name="icp_detail"),
    path("icps/<int:icp_id>/edit/", icp_views.icp_edit, name="icp_edit"),
    path("icps/<int:icp_id>/delete/", icp_views.icp_delete_view, name="icp_delete"),
    path("icps/<int:icp_id>/primary/", icp_views.icp_primary, name="icp_primary"),
    # CRM sync: Settings → Integrations, the prospect page's CRM block, HubSpot and generic outcome hooks.
    *crm_urls.urlpatterns,
]
