"""`POST /api/v1/mailboxes/{id}/sync` and the mailbox page's "Sync now" button, against a real Dovecot."""

from __future__ import annotations

from django.urls import reverse

from outreach.models import Reply
from outreach.tests.factories import MailboxFactory

from .conftest import fixture_mail, imap_mailbox, sent_message


def test_api_sync_reads_new_mail_once(tenant, dovecot, django_assert_max_num_queries) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot)
    message = sent_message(mailbox, email="ada@prospect.test")
    dovecot.append(
        [fixture_mail("gmail_interested.eml", message=message), fixture_mail("unrelated_newsletter.eml")]
    )
    response = tenant.api().post(f"/api/v1/mailboxes/{mailbox.pk}/sync")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["new_messages"], body["downloaded"], body["stored"], body["reread"]) == (2, 1, 1, False)
    assert body["synced_at"] is not None
    assert Reply.objects.unscoped().filter(org=tenant.org, message=message).count() == 1
    # Nothing new: one STATUS round trip and a handful of queries.
    with django_assert_max_num_queries(6):
        again = tenant.api().post(f"/api/v1/mailboxes/{mailbox.pk}/sync")
    assert again.json()["new_messages"] == 0 and again.json()["stored"] == 0


def test_api_sync_says_why_it_failed(tenant, dovecot) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot, imap_password="wrong")
    response = tenant.api().post(f"/api/v1/mailboxes/{mailbox.pk}/sync")
    assert response.status_code == 502
    assert response.json()["code"] == "imap_error"
    assert "refused the login" in response.json()["detail"]
    no_imap = MailboxFactory(org=tenant.org)
    response = tenant.api().post(f"/api/v1/mailboxes/{no_imap.pk}/sync")
    assert response.status_code == 409 and response.json()["code"] == "not_configured"


def test_another_orgs_mailbox_answers_404(tenant, other_tenant, dovecot) -> None:
    theirs = imap_mailbox(other_tenant.org, dovecot)
    assert tenant.api().post(f"/api/v1/mailboxes/{theirs.pk}/sync").status_code == 404
    assert tenant.owner_client.post(reverse("mailbox_sync", args=[theirs.pk])).status_code == 404


def test_sync_now_button_shows_what_was_found_and_errors(tenant, dovecot) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot)
    page = tenant.owner_client.get(reverse("mailbox_detail", args=[mailbox.pk]))
    assert b"Sync now" in page.content and b"Not checked yet." in page.content
    message = sent_message(mailbox, email="ada@prospect.test")
    dovecot.append([fixture_mail("gmail_interested.eml", message=message)])
    response = tenant.owner_client.post(reverse("mailbox_sync", args=[mailbox.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Checked 1 new email: 1 reply, out-of-office or bounce recorded." in response.content.decode()
    assert b"Last checked" in response.content

    mailbox.refresh_from_db()
    mailbox.imap_password = "wrong"
    mailbox.save()
    response = tenant.owner_client.post(reverse("mailbox_sync", args=[mailbox.pk]), HTTP_HX_REQUEST="true")
    assert b"Could not check for replies:" in response.content and b"refused the login" in response.content
    assert b"Sending from this mailbox is paused" in response.content and b"Last checked" in response.content
    page = tenant.owner_client.get(reverse("mailbox_detail", args=[mailbox.pk]))
    assert b"refused the login" in page.content and b"Paused." in page.content


def test_members_cannot_sync_from_settings(tenant, dovecot) -> None:
    mailbox = imap_mailbox(tenant.org, dovecot)
    response = tenant.member_client.post(reverse("mailbox_sync", args=[mailbox.pk]))
    assert response.status_code in (403, 404)
