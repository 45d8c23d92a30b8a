from __future__ import annotations

from typing import Any

from django import forms

from .models import Mailbox, MessageStatus

SECRET_FIELDS = ("smtp_password", "imap_password", "esp_api_key", "esp_webhook_key", "dkim_private_key")


class MailboxForm(forms.ModelForm):
    """Add or edit a mailbox. Secrets are never shown again: left empty, the stored one is kept."""

    class Meta:
        model = Mailbox
        fields = [
            "name",
            "from_name",
            "from_email",
            "reply_to",
            "signature",
            "kind",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "smtp_username",
            "smtp_password",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_username",
            "imap_password",
            "esp",
            "esp_api_key",
            "esp_webhook_key",
            "daily_limit",
            "min_interval_seconds",
            "jitter_seconds",
            "warmup_start",
            "warmup_increment",
            "warmup_started_on",
            "dkim_selector",
            "dkim_domain",
            "dkim_private_key",
        ]
        labels = {
            "kind": "Send through",
            "smtp_host": "SMTP server",
            "smtp_port": "SMTP port",
            "smtp_security": "SMTP encryption",
            "smtp_username": "SMTP user name",
            "smtp_password": "SMTP password",
            "imap_host": "IMAP server (for replies)",
            "imap_port": "IMAP port",
            "imap_security": "IMAP encryption",
            "imap_username": "IMAP user name",
            "imap_password": "IMAP password",
            "esp": "Email service",
            "esp_api_key": "API key",
            "esp_webhook_key": "Webhook signing key (Mailgun)",
            "min_interval_seconds": "Minimum gap between sends (seconds)",
            "jitter_seconds": "Extra random wait, up to (seconds)",
            "warmup_start": "Warm-up: sends on the first day",
            "warmup_increment": "Warm-up: more each day",
            "warmup_started_on": "Warm-up started on",
            "dkim_selector": "DKIM selector",
            "dkim_domain": "DKIM domain",
            "dkim_private_key": "DKIM private key (PEM)",
        }
        help_texts = {
            "daily_limit": "At most this many sends in any 24 hours.",
            "warmup_start": "0: no warm-up. Otherwise the daily limit grows from this number.",
            "esp_api_key": "For Amazon SES: ACCESS_KEY_ID:SECRET_ACCESS_KEY.",
            "esp_webhook_key": "Mailgun only. Empty: the API key.",
            "dkim_domain": "Empty: the domain of the From address. Email services sign for you.",
        }
        widgets = {
            "signature": forms.Textarea(attrs={"rows": 3}),
            "smtp_password": forms.PasswordInput(render_value=False),
            "imap_password": forms.PasswordInput(render_value=False),
            "esp_api_key": forms.PasswordInput(render_value=False),
            "esp_webhook_key": forms.PasswordInput(render_value=False),
            "dkim_private_key": forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
            "warmup_started_on": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance.pk is not None
        for name in SECRET_FIELDS:
            self.fields[name].required = False
            if stored and getattr(self.instance, name):
                self.fields[name].help_text = "Stored. Leave empty to keep it."
        if stored:
            self.initial["dkim_private_key"] = ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in SECRET_FIELDS:
            if not data.get(name) and self.instance.pk is not None:
                data[name] = getattr(self.instance, name)
        if data.get("kind") == "smtp" and not data.get("smtp_host"):
            self.add_error("smtp_host", "An SMTP mailbox needs its server.")
        if data.get("kind") == "esp" and not data.get("esp"):
            self.add_error("esp", "Choose the email service.")
        return data


class OutboxFilter(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *MessageStatus.choices], required=False)
    campaign = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
