"""Unsubscribe tokens and the unsubscribe itself.

A token names one message (org and id in base 36) and carries a truncated HMAC-SHA256 from `django.core.signing`,
in lower-case hex so it survives mail systems that lower-case the local part of `unsubscribe+<token>@<domain>`.
Tokens do not expire: an unsubscribe link must keep working for as long as the mail sits in an inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from leadgen.tenancy import org_scope

from .models import Message, Unsubscribe

if TYPE_CHECKING:
    from accounts.models import User

SALT = "outreach.unsubscribe"
SIGNATURE_CHARS = 32  # 128 bits of the HMAC


class _ShortSigner(signing.Signer):
    """A Signer whose signature is the first 128 bits of the HMAC in hex (fits an email local part)."""

    def signature(self, value: str | bytes, key: Any = None) -> str:
        mac = salted_hmac(self.salt + "signer", value, key or self.key, algorithm=self.algorithm)  # type: ignore[operator]
        return mac.hexdigest()[:SIGNATURE_CHARS]


def _signer() -> _ShortSigner:
    return _ShortSigner(sep=".", salt=SALT, algorithm="sha256")


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def token_make(*, message: Message) -> str:
    return _signer().sign(f"{_b36(message.org_id)}-{_b36(message.pk)}")


@dataclass(frozen=True)
class TokenTarget:
    org_id: int
    message_id: int


def token_read(token: str) -> TokenTarget | None:
    """The message a token names, or None for anything forged, truncated or malformed."""
    try:
        value = _signer().unsign(token.strip().lower())
        org, _, pk = value.partition("-")
        return TokenTarget(org_id=int(org, 36), message_id=int(pk, 36))
    except (signing.BadSignature, ValueError):
        return None


def unsubscribe_url(*, message: Message) -> str:
    return settings.SITE_URL + reverse("outreach_unsubscribe", args=[token_make(message=message)])


def unsubscribe_mailto(*, message: Message) -> str:
    """`unsubscribe+<token>@<OUTREACH_UNSUBSCRIBE_MAILTO_DOMAIN>`; mail to it is processed by the engagement issue."""
    return f"unsubscribe+{token_make(message=message)}@{settings.OUTREACH_UNSUBSCRIBE_MAILTO_DOMAIN}"


def message_for_token(token: str) -> Message | None:
    target = token_read(token)
    if target is None:
        return None
    return (
        Message.objects.unscoped()
        .select_related("org")
        .filter(org_id=target.org_id, pk=target.message_id)
        .first()
    )


def message_unsubscribe(*, message: Message, method: str, actor: User | None = None) -> bool:
    """Suppress the message's address, mark the message and record an Unsubscribe; True the first time.

    Campaigns pulls `Unsubscribe` rows (and `Message.unsubscribed_at`) to stop every enrollment of the address.
    """
    from prospects.compliance.services import suppression_add

    with org_scope(message.org_id), transaction.atomic():
        first = bool(
            Message.objects.unscoped()
            .filter(pk=message.pk, unsubscribed_at__isnull=True)
            .update(unsubscribed_at=timezone.now())
        )
        if not first:
            return False
        suppression_add(
            org=message.org, value=message.to_email, actor=actor, reason=f"unsubscribed ({method})"
        )
        Unsubscribe.objects.unscoped().create(
            org_id=message.org_id,
            email=message.to_email.strip().lower(),
            message=message,
            prospect_id=message.prospect_id,
            campaign_id=message.campaign_id,
            method=method,
        )
    return True
