from __future__ import annotations

from django.urls import path

from . import views

urlpatterns: list = [
    path("prospects/", views.prospect_list, name="prospect_list"),
]
