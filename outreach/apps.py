from __future__ import annotations

from django.apps import AppConfig


class OutreachConfig(AppConfig):
    name = "outreach"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # GDPR export and erasure reach a person's emails, events and replies through this registration:
        # prospects cannot import outreach (layering).
        from prospects.compliance.person_data import person_data_register

        from .inbox.person_data import outreach_sections

        person_data_register("outreach", outreach_sections)
