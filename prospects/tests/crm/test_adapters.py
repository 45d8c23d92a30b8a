"""The HubSpot and Salesforce adapters against the local fakes: upserts, change reads, errors and rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from prospects.crm.adapters.base import ContactPush, CrmAuthError, CrmError, CrmRateLimited, CrmTransientError
from prospects.crm.adapters.hubspot import HubSpot
from prospects.crm.adapters.salesforce import Salesforce
from prospects.tests import fake_crm as fc
from prospects.tests.fake_crm import FakeCrm

pytest_plugins = ["prospects.tests.fake_crm"]


def _hubspot(fake: FakeCrm, token: str = fc.HUBSPOT_TOKEN) -> HubSpot:
    return HubSpot(token=token, base_url=fake.url)


def _salesforce(**options: Any) -> Salesforce:
    credentials = {
        "client_id": fc.SF_CLIENT_ID,
        "client_secret": fc.SF_CLIENT_SECRET,
        "password": options.pop("password", fc.SF_PASSWORD),
        "private_key": options.pop("private_key", ""),
    }
    return Salesforce(credentials=credentials, options={"username": fc.SF_USERNAME, **options})


def _person(**extra: Any) -> ContactPush:
    values: dict[str, Any] = {
        "email": "jane.doe@acme.test",
        "contact": {"firstname": "Jane", "lastname": "Doe", "leadgen_score": 82, "leadgen_tier": "A"},
        "company_domain": "acme.test",
        "company": {"name": "Acme Robotics"},
    }
    values.update(extra)
    return ContactPush(**values)


# --- HubSpot --------------------------------------------------------------------------------------------------


def test_hubspot_push_creates_then_updates_the_same_records(fake_crm: FakeCrm) -> None:
    adapter = _hubspot(fake_crm)
    first = adapter.push(_person())
    assert first.created is True
    second = adapter.push(
        _person(contact={"leadgen_score": 91}, contact_id=first.contact_id, company_id=first.company_id)
    )
    assert (second.contact_id, second.company_id, second.created) == (
        first.contact_id,
        first.company_id,
        False,
    )
    assert len(fake_crm.hs_contacts) == 1 and len(fake_crm.hs_companies) == 1
    contact = fake_crm.hs_contacts[first.contact_id]
    assert contact["leadgen_score"] == 91 and contact["firstname"] == "Jane"
    assert fake_crm.hs_companies[first.company_id] == {"domain": "acme.test", "name": "Acme Robotics"}
    assert (first.contact_id, first.company_id) in fake_crm.hs_associations
    upsert = fake_crm.calls("/crm/v3/objects/contacts/batch/upsert")[0]
    assert upsert.body["inputs"][0]["idProperty"] == "email"
    assert upsert.headers["authorization"] == f"Bearer {fc.HUBSPOT_TOKEN}"


def test_hubspot_finds_an_existing_company_by_domain(fake_crm: FakeCrm) -> None:
    fake_crm.hs_companies["77"] = {"domain": "acme.test", "name": "Acme (entered by hand)"}
    result = _hubspot(fake_crm).push(_person())
    assert result.company_id == "77"
    assert len(fake_crm.hs_companies) == 1
    assert fake_crm.hs_companies["77"]["name"] == "Acme Robotics"


def test_hubspot_bad_token_is_an_auth_error_in_hubspots_words(fake_crm: FakeCrm) -> None:
    with pytest.raises(CrmAuthError) as caught:
        _hubspot(fake_crm, token="pat-wrong").check()
    assert caught.value.status == 401
    assert "Authentication credentials not found" in caught.value.message
    assert caught.value.code == "INVALID_AUTHENTICATION"


def test_hubspot_429_is_rate_limited_with_retry_after(fake_crm: FakeCrm) -> None:
    fake_crm.hubspot_rate_limit("/crm/v3/objects/contacts/batch/upsert", retry_after=7)
    with pytest.raises(CrmRateLimited) as caught:
        _hubspot(fake_crm).push(_person(company_domain=""))
    assert caught.value.retry_after == 7
    assert "ten_secondly_rolling" in caught.value.message


def test_hubspot_429_without_retry_after_waits_one_interval(fake_crm: FakeCrm) -> None:
    fake_crm.hubspot_rate_limit("/crm/v3/objects/contacts/batch/upsert", retry_after=None)
    with pytest.raises(CrmRateLimited) as caught:
        _hubspot(fake_crm).push(_person(company_domain=""))
    assert caught.value.retry_after == 10.0  # X-HubSpot-RateLimit-Interval-Milliseconds: 10000


def test_hubspot_5xx_is_transient(fake_crm: FakeCrm) -> None:
    fake_crm.server_error("/crm/v3/objects/companies/search")
    with pytest.raises(CrmTransientError) as caught:
        _hubspot(fake_crm).push(_person())
    assert caught.value.status == 502 and not isinstance(caught.value, CrmRateLimited)


def test_hubspot_changes_since_reads_closed_deals_and_unqualified_contacts(fake_crm: FakeCrm) -> None:
    old = datetime.now(tz=UTC) - timedelta(days=3)
    fake_crm.hs_contacts.update(
        {
            "501": {"email": "won@acme.test"},
            "502": {"email": "lost@acme.test"},
            "503": {"email": "old@acme.test"},
        }
    )
    fake_crm.hs_contacts["504"] = {
        "email": "nope@acme.test",
        "hs_lead_status": "UNQUALIFIED",
        "lastmodifieddate": fake_crm_time(),
    }
    won = fake_crm.hs_deal(contact_id="501", won=True, reason="Signed after the pilot")
    lost = fake_crm.hs_deal(contact_id="502", won=False, reason="Went with a competitor")
    fake_crm.hs_deal(contact_id="503", won=True, modified=old)
    changes = _hubspot(fake_crm).changes_since(datetime.now(tz=UTC) - timedelta(hours=1))
    by_key = {change.key: change for change in changes.items}
    assert set(by_key) == {f"deal:{won}:won", f"deal:{lost}:lost", "contact:504:disqualified"}
    assert by_key[f"deal:{won}:won"].contact_ids == ["501"]
    assert by_key[f"deal:{lost}:lost"].reason == "Went with a competitor"
    assert by_key["contact:504:disqualified"].emails == ["nope@acme.test"]
    search = fake_crm.calls("/crm/v3/objects/deals/search")[0].body
    assert search["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"
    assert changes.until is not None


def test_hubspot_search_follows_paging(fake_crm: FakeCrm) -> None:
    for n in range(130):
        fake_crm.hs_contacts[str(900 + n)] = {"email": f"p{n}@acme.test"}
        fake_crm.hs_deal(contact_id=str(900 + n), won=n % 2 == 0)
    changes = _hubspot(fake_crm).changes_since(datetime.now(tz=UTC) - timedelta(hours=1))
    assert len(changes.items) == 130
    assert len(fake_crm.calls("/crm/v3/objects/deals/search")) == 2


def fake_crm_time() -> str:
    return fc.hs_time(datetime.now(tz=UTC))


# --- Salesforce -----------------------------------------------------------------------------------------------


def _sf_person(**extra: Any) -> ContactPush:
    values: dict[str, Any] = {
        "email": "jane.doe+crm@acme.test",
        "contact": {"FirstName": "Jane", "LastName": "Doe", "Leadgen_Score__c": 82},
        "company_domain": "acme.test",
        "company": {"Name": "Acme Robotics", "Website": "https://acme.test"},
    }
    values.update(extra)
    return ContactPush(**values)


@pytest.mark.django_db
def test_salesforce_password_flow_and_upsert_by_external_id(fake_crm: FakeCrm) -> None:
    adapter = _salesforce()
    first = adapter.push(_sf_person())
    assert first.created is True and first.contact_id.startswith("003") and first.company_id.startswith("001")
    second = adapter.push(_sf_person(contact={"Leadgen_Score__c": 95}))
    assert (second.contact_id, second.created) == (first.contact_id, False)
    contact = fake_crm.sf_records[("Contact", "Email__c", "jane.doe+crm@acme.test")]
    assert contact["Leadgen_Score__c"] == 95 and contact["AccountId"] == first.company_id
    token_call = fake_crm.calls("/services/oauth2/token")[0]
    assert token_call.body["grant_type"] == "password" and token_call.body["username"] == fc.SF_USERNAME
    # One login for the adapter's calls; the plus sign in the email is escaped in the path.
    assert len(fake_crm.calls("/services/oauth2/token")) == 1
    patch = fake_crm.calls("/services/data/v62.0/sobjects/Contact/Email__c/")[0]
    assert patch.method == "PATCH"


@pytest.mark.django_db
def test_salesforce_jwt_bearer_flow(fake_crm: FakeCrm) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake_crm.sf_jwt_public_keys.append(key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    adapter = _salesforce(auth_flow="jwt", private_key=pem)
    assert "14990 of 15000 API calls left today" in adapter.check()
    assert fake_crm.calls("/services/oauth2/token")[0].body["grant_type"].endswith("jwt-bearer")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(CrmAuthError) as caught:
        _salesforce(auth_flow="jwt", private_key=wrong).check()
    assert caught.value.code == "invalid_grant"


@pytest.mark.django_db
def test_salesforce_wrong_password_is_an_auth_error(fake_crm: FakeCrm) -> None:
    with pytest.raises(CrmAuthError) as caught:
        _salesforce(password="nope").check()
    assert (caught.value.code, caught.value.message) == ("invalid_grant", "authentication failure")


@pytest.mark.django_db
def test_salesforce_expired_session_gets_one_fresh_token(fake_crm: FakeCrm) -> None:
    adapter = _salesforce()
    adapter.check()
    fake_crm.sf_tokens.clear()  # the session expired
    adapter.push(_sf_person())
    assert len(fake_crm.calls("/services/oauth2/token")) == 2


@pytest.mark.django_db
def test_salesforce_request_limit_exceeded_is_rate_limited(fake_crm: FakeCrm) -> None:
    fake_crm.salesforce_limit("/services/data/v62.0/sobjects/Account/")
    with pytest.raises(CrmRateLimited) as caught:
        _salesforce().push(_sf_person())
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED" and caught.value.retry_after == 900.0


@pytest.mark.django_db
def test_salesforce_5xx_is_transient_and_a_missing_field_is_not(fake_crm: FakeCrm) -> None:
    fake_crm.server_error("/services/data/v62.0/sobjects/", salesforce=True)
    with pytest.raises(CrmTransientError):
        _salesforce().push(_sf_person())
    with pytest.raises(CrmError) as caught:
        _salesforce(contact_external_id="Leadgen_Email__c").push(_sf_person(company_domain=""))
    assert not isinstance(caught.value, CrmTransientError)
    assert "Leadgen_Email__c" in caught.value.message and caught.value.code == "NOT_FOUND"


@pytest.mark.django_db
def test_salesforce_changes_since_with_paging(fake_crm: FakeCrm) -> None:
    fake_crm.sf_page_size = 2
    old = datetime.now(tz=UTC) - timedelta(days=2)
    won = fake_crm.sf_opportunity(contact_id="003A", email="a@acme.test", won=True)
    lost = fake_crm.sf_opportunity(email="b@acme.test", won=False)
    fake_crm.sf_opportunity(email="c@acme.test", won=True)
    fake_crm.sf_opportunity(email="old@acme.test", won=True, modified=old)
    lead = fake_crm.sf_lead(email="d@acme.test")
    fake_crm.sf_lead(email="e@acme.test", status="Working - Contacted")
    changes = _salesforce().changes_since(datetime.now(tz=UTC) - timedelta(hours=1))
    keys = {change.key: change for change in changes.items}
    assert len([k for k in keys if k.startswith("opportunity:")]) == 3
    assert keys[f"opportunity:{won}:won"].contact_ids == ["003A"]
    assert keys[f"opportunity:{lost}:lost"].emails == ["b@acme.test"]
    assert keys[f"lead:{lead}:disqualified"].result == "disqualified"
    assert any("/query/" in r.path for r in fake_crm.requests)  # nextRecordsUrl followed
    soql = fake_crm.calls("/services/data/v62.0/query")[0].query["q"][0]
    assert "FROM Opportunity" in soql and "LastModifiedDate >=" in soql


def test_salesforce_refuses_a_private_instance_address(settings: Any) -> None:
    settings.NETGUARD_ALLOW_LOOPBACK = False
    adapter = Salesforce(
        credentials={"client_id": "x", "password": "y"},
        options={"username": "u", "login_url": "http://169.254.169.254"},
    )
    with pytest.raises(CrmAuthError):
        adapter.check()
