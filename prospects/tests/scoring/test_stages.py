"""Stages and scores that mean what they say: the stage follows the threshold, a person's stage stays, the data fix,
and the headline score named with its ICP on the list, the board and the prospect page."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Tenant
from prospects.models import ICP, Activity, Prospect, Qualification, Stage
from prospects.scoring.qualification import prospect_qualify
from prospects.services import prospect_change_stage
from prospects.tests.factories import ICPFactory, PipelineSettingsFactory, QualificationFactory
from prospects.tests.scoring.test_qualification import CRITERIA, _company, _prospect


@pytest.fixture
def icp(tenant: Tenant) -> ICP:
    return ICPFactory(org=tenant.org, name="Platform teams", criteria=CRITERIA)


def _intern(tenant: Tenant, **kwargs: Any) -> Prospect:
    return _prospect(
        tenant,
        email="intern@cloudstack.test",
        email_normalized="intern@cloudstack.test",
        title="Marketing Intern",
        seniority="",
        **kwargs,
    )


def _stage_changes(prospect: Prospect) -> list[Activity]:
    return list(Activity.objects.filter(prospect=prospect, kind="stage_changed").order_by("created_at", "id"))


@pytest.mark.django_db
def test_stage_follows_the_threshold_and_says_why(tenant: Tenant, icp: ICP) -> None:
    fit = _prospect(tenant, stage=Stage.ENRICHED)
    intern = _intern(tenant, stage=Stage.ENRICHED)
    with tenant.scope():
        PipelineSettingsFactory(org=tenant.org, qualification_threshold=70)
        fit_outcome = prospect_qualify(prospect_id=fit.pk)
        intern_outcome = prospect_qualify(prospect_id=intern.pk)
        fit.refresh_from_db()
        intern.refresh_from_db()
        (qualified,) = _stage_changes(fit)
        assert _stage_changes(intern) == []
    assert fit.score is not None and fit.score >= 70 and fit.stage == Stage.QUALIFIED
    assert fit_outcome.crossed_threshold
    assert "at or above the threshold 70" in qualified.summary and "Platform teams" in qualified.summary
    assert qualified.data["by"] == "scoring" and qualified.actor_id is None
    # The intern is scored (a C) and stays enriched: not "Qualified" at 30-something.
    assert intern.score is not None and intern.score < 70 and intern.tier == "C"
    assert intern.stage == Stage.ENRICHED and not intern_outcome.crossed_threshold


@pytest.mark.django_db
def test_disqualified_only_when_the_judgement_says_so_with_the_reason(tenant: Tenant, icp: ICP) -> None:
    agency = _prospect(tenant, company=_company(tenant, name="Growth Agency Berlin", domain="growth.test"))
    with tenant.scope():
        prospect_qualify(prospect_id=agency.pk)
        agency.refresh_from_db()
        (change,) = _stage_changes(agency)
    assert agency.stage == Stage.DISQUALIFIED and agency.tier == "disqualified"
    assert "exclusion “Agency”" in change.summary


@pytest.mark.django_db
def test_a_pipeline_stage_follows_the_score_back_and_a_persons_stage_stays(tenant: Tenant, icp: ICP) -> None:
    fit = _prospect(tenant, stage=Stage.ENRICHED)
    kept = _intern(tenant, stage=Stage.ENRICHED)
    with tenant.scope():
        PipelineSettingsFactory(org=tenant.org, qualification_threshold=70)
        prospect_qualify(prospect_id=fit.pk)
        prospect_qualify(prospect_id=kept.pk)
        prospect_change_stage(prospect=kept, stage=Stage.QUALIFIED, actor=tenant.member)
        # The company turns out to be a bakery: the fit drops below the threshold.
        company = fit.company
        assert company is not None
        company.industry, company.employee_count = "Restaurants", 8
        company.save()
        prospect_qualify(prospect_id=fit.pk)
        prospect_qualify(prospect_id=kept.pk)
        fit.refresh_from_db()
        kept.refresh_from_db()
        back = _stage_changes(fit)[-1]
    assert fit.stage == Stage.ENRICHED and "below the threshold 70" in back.summary
    assert kept.stage == Stage.QUALIFIED  # a person qualified the intern: the pipeline leaves it


@pytest.mark.django_db
def test_the_data_fix_moves_legacy_pipeline_stages_once(tenant: Tenant, icp: ICP) -> None:
    intern = _intern(tenant, stage=Stage.ENRICHED)
    by_hand = _prospect(tenant, email="hand@cloudstack.test", email_normalized="hand@cloudstack.test")
    with tenant.scope():
        PipelineSettingsFactory(org=tenant.org, qualification_threshold=70)
        prospect_qualify(prospect_id=intern.pk)
        prospect_qualify(prospect_id=by_hand.pk)
        # What the first pipeline did: every scored prospect to Qualified, worded like this, with no actor.
        prospect_change_stage(prospect=intern, stage=Stage.QUALIFIED, actor=None, reason="score 21, tier C")
        Qualification.objects.filter(prospect=intern).update(input_hash="rules-v1")
        prospect_change_stage(prospect=by_hand, stage=Stage.DISQUALIFIED, actor=tenant.member)
    first, second = StringIO(), StringIO()
    call_command("scoring_stages_fix", stdout=first)
    call_command("scoring_stages_fix", stdout=second)
    with tenant.scope():
        intern.refresh_from_db()
        by_hand.refresh_from_db()
    assert intern.stage == Stage.ENRICHED and by_hand.stage == Stage.DISQUALIFIED
    assert "stages changed: 1" in first.getvalue() and "qualified → enriched: 1" in first.getvalue()
    assert "stages changed: 0" in second.getvalue()


# --- the headline score ---------------------------------------------------------------------------------------


def _judged(tenant: Tenant, icp: ICP, other: ICP, count: int, start: int = 0) -> None:
    for index in range(start, start + count):
        prospect = _prospect(
            tenant,
            email=f"p{index}@cloudstack.test",
            email_normalized=f"p{index}@cloudstack.test",
            first_name=f"P{index}",
            stage=Stage.QUALIFIED,
            score=90,
        )
        QualificationFactory(org=tenant.org, prospect=prospect, icp=icp, score=82, tier="A", confidence=0.8)
        QualificationFactory(org=tenant.org, prospect=prospect, icp=other, score=41, tier="C")


def _get(tenant: Tenant, url: str) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = tenant.member_client.get(url)
    assert response.status_code == 200
    return response.content.decode(), len(queries)


@pytest.mark.django_db
def test_list_and_board_show_the_icps_score_named_without_n_plus_one(tenant: Tenant, icp: ICP) -> None:
    other = ICPFactory(org=tenant.org, name="Revenue leaders", criteria={"title_keywords": ["sales"]})
    _judged(tenant, icp, other, 3)
    _get(tenant, reverse("prospect_list"))  # the first request of a session pays for the session itself
    primary_list, few = _get(tenant, reverse("prospect_list"))
    filtered, few_filtered = _get(tenant, reverse("prospect_list") + f"?icp={other.pk}")
    board, board_few = _get(tenant, reverse("prospect_board"))
    _judged(tenant, icp, other, 6, start=3)
    _, many = _get(tenant, reverse("prospect_list"))
    _, many_filtered = _get(tenant, reverse("prospect_list") + f"?icp={other.pk}")
    _, board_many = _get(tenant, reverse("prospect_board"))
    # The first active ICP is the primary: its score, named, everywhere outside an ICP filter.
    assert primary_list.count('<strong>82</strong> · <span class="headline-icp">Platform teams</span>') == 3
    assert filtered.count('<strong>41</strong> · <span class="headline-icp">Revenue leaders</span>') == 3
    assert '<strong>82</strong> (A) · <span class="headline-icp">Platform teams</span>' in board
    # Three rows or nine: the same number of queries.
    assert (many, many_filtered, board_many) == (few, few_filtered, board_few)


@pytest.mark.django_db
def test_the_primary_flag_decides_and_the_prospect_page_names_it(tenant: Tenant, icp: ICP) -> None:
    other = ICPFactory(org=tenant.org, name="Revenue leaders", is_primary=True)
    _judged(tenant, icp, other, 1)
    with tenant.scope():
        prospect = Prospect.objects.get()
    listing, _ = _get(tenant, reverse("prospect_list"))
    page, _ = _get(tenant, reverse("prospect_detail", args=[prospect.pk]))
    assert '<strong>41</strong> · <span class="headline-icp">Revenue leaders</span>' in listing
    assert '<strong>41</strong>/100 · tier C · <span class="headline-icp">Revenue leaders</span>' in page
    assert "Platform teams: 82 · A · confidence 80%" in page


def _names_in_order(html: str, names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: html.index(f">{name} "))


@pytest.mark.django_db
def test_choosing_the_primary_icp_changes_the_scores_shown_and_their_order(tenant: Tenant, icp: ICP) -> None:
    other = ICPFactory(org=tenant.org, name="Revenue leaders")
    # Ann is the better fit for "Platform teams" (the first active ICP, so primary by default), Bob for the other;
    # Bob's own prospect score is the highest of all, which is what the score sort used to follow.
    for first, platform, revenue, own in (("Ann", 88, 20, 60), ("Bob", 30, 95, 99)):
        prospect = _prospect(
            tenant,
            email=f"{first.lower()}@cloudstack.test",
            email_normalized=f"{first.lower()}@cloudstack.test",
            first_name=first,
            last_name="Tester",
            score=own,
        )
        QualificationFactory(org=tenant.org, prospect=prospect, icp=icp, score=platform, tier="A")
        QualificationFactory(org=tenant.org, prospect=prospect, icp=other, score=revenue, tier="A")
    by_score = reverse("prospect_list") + "?sort=-score"
    html, _ = _get(tenant, by_score)
    assert _names_in_order(html, ["Ann", "Bob"]) == ["Ann", "Bob"]
    assert "Revenue leaders" not in html.split("<tbody", 1)[1].split("</tbody>")[0]
    # The filter reads the shown score too: 50+ against the primary is Ann only.
    html, _ = _get(tenant, reverse("prospect_list") + "?score_min=50")
    assert ">Ann " in html and ">Bob " not in html

    response = tenant.member_client.post(reverse("icp_primary", args=[other.pk]), follow=True)
    assert "is now the primary ICP" in response.content.decode()
    with tenant.scope():
        assert list(ICP.objects.filter(is_primary=True)) == [other]
    html, _ = _get(tenant, by_score)
    assert _names_in_order(html, ["Ann", "Bob"]) == ["Bob", "Ann"]
    assert '<strong>95</strong> · <span class="headline-icp">Revenue leaders</span>' in html
    listing, _ = _get(tenant, reverse("icp_list"))
    assert listing.count('<span class="tag">Primary</span>') == 1
    # Switching back clears the other flag (one primary per organisation).
    tenant.member_client.post(reverse("icp_primary", args=[icp.pk]))
    with tenant.scope():
        assert list(ICP.objects.filter(is_primary=True).values_list("name", flat=True)) == ["Platform teams"]


@pytest.mark.django_db
def test_an_inactive_icp_cannot_be_made_primary(tenant: Tenant, icp: ICP) -> None:
    dormant = ICPFactory(org=tenant.org, name="Dormant", is_active=False)
    response = tenant.member_client.post(reverse("icp_primary", args=[dormant.pk]), follow=True)
    assert "Only an active ICP can be the primary one" in response.content.decode()
    with tenant.scope():
        assert not ICP.objects.filter(is_primary=True).exists()
