"""A new organisation's first steps, shown on the dashboard and on an empty prospect list until they are done.

The mailbox step belongs to outreach, above prospects in the import chain: the composition root names the reader in
`settings.ONBOARDING_MAILBOXES` (a callable returning the organisation's mailboxes), as it names the send guards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from prospects.models import ICP, Import, ImportStatus, LeadForm, Prospect


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    text: str
    done: bool
    links: list[Link] = field(default_factory=list)
    coming: bool = False  # the feature is not there yet: shown, never ticked


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _mailbox_connected() -> bool:
    path = getattr(settings, "ONBOARDING_MAILBOXES", "")
    return bool(path) and import_string(path)().exists()


def onboarding_steps() -> list[Step]:
    """The current organisation's checklist: define an ICP, bring in prospects, connect a mailbox."""
    prospects_in = (
        Prospect.objects.exists()
        or LeadForm.objects.exists()
        or Import.objects.filter(status=ImportStatus.DONE).exists()
    )
    mailboxes = _url("mailbox_list")
    steps = [
        Step(
            "icp",
            "Define your ideal customer profile",
            "Who you sell to: industries, company size, seniority. Every prospect is scored against it.",
            ICP.objects.exists(),
            [Link("Create an ICP", reverse("icp_new"))],
        ),
        Step(
            "prospects",
            "Bring in your first prospects",
            "Import a CSV export (Apollo, HubSpot, Salesforce, LinkedIn), put a web form on your site, or add one person.",
            prospects_in,
            [
                Link("Import a CSV", reverse("import_list")),
                Link("Add a web form", reverse("lead_form_list")),
                Link("Add a prospect", reverse("prospect_new")),
            ],
        ),
    ]
    if mailboxes:
        steps.append(
            Step(
                "mailbox",
                "Connect a mailbox",
                "The address your emails are sent from, through your own SMTP server or email provider.",
                _mailbox_connected(),
                [Link("Settings → Mailboxes", mailboxes)],
            )
        )
    else:
        steps.append(
            Step(
                "mailbox",
                "Connect a mailbox",
                "Sending from your own mailbox is coming soon.",
                False,
                coming=True,
            )
        )
    return steps


def onboarding_pending() -> list[Step] | None:
    """The checklist while any available step is still open, else None."""
    steps = onboarding_steps()
    return steps if any(not step.done and not step.coming for step in steps) else None
