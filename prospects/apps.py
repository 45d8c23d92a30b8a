from __future__ import annotations

from django.apps import AppConfig


class ProspectsConfig(AppConfig):
    name = "prospects"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The monthly spend in the /metrics scrape: leadgen cannot import prospects (layering).
        from leadgen.metrics import collector_register

        from .metrics import SpendCollector

        collector_register("prospects", SpendCollector())
