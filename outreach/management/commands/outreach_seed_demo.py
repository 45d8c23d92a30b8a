"""`make run`: the demo organisation gets a mailbox on the embedded SMTP sink (EMAIL_URL), so demo mail lands in
/dev/mail/. Idempotent; the sink's port changes every run, so the mailbox follows it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import Organization
from leadgen.tenancy import org_scope
from outreach.models import Mailbox, MailboxStatus

DEMO_SLUG = "demo"
DEMO_MAILBOX = "Demo mailbox (local SMTP sink)"


class Command(BaseCommand):
    help = "Give the demo organisation a mailbox on the local SMTP sink (run after seed_demo)."

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(slug=DEMO_SLUG).first()
        host, port = getattr(settings, "EMAIL_HOST", ""), int(getattr(settings, "EMAIL_PORT", 0) or 0)
        if org is None or not host or settings.EMAIL_BACKEND != "django.core.mail.backends.smtp.EmailBackend":
            self.stdout.write("[leadgen] no demo organisation or no SMTP sink: demo mailbox skipped")
            return
        with org_scope(org):
            _mailbox, created = Mailbox.objects.update_or_create(
                org=org,
                name=DEMO_MAILBOX,
                defaults={
                    "from_name": "Demo Sender",
                    "from_email": "sales@demo.leadgen.localhost",
                    "smtp_host": host,
                    "smtp_port": port,
                    "smtp_security": "none",
                    "daily_limit": 200,
                    "min_interval_seconds": 2,
                    "jitter_seconds": 2,
                    "status": MailboxStatus.ACTIVE,
                },
            )
        verb = "created" if created else "points at"
        self.stdout.write(f"[leadgen] demo mailbox {verb} the SMTP sink {host}:{port}")
