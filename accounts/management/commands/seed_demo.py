from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Organization, User
from accounts.services import organization_create

DEMO_EMAIL = "demo@leadgen.localhost"
DEMO_PASSWORD = "leadgen-demo"
DEMO_SLUG = "demo"


class Command(BaseCommand):
    help = "Create the demo organisation and its owner (idempotent) and print how to log in."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(DEMO_EMAIL, DEMO_PASSWORD, first_name="Demo", last_name="Owner")
            EmailAddress.objects.create(user=user, email=DEMO_EMAIL, primary=True, verified=True)
        org = Organization.objects.filter(slug=DEMO_SLUG).first()
        if org is None:
            org = organization_create(name="Demo Company", owner=user)
            org.slug = DEMO_SLUG
            org.postal_address = "1 Demo Street, Springfield, USA"
            org.save(update_fields=["slug", "postal_address"])
        self.stdout.write(
            f"[leadgen] demo organisation: {org.slug}  ·  log in as {DEMO_EMAIL} / {DEMO_PASSWORD}"
        )
