"""Root URLs: the composition root that knows every app."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path

from analytics import views as analytics_views
from leadgen import views
from leadgen.api import api_urls


def _public(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """Let the API's own key auth decide (LoginRequiredMiddleware would redirect API clients to a login page)."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _public(pattern.url_patterns)
        else:
            login_not_required(pattern.callback)
    return patterns


api_patterns, api_app, api_namespace = api_urls()
urlpatterns = [
    path("", analytics_views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("dev/mail/", views.dev_mail, name="dev_mail"),
    path("api/v1/", include((_public(api_patterns), api_app), namespace=api_namespace)),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("prospects.urls")),
    path("", include("outreach.urls")),
    path("", include("campaigns.urls")),
    path("", include("analytics.urls")),
    path("", include("outreach.inbox.urls")),
    path("admin/", admin.site.urls),
]
