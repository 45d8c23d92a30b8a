from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("analytics/", views.breakdowns, name="analytics"),
    path("analytics/heatmap/", views.heatmap, name="analytics_heatmap"),
    path("analytics/cost/", views.cost, name="analytics_cost"),
    path("analytics/score/", views.calibration, name="analytics_calibration"),
    path("analytics/deliverability/", views.deliverability, name="analytics_deliverability"),
    path("analytics/campaigns/<int:campaign_id>/", views.campaign_report, name="analytics_campaign"),
    path(
        "analytics/campaigns/<int:campaign_id>/promote",
        views.campaign_promote,
        name="analytics_campaign_promote",
    ),
    path(
        "analytics/campaigns/<int:campaign_id>/ab", views.campaign_test_settings, name="analytics_campaign_ab"
    ),
]
