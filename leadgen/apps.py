from __future__ import annotations

from django.apps import AppConfig


class LeadgenConfig(AppConfig):
    name = "leadgen"
    default_auto_field = "django.db.models.BigAutoField"
