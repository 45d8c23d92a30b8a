"""CRM connections, the CRM ids of each pushed prospect, a sync log per record, and the generic outcomes hook.

Imported by `prospects/models.py` so the app's migrations carry them.
"""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from leadgen.crypto import EncryptedTextField
from leadgen.tenancy import OrgOwned


class CrmKind(models.TextChoices):
    HUBSPOT = "hubspot", "HubSpot"
    SALESFORCE = "salesforce", "Salesforce"


CRM_LABELS = {**dict(CrmKind.choices), "webhook": "Outcome webhook"}


class PushTrigger(models.TextChoices):
    ON_QUALIFY = "on_qualify", "When a prospect qualifies (and by hand)"
    MANUAL = "manual", "Only when someone sends it"


class CrmConnection(OrgOwned):
    """One organisation's link to one CRM. Secrets live in `credentials` (encrypted JSON) and are never shown back."""

    kind = models.CharField(max_length=20, choices=CrmKind.choices)
    is_active = models.BooleanField(default=True)
    push_trigger = models.CharField(
        max_length=20, choices=PushTrigger.choices, default=PushTrigger.ON_QUALIFY
    )
    # {"token": ..., "client_secret": ...} for HubSpot; {"client_id", "client_secret", "password", "private_key"}
    # for Salesforce. Encrypted as one JSON document.
    credentials = EncryptedTextField(blank=True)
    # Non-secret options: Salesforce username, login URL, auth flow, external id fields, lead status names.
    options = models.JSONField(default=dict, blank=True)
    # Leadgen field -> CRM property; a blank property is not sent.
    field_mapping = models.JSONField(default=dict, blank=True)
    # Public id in the HubSpot webhook URL (never the org id).
    webhook_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Changes up to this time have been pulled.
    pulled_until = models.DateTimeField(null=True, blank=True)
    last_push_at = models.DateTimeField(null=True, blank=True)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "kind"], name="crmconnection_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.org_id}"


class CrmRecord(OrgOwned):
    """The CRM's ids for one prospect: a second push updates these records instead of creating new ones."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="records")
    prospect = models.ForeignKey("prospects.Prospect", on_delete=models.CASCADE, related_name="crm_records")
    contact_id = models.CharField(max_length=64)
    company_id = models.CharField(max_length=64, blank=True)
    # The domain the company was matched by: the next person of that company reuses company_id.
    company_domain = models.CharField(max_length=255, blank=True)
    pushed_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "connection", "prospect"], name="crmrecord_one_per_prospect"
            )
        ]
        indexes = [
            models.Index(fields=["org", "connection", "contact_id"], name="crmrecord_org_contact"),
            models.Index(fields=["org", "connection", "company_domain"], name="crmrecord_org_company"),
        ]

    def __str__(self) -> str:
        return f"{self.prospect_id} = {self.contact_id}"


class SyncDirection(models.TextChoices):
    PUSH = "push", "Sent to the CRM"
    PULL = "pull", "Came from the CRM"


class SyncStatus(models.TextChoices):
    QUEUED = "queued", "Waiting"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Will try again"
    OK = "ok", "Done"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class CrmSyncLog(OrgOwned):
    """One record going to or coming from a CRM: what happened, the CRM's id, the error if any."""

    connection = models.ForeignKey(
        CrmConnection, null=True, blank=True, on_delete=models.CASCADE, related_name="logs"
    )
    # "hubspot", "salesforce" or "webhook" (the generic outcomes hook).
    crm = models.CharField(max_length=20)
    prospect = models.ForeignKey(
        "prospects.Prospect", null=True, blank=True, on_delete=models.CASCADE, related_name="crm_logs"
    )
    direction = models.CharField(max_length=10, choices=SyncDirection.choices)
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    # Why the push was made (qualified, manual, bulk, api) or what came back (won/lost/disqualified).
    detail = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=500, blank=True)
    crm_id = models.CharField(max_length=64, blank=True)
    # Pulled changes: a key per change (deal id and result, webhook id) so a change is recorded once.
    external_key = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "crm", "external_key"],
                condition=~Q(external_key=""),
                name="crmsynclog_change_once",
            )
        ]
        indexes = [
            models.Index(fields=["org", "prospect", "-at"], name="crmsynclog_org_prospect"),
            models.Index(fields=["org", "connection", "-at"], name="crmsynclog_org_connection"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.status} {self.prospect_id}"

    @property
    def crm_label(self) -> str:
        return CRM_LABELS.get(self.crm, self.crm)


def _hook_key() -> str:
    return secrets.token_urlsafe(24)


class OutcomeHook(OrgOwned):
    """The generic signed `POST /hooks/outcomes/<key>` for any CRM: a public key in the URL, a Standard Webhooks
    secret (shown once) to sign with."""

    key = models.CharField(max_length=40, unique=True, default=_hook_key)
    secret = EncryptedTextField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org"], name="outcomehook_one_per_org")]

    def __str__(self) -> str:
        return f"outcomes hook of {self.org_id}"
