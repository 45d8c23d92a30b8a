from __future__ import annotations

import json

from outreach.models import Mailbox, MessageStatus
from outreach.tests.factories import MailboxFactory, MessageFactory

MAILBOX = {
    "name": "Sales",
    "from_name": "Sam",
    "from_email": "sam@acme.test",
    "smtp_host": "smtp.acme.test",
    "smtp_port": 587,
    "smtp_security": "starttls",
    "smtp_username": "sam",
    "smtp_password": "smtp-secret-1",
    "imap_host": "imap.acme.test",
    "imap_port": 993,
    "imap_security": "tls",
    "imap_username": "sam",
    "imap_password": "imap-secret-1",
    "daily_limit": 40,
    "min_interval_seconds": 90,
}


def _post(client, url, body=None, **headers):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **headers)


def test_mailbox_crud_never_returns_secrets(tenant) -> None:
    api = tenant.api()
    created = _post(api, "/api/v1/mailboxes", MAILBOX)
    assert created.status_code == 201, created.content
    body = created.json()
    assert "smtp-secret-1" not in created.content.decode() and "imap-secret-1" not in created.content.decode()
    assert body["smtp_password_set"] and body["imap_password_set"] and body["daily_limit"] == 40
    mailbox = Mailbox.objects.unscoped().get(pk=body["id"])
    assert mailbox.smtp_password == "smtp-secret-1"
    patched = api.patch(
        f"/api/v1/mailboxes/{body['id']}",
        json.dumps({"daily_limit": 10, "status": "paused"}),
        content_type="application/json",
    )
    assert patched.json()["daily_limit"] == 10 and patched.json()["status"] == "paused"
    mailbox.refresh_from_db()
    assert mailbox.smtp_password == "smtp-secret-1"  # omitted secrets are kept
    listed = api.get("/api/v1/mailboxes").json()
    assert [m["id"] for m in listed["items"]] == [body["id"]] and "secret" not in json.dumps(listed)
    assert api.delete(f"/api/v1/mailboxes/{body['id']}").status_code == 204


def test_mailbox_create_validates(tenant) -> None:
    response = _post(tenant.api(), "/api/v1/mailboxes", {**MAILBOX, "smtp_security": "ssl3"})
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
    response = _post(tenant.api(), "/api/v1/mailboxes", {**MAILBOX, "from_email": "not-an-address"})
    assert response.status_code == 400


def test_mailbox_test_reports_the_server(tenant, auth_peer) -> None:
    mailbox = MailboxFactory(
        org=tenant.org,
        smtp_host=auth_peer.host,
        smtp_port=auth_peer.port,
        smtp_username="sam",
        smtp_password="bad",
    )
    body = _post(tenant.api(), f"/api/v1/mailboxes/{mailbox.pk}/test").json()
    assert body["ok"] is False and "535" in body["checks"][0]["detail"]


def test_message_filters_and_pagination(tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    for _ in range(3):
        MessageFactory(mailbox=mailbox, campaign_id=7, meta={"step": 1, "variant": "A"})
    MessageFactory(mailbox=mailbox, campaign_id=8, status=MessageStatus.SENT)
    api = tenant.api()
    page = api.get("/api/v1/messages?campaign_id=7&limit=2").json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert page["items"][0]["step"] == 1 and page["items"][0]["variant"] == "A" and "to" in page["items"][0]
    rest = api.get(f"/api/v1/messages?campaign_id=7&limit=2&cursor={page['next_cursor']}").json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert [m["status"] for m in api.get("/api/v1/messages?status=sent").json()["items"]] == ["sent"]
    assert api.get("/api/v1/messages?cursor=forged").status_code == 422


def test_approve_reject_and_edit(tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    draft = MessageFactory(mailbox=mailbox, status=MessageStatus.DRAFT, ai_body="AI wrote this")
    api = tenant.api()
    edited = api.patch(
        f"/api/v1/messages/{draft.pk}",
        json.dumps({"body_text": "A human wrote this"}),
        content_type="application/json",
    )
    assert edited.json()["body_text"] == "A human wrote this" and edited.json()["ai_body"] == "AI wrote this"
    approved = _post(api, f"/api/v1/messages/{draft.pk}/approve", HTTP_IDEMPOTENCY_KEY="approve-1")
    assert approved.status_code == 200 and approved.json()["status"] == "queued"
    replay = _post(api, f"/api/v1/messages/{draft.pk}/approve", HTTP_IDEMPOTENCY_KEY="approve-1")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    again = _post(api, f"/api/v1/messages/{draft.pk}/approve")
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    other = MessageFactory(mailbox=mailbox, status=MessageStatus.DRAFT)
    rejected = _post(api, f"/api/v1/messages/{other.pk}/reject", {"reason": "off-topic"})
    assert rejected.json()["status"] == "cancelled" and "off-topic" in rejected.json()["hold_reason"]


def test_other_org_gets_404(tenant, other_tenant) -> None:
    message = MessageFactory(mailbox=MailboxFactory(org=tenant.org), status=MessageStatus.DRAFT)
    api = other_tenant.api()
    assert api.get(f"/api/v1/messages/{message.pk}").status_code == 404
    assert _post(api, f"/api/v1/messages/{message.pk}/approve").status_code == 404
    assert api.get(f"/api/v1/mailboxes/{message.mailbox_id}").status_code == 404
    assert api.get(f"/api/v1/messages?prospect_id={message.pk}").json()["items"] == []
