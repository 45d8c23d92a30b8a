from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("", include("campaigns.meetings.urls")),
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/add/", views.campaign_add, name="campaign_add"),
    path("campaigns/review/", views.review_queue, name="review_queue"),
    path("campaigns/review/act/", views.review_act, name="review_act"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:campaign_id>/preview/", views.campaign_preview, name="campaign_preview"),
    path("campaigns/<int:campaign_id>/enrollments/", views.enrollment_list, name="campaign_enrollments"),
    path(
        "campaigns/<int:campaign_id>/enrollments/<int:enrollment_id>/",
        views.enrollment_action,
        name="enrollment_action",
    ),
    path("prospects/<int:prospect_id>/campaigns/", views.prospect_campaigns, name="prospect_campaigns"),
    path("campaigns/<int:campaign_id>/review/", views.review_queue, name="campaign_review"),
    *(
        path(
            f"campaigns/<int:campaign_id>/{action}/",
            views.campaign_status,
            {"action": action},
            name=f"campaign_{action}",
        )
        for action in views.LIFECYCLE
    ),
]
