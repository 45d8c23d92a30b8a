"""Outreach pages as a user sees them: Settings → Mailboxes (list, add, edit, test connection, pause and resume),
the outbox with its filters (a fixed number of queries however many rows), and one message."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import Tenant
from outreach.models import Mailbox, MailboxStatus, MessageStatus
from outreach.tests.factories import MailboxFactory, MessageFactory
from prospects.tests.factories import ProspectFactory

XSS = '<script>alert("x")</script>'


def _html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _mailbox_form(**overrides: Any) -> dict[str, Any]:
    form = {
        "name": "Sales desk",
        "from_name": "Sam Sender",
        "from_email": "sam@acme.test",
        "reply_to": "",
        "signature": "Sam, Acme",
        "kind": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": "2525",
        "smtp_security": "none",
        "smtp_username": "sam",
        "smtp_password": "s3cret-pass",
        "imap_host": "",
        "imap_port": "993",
        "imap_security": "tls",
        "imap_username": "",
        "imap_password": "",
        "esp": "",
        "esp_api_key": "",
        "daily_limit": "40",
        "min_interval_seconds": "60",
        "jitter_seconds": "30",
        "warmup_start": "0",
        "warmup_increment": "0",
        "warmup_started_on": "",
        "dkim_selector": "",
        "dkim_domain": "",
        "dkim_private_key": "",
    }
    return {**form, **overrides}


# --- Settings → Mailboxes ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_mailbox_list_shows_each_mailbox_and_is_for_admins_only(tenant: Tenant) -> None:
    assert "No mailboxes yet" in _html(tenant.admin_client.get(reverse("mailbox_list")))
    MailboxFactory(
        org=tenant.org, name=f"Desk {XSS}", from_email="desk@acme.test", smtp_port=2525, daily_limit=30
    )
    MailboxFactory(
        org=tenant.org, name="Relay", kind="esp", esp="postmark", esp_api_key="pm-key", smtp_host=""
    )
    page = _html(tenant.admin_client.get(reverse("mailbox_list")))
    assert XSS not in page and "Desk &lt;script&gt;" in page
    assert "desk@acme.test" in page and "127.0.0.1:2525" in page and "Postmark" in page and "30" in page
    assert page.count(">Pause</button>") == 2 and "pm-key" not in page
    assert tenant.member_client.get(reverse("mailbox_list")).status_code == 404


@pytest.mark.django_db
def test_add_a_mailbox_then_edit_it_keeping_the_stored_password(tenant: Tenant) -> None:
    client = tenant.admin_client
    assert "Add a mailbox" in _html(client.get(reverse("mailbox_new")))
    missing = _html(client.post(reverse("mailbox_new"), _mailbox_form(smtp_host="")))
    assert "An SMTP mailbox needs its server." in missing
    response = client.post(reverse("mailbox_new"), _mailbox_form())
    with tenant.scope():
        mailbox = Mailbox.objects.get(from_email="sam@acme.test")
    assert response.status_code == 302 and response.url == reverse("mailbox_detail", args=[mailbox.pk])
    detail = _html(client.get(response.url))
    assert "Mailbox sam@acme.test added. Test its connection below." in detail
    assert (
        "Test connection" in detail
        and "s3cret-pass" not in detail
        and "Stored. Leave empty to keep it." in detail
    )

    saved = client.post(response.url, _mailbox_form(name="Sales desk EU", smtp_password="", daily_limit="25"))
    assert saved.status_code == 302
    assert "Mailbox saved." in _html(client.get(saved.url))
    mailbox.refresh_from_db()
    assert (mailbox.name, mailbox.daily_limit, mailbox.smtp_password) == ("Sales desk EU", 25, "s3cret-pass")


@pytest.mark.django_db
def test_test_connection_reports_success_and_the_servers_own_refusal(tenant: Tenant, auth_peer: Any) -> None:
    good = MailboxFactory(
        org=tenant.org,
        smtp_host=auth_peer.host,
        smtp_port=auth_peer.port,
        smtp_username="sam",
        smtp_password="s3cret-pass",
    )
    bad = MailboxFactory(
        org=tenant.org,
        smtp_host=auth_peer.host,
        smtp_port=auth_peer.port,
        smtp_username="sam",
        smtp_password="nope",
    )
    ok = _html(tenant.admin_client.post(reverse("mailbox_test", args=[good.pk]), HTTP_HX_REQUEST="true"))
    assert "<html" not in ok and "SMTP: OK" in ok and f"{auth_peer.host}:{auth_peer.port} logged in." in ok
    refused = _html(tenant.admin_client.post(reverse("mailbox_test", args=[bad.pk]), HTTP_HX_REQUEST="true"))
    assert "SMTP: failed" in refused and "535" in refused and "Authentication credentials invalid" in refused
    assert tenant.admin_client.get(reverse("mailbox_test", args=[good.pk])).status_code == 405


@pytest.mark.django_db
def test_pause_and_resume_a_mailbox(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org, from_email="desk@acme.test")
    paused = tenant.admin_client.post(reverse("mailbox_pause", args=[mailbox.pk]), follow=True)
    page = _html(paused)
    assert "desk@acme.test is paused: nothing is sent from it until you resume it." in page
    assert (
        "<strong>Paused</strong>" in page
        and f"Paused by {tenant.admin.email}." in page
        and ">Resume</button>" in page
    )
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.PAUSED
    resumed = _html(tenant.admin_client.post(reverse("mailbox_resume", args=[mailbox.pk]), follow=True))
    assert "desk@acme.test is sending again." in resumed and ">Pause</button>" in resumed
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.ACTIVE and mailbox.paused_reason == ""
    assert tenant.member_client.post(reverse("mailbox_pause", args=[mailbox.pk])).status_code == 404


# --- outbox and one message ----------------------------------------------------------------------------------------


def _messages(tenant: Tenant, mailbox: Mailbox, n: int, **fields: Any) -> None:
    for i in range(n):
        prospect = ProspectFactory(org=tenant.org)
        MessageFactory(
            mailbox=mailbox, prospect=prospect, to_email=prospect.email, subject=f"Note {i}", **fields
        )


@pytest.mark.django_db
def test_outbox_filters_by_status_and_campaign(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org, from_email="desk@acme.test")
    MessageFactory(mailbox=mailbox, subject="Queued one", campaign_id=7)
    MessageFactory(
        mailbox=mailbox, subject="Sent one", status=MessageStatus.SENT, sent_at=timezone.now(), campaign_id=7
    )
    MessageFactory(mailbox=mailbox, subject="Other campaign", status=MessageStatus.SENT, campaign_id=8)
    MessageFactory(
        mailbox=mailbox,
        subject="Held one",
        hold_reason="Outside the recipient's sending hours.",
        status=MessageStatus.QUEUED,
    )
    MessageFactory(mailbox=mailbox, subject="Lost one", status=MessageStatus.UNKNOWN)
    client = tenant.member_client
    everything = _html(client.get(reverse("outbox")))
    assert all(s in everything for s in ("Queued one", "Sent one", "Other campaign", "Held one", "Lost one"))
    assert "Outside the recipient&#x27;s sending hours." in everything and "desk@acme.test" in everything

    sent = _html(client.get(reverse("outbox"), {"status": "sent"}))
    assert "Sent one" in sent and "Other campaign" in sent and "Queued one" not in sent
    campaign = _html(client.get(reverse("outbox"), {"campaign": 7}))
    assert "for this campaign" in campaign and "Queued one" in campaign and "Other campaign" not in campaign
    both = _html(client.get(reverse("outbox"), {"campaign": 7, "status": "sent"}, HTTP_HX_REQUEST="true"))
    assert (
        "<html" not in both
        and 'id="outbox-table"' in both
        and "Sent one" in both
        and "Queued one" not in both
    )
    assert "No messages with this status." in _html(client.get(reverse("outbox"), {"status": "failed"}))
    # An unknown status is ignored rather than an error.
    assert "Lost one" in _html(client.get(reverse("outbox"), {"status": "bogus"}))


@pytest.mark.django_db
def test_outbox_list_runs_a_fixed_number_of_queries(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    _messages(tenant, mailbox, 3)
    client = tenant.member_client
    client.get(reverse("outbox"))  # warm the session
    with CaptureQueriesContext(connection) as few:
        assert _html(client.get(reverse("outbox"))).count("Note ") == 3
    other = MailboxFactory(org=tenant.org)
    _messages(tenant, other, 40, status=MessageStatus.SENT)
    with CaptureQueriesContext(connection) as many:
        page = _html(client.get(reverse("outbox")))
    assert page.count("Note ") == 43
    assert len(many) == len(few) <= 8, [q["sql"] for q in many.captured_queries]


@pytest.mark.django_db
def test_outbox_pages_keep_the_filters(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    _messages(tenant, mailbox, 55, status=MessageStatus.SENT, campaign_id=3)
    first = _html(tenant.member_client.get(reverse("outbox"), {"status": "sent", "campaign": 3}))
    assert "Page 1 of 2" in first and "?page=2&status=sent&campaign=3" in first
    second = _html(tenant.member_client.get(reverse("outbox"), {"status": "sent", "campaign": 3, "page": 2}))
    assert "Page 2 of 2" in second and second.count("Note ") == 5


@pytest.mark.django_db
def test_message_detail_shows_what_happened_to_it(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org, from_email="desk@acme.test")
    prospect = ProspectFactory(org=tenant.org, email="ada@example.test")
    message = MessageFactory(
        mailbox=mailbox,
        prospect=prospect,
        to_email="ada@example.test",
        subject=f"Hi {XSS}",
        body_text=f"Hello Ada,\n\n{XSS}\n",
        status=MessageStatus.FAILED,
        error="550 5.1.1 <ada@example.test>: Recipient address rejected",
    )
    page = _html(tenant.member_client.get(reverse("message_detail", args=[message.pk])))
    assert XSS not in page and "Hi &lt;script&gt;" in page
    assert "Failed" in page and "550 5.1.1" in page and "Server said" in page
    assert reverse("prospect_detail", args=[prospect.pk]) in page and "desk@acme.test" in page
    assert message.message_id.strip("<>") in page and "Hello Ada," in page


@pytest.mark.django_db
def test_test_connection_to_a_name_that_does_not_resolve_says_so(tenant: Tenant) -> None:
    mailbox = MailboxFactory(
        org=tenant.org, smtp_host="smtp.nowhere.invalid", smtp_port=587, imap_host="imap.nowhere.invalid"
    )
    page = _html(tenant.admin_client.post(reverse("mailbox_test", args=[mailbox.pk]), HTTP_HX_REQUEST="true"))
    assert "SMTP: failed" in page and "IMAP: failed" in page
    assert "Could not reach smtp.nowhere.invalid:587" in page and "imap.nowhere.invalid:993" in page
