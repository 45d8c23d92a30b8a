"""API schemas of the email channel. Secrets are write-only: no Out schema has a password or key field."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

SecurityName = Literal["starttls", "tls", "none"]


class MailboxIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    from_name: str = ""
    from_email: str
    reply_to: str | Literal[""] = ""
    signature: str = ""
    kind: Literal["smtp", "esp"] = "smtp"
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: SecurityName = "starttls"
    smtp_username: str = ""
    smtp_password: str = ""
    imap_host: str = ""
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_security: SecurityName = "tls"
    imap_username: str = ""
    imap_password: str = ""
    esp: Literal["ses", "mailgun", "postmark", "sendgrid", "brevo", ""] = ""
    esp_api_key: str = ""
    daily_limit: int = Field(default=50, ge=0)
    min_interval_seconds: int = Field(default=60, ge=0)
    jitter_seconds: int = Field(default=30, ge=0)
    warmup_start: int = Field(default=0, ge=0)
    warmup_increment: int = Field(default=0, ge=0)
    warmup_started_on: dt.date | None = None


class MailboxPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    from_name: str | None = None
    from_email: str | None = None
    reply_to: str | Literal[""] | None = None
    signature: str | None = None
    kind: Literal["smtp", "esp"] | None = None
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: SecurityName | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    imap_host: str | None = None
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    imap_security: SecurityName | None = None
    imap_username: str | None = None
    imap_password: str | None = None
    esp: Literal["ses", "mailgun", "postmark", "sendgrid", "brevo", ""] | None = None
    esp_api_key: str | None = None
    daily_limit: int | None = Field(default=None, ge=0)
    min_interval_seconds: int | None = Field(default=None, ge=0)
    jitter_seconds: int | None = Field(default=None, ge=0)
    warmup_start: int | None = Field(default=None, ge=0)
    warmup_increment: int | None = Field(default=None, ge=0)
    warmup_started_on: dt.date | None = None
    status: Literal["active", "paused"] | None = None


class MailboxOut(Schema):
    id: int
    name: str
    from_name: str
    from_email: str
    reply_to: str
    signature: str
    kind: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_username: str
    smtp_password_set: bool
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    imap_password_set: bool
    esp: str
    esp_api_key_set: bool
    daily_limit: int
    min_interval_seconds: int
    jitter_seconds: int
    warmup_start: int
    warmup_increment: int
    warmup_started_on: dt.date | None
    status: str
    paused_reason: str
    created_at: dt.datetime

    @staticmethod
    def resolve_smtp_password_set(obj: Any) -> bool:
        return bool(obj.smtp_password)

    @staticmethod
    def resolve_imap_password_set(obj: Any) -> bool:
        return bool(obj.imap_password)

    @staticmethod
    def resolve_esp_api_key_set(obj: Any) -> bool:
        return bool(obj.esp_api_key)


class MailboxListOut(Schema):
    items: list[MailboxOut]
    next_cursor: str | None


class CheckOut(Schema):
    service: str
    ok: bool
    detail: str


class MailboxTestOut(Schema):
    ok: bool
    checks: list[CheckOut]


class MailboxSyncOut(Schema):
    """What one IMAP sync did: new messages seen, how many were downloaded (they may be ours), Replies stored."""

    new_messages: int
    downloaded: int
    stored: int
    reread: bool
    seconds: float
    synced_at: dt.datetime | None


class MessageOut(Schema):
    id: int
    status: str
    message_id: str
    to: str = Field(alias="to_email")
    subject: str
    step: Any = None
    variant: Any = None
    campaign_id: int | None
    prospect_id: int | None
    mailbox_id: int
    origin: str
    hold_reason: str
    error: str
    scheduled_at: dt.datetime | None
    sent_at: dt.datetime | None
    unsubscribed_at: dt.datetime | None
    created_at: dt.datetime

    @staticmethod
    def resolve_step(obj: Any) -> Any:
        return (obj.meta or {}).get("step")

    @staticmethod
    def resolve_variant(obj: Any) -> Any:
        return (obj.meta or {}).get("variant")


class MessageDetailOut(MessageOut):
    body_text: str
    body_html: str
    in_reply_to: str
    references: str
    ai_subject: str
    ai_body: str
    draft_provider: str
    draft_notes: dict[str, Any]
    edited_by_id: int | None
    approved_by_id: int | None
    provider_response: str
    queued_at: dt.datetime | None


class MessageListOut(Schema):
    items: list[MessageOut]
    next_cursor: str | None


class MessagePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None


class MessageRejectIn(Schema):
    reason: str = ""
