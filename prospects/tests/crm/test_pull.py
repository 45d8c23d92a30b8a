"""Outcomes coming back: HubSpot and Salesforce polls, once per change, and the scoring model refitted on them."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import Tenant
from prospects import services
from prospects.crm import outcomes
from prospects.crm.adapters.base import CrmAuthError
from prospects.crm.models import CrmConnection, CrmRecord, CrmSyncLog, SyncStatus
from prospects.crm.tasks import crm_pull_due
from prospects.models import Outcome, Prospect, ScoringModel
from prospects.scoring.model import FEATURES, MIN_OUTCOMES, scoring_model_train
from prospects.tests.factories import ProspectFactory
from prospects.tests.fake_crm import FakeCrm

from .helpers import hubspot_connection, salesforce_connection

pytest_plugins = ["prospects.tests.fake_crm"]


def _since_yesterday(connection: CrmConnection) -> None:
    CrmConnection.objects.unscoped().filter(pk=connection.pk).update(
        created_at=datetime.now(tz=UTC) - timedelta(days=1)
    )


def _record(tenant: Tenant, connection: CrmConnection, prospect: Prospect, contact_id: str) -> None:
    CrmRecord.objects.unscoped().create(
        org=tenant.org, connection=connection, prospect=prospect, contact_id=contact_id
    )


@pytest.mark.django_db
def test_hubspot_poll_records_won_lost_and_disqualified_once(tenant: Tenant, fake_crm: FakeCrm) -> None:
    connection = hubspot_connection(tenant.org)
    _since_yesterday(connection)
    won, lost = ProspectFactory(org=tenant.org), ProspectFactory(org=tenant.org)
    unqualified = ProspectFactory(
        org=tenant.org, email="no.fit@acme.test", email_normalized="no.fit@acme.test"
    )
    _record(tenant, connection, won, "501")
    _record(tenant, connection, lost, "502")
    fake_crm.hs_contacts["503"] = {
        "email": "no.fit@acme.test",
        "hs_lead_status": "UNQUALIFIED",
        "lastmodifieddate": fake_crm_now(),
    }
    fake_crm.hs_deal(contact_id="501", won=True, reason="Signed after the pilot")
    fake_crm.hs_deal(contact_id="502", won=False, reason="No budget this year")
    with tenant.scope():
        assert outcomes.crm_pull(connection_id=connection.pk) == 3
        assert outcomes.crm_pull(connection_id=connection.pk) == 0  # the same changes, seen again
        rows = {o.prospect_id: o for o in Outcome.objects.all()}
        connection.refresh_from_db()
        logs = list(CrmSyncLog.objects.filter(direction="pull").values_list("status", flat=True))
    assert {p: (o.result, o.source) for p, o in rows.items()} == {
        won.pk: ("won", "hubspot"),
        lost.pk: ("lost", "hubspot"),
        unqualified.pk: ("disqualified", "hubspot"),
    }
    assert rows[lost.pk].reason == "No budget this year"
    lost.refresh_from_db()
    assert lost.stage == "lost"
    assert logs == [SyncStatus.OK] * 3
    assert connection.last_pull_at is not None and connection.pulled_until is not None
    assert connection.last_error == ""


def fake_crm_now() -> str:
    from prospects.tests.fake_crm import hs_time

    return hs_time(datetime.now(tz=UTC))


@pytest.mark.django_db
def test_a_deal_for_someone_leadgen_does_not_know_is_logged_as_skipped(
    tenant: Tenant, fake_crm: FakeCrm
) -> None:
    connection = hubspot_connection(tenant.org)
    _since_yesterday(connection)
    fake_crm.hs_deal(contact_id="999", won=True)
    with tenant.scope():
        assert outcomes.crm_pull(connection_id=connection.pk) == 0
        entry = CrmSyncLog.objects.get()
        assert not Outcome.objects.exists()
    assert entry.status == SyncStatus.SKIPPED and "No prospect" in entry.error


@pytest.mark.django_db
def test_salesforce_poll_matches_by_contact_id_then_email(tenant: Tenant, fake_crm: FakeCrm) -> None:
    connection = salesforce_connection(tenant.org)
    _since_yesterday(connection)
    by_id = ProspectFactory(org=tenant.org)
    by_email = ProspectFactory(org=tenant.org, email="Buyer@Acme.test", email_normalized="buyer@acme.test")
    dropped = ProspectFactory(org=tenant.org, email="lead@acme.test", email_normalized="lead@acme.test")
    _record(tenant, connection, by_id, "003XYZ")
    fake_crm.sf_opportunity(contact_id="003XYZ", won=True)
    fake_crm.sf_opportunity(email="buyer@acme.test", won=False)
    fake_crm.sf_lead(email="lead@acme.test")
    with tenant.scope():
        assert outcomes.crm_pull(connection_id=connection.pk) == 3
        results = dict(Outcome.objects.values_list("prospect_id", "result"))
        sources = set(Outcome.objects.values_list("source", flat=True))
    assert results == {by_id.pk: "won", by_email.pk: "lost", dropped.pk: "disqualified"}
    assert sources == {"salesforce"}


@pytest.mark.django_db
def test_a_failed_poll_is_shown_on_the_connection_and_writes_nothing(
    tenant: Tenant, fake_crm: FakeCrm
) -> None:
    connection = salesforce_connection(tenant.org, password="wrong")
    ProspectFactory(org=tenant.org, email="buyer@acme.test", email_normalized="buyer@acme.test")
    fake_crm.sf_opportunity(email="buyer@acme.test", won=True)
    with tenant.scope():
        with pytest.raises(CrmAuthError):
            outcomes.crm_pull(connection_id=connection.pk)
        connection.refresh_from_db()
        assert not Outcome.objects.exists() and not CrmSyncLog.objects.exists()
    assert "authentication failure" in connection.last_error
    assert connection.pulled_until is None


# --- the model learns from CRM outcomes -----------------------------------------------------------------------


def _labelled_prospect(tenant: Tenant, index: int, won: bool, rng: random.Random) -> Prospect:
    fit = rng.uniform(0.6, 1.0) if won else rng.uniform(0.0, 0.5)
    features = {name: 0.0 for name in FEATURES}
    features.update(fit=round(fit, 4), similarity=round(rng.uniform(0, 1), 4), judgement=round(fit, 4))
    features["tier_A" if won else "tier_C"] = 1.0
    return ProspectFactory(
        org=tenant.org,
        email=f"buyer{index}@co{index}.test",
        email_normalized=f"buyer{index}@co{index}.test",
        score_breakdown={"features": features},
    )


def _wait_for(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@pytest.mark.django_db(transaction=True)
def test_outcomes_from_the_crm_refit_the_scoring_model(
    tenant: Tenant, fake_crm: FakeCrm, celery_worker: Any
) -> None:
    rng = random.Random(13)
    with tenant.scope():
        for index in range(MIN_OUTCOMES):
            prospect = _labelled_prospect(tenant, index, index % 2 == 0, rng)
            services.outcome_record(prospect=prospect, result="won" if index % 2 == 0 else "lost", actor=None)
    first = scoring_model_train(org_id=tenant.org.pk)
    assert first is not None and first.trained_on == MIN_OUTCOMES

    connection = hubspot_connection(tenant.org)
    _since_yesterday(connection)
    for index in range(100, 108):
        won = index % 2 == 1
        prospect = _labelled_prospect(tenant, index, won, rng)
        _record(tenant, connection, prospect, str(index))
        fake_crm.hs_deal(contact_id=str(index), won=won, reason="from the CRM")
    crm_pull_due()  # beat: pull every connection; the pull queues the refit

    def refitted() -> ScoringModel | None:
        with tenant.scope():
            return ScoringModel.objects.filter(trained_on=MIN_OUTCOMES + 8).first()

    second = _wait_for(refitted)
    assert second.pk != first.pk and second.coefficients != first.coefficients
    with tenant.scope():
        assert Outcome.objects.filter(source="hubspot").count() == 8
