"""Inbound mail and delivery events from the mailbox's email service (ESP), through django-anymail's webhook parsers.

Each ESP mailbox has its own webhook URLs, `/hooks/esp/<token>/inbound/` and `/hooks/esp/<token>/tracking/`; the
token names the mailbox and is an HMAC of its id under the deployment's SECRET_KEY, so it cannot be guessed or
pointed at another tenant's mailbox. On top of that each request is verified the way the ESP signs it:

- Mailgun: the HMAC-SHA256 `signature` of `timestamp + token` under the mailbox's webhook signing key (anymail
  checks it), and the timestamp must be recent (replay protection);
- Postmark and SendGrid: HTTP basic auth, whose credentials are part of the URL shown on the mailbox page.

A request that fails either check, or whose payload anymail cannot parse, answers 4xx, is logged, and writes nothing.
Anymail's views are used for validating and parsing only; events go straight to our services (no signals):

- inbound mail → `outreach.inbound.services.reply_ingest(mailbox=…, raw=…, source="esp")`;
- delivered → an Event once per ESP event id; bounced / deferred / rejected → `bounce_apply` (hard unless the ESP
  says temporary or the status is 4.x.x); complained → `complaint_apply`. Events are matched to a Message of this
  mailbox only, by the Message-ID we set or the id the ESP answered at send time; others are ignored.

Opens and clicks the ESP reports are ignored: our own pixel and redirect count them, with bot detection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from leadgen.api_errors import error
from leadgen.tenancy import org_scope
from outreach.models import Esp, Event, EventKind, Mailbox, MailboxKind, Message

from .classify import status_words

logger = logging.getLogger(__name__)

KINDS = ("inbound", "tracking")
BASIC_AUTH_USER = "leadgen"
# Mailgun signs a timestamp; a request whose timestamp is further than this from now is a replay (or a broken clock).
MAILGUN_MAX_AGE = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class EspHooks:
    """What anymail gives us for one ESP: its inbound and tracking views, and how it signs."""

    inbound: str
    tracking: str
    signs_with_hmac: bool  # Mailgun: HMAC with the signing key; else basic auth on the URL


ESP_HOOKS: dict[str, EspHooks] = {
    Esp.MAILGUN: EspHooks(
        "anymail.webhooks.mailgun.MailgunInboundWebhookView",
        "anymail.webhooks.mailgun.MailgunTrackingWebhookView",
        signs_with_hmac=True,
    ),
    Esp.POSTMARK: EspHooks(
        "anymail.webhooks.postmark.PostmarkInboundWebhookView",
        "anymail.webhooks.postmark.PostmarkTrackingWebhookView",
        signs_with_hmac=False,
    ),
    Esp.SENDGRID: EspHooks(
        "anymail.webhooks.sendgrid.SendGridInboundWebhookView",
        "anymail.webhooks.sendgrid.SendGridTrackingWebhookView",
        signs_with_hmac=False,
    ),
}


# --- the mailbox's URLs and secrets -----------------------------------------------------------------------------


def _mac(purpose: str, mailbox_id: int, length: int) -> str:
    return salted_hmac(f"outreach.esp-webhook.{purpose}", str(mailbox_id), algorithm="sha256").hexdigest()[
        :length
    ]


def webhook_token(mailbox: Mailbox) -> str:
    return f"{mailbox.pk}.{_mac('url', mailbox.pk, 32)}"


def webhook_password(mailbox: Mailbox) -> str:
    return _mac("basic-auth", mailbox.pk, 40)


def webhook_supported(mailbox: Mailbox) -> bool:
    return mailbox.kind == MailboxKind.ESP and mailbox.esp in ESP_HOOKS


def webhook_urls(mailbox: Mailbox) -> dict[str, str]:
    """The URLs to paste into the ESP's settings, {"inbound": …, "tracking": …}; basic-auth ESPs get the
    credentials in the URL, the way Postmark and SendGrid take them. Empty when the ESP is not supported."""
    if not webhook_supported(mailbox):
        return {}
    base = settings.SITE_URL.rstrip("/")
    if not ESP_HOOKS[mailbox.esp].signs_with_hmac:
        scheme, _, rest = base.partition("://")
        base = f"{scheme}://{BASIC_AUTH_USER}:{webhook_password(mailbox)}@{rest}"
    token = webhook_token(mailbox)
    return {kind: f"{base}/hooks/esp/{token}/{kind}/" for kind in KINDS}


def mailbox_for_token(token: str) -> Mailbox | None:
    """The ESP mailbox a webhook token names, or None for a token we did not issue."""
    number, _, mac = token.partition(".")
    if not number.isdigit() or not constant_time_compare(mac, _mac("url", int(number), 32)):
        return None
    mailbox = Mailbox.objects.unscoped().filter(pk=int(number)).first()
    return mailbox if mailbox is not None and webhook_supported(mailbox) else None


# --- the endpoint -----------------------------------------------------------------------------------------------


class Refused(Exception):
    """A webhook request we answer with a 4xx and write nothing for."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def _anymail_view(mailbox: Mailbox, kind: str) -> Any:
    """Anymail's view for this ESP and kind, configured with this mailbox's secrets (never the deployment's)."""
    from anymail.exceptions import AnymailNotSupportedWarning
    from django.utils.module_loading import import_string

    hooks = ESP_HOOKS[mailbox.esp]
    options: dict[str, Any] = {}
    if hooks.signs_with_hmac:
        key = mailbox.esp_webhook_key or mailbox.esp_api_key
        if not key:
            raise Refused(403, "no webhook signing key is set on the mailbox")
        options = {"webhook_signing_key": key, "webhook_secret": ""}
    else:
        options = {"webhook_secret": f"{BASIC_AUTH_USER}:{webhook_password(mailbox)}"}
    with warnings.catch_warnings():
        # SendGrid: anymail's support is community-maintained now, and says so on every view it builds.
        warnings.simplefilter("ignore", AnymailNotSupportedWarning)
        return import_string(getattr(hooks, kind))(**options)


def _mailgun_fresh(request: HttpRequest) -> None:
    """Mailgun's signed timestamp must be recent: an old, correctly signed request is a replay."""
    try:
        if request.content_type == "application/json":
            stamp = json.loads(request.body.decode("utf-8"))["signature"]["timestamp"]
        else:
            stamp = request.POST["timestamp"]
        signed_at = dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise Refused(400, f"no usable signature timestamp ({exc})") from None
    if abs(timezone.now() - signed_at) > MAILGUN_MAX_AGE:
        raise Refused(403, f"signature timestamp {signed_at:%Y-%m-%d %H:%M:%S} UTC is too old (a replay?)")


def _parse(request: HttpRequest, mailbox: Mailbox, kind: str) -> list[Any]:
    """The request's events, after the ESP's signature (and our replay check) passed; Refused otherwise."""
    from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure

    if request.content_type == "application/json":
        try:
            json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(400, f"the body is not JSON ({exc})") from None
    view = _anymail_view(mailbox, kind)
    try:
        view.run_validators(request)
    except AnymailWebhookValidationFailure as exc:
        raise Refused(403, f"signature check failed: {exc}") from None
    if ESP_HOOKS[mailbox.esp].signs_with_hmac:
        _mailgun_fresh(request)
    try:
        events = list(view.parse_events(request))
    except AnymailConfigurationError as exc:
        raise Refused(400, f"payload for another kind of webhook: {exc}") from None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise Refused(400, f"malformed payload ({type(exc).__name__}: {exc})") from None
    if not events:
        raise Refused(400, "the payload holds no event")
    return events


@csrf_exempt
@login_not_required
@require_POST
def esp_webhook(request: HttpRequest, webhook_token: str, hook_kind: str) -> HttpResponse:
    """POST /hooks/esp/<token>/<inbound|tracking>/ from the mailbox's ESP."""
    kind = hook_kind
    mailbox = mailbox_for_token(webhook_token) if kind in KINDS else None
    if mailbox is None:
        logger.warning("ESP webhook refused: unknown token or kind (%s)", kind[:20])
        return error(request, 404, "No such webhook.", "not_found")
    try:
        with org_scope(mailbox.org_id):
            events = _parse(request, mailbox, kind)
            handled = [
                inbound_handle(mailbox=mailbox, event=event)
                if kind == "inbound"
                else tracking_handle(mailbox=mailbox, event=event)
                for event in events
            ]
    except Refused as refused:
        logger.warning(
            "ESP webhook refused for mailbox %s (org %s, %s %s): %s",
            mailbox.pk,
            mailbox.org_id,
            mailbox.esp,
            kind,
            refused,
        )
        code = "bad_request" if refused.status == 400 else "forbidden"
        return error(request, refused.status, f"Refused: {refused}", code)
    logger.info("ESP webhook for mailbox %s (%s %s): %s", mailbox.pk, mailbox.esp, kind, "; ".join(handled))
    return JsonResponse({"received": len(handled)})


# --- what each event does ---------------------------------------------------------------------------------------


def inbound_handle(*, mailbox: Mailbox, event: Any) -> str:
    """Inbound mail through the ESP: the same path as mail read over IMAP."""
    from .services import reply_ingest

    raw = event.message.as_bytes() if event.message is not None else b""
    if not raw.strip():
        raise Refused(400, "inbound event without a message")
    reply = reply_ingest(mailbox=mailbox, raw=raw, source="esp", imap_uid=None)
    return f"inbound: {'reply ' + str(reply.pk) if reply is not None else 'matched nothing we sent'}"


def message_for_event(*, mailbox: Mailbox, esp_message_id: str | None) -> Message | None:
    """The message of this mailbox an ESP event is about: by the Message-ID we set, else by the id the ESP gave
    back at send time (kept in provider_response). Runs in the mailbox's organisation's scope."""
    bare = (esp_message_id or "").strip().strip("<>")
    if not bare:
        return None
    ours = Message.objects.filter(mailbox=mailbox)
    found = ours.filter(message_id__in=[f"<{bare}>", bare]).first()
    if found is None:
        accepted = f"{mailbox.get_esp_display()} accepted:"
        found = ours.filter(provider_response__in=[f"{accepted} {bare}", f"{accepted} <{bare}>"]).first()
    return found


def event_external_id(*, esp: str, event: Any) -> str:
    """The ESP's event id, or (Postmark deliveries have none) a hash of the event as the ESP sent it."""
    if event.event_id:
        return f"{esp}:{event.event_id}"[:200]
    payload = event.esp_event if isinstance(event.esp_event, dict | list) else str(event.esp_event)
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"{esp}:sha256:{digest[:48]}"


_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.]*\d)")
_SOFT_TYPES = {"SoftBounce", "Transient", "DnsError", "blocked", "deferred"}


def bounce_status(event: Any, *, temporary: bool) -> str:
    """The RFC 3463 status the ESP reports (SendGrid's `status`, or the one in the receiving server's answer)."""
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    for text in (str(esp_event.get("status") or ""), event.mta_response or "", event.description or ""):
        found = _STATUS.search(text)
        if found:
            return found.group(1)
    return "4.0.0" if temporary else "5.0.0"


def _delivered_record(*, message: Message, at: dt.datetime, external_id: str, meta: dict[str, Any]) -> bool:
    """One `delivered` Event per ESP event id; False when it was already recorded."""
    if Event.objects.filter(external_id=external_id).exists():
        return False
    try:
        with transaction.atomic():
            Event.objects.create(
                org_id=message.org_id,
                message=message,
                prospect_id=message.prospect_id,
                campaign_id=message.campaign_id,
                kind=EventKind.DELIVERED,
                at=at,
                source="esp",
                external_id=external_id,
                meta=meta,
            )
    except IntegrityError:  # the same event, delivered twice at once
        return False
    return True


def tracking_handle(*, mailbox: Mailbox, event: Any) -> str:
    """A delivery report from the ESP, applied to the message of this mailbox it names."""
    from anymail.signals import EventType

    from .services import bounce_apply, complaint_apply

    kind = event.event_type
    if kind not in {
        EventType.DELIVERED,
        EventType.BOUNCED,
        EventType.DEFERRED,
        EventType.REJECTED,
        EventType.COMPLAINED,
    }:
        return f"{kind}: not used (our own tracking counts opens and clicks)"
    message = message_for_event(mailbox=mailbox, esp_message_id=event.message_id)
    if message is None:
        return f"{kind}: no message of this mailbox has id {str(event.message_id or '')[:80]!r}"
    at = event.timestamp or timezone.now()
    external_id = event_external_id(esp=mailbox.esp, event=event)
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    if kind == EventType.DELIVERED:
        meta = {"esp": mailbox.esp, "response": str(event.mta_response or "")[:300]}
        stored = _delivered_record(message=message, at=at, external_id=external_id, meta=meta)
        return f"delivered: message {message.pk}{'' if stored else ' (already recorded)'}"
    if kind == EventType.COMPLAINED:
        stored_event = complaint_apply(message=message, at=at, external_id=external_id, source="esp")
        return f"complained: message {message.pk}{'' if stored_event else ' (already recorded)'}"
    temporary = (
        kind == EventType.DEFERRED or str(esp_event.get("Type") or esp_event.get("type")) in _SOFT_TYPES
    )
    status = bounce_status(event, temporary=temporary)
    hard = not temporary and not status.startswith("4")
    said = str(event.description or event.mta_response or "").strip()
    reason = f"{mailbox.get_esp_display()} reported {kind}: {status_words(status)}" + (
        f" — {said}" if said else ""
    )
    stored_event = bounce_apply(
        message=message,
        hard=hard,
        status=status,
        reason=reason[:500],
        at=at,
        external_id=external_id,
        source="esp",
    )
    return f"{kind}: message {message.pk}{'' if stored_event else ' (already recorded)'}"
