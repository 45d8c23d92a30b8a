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
    # Mailgun's "HTTP webhook signing key" (outreach.inbound.esp verifies inbound and tracking webhooks with it;
    # empty: the API key, as older Mailgun accounts sign with it). Postmark and SendGrid use basic auth instead.
    esp_webhook_key = EncryptedTextField(blank=True)

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
    # IMAP sync state (outreach.inbound): the folder's UIDVALIDITY and the highest UID seen under it; a changed
    # UIDVALIDITY means the UIDs were renumbered and the folder is read again from the start.
    imap_uidvalidity = models.BigIntegerField(null=True, blank=True)
    imap_last_uid = models.BigIntegerField(default=0)
    imap_synced_at = models.DateTimeField(null=True, blank=True)
    imap_sync_error = models.TextField(blank=True)
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

    @property
    def esp_webhook_urls(self) -> dict[str, str]:
        """Where this mailbox's ESP posts inbound mail and delivery reports (empty for SMTP and unsupported ESPs)."""
        from .inbound.esp import webhook_urls

        return webhook_urls(self)


class MessageStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    UNKNOWN = "unknown", "Not confirmed (sending was interrupted)"


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


# --- engagement (outreach.tracking, outreach.inbound) ----------------------------------------------------------------


class EventKind(models.TextChoices):
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    BOUNCED = "bounced", "Bounced"
    REPLIED = "replied", "Replied"
    AUTO_REPLIED = "auto_replied", "Auto-replied"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    COMPLAINED = "complained", "Marked as spam"


class Event(OrgOwned):
    """Something that happened to a sent message: a tracking hit, a delivery report, a reply, a bounce.

    Bot and machine traffic is stored too, with `is_bot` and the rule that said so in `bot_reason`, so a message's
    history shows it; human rates count `is_bot=False` only. `external_id` makes each hit or provider event land
    once: the request path gives every hit an id before it is buffered, ESP webhooks give theirs.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    prospect = models.ForeignKey(
        "prospects.Prospect", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign_id = models.BigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    at = models.DateTimeField(default=now)
    # Clicks: which link of the message (its index at send time) and where it went.
    link_index = models.PositiveSmallIntegerField(null=True, blank=True)
    url = models.TextField(blank=True)
    # The client's network, truncated (IPv4 /24, IPv6 /48): never the full address.
    ip_prefix = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    is_bot = models.BooleanField(default=False)
    # Machine opens that stand for no human (Apple Mail Privacy Protection) are `is_bot` with kind "machine".
    bot_kind = models.CharField(max_length=20, blank=True)  # "" | machine | scanner | prefetch | proxy
    bot_reason = models.CharField(max_length=300, blank=True)
    # pixel | redirect | smtp | imap | esp | app
    source = models.CharField(max_length=10, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    # Evidence and details: headers that decided, the bounce status, the ESP's payload fields.
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "external_id"], condition=~Q(external_id=""), name="event_unique_external_id"
            ),
        ]
        indexes = [
            models.Index(fields=["org", "message", "at"], name="event_org_message_at"),
            models.Index(fields=["org", "prospect", "-at"], name="event_org_prospect_at"),
            models.Index(fields=["org", "kind", "at"], name="event_org_kind_at"),
            models.Index(fields=["org", "campaign_id", "kind", "at"], name="event_org_campaign_kind"),
            models.Index(fields=["org", "-id"], name="event_org_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of message {self.message_id}"


class ReplyKind(models.TextChoices):
    REPLY = "reply", "Reply"
    AUTO_REPLY = "auto_reply", "Auto-reply"
    BOUNCE = "bounce", "Bounce"


class ReplyIntent(models.TextChoices):
    INTERESTED = "interested", "Interested"
    NOT_NOW = "not_now", "Not now"
    NOT_INTERESTED = "not_interested", "Not interested"
    REFERRAL = "referral", "Wrong person / referral"
    UNSUBSCRIBE = "unsubscribe", "Asked to unsubscribe"
    OTHER = "other", "Other"


class Reply(OrgOwned):
    """Mail that came back for a message we sent, matched by its threading headers (or sender and subject):
    a human reply, an auto-reply, or a bounce. Unmatched mail is never stored.

    `body_text` is the original; `body_clean` has quoted history and signature stripped for display.
    """

    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    # The sent message this answers (the thread's latest of ours that it references).
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    prospect = models.ForeignKey(
        "prospects.Prospect", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign_id = models.BigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=12, choices=ReplyKind.choices)
    # How the message was matched: in-reply-to | references | subject.
    matched_by = models.CharField(max_length=12, blank=True)
    # Why it was classified so (the header or pattern that decided).
    kind_reason = models.CharField(max_length=300, blank=True)

    intent = models.CharField(max_length=16, choices=ReplyIntent.choices, blank=True)
    intent_provider = models.CharField(max_length=40, blank=True)  # rules | openai:<model>
    intent_reason = models.TextField(blank=True)
    # "Not now, try me in March": the date given, when one is.
    intent_date = models.DateField(null=True, blank=True)
    # Wrong person: the colleague named {"name": .., "email": .., "title": ..}, and the prospect made of them.
    referral = models.JSONField(default=dict, blank=True)

    # Auto-reply: the return date read from the text; bounce: the RFC 3463 status and whether it is permanent.
    return_date = models.DateField(null=True, blank=True)
    bounce_status = models.CharField(max_length=12, blank=True)
    bounce_hard = models.BooleanField(default=False)
    bounced_email = models.CharField(max_length=254, blank=True)

    from_email = models.CharField(max_length=254, blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    to_email = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    # This mail's own Message-ID (RFC 5322, with angle brackets) and threading headers, as received.
    rfc_message_id = models.CharField(max_length=255, blank=True)
    in_reply_to = models.CharField(max_length=255, blank=True)
    references = models.TextField(blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    body_clean = models.TextField(blank=True)
    # The headers that decided the classification (Auto-Submitted, Precedence, X-Autoreply, ...).
    headers = models.JSONField(default=dict, blank=True)
    # imap | esp
    source = models.CharField(max_length=10, blank=True)
    imap_uid = models.BigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(default=now)
    read_at = models.DateTimeField(null=True, blank=True)
    read_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            # The same mail synced twice (a re-read folder, an ESP retry) is stored once.
            models.UniqueConstraint(
                fields=["org", "rfc_message_id"],
                condition=~Q(rfc_message_id=""),
                name="reply_unique_message_id",
            ),
        ]
        indexes = [
            models.Index(fields=["org", "-received_at"], name="reply_org_received"),
            models.Index(fields=["org", "kind", "-received_at"], name="reply_org_kind_received"),
            models.Index(fields=["org", "prospect", "-received_at"], name="reply_org_prospect"),
            models.Index(fields=["org", "message"], name="reply_org_message"),
            models.Index(fields=["org", "campaign_id", "kind"], name="reply_org_campaign_kind"),
            models.Index(fields=["org", "created_at"], name="reply_org_created"),
            # Replies nobody has read yet: the inbox's unread tab and the dashboard's "replies waiting".
            models.Index(
                fields=["org", "-received_at"],
                condition=Q(kind="reply", read_at__isnull=True),
                name="reply_org_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} from {self.from_email}: {self.subject}"


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
    # Host of a custom tracking domain (CNAME to this app) for open pixels and click links; empty uses SITE_URL.
    tracking_domain = models.CharField(max_length=255, blank=True)
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
