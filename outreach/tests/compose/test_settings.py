"""Settings → Email writing and /api/v1/outreach/settings: what drafts may say and where tracking links point."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from conftest import Tenant
from outreach.compose import outreach_settings_get
from outreach.models import OutreachSettings

URL = "/settings/email-writing/"


def _form(**values: str) -> dict[str, str]:
    return {
        "value_proposition": "We halve deploy times for platform teams.",
        "banned_phrases": "I hope this finds you well\n  Just  checking in \n\nJust checking in",
        "default_locale": "de",
        "tracking_domain": "https://Track.Acme.test/",
        **values,
    }


@pytest.mark.django_db
def test_an_admin_sets_what_drafts_say_and_the_tracking_domain(tenant: Tenant) -> None:
    assert reverse("outreach_settings") == URL
    page = tenant.admin_client.get(URL).content.decode()
    assert "I came across your profile" in page  # the defaults are shown before anything is saved
    response = tenant.admin_client.post(URL, _form(), follow=True)
    assert "Email writing settings saved." in response.content.decode()
    with tenant.scope():
        row = outreach_settings_get(org_id=tenant.org.pk)
        assert row.value_proposition == "We halve deploy times for platform teams."
        assert row.banned_phrases == ["I hope this finds you well", "Just checking in"]
        assert (row.default_locale, row.tracking_domain) == ("de", "track.acme.test")
    audit = AuditLog.objects.unscoped().get(org=tenant.org, action="outreach_settings.updated")
    assert audit.data == {
        "fields": ["banned_phrases", "default_locale", "tracking_domain", "value_proposition"]
    }
    again = tenant.admin_client.post(URL, _form(), follow=True)
    assert "Nothing changed." in again.content.decode()


@pytest.mark.django_db
def test_a_bad_tracking_domain_is_refused_and_nothing_is_saved(tenant: Tenant) -> None:
    response = tenant.admin_client.post(URL, _form(tracking_domain="track.acme.test:8080/path"))
    assert response.status_code == 422
    assert "Enter a host name such as track.yourcompany.com" in response.content.decode()
    assert not OutreachSettings.objects.unscoped().filter(org=tenant.org).exists()


@pytest.mark.django_db
def test_members_cannot_change_them_and_tenants_never_see_each_others(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    assert tenant.member_client.post(URL, _form()).status_code == 404  # admin pages do not exist for members
    other_tenant.admin_client.post(URL, _form(value_proposition="Globex sells anvils to coyotes."))
    assert "anvils" not in tenant.admin_client.get(URL).content.decode()


@pytest.mark.django_db
def test_the_api_reads_and_changes_them(tenant: Tenant, other_tenant: Tenant) -> None:
    api = tenant.api()
    assert api.get("/api/v1/outreach/settings").json()["default_locale"] == "en"
    response = api.patch(
        "/api/v1/outreach/settings",
        {
            "value_proposition": "Faster deploys.",
            "banned_phrases": ["Circling back"],
            "tracking_domain": "t.acme.test",
        },
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json() | {"updated_at": None} == {
        "value_proposition": "Faster deploys.",
        "banned_phrases": ["Circling back"],
        "default_locale": "en",
        "tracking_domain": "t.acme.test",
        "updated_at": None,
    }
    bad = api.patch(
        "/api/v1/outreach/settings", {"tracking_domain": "not a host"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "tracking_domain" in bad.content.decode()
    cleared = api.patch("/api/v1/outreach/settings", {"tracking_domain": ""}, content_type="application/json")
    assert cleared.json()["tracking_domain"] == ""
    assert other_tenant.api().get("/api/v1/outreach/settings").json()["value_proposition"] == ""
