from __future__ import annotations

import json
from urllib.parse import parse_qs

from outreach.models import MessageStatus
from outreach.sending import engine
from outreach.tests.factories import MailboxFactory, MessageFactory

from .fake_esp import fake_esp


def _send(tenant, message) -> str:
    with tenant.scope():
        return engine.message_send(message_id=message.pk)


def _esp_mailbox(tenant, esp: str, **kwargs):
    tenant.org.postal_address = "1 Main Street"
    tenant.org.save()
    return MailboxFactory(org=tenant.org, kind="esp", esp=esp, esp_api_key="key-123", **kwargs)


def test_postmark_through_anymail_keeps_our_headers(tenant, settings) -> None:
    with fake_esp() as server:
        settings.OUTREACH_ESP_API_URLS = {**settings.OUTREACH_ESP_API_URLS, "postmark": server.url}
        message = MessageFactory(mailbox=_esp_mailbox(tenant, "postmark"), body_html="<p>Hi</p>")
        assert _send(tenant, message) == "sent"
        [request] = server.requests
    assert request["path"] == "/email" and request["headers"]["X-Postmark-Server-Token"] == "key-123"
    sent = json.loads(request["body"])
    headers = {h["Name"]: h["Value"] for h in sent["Headers"]}
    assert headers["Message-ID"] == message.message_id
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<https://app.leadgen.test/u/")
    assert "1 Main Street" in sent["TextBody"] and "1 Main Street" in sent["HtmlBody"]
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and "Postmark accepted" in message.provider_response


def test_mailgun_through_anymail(tenant, settings) -> None:
    with fake_esp() as server:
        settings.OUTREACH_ESP_API_URLS = {**settings.OUTREACH_ESP_API_URLS, "mailgun": server.url + "v3"}
        mailbox = _esp_mailbox(tenant, "mailgun", esp_settings={"sender_domain": "mg.sender.test"})
        message = MessageFactory(mailbox=mailbox)
        assert _send(tenant, message) == "sent"
        [request] = server.requests
    assert request["path"] == "/v3/mg.sender.test/messages"
    form = parse_qs(request["body"].decode())
    assert form["h:Message-Id"] == [message.message_id] and form["h:List-Unsubscribe-Post"] == [
        "List-Unsubscribe=One-Click"
    ]


def test_esp_server_error_is_retried_not_failed(tenant, settings) -> None:
    with fake_esp() as server:
        server.status = 500
        settings.OUTREACH_ESP_API_URLS = {**settings.OUTREACH_ESP_API_URLS, "postmark": server.url}
        message = MessageFactory(mailbox=_esp_mailbox(tenant, "postmark"))
        assert _send(tenant, message) == "retry"
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and "500" in message.hold_reason
