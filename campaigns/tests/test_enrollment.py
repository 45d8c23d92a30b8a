"""Enrolling: every skip with its reason, the variant and mailbox kept, the daily cap of new prospects."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection

from campaigns.enrollment import enrollment_create_many, variant_slot_for
from campaigns.models import Enrollment, EnrollmentState
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from leadgen.tenancy import org_scope
from outreach.tests.factories import MailboxFactory
from prospects.models import Stage, Suppression
from prospects.tests.factories import ProspectFactory

NOW = dt.datetime(2026, 3, 25, 8, 0, tzinfo=dt.UTC)  # a Wednesday


@pytest.mark.django_db
def test_each_prospect_that_cannot_be_contacted_is_skipped_with_its_reason(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    campaign = campaign_with_steps(tenant.org, mailboxes=[mailbox])
    other = campaign_with_steps(tenant.org, mailboxes=[mailbox])
    ok = ProspectFactory(org=tenant.org)
    no_email = ProspectFactory(org=tenant.org, email="", email_normalized=None)
    bounced = ProspectFactory(org=tenant.org, email_status="invalid")
    suppressed = ProspectFactory(org=tenant.org, email="gone@blocked.test")
    by_domain = ProspectFactory(org=tenant.org, email="any@blockeddomain.test")
    dnc = ProspectFactory(org=tenant.org, do_not_contact=True)
    replied = ProspectFactory(org=tenant.org, stage=Stage.REPLIED)
    busy = ProspectFactory(org=tenant.org)
    foreign = ProspectFactory(org=ProspectFactory().org)
    Suppression.objects.unscoped().create(org=tenant.org, kind="email", value="gone@blocked.test")
    Suppression.objects.unscoped().create(org=tenant.org, kind="domain", value="blockeddomain.test")
    with tenant.scope():
        enrollment_create_many(campaign=other, prospect_ids=[busy.pk], now=NOW)
        ids = [ok, no_email, bounced, suppressed, by_domain, dnc, replied, busy]
        outcomes = enrollment_create_many(
            campaign=campaign, prospect_ids=[p.pk for p in ids] + [foreign.pk], now=NOW
        )
        again = enrollment_create_many(campaign=campaign, prospect_ids=[ok.pk], now=NOW)
    assert [(o.status, o.reason) for o in outcomes] == [
        ("enrolled", ""),
        ("skipped", "no_email"),
        ("skipped", "undeliverable"),
        ("skipped", "suppressed"),
        ("skipped", "suppressed"),
        ("skipped", "do_not_contact"),
        ("skipped", "replied"),
        ("skipped", "active_elsewhere"),
        ("skipped", "not_found"),  # another org's prospect is not found, never enrolled
    ]
    assert outcomes[7].message == "Already active in another campaign."
    assert [(o.status, o.reason) for o in again] == [("skipped", "already_enrolled")]


@pytest.mark.django_db
def test_a_non_exclusive_campaign_takes_prospects_active_elsewhere(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    first = campaign_with_steps(tenant.org, mailboxes=[mailbox])
    second = campaign_with_steps(tenant.org, mailboxes=[mailbox], exclusive=False)
    prospect = ProspectFactory(org=tenant.org)
    with tenant.scope():
        enrollment_create_many(campaign=first, prospect_ids=[prospect.pk], now=NOW)
        [outcome] = enrollment_create_many(campaign=second, prospect_ids=[prospect.pk], now=NOW)
    assert outcome.status == "enrolled"


def test_variant_choice_is_weighted_and_stable() -> None:
    slots = [variant_slot_for(campaign_id=7, prospect_id=pid, weights=[3, 1]) for pid in range(4000)]
    share = Counter(slots)[0] / len(slots)
    assert 0.72 < share < 0.78
    assert slots == [variant_slot_for(campaign_id=7, prospect_id=pid, weights=[3, 1]) for pid in range(4000)]
    assert {variant_slot_for(campaign_id=7, prospect_id=pid, weights=[0, 1]) for pid in range(50)} == {1}


@pytest.mark.django_db
def test_mailboxes_are_balanced_and_each_enrollment_records_its_timezone(tenant: Tenant) -> None:
    boxes = [MailboxFactory(org=tenant.org), MailboxFactory(org=tenant.org)]
    campaign = campaign_with_steps(tenant.org, mailboxes=boxes, variants=("A", "B"), timezone="Europe/Paris")
    tokyo = ProspectFactory(org=tenant.org, location="Tokyo, Japan")
    nowhere = ProspectFactory(org=tenant.org, location="")
    set_zone = ProspectFactory(org=tenant.org, timezone="America/Los_Angeles")
    others = [ProspectFactory(org=tenant.org) for _ in range(5)]
    with tenant.scope():
        enrollment_create_many(
            campaign=campaign,
            prospect_ids=[tokyo.pk, nowhere.pk, set_zone.pk, *(p.pk for p in others)],
            now=NOW,
        )
        rows = {e.prospect_id: e for e in Enrollment.objects.filter(campaign=campaign)}
    assert Counter(e.mailbox_id for e in rows.values()) == {boxes[0].pk: 4, boxes[1].pk: 4}
    assert (rows[tokyo.pk].timezone, rows[tokyo.pk].timezone_source) == ("Asia/Tokyo", "location")
    assert (rows[nowhere.pk].timezone, rows[nowhere.pk].timezone_source) == ("Europe/Paris", "fallback")
    assert (rows[set_zone.pk].timezone, rows[set_zone.pk].timezone_source) == ("America/Los_Angeles", "set")
    for enrollment in rows.values():
        expected = variant_slot_for(
            campaign_id=campaign.pk, prospect_id=enrollment.prospect_id, weights=[1, 1]
        )
        assert enrollment.variant_slot == expected
        assert enrollment.state == EnrollmentState.ACTIVE and enrollment.next_send_at is not None


@pytest.mark.django_db
def test_the_daily_cap_spreads_first_sends_over_days(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    campaign = campaign_with_steps(
        tenant.org, mailboxes=[mailbox], daily_new_limit=3, send_days=[1, 2, 3, 4, 5]
    )
    prospects = [ProspectFactory(org=tenant.org) for _ in range(8)]
    with tenant.scope():
        enrollment_create_many(campaign=campaign, prospect_ids=[p.pk for p in prospects], now=NOW)
        days = Counter(Enrollment.objects.filter(campaign=campaign).values_list("starts_on", flat=True))
    # Wednesday, Thursday, Friday; the weekend is not a send day.
    assert days == {dt.date(2026, 3, 25): 3, dt.date(2026, 3, 26): 3, dt.date(2026, 3, 27): 2}


@pytest.mark.django_db(transaction=True)
def test_the_daily_cap_holds_with_two_concurrent_enrollers(tenant: Tenant) -> None:
    mailbox = MailboxFactory(org=tenant.org)
    campaign = campaign_with_steps(tenant.org, mailboxes=[mailbox], daily_new_limit=5)
    prospects = [ProspectFactory(org=tenant.org) for _ in range(20)]
    halves = [prospects[::2], prospects[1::2]]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def enroll(batch: list) -> None:  # type: ignore[type-arg]
        try:
            barrier.wait()
            with org_scope(tenant.org):
                enrollment_create_many(campaign=campaign, prospect_ids=[p.pk for p in batch], now=NOW)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=enroll, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with tenant.scope():
        days = Counter(Enrollment.objects.filter(campaign=campaign).values_list("starts_on", flat=True))
    assert sum(days.values()) == 20
    assert max(days.values()) == 5 and len(days) == 4
