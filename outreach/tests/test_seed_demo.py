from __future__ import annotations

from django.core.management import call_command

from accounts.tests.factories import OrganizationFactory
from outreach.models import Mailbox


def test_demo_mailbox_follows_the_sink(db, settings) -> None:
    org = OrganizationFactory(slug="demo", postal_address="1 Demo Street")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 2600
    call_command("outreach_seed_demo")
    settings.EMAIL_PORT = 2601
    call_command("outreach_seed_demo")
    [mailbox] = Mailbox.objects.unscoped().filter(org=org)
    assert (mailbox.smtp_host, mailbox.smtp_port, mailbox.status) == ("127.0.0.1", 2601, "active")
