"""ESP webhooks posted to the real endpoint in the payload shapes Mailgun, Postmark and SendGrid document: inbound
mail becomes a Reply, delivery reports become Events once each, bounces and complaints act; a bad signature, an old
signed timestamp, a malformed body or another tenant's message changes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from conftest import Tenant
from outreach.inbound.esp import BASIC_AUTH_USER, webhook_password, webhook_token, webhook_urls
from outreach.models import Event, Mailbox, Message, MessageStatus, Reply, Unsubscribe
from outreach.tests.factories import MailboxFactory, MessageFactory
from prospects.tests.factories import ProspectFactory

pytestmark = pytest.mark.django_db
pytest_plugins = ["leadgen.tests.browser"]

MAILGUN_KEY = "whsec-mailgun-0123456789abcdef"


# --- helpers ----------------------------------------------------------------------------------------------------


def esp_mailbox(org: Any, esp: str) -> Mailbox:
    return MailboxFactory(
        org=org,
        kind="esp",
        esp=esp,
        esp_api_key=f"{esp}-api-key",
        esp_webhook_key=MAILGUN_KEY if esp == "mailgun" else "",
        from_email="sam@leadgen-demo.com",
    )


def sent(mailbox: Mailbox, *, email: str, provider_id: str = "") -> Message:
    person = ProspectFactory(org=mailbox.org, email=email)
    return MessageFactory(
        mailbox=mailbox,
        prospect=person,
        to_email=email,
        status=MessageStatus.SENT,
        sent_at=timezone.now(),
        provider_response=f"{mailbox.get_esp_display()} accepted: {provider_id}" if provider_id else "",
    )


def hook(mailbox: Mailbox, kind: str) -> str:
    return f"/hooks/esp/{webhook_token(mailbox)}/{kind}/"


def basic_auth(mailbox: Mailbox, password: str | None = None) -> dict[str, str]:
    pair = f"{BASIC_AUTH_USER}:{password or webhook_password(mailbox)}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(pair).decode()}


def mailgun_signature(key: str = MAILGUN_KEY, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    token = secrets.token_hex(25)
    signature = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": signature}


def mailgun_event(message: Message, event: str, **extra: Any) -> dict[str, Any]:
    """Mailgun's webhook body: a signature block and the event data (as in Mailgun's webhook docs)."""
    data: dict[str, Any] = {
        "event": event,
        "timestamp": time.time(),
        "id": secrets.token_urlsafe(16),
        "log-level": "info" if event == "delivered" else "error",
        "recipient": message.to_email,
        "recipient-domain": message.to_email.split("@")[1],
        "envelope": {
            "sender": "bounce+abc@mg.leadgen-demo.com",
            "transport": "smtp",
            "targets": message.to_email,
        },
        "message": {
            "headers": {
                "to": message.to_email,
                "message-id": message.message_id.strip("<>"),
                "from": "Sam Seller <sam@leadgen-demo.com>",
                "subject": message.subject,
            },
            "attachments": [],
            "size": 2135,
        },
        "flags": {
            "is-routed": False,
            "is-authenticated": True,
            "is-system-test": False,
            "is-test-mode": False,
        },
        "tags": [],
        "user-variables": {},
        "delivery-status": {
            "tls": True,
            "mx-host": "mx.acme-example.com",
            "attempt-no": 1,
            "description": "",
            "session-seconds": 0.42,
            "code": 250,
            "message": "OK",
            "certificate-verified": True,
        },
    }
    data.update(extra)
    return {"signature": mailgun_signature(), "event-data": data}


def post_json(client: Client, url: str, body: Any, **headers: str) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def events(message: Message, kind: str | None = None) -> list[Event]:
    rows = Event.objects.unscoped().filter(message=message)
    return list(rows.filter(kind=kind) if kind else rows)


# --- Mailgun: HMAC signature ------------------------------------------------------------------------------------


def test_mailgun_delivered_is_stored_once(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="jane@acme-example.com")
    body = mailgun_event(message, "delivered")

    first = post_json(client, hook(mailbox, "tracking"), body)
    again = post_json(client, hook(mailbox, "tracking"), body)  # Mailgun retries the same request

    assert (first.status_code, again.status_code) == (200, 200)
    (event,) = events(message)
    assert (event.kind, event.source, event.org_id) == ("delivered", "esp", tenant.org.pk)
    assert event.external_id == f"mailgun:{body['signature']['token']}"


def test_mailgun_permanent_failure_is_a_hard_bounce(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="gone@acme-example.com")
    body = mailgun_event(
        message,
        "failed",
        severity="permanent",
        reason="bounce",
        **{
            "delivery-status": {
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist.",
                "description": "",
                "attempt-no": 1,
            }
        },
    )

    response = post_json(client, hook(mailbox, "tracking"), body)

    assert response.status_code == 200
    (event,) = events(message, "bounced")
    assert event.meta["hard"] is True and event.meta["status"] == "5.1.1"
    assert "user unknown" in event.meta["reason"]


def test_mailgun_temporary_failure_is_a_soft_bounce(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="full@acme-example.com")
    body = mailgun_event(
        message,
        "failed",
        severity="temporary",
        reason="generic",
        **{
            "delivery-status": {
                "code": 452,
                "message": "4.2.2 The email account is over quota.",
                "attempt-no": 1,
            }
        },
    )

    post_json(client, hook(mailbox, "tracking"), body)

    (event,) = events(message, "bounced")
    assert (event.meta["hard"], event.meta["status"]) == (False, "4.2.2")


def test_mailgun_complaint_unsubscribes(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="angry@acme-example.com")

    post_json(client, hook(mailbox, "tracking"), mailgun_event(message, "complained"))

    assert len(events(message, "complained")) == 1
    assert Unsubscribe.objects.unscoped().filter(org=tenant.org).exists()


def test_mailgun_opens_are_left_to_our_own_tracking(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="jane@acme-example.com")

    response = post_json(client, hook(mailbox, "tracking"), mailgun_event(message, "opened"))

    assert response.status_code == 200 and events(message) == []


def test_mailgun_bad_signature_is_refused_logged_and_writes_nothing(
    tenant: Tenant, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="jane@acme-example.com")
    body = mailgun_event(message, "delivered")
    body["signature"] = mailgun_signature(key="someone-elses-key")

    with caplog.at_level(logging.WARNING, logger="outreach.inbound.esp"):
        response = post_json(client, hook(mailbox, "tracking"), body)

    assert response.status_code == 403
    assert events(message) == []
    assert "signature check failed" in caplog.text and f"mailbox {mailbox.pk}" in caplog.text


def test_mailgun_old_signed_request_is_a_replay(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="jane@acme-example.com")
    body = mailgun_event(message, "delivered")
    body["signature"] = mailgun_signature(timestamp=int(time.time()) - 3600)

    response = post_json(client, hook(mailbox, "tracking"), body)

    assert response.status_code == 403 and events(message) == []


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        json.dumps({"event-data": {"event": "delivered"}}),  # no signature block
        json.dumps({"signature": mailgun_signature(), "nothing": "else"}),  # signed, but no event data
    ],
)
def test_mailgun_malformed_body_is_a_4xx_and_writes_nothing(
    tenant: Tenant, client: Client, body: str
) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="jane@acme-example.com")

    response = client.post(hook(mailbox, "tracking"), data=body, content_type="application/json")

    assert 400 <= response.status_code < 500
    assert events(message) == []


def test_mailgun_inbound_reply_is_ingested(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="anna@acme-example.com")
    mime = (
        "From: Anna <anna@acme-example.com>\r\nTo: sam@leadgen-demo.com\r\n"
        f"Subject: Re: {message.subject}\r\nDate: Wed, 2 Dec 2026 10:00:00 +0000\r\n"
        "Message-ID: <CAFx9reply01@mail.gmail.com>\r\n"
        f"In-Reply-To: {message.message_id}\r\nReferences: {message.message_id}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="UTF-8"\r\n\r\n'
        "Sounds interesting, let's set up a call.\r\n\r\nOn Tue, Sam wrote:\r\n> Hi Anna\r\n"
    )
    fields = {
        "recipient": "sam@leadgen-demo.com",
        "sender": "anna@acme-example.com",
        "from": "Anna <anna@acme-example.com>",
        "subject": f"Re: {message.subject}",
        "body-mime": mime,
        **mailgun_signature(),
    }

    response = client.post(hook(mailbox, "inbound"), data=fields)

    assert response.status_code == 200
    reply = Reply.objects.unscoped().get(org=tenant.org)
    assert (reply.message_id, reply.source, reply.kind) == (message.pk, "esp", "reply")
    assert reply.body_clean == "Sounds interesting, let's set up a call."


def test_mailgun_inbound_parsed_fields_are_ingested(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="lucy@northwind-example.com")
    headers = [
        ["From", "Lucy Wong <lucy@northwind-example.com>"],
        ["To", "sam@leadgen-demo.com"],
        ["Subject", f"Re: {message.subject}"],
        ["Date", "Wed, 2 Dec 2026 09:22:17 -0800"],
        ["Message-Id", "<8E3B7D42-parsed@northwind-example.com>"],
        ["In-Reply-To", message.message_id],
        ["Mime-Version", "1.0"],
        ["Content-Type", 'text/plain; charset="utf-8"'],
    ]
    fields = {  # Mailgun's forward() of a route, parsed (Mailgun's "Receiving messages" docs)
        "recipient": "sam@leadgen-demo.com",
        "sender": "lucy@northwind-example.com",
        "from": "Lucy Wong <lucy@northwind-example.com>",
        "subject": f"Re: {message.subject}",
        "body-plain": "Not interested, thanks.\n\n> On Nov 30, Sam wrote:\n> Hi",
        "stripped-text": "Not interested, thanks.",
        "message-headers": json.dumps(headers),
        **mailgun_signature(),
    }

    response = client.post(hook(mailbox, "inbound"), data=fields)

    assert response.status_code == 200
    reply = Reply.objects.unscoped().get(org=tenant.org)
    assert (reply.message_id, reply.intent) == (message.pk, "not_interested")


def test_mailgun_inbound_without_signature_writes_nothing(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    sent(mailbox, email="anna@acme-example.com")

    response = client.post(
        hook(mailbox, "inbound"), data={"body-mime": "From: x@y.z\r\n\r\nhi", "sender": "x@y.z"}
    )

    assert response.status_code == 403
    assert not Reply.objects.unscoped().filter(org=tenant.org).exists()


# --- Postmark: basic auth on the URL ----------------------------------------------------------------------------


def postmark_bounce(message: Message, bounce_type: str, **extra: Any) -> dict[str, Any]:
    """Postmark's bounce webhook body (developer docs, "Bounce webhook")."""
    body = {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": bounce_type,
        "TypeCode": 1 if bounce_type == "HardBounce" else 4096,
        "Name": "Hard bounce" if bounce_type == "HardBounce" else "Soft bounce/Undeliverable",
        "Tag": "",
        "MessageID": message.provider_response.rsplit(" ", 1)[-1],
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": message.to_email,
        "From": "sam@leadgen-demo.com",
        "BouncedAt": "2026-12-02T10:05:00Z",
        "DumpAvailable": True,
        "Inactive": bounce_type == "HardBounce",
        "CanActivate": True,
        "Subject": message.subject,
        "Content": "",
    }
    body.update(extra)
    return body


def test_postmark_delivery_with_basic_auth(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "postmark")
    message = sent(mailbox, email="jane@acme-example.com", provider_id="a5b1c2d3-0e4f-4a6b-9c8d-7e6f5a4b3c21")
    body = {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": "a5b1c2d3-0e4f-4a6b-9c8d-7e6f5a4b3c21",
        "Recipient": "jane@acme-example.com",
        "Tag": "",
        "DeliveredAt": "2026-12-02T10:01:00Z",
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }

    first = post_json(client, hook(mailbox, "tracking"), body, **basic_auth(mailbox))
    again = post_json(client, hook(mailbox, "tracking"), body, **basic_auth(mailbox))

    assert (first.status_code, again.status_code) == (200, 200)
    (event,) = events(message)
    assert event.kind == "delivered" and event.external_id.startswith("postmark:sha256:")


@pytest.mark.parametrize("auth", [{}, {"password": "guessed"}])
def test_postmark_without_the_right_basic_auth_is_refused(
    tenant: Tenant, client: Client, auth: dict[str, str]
) -> None:
    mailbox = esp_mailbox(tenant.org, "postmark")
    message = sent(mailbox, email="jane@acme-example.com", provider_id="b1")
    headers = basic_auth(mailbox, auth["password"]) if auth else {}

    response = post_json(client, hook(mailbox, "tracking"), postmark_bounce(message, "HardBounce"), **headers)

    assert response.status_code == 403 and events(message) == []


def test_postmark_hard_and_soft_bounces(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "postmark")
    hard = sent(mailbox, email="gone@acme-example.com", provider_id="c1-hard")
    soft = sent(mailbox, email="full@acme-example.com", provider_id="c2-soft")

    post_json(client, hook(mailbox, "tracking"), postmark_bounce(hard, "HardBounce"), **basic_auth(mailbox))
    post_json(
        client,
        hook(mailbox, "tracking"),
        postmark_bounce(soft, "SoftBounce", ID=4323372036854775808, Details="smtp;452 4.2.2 Mailbox full"),
        **basic_auth(mailbox),
    )

    (hard_event,) = events(hard, "bounced")
    (soft_event,) = events(soft, "bounced")
    assert (hard_event.meta["hard"], hard_event.meta["status"]) == (True, "5.1.1")
    assert (soft_event.meta["hard"], soft_event.meta["status"]) == (False, "4.2.2")
    assert hard_event.external_id == "postmark:4323372036854775807"


def test_postmark_spam_complaint(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "postmark")
    message = sent(mailbox, email="angry@acme-example.com", provider_id="d1")
    body = postmark_bounce(message, "SpamComplaint", RecordType="SpamComplaint", TypeCode=512)

    post_json(client, hook(mailbox, "tracking"), body, **basic_auth(mailbox))

    assert len(events(message, "complained")) == 1


def test_postmark_inbound_reply_is_ingested(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "postmark")
    message = sent(mailbox, email="lucy@northwind-example.com", provider_id="e1")
    body = {  # Postmark's inbound webhook (developer docs, "Inbound webhook"), without RawEmail
        "FromName": "Lucy Wong",
        "MessageStream": "inbound",
        "From": "lucy@northwind-example.com",
        "FromFull": {"Email": "lucy@northwind-example.com", "Name": "Lucy Wong", "MailboxHash": ""},
        "To": "sam@leadgen-demo.com",
        "ToFull": [{"Email": "sam@leadgen-demo.com", "Name": "", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": "sam@leadgen-demo.com",
        "Subject": f"Re: {message.subject}",
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": "Wed, 2 Dec 2026 09:22:17 -0800",
        "TextBody": "Not right now. Try me again in March.\n\n> On Nov 30, Sam wrote:\n> Hi Lucy",
        "HtmlBody": "",
        "StrippedTextReply": "Not right now. Try me again in March.",
        "Tag": "",
        "Headers": [
            {"Name": "Return-Path", "Value": "<lucy@northwind-example.com>"},
            {"Name": "Message-ID", "Value": "<8E3B7D42-1F6A-4C59@northwind-example.com>"},
            {"Name": "In-Reply-To", "Value": message.message_id},
            {"Name": "References", "Value": message.message_id},
        ],
        "Attachments": [],
    }

    response = post_json(client, hook(mailbox, "inbound"), body, **basic_auth(mailbox))

    assert response.status_code == 200
    reply = Reply.objects.unscoped().get(org=tenant.org)
    assert (reply.message_id, reply.source, reply.intent) == (message.pk, "esp", "not_now")


def test_a_tracking_payload_on_the_inbound_url_is_refused(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "postmark")
    message = sent(mailbox, email="gone@acme-example.com", provider_id="f1")

    response = post_json(
        client, hook(mailbox, "inbound"), postmark_bounce(message, "HardBounce"), **basic_auth(mailbox)
    )

    assert response.status_code == 400 and events(message) == []


# --- SendGrid: basic auth, a batch of events --------------------------------------------------------------------


def test_sendgrid_batch_of_delivered_and_bounce(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "sendgrid")
    ok = sent(mailbox, email="ok@acme-example.com", provider_id="1a2b3c4d-anymail-ok")
    gone = sent(mailbox, email="gone@acme-example.com", provider_id="5e6f7a8b-anymail-gone")
    body = [  # SendGrid's Event Webhook: a JSON array; anymail_id is the custom arg anymail adds when sending
        {
            "email": "ok@acme-example.com",
            "timestamp": int(time.time()),
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": "delivered",
            "category": [],
            "sg_event_id": "sg-delivered-0001",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "response": "250 OK",
            "anymail_id": "1a2b3c4d-anymail-ok",
        },
        {
            "email": "gone@acme-example.com",
            "timestamp": int(time.time()),
            "smtp-id": "<14c5d75ce93.dfd.64b470@ismtpd-555>",
            "event": "bounce",
            "category": [],
            "sg_event_id": "sg-bounce-0002",
            "sg_message_id": "14c5d75ce93.dfd.64b470.filter0001.16648.5515E0B88.0",
            "reason": "500 unknown recipient",
            "status": "5.0.0",
            "type": "bounce",
            "anymail_id": "5e6f7a8b-anymail-gone",
        },
    ]

    response = post_json(client, hook(mailbox, "tracking"), body, **basic_auth(mailbox))

    assert response.status_code == 200
    assert [e.external_id for e in events(ok)] == ["sendgrid:sg-delivered-0001"]
    (bounce,) = events(gone, "bounced")
    assert (bounce.meta["hard"], bounce.meta["status"]) == (True, "5.0.0")


def test_sendgrid_blocked_bounce_is_soft(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "sendgrid")
    message = sent(mailbox, email="blocked@acme-example.com", provider_id="sg-anymail-blocked")
    body = [
        {
            "email": "blocked@acme-example.com",
            "timestamp": int(time.time()),
            "event": "bounce",
            "sg_event_id": "sg-blocked-0003",
            "sg_message_id": "14c5d75ce93.dfd.64b471.filter0001.16648.5515E0B88.0",
            "reason": "421 4.7.0 Try again later, closing connection.",
            "status": "4.7.0",
            "type": "blocked",
            "anymail_id": "sg-anymail-blocked",
        }
    ]

    post_json(client, hook(mailbox, "tracking"), body, **basic_auth(mailbox))

    (bounce,) = events(message, "bounced")
    assert (bounce.meta["hard"], bounce.meta["status"]) == (False, "4.7.0")


def test_sendgrid_inbound_parse_raw_is_ingested(tenant: Tenant, client: Client) -> None:
    mailbox = esp_mailbox(tenant.org, "sendgrid")
    message = sent(mailbox, email="klaus@beispiel-gmbh.de", provider_id="sg-anymail-1")
    raw = (
        "From: Klaus Meier <klaus@beispiel-gmbh.de>\r\nTo: sam@leadgen-demo.com\r\n"
        f"Subject: AW: {message.subject}\r\nDate: Wed, 2 Dec 2026 11:00:00 +0100\r\n"
        "Message-ID: <AM0PR01MB1234@beispiel-gmbh.de>\r\n"
        f"In-Reply-To: {message.message_id}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n'
        "Bitte aus dem Verteiler austragen.\r\n"
    )
    fields = {  # SendGrid Inbound Parse with "POST the raw, full MIME message"
        "email": raw,
        "to": "sam@leadgen-demo.com",
        "from": "Klaus Meier <klaus@beispiel-gmbh.de>",
        "subject": f"AW: {message.subject}",
        "sender_ip": "198.51.100.25",
        "envelope": json.dumps({"to": ["sam@leadgen-demo.com"], "from": "klaus@beispiel-gmbh.de"}),
        "charsets": json.dumps({"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8"}),
        "spam_score": "0.1",
        "SPF": "pass",
    }

    refused = client.post(hook(mailbox, "inbound"), data=fields)
    response = client.post(hook(mailbox, "inbound"), data=fields, **basic_auth(mailbox))

    assert (refused.status_code, response.status_code) == (403, 200)
    reply = Reply.objects.unscoped().get(org=tenant.org)
    assert (reply.message_id, reply.source, reply.intent) == (message.pk, "esp", "unsubscribe")


# --- tenancy and the URLs ---------------------------------------------------------------------------------------


def test_a_hook_only_touches_its_own_mailbox_s_messages(
    tenant: Tenant, other_tenant: Tenant, client: Client
) -> None:
    ours = esp_mailbox(tenant.org, "mailgun")
    theirs = esp_mailbox(other_tenant.org, "mailgun")
    other_message = sent(theirs, email="victim@globex-example.com")
    same_org_other_mailbox = esp_mailbox(tenant.org, "mailgun")
    neighbour = sent(same_org_other_mailbox, email="neighbour@acme-example.com")

    for message in (other_message, neighbour):
        body = mailgun_event(message, "failed", severity="permanent", reason="bounce")
        assert post_json(client, hook(ours, "tracking"), body).status_code == 200

    assert events(other_message) == [] and events(neighbour) == []


@pytest.mark.parametrize("tamper", ["wrong-mac", "other-id", "kind"])
def test_an_unknown_or_tampered_token_is_404(tenant: Tenant, client: Client, tamper: str) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="jane@acme-example.com")
    number, _, mac = webhook_token(mailbox).partition(".")
    url = {
        "wrong-mac": f"/hooks/esp/{number}.{'0' * len(mac)}/tracking/",
        "other-id": f"/hooks/esp/{int(number) + 1}.{mac}/tracking/",
        "kind": f"/hooks/esp/{webhook_token(mailbox)}/everything/",
    }[tamper]

    response = post_json(client, url, mailgun_event(message, "delivered"))

    assert response.status_code == 404 and events(message) == []


def test_smtp_mailboxes_have_no_esp_hook(tenant: Tenant, client: Client) -> None:
    mailbox = MailboxFactory(org=tenant.org)

    assert webhook_urls(mailbox) == {}
    assert (
        client.post(hook(mailbox, "tracking"), data="{}", content_type="application/json").status_code == 404
    )


def test_webhook_urls_carry_basic_auth_only_where_the_esp_uses_it(tenant: Tenant, settings: Any) -> None:
    settings.SITE_URL = "https://app.leadgen.test"
    mailgun, postmark = esp_mailbox(tenant.org, "mailgun"), esp_mailbox(tenant.org, "postmark")

    assert (
        webhook_urls(mailgun)["tracking"]
        == f"https://app.leadgen.test/hooks/esp/{webhook_token(mailgun)}/tracking/"
    )
    assert webhook_urls(postmark)["inbound"] == (
        f"https://leadgen:{webhook_password(postmark)}@app.leadgen.test/hooks/esp/{webhook_token(postmark)}/inbound/"
    )
    assert webhook_password(mailgun) != webhook_password(postmark)


def test_a_delivery_report_costs_few_queries(
    tenant: Tenant, client: Client, django_assert_max_num_queries: Any
) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    message = sent(mailbox, email="jane@acme-example.com")
    body = mailgun_event(message, "delivered")

    with django_assert_max_num_queries(8):
        assert post_json(client, hook(mailbox, "tracking"), body).status_code == 200


# --- the mailbox page -------------------------------------------------------------------------------------------


def test_the_mailbox_page_shows_its_webhook_addresses(tenant: Tenant, settings: Any) -> None:
    settings.SITE_URL = "https://app.leadgen.test"
    postmark = esp_mailbox(tenant.org, "postmark")
    brevo = esp_mailbox(tenant.org, "brevo")

    page = tenant.owner_client.get(f"/settings/mailboxes/{postmark.pk}/").content.decode()
    other = tenant.owner_client.get(f"/settings/mailboxes/{brevo.pk}/").content.decode()

    assert webhook_urls(postmark)["inbound"] in page and webhook_urls(postmark)["tracking"] in page
    assert "Replies (inbound mail)" in page and "keep them private" in page
    assert "Brevo cannot send replies or delivery reports to Leadgen yet" in other


def test_a_mailgun_signing_key_is_saved_and_never_shown(tenant: Tenant) -> None:
    mailbox = esp_mailbox(tenant.org, "mailgun")
    page = tenant.owner_client.get(f"/settings/mailboxes/{mailbox.pk}/").content.decode()
    assert MAILGUN_KEY not in page and "Webhook signing key (Mailgun)" in page

    form = {
        "name": mailbox.name,
        "from_email": mailbox.from_email,
        "kind": "esp",
        "esp": "mailgun",
        "esp_webhook_key": "whsec-new-key",
        "smtp_port": 587,
        "smtp_security": "starttls",
        "imap_port": 993,
        "imap_security": "tls",
        "daily_limit": 50,
        "min_interval_seconds": 60,
        "jitter_seconds": 30,
        "warmup_start": 0,
        "warmup_increment": 0,
    }
    response = tenant.owner_client.post(f"/settings/mailboxes/{mailbox.pk}/", form)

    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.esp_webhook_key, mailbox.esp_api_key) == ("whsec-new-key", "mailgun-api-key")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_webhook_addresses_fit_a_1366_screen(
    live_site: str, new_page: Callable[..., Page], tenant: Tenant
) -> None:
    from django.conf import settings as django_settings

    mailbox = esp_mailbox(tenant.org, "postmark")
    mailbox.name = "Outbound (Postmark, sales.internationale-handelsgesellschaft.example)"
    mailbox.save()
    page = new_page(viewport={"width": 1366, "height": 900})
    session = Client()
    session.force_login(tenant.owner)
    cookie = session.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_site}])

    # The live server's first request loads every URLconf and template: slow on a busy machine, not wrong.
    page.goto(f"{live_site}/settings/mailboxes/{mailbox.pk}/", timeout=90_000)

    tracking = page.locator("#esp-hook-tracking")
    expect(tracking).to_have_text(webhook_urls(mailbox)["tracking"])
    expect(page.locator("#esp-hook-inbound")).to_have_text(webhook_urls(mailbox)["inbound"])
    expect(tracking).to_be_in_viewport()
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner
    box = tracking.bounding_box()
    assert box is not None and box["x"] + box["width"] <= inner
    if os.environ.get("LAYOUT_SCREENSHOTS"):
        Path(os.environ["LAYOUT_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(os.environ["LAYOUT_SCREENSHOTS"]) / "mailbox_esp_hooks.png"))
