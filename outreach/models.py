"""The email channel's data: mailboxes, and messages with their sending state.

A Message exists once per `(org, send_key)`: every producer (campaigns, the inbox, meetings) supplies a send key
that names what the message is for, so asking twice never makes a second message. States:

    draft → approved → queued → sending → sent | failed | cancelled,   plus `unknown`

`sending` is claimed with a committed conditional UPDATE before the SMTP call, so a crash leaves the row in
`sending`; the sweeper then marks it `unknown` (shown to users, never resent blindly).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from leadgen.crypto import EncryptedTextField
from leadgen.tenancy import OrgOwned


class MailboxKind(models.TextChoices):
    SMTP = "smtp", "SMTP server"
    ESP = "esp", "Email service (API)"


class Security(models.TextChoices):
    STARTTLS = "starttls", "STARTTLS"
    TLS = "tls", "TLS (implicit)"
    NONE = "none", "None (plain text)"


class Esp(models.TextChoices):
    SES = "ses", "Amazon SES"
    MAILGUN = "mailgun", "Mailgun"
    POSTMARK = "postmark", "Postmark"
    SENDGRID = "sendgrid", "SendGrid"
    BREVO = "brevo", "Brevo"


class MailboxStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class Mailbox(OrgOwned):
    """A sending identity of the organisation: an SMTP/IMAP account or an ESP API key."""

    name = models.CharField(max_length=120)
    from_name = models.CharField(max_length=120, blank=True)
    from_email = models.EmailField(max_length=254)
    reply_to = models.EmailField(max_length=254, blank=True)
    signature = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=MailboxKind.choices, default=MailboxKind.SMTP)

    smtp_host = models.CharField(max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(default=587)
    smtp_security = models.CharField(max_length=10, choices=Security.choices, default=Security.STARTTLS)
    smtp_username = models.CharField(max_length=255, blank=True)
    smtp_password = EncryptedTextField(blank=True)

    imap_host = models.CharField(max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(default=993)
    imap_security = models.CharField(max_length=10, choices=Security.choices, default=Security.TLS)
    imap_username = models.CharField(max_length=255, blank=True)
    imap_password = EncryptedTextField(blank=True)

    esp = models.CharField(max_length=10, choices=Esp.choices, blank=True)
    esp_api_key = EncryptedTextField(blank=True)
    # Non-secret ESP options, e.g. {"region": "eu-west-1"} (SES), {"sender_domain": "mg.acme.com"} (Mailgun).
    esp_settings = models.JSONField(default=dict, blank=True)

    daily_limit = models.PositiveIntegerField(default=50)
    min_interval_seconds = models.PositiveIntegerField(default=60)
    jitter_seconds = models.PositiveIntegerField(default=30)
    # Warm-up ramp: `warmup_start` a day on `warmup_started_on`, `warmup_increment` more each day after, capped
    # by daily_limit. No ramp when warmup_start is 0 or no start day is set.
    warmup_start = models.PositiveIntegerField(default=0)
    warmup_increment = models.PositiveIntegerField(default=0)
    warmup_started_on = models.DateField(null=True, blank=True)

    # Optional DKIM signing of SMTP mail (ESPs sign themselves): selector, private key (PEM), signing domain
    # (empty: the From domain).
    dkim_selector = models.CharField(max_length=63, blank=True)
    dkim_private_key = EncryptedTextField(blank=True)
    dkim_domain = models.CharField(max_length=255, blank=True)

    status = models.CharField(max_length=10, choices=MailboxStatus.choices, default=MailboxStatus.ACTIVE)
    paused_reason = models.TextField(blank=True)
    # The earliest moment the next message may leave: moved forward by a conditional UPDATE at every send, which is
    # what holds the gap across worker processes.
    next_send_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["org", "name"], name="mailbox_org_name")]

    def __str__(self) -> str:
        return f"{self.name} <{self.from_email}>"

    @property
    def is_paused(self) -> bool:
        return self.status == MailboxStatus.PAUSED


class MessageStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    UNKNOWN = "unknown", "Unknown (crashed while sending)"


class Message(OrgOwned):
    """One email, exactly once per (org, send_key)."""

    send_key = models.CharField(max_length=200)
    # The campaign it belongs to, if any. A plain integer (no FK): outreach never imports campaigns, and the
    # outbox filters on it; campaigns fills it and owns its meaning.
    campaign_id = models.BigIntegerField(null=True, blank=True)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="messages")
    prospect = models.ForeignKey(
        "prospects.Prospect", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    to_email = models.CharField(max_length=254)
    subject = models.CharField(max_length=500)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    # RFC 5322 Message-ID with its angle brackets, decided at creation and never changed.
    message_id = models.CharField(max_length=255)
    in_reply_to = models.CharField(max_length=255, blank=True)
    references = models.TextField(blank=True)
    origin = models.CharField(max_length=30, blank=True)
    # Why a message waits (over the daily limit, inside the gap) or was cancelled; shown to users.
    hold_reason = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # Free-form labels from the producer that the outbox and API show (e.g. {"step": 2, "variant": "B"}).
    meta = models.JSONField(default=dict, blank=True)

    ai_subject = models.CharField(max_length=500, blank=True)
    ai_body = models.TextField(blank=True)
    draft_provider = models.CharField(max_length=40, blank=True)
    # Rules broken, dropped claims, tokens, cost, cache key: what the drafter recorded.
    draft_notes = models.JSONField(default=dict, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    scheduled_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    # When a worker claimed it (queued → sending); the crash sweeper compares against this.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # When the mailbox's pacing gate granted this message a send slot, committed right before the SMTP call: what
    # the daily limit counts, and how the crash sweeper knows whether the call may have happened.
    slot_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What the server answered (SMTP reply or ESP message id), kept as evidence for `sent`.
    provider_response = models.TextField(blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "send_key"], name="message_unique_send_key_per_org"),
        ]
        indexes = [
            models.Index(fields=["org", "status", "-id"], name="message_org_status"),
            models.Index(fields=["org", "prospect", "-id"], name="message_org_prospect"),
            models.Index(fields=["org", "campaign_id", "-id"], name="message_org_campaign"),
            models.Index(fields=["org", "mailbox", "slot_at"], name="message_org_mailbox_slot"),
            models.Index(fields=["org", "message_id"], name="message_org_message_id"),
            models.Index(fields=["org", "-id"], name="message_org_newest"),
            models.Index(fields=["org", "unsubscribed_at"], name="message_org_unsubscribed"),
            # The beat dispatcher's query across every org: queued and due now. Partial, so it stays small.
            models.Index(fields=["scheduled_at"], condition=Q(status="queued"), name="message_queued_due"),
            # The crash sweeper's query across orgs: rows left in `sending`.
            models.Index(
                fields=["claimed_at"], condition=Q(status="sending"), name="message_sending_claimed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to_email}"


class Unsubscribe(OrgOwned):
    """An address that unsubscribed, with when and through which message: campaigns pulls these to stop."""

    email = models.CharField(max_length=254)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    prospect = models.ForeignKey(
        "prospects.Prospect", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign_id = models.BigIntegerField(null=True, blank=True)
    # "one-click" (RFC 8058 POST), "page" (the button), "mailto" (engagement issue).
    method = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["org", "created_at"], name="unsubscribe_org_created"),
            models.Index(fields=["org", "email"], name="unsubscribe_org_email"),
        ]

    def __str__(self) -> str:
        return self.email


# --- composing (outreach.compose) -------------------------------------------------------------------------------


def default_banned_phrases() -> list[str]:
    return [
        "I hope this finds you well",
        "I hope this email finds you well",
        "I came across your profile",
        "I hope you're doing well",
        "Just checking in",
        "J'espère que vous allez bien",
        "Ich hoffe, es geht Ihnen gut",
        "Espero que se encuentre bien",
    ]


class DraftLocale(models.TextChoices):
    EN = "en", "English"
    FR = "fr", "French"
    DE = "de", "German"
    ES = "es", "Spanish"


class OutreachSettings(OrgOwned):
    """Per-organisation drafting settings: what the sender offers, phrases drafts never use, the default locale."""

    value_proposition = models.TextField(blank=True)
    banned_phrases = models.JSONField(default=default_banned_phrases, blank=True)
    default_locale = models.CharField(max_length=5, choices=DraftLocale.choices, default=DraftLocale.EN)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org"], name="outreachsettings_one_per_org")]

    def __str__(self) -> str:
        return f"outreach settings of {self.org_id}"


class ComposedDraft(OrgOwned):
    """One LLM draft: the cache of its inputs' hash, and the record of the tokens and cost it spent.

    `reusable` is False for a call whose provider failed: its spend is recorded, its text never served again.
    """

    prospect = models.ForeignKey("prospects.Prospect", on_delete=models.CASCADE, related_name="+")
    input_hash = models.CharField(max_length=64)
    reusable = models.BooleanField(default=True)
    provider = models.CharField(max_length=60)
    model = models.CharField(max_length=100, blank=True)
    prompt_version = models.CharField(max_length=40, blank=True)
    locale = models.CharField(max_length=5)
    mode = models.CharField(max_length=20)
    subject = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True)
    notes = models.JSONField(default=dict, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["org", "input_hash"], name="composeddraft_org_hash"),
            models.Index(fields=["org", "created_at"], name="composeddraft_org_created"),
        ]

    def __str__(self) -> str:
        return f"draft {self.input_hash[:12]} ({self.provider})"
