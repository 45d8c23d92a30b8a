"""CRM sync routes, included by prospects/urls.py."""

from __future__ import annotations

from django.urls import path

from prospects.crm import views

urlpatterns: list = [
    path("settings/integrations/", views.crm_settings, name="crm_settings"),
    path("prospects/<int:prospect_id>/crm/", views.prospect_crm, name="prospect_crm"),
    path("prospects/crm/push/", views.crm_bulk_push, name="crm_bulk_push"),
    # Public, keyed by an unguessable hook key (never the org id), authenticated by signature.
    path("hooks/hubspot/<uuid:crm_hook_key>", views.hubspot_webhook, name="crm_hubspot_webhook"),
    path("hooks/outcomes/<str:outcome_hook_key>", views.outcome_hook, name="crm_outcome_hook"),
]
