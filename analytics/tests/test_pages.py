"""Hand-computed fixtures for the pages and the API: one campaign, versions A and B, ten sends each."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from analytics.stats import lift, rate, two_proportion_p
from campaigns.models import Variant
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from outreach.tests.factories import MailboxFactory
from prospects.tests.factories import CompanyFactory, ICPFactory, ProspectFactory

from .factories import EventFactory, ReplyFactory, sent_message

TODAY = timezone.now().astimezone(dt.UTC).replace(hour=10, minute=0, second=0, microsecond=0) - dt.timedelta(
    days=1
)


def _version(
    tenant: Tenant, campaign: Any, name: str, *, opens: int, replies: int, interested: int, **extra: int
) -> None:
    """Ten sends of one version: `opens` human opens, `replies` replies of which `interested` positive."""
    mailbox = MailboxFactory(
        org=tenant.org, name=f"Desk {name}", from_email=f"desk-{name.lower()}@sales.test"
    )
    software = CompanyFactory(org=tenant.org, industry="Software", employee_count=30)
    for index in range(10):
        prospect = ProspectFactory(org=tenant.org, company=software, timezone="Europe/Berlin", seniority="VP")
        message = sent_message(
            org=tenant.org,
            prospect=prospect,
            sent_at=TODAY,
            campaign_id=campaign.pk,
            variant=name,
            mailbox=mailbox,
        )
        if index < opens:
            EventFactory(message=message, kind="opened", at=TODAY + dt.timedelta(hours=1))
            EventFactory(
                message=message, kind="opened", at=TODAY + dt.timedelta(hours=2)
            )  # a second look: once
        if index == 9:
            EventFactory(message=message, kind="opened", is_bot=True, bot_kind="machine", at=TODAY)
            EventFactory(message=message, kind="clicked", is_bot=True, bot_kind="scanner", at=TODAY)
        if index < replies:
            EventFactory(message=message, kind="replied", at=TODAY + dt.timedelta(hours=3))
            ReplyFactory(
                message=message,
                intent="interested" if index < interested else "not_now",
                received_at=TODAY + dt.timedelta(hours=3),
            )
        if index == 8 and extra.get("hard_bounce"):
            EventFactory(message=message, kind="bounced", meta={"hard": True}, at=TODAY)
        if index == 8 and extra.get("complaint"):
            EventFactory(message=message, kind="complained", at=TODAY + dt.timedelta(hours=5))


@pytest.fixture
def campaign(tenant: Tenant, advance: Callable[[], Any]) -> Any:
    campaign = campaign_with_steps(tenant.org, variants=("A", "B"), name="Spring outreach")
    _version(tenant, campaign, "A", opens=2, replies=2, interested=1, hard_bounce=1)
    _version(tenant, campaign, "B", opens=5, replies=4, interested=3, complaint=1)
    advance()
    return campaign


def test_stats_match_statsmodels_on_reference_inputs() -> None:
    from statsmodels.stats.proportion import proportion_confint, proportions_ztest

    for counts, totals in (((2, 4), (10, 10)), ((45, 30), (200, 210)), ((0, 3), (50, 60))):
        expected = float(proportions_ztest(list(counts), list(totals))[1])
        assert two_proportion_p(counts[0], totals[0], counts[1], totals[1]) == pytest.approx(expected)
        low, high = proportion_confint(counts[0], totals[0], method="wilson")
        assert (rate(counts[0], totals[0]).low, rate(counts[0], totals[0]).high) == pytest.approx((low, high))
    # By hand: pooled 6/20 = 0.3, se = sqrt(0.3 * 0.7 * (1/10 + 1/10)) = 0.2049, z = 0.2 / 0.2049 = 0.976.
    assert two_proportion_p(2, 10, 4, 10) == pytest.approx(0.3291, abs=1e-4)
    # Wilson for 2 of 10: (0.2 + 1.96²/20 ± 1.96·sqrt(0.016 + 1.96²/400)) / (1 + 1.96²/10) = 0.0567 … 0.5098.
    assert (rate(2, 10).low, rate(2, 10).high) == pytest.approx((0.0567, 0.5098), abs=1e-4)
    assert lift(0.4, 0.2) == pytest.approx(1.0) and two_proportion_p(0, 10, 0, 10) is None
    # A date range can hold more replies than sends (answers to earlier emails): a rate, never a crash.
    over = rate(12, 10)
    assert over.value == 1.2 and over.low is not None and over.high is not None
    assert 0 <= over.low <= over.high <= 1.0


@pytest.mark.django_db
def test_campaign_report_counts_people_not_machines(
    tenant: Tenant, campaign: Any, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(10):
        response = tenant.owner_client.get(f"/analytics/campaigns/{campaign.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    rows = dict(re.findall(r'<tr data-variant="(\w)">(.*?)</tr>', html, re.S))
    assert set(rows) == {"A", "B"}
    metric = lambda row, name: re.search(rf'data-metric="{name}">(\d+)', rows[row]).group(1)  # noqa: E731
    assert [metric("A", n) for n in ("sent", "opened", "replied", "positive")] == ["10", "2", "2", "1"]
    assert [metric("B", n) for n in ("sent", "opened", "replied", "positive")] == ["10", "5", "4", "3"]
    assert 'data-rate="replied">20.0%' in rows["A"] and "5.7–51.0%" in rows["A"]
    assert 'data-rate="replied">40.0%' in rows["B"] and "p = 0.329" in rows["B"]
    assert "needs 200" in rows["A"]  # below the default minimum sample, no winner is called
    assert "is ahead" not in html
    assert "Results" in tenant.owner_client.get(f"/campaigns/{campaign.pk}/").content.decode()


@pytest.mark.django_db
def test_api_shows_the_page_numbers(
    tenant: Tenant, campaign: Any, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(10):
        data = tenant.api().get(f"/api/v1/analytics/campaigns/{campaign.pk}").json()
    (step,) = data["steps"]
    a, b = step["variants"]
    assert (a["variant"], a["is_baseline"], b["variant"]) == ("A", True, "B")
    assert (
        a["counts"]["opened"] == 2 and a["counts"]["machine_opened"] == 1 and a["counts"]["bot_clicked"] == 1
    )
    assert a["counts"]["hard_bounced"] == 1 and b["counts"]["complained"] == 1
    assert b["rates"]["replied"]["rate"] == 0.4 and b["reply_p_value"] == pytest.approx(0.3291, abs=1e-4)
    assert b["reply_lift"] == pytest.approx(1.0) and b["positive_lift"] == pytest.approx(2.0)
    html = tenant.owner_client.get(f"/analytics/campaigns/{campaign.pk}/").content.decode()
    assert f"p = {b['reply_p_value']:.3f}" in html

    breakdown = tenant.api().get("/api/v1/analytics/breakdown?by=mailbox").json()
    assert [(r["label"], r["counts"]["sent"], r["counts"]["replied"]) for r in breakdown["rows"]] == [
        ("Desk A", 10, 2),
        ("Desk B", 10, 4),
    ]
    page = tenant.owner_client.get("/analytics/?by=mailbox").content.decode()
    assert re.search(r"Desk A</th><td class=\"num\">10</td><td class=\"num\">2</td>", page)
    assert tenant.api().get("/api/v1/analytics/breakdown?by=colour").status_code == 400
    assert tenant.api().get("/api/v1/analytics/funnel?from=yesterday").status_code == 400


@pytest.mark.django_db
def test_promote_winner_stops_the_other_versions(tenant: Tenant, campaign: Any) -> None:
    response = tenant.owner_client.post(
        f"/analytics/campaigns/{campaign.pk}/promote", {"step": 1, "variant": "B"}
    )
    assert response.status_code == 302
    with tenant.scope():
        weights = dict(Variant.objects.filter(step__campaign=campaign).values_list("name", "weight"))
    assert weights == {"A": 0, "B": 1}
    from campaigns.enrollment import variant_slot_for

    assert {variant_slot_for(campaign_id=campaign.pk, prospect_id=n, weights=[0, 1]) for n in range(50)} == {
        1
    }
    html = tenant.owner_client.get(f"/analytics/campaigns/{campaign.pk}/").content.decode()
    assert "version B was promoted" in html


@pytest.mark.django_db
def test_auto_promote_at_the_minimum_sample(tenant: Tenant, campaign: Any) -> None:
    from analytics.services import auto_promote_due, campaign_test_update

    with tenant.scope():
        campaign_test_update(campaign=campaign, min_sends=10, auto_promote=True)
    assert auto_promote_due() == 0  # 20% vs 40% on ten sends each: p = 0.33, not significant
    _version(tenant, campaign, "B", opens=0, replies=10, interested=0)  # B: 14 of 20; A: 2 of 10
    from analytics.rollups import rollups_advance

    rollups_advance(now=timezone.now() + dt.timedelta(minutes=10))
    assert auto_promote_due() == 1
    with tenant.scope():
        assert dict(Variant.objects.filter(step__campaign=campaign).values_list("name", "weight")) == {
            "A": 0,
            "B": 1,
        }


@pytest.mark.django_db
def test_dashboard_funnel_and_attention(
    tenant: Tenant, campaign: Any, django_assert_max_num_queries: Any, advance: Callable[[], Any]
) -> None:
    icp = ICPFactory(org=tenant.org, name="Mid-market SaaS")
    ProspectFactory(org=tenant.org, stage="won", icp_id=icp.pk)
    advance()  # the beat's next pass puts the new person in the funnel
    tenant.owner_client.get("/")  # the onboarding checklist is done: checked once, then remembered
    # Login, membership, session (5) and the page's own: funnel, activity with its chart, attention, ICP list.
    with django_assert_max_num_queries(9):
        response = tenant.owner_client.get("/")
    html = response.content.decode()
    count = lambda key: re.search(rf'data-stage="{key}">(\d+)', html).group(1)  # noqa: E731
    # Twenty emailed (7 opened, 6 of them replied, 4 interested) and one won without an email, who counts as having
    # passed every stage before won.
    expected = ["21", "21", "8", "7", "5", "1"]
    assert [
        count(k) for k in ("prospects", "contacted", "opened", "replied", "interested", "won")
    ] == expected
    assert re.search(r'id="replies-waiting">6<', html)  # six replies, none read yet
    # The chart's day and the period totals come from one query: twenty sent, seven opened by people, six replies.
    assert f"<tr><td>{TODAY.date().isoformat()}</td><td>20</td><td>7</td><td>6</td></tr>" in html
    assert '<th scope="row">This period</th><td>20</td><td>7 ' in html
    assert '<th scope="row">Period before</th><td>0</td>' in html
    with django_assert_max_num_queries(9):
        filtered = tenant.owner_client.get(f"/?icp={icp.pk}", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-stage="prospects">1<' in filtered and "Needs attention" not in filtered
    csv_body = tenant.owner_client.get("/?format=csv").content.decode()
    assert '"Opened (people, not machines)",8,38.10' in csv_body


@pytest.mark.django_db
def test_other_pages_render_with_their_numbers(
    tenant: Tenant, campaign: Any, django_assert_max_num_queries: Any
) -> None:
    # Each page: login, membership, session (5 with the org switcher's list) and at most five of its own.
    for url in (
        "/analytics/?by=icp",
        "/analytics/?by=mailbox",
        "/analytics/deliverability/",
        "/analytics/score/",
    ):
        with django_assert_max_num_queries(10):
            assert tenant.owner_client.get(url).status_code == 200
    with django_assert_max_num_queries(12):
        assert tenant.owner_client.get("/analytics/cost/").status_code == 200
    with django_assert_max_num_queries(10):
        heat = tenant.owner_client.get("/analytics/heatmap/?industry=Software").content.decode()
    # 10:00 UTC yesterday is 11:00 in Berlin (CET): all twenty sends sit in that hour.
    weekday = (TODAY.astimezone(dt.UTC) + dt.timedelta(hours=1)).weekday()
    cells = re.findall(r'data-sent="(\d+)" data-replied="(\d+)"', heat)
    assert cells[weekday * 24 + 11] == ("20", "6") and sum(int(s) for s, _ in cells) == 20
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[weekday]
    assert f'<tr><td>{day}</td><td>11:00</td><td class="num">20</td><td class="num">6</td></tr>' in heat
    assert f'title="{day} 11:00 – 6 replies from 20 sent"' in heat
    # One campaign's heatmap reads the per-campaign grain: the same cells for this one, none for another.
    for campaign_id, sent in ((campaign.pk, "20"), (campaign.pk + 1000, "0")):
        one = tenant.owner_client.get(f"/analytics/heatmap/?campaign={campaign_id}").content.decode()
        assert re.findall(r'data-sent="(\d+)" data-replied="(\d+)"', one)[weekday * 24 + 11][0] == sent
    assert "Nothing" not in tenant.owner_client.get("/analytics/?by=seniority").content.decode()
    deliver = tenant.owner_client.get("/analytics/deliverability/").content.decode()
    assert "Hard bounces at 10.0% of sends" in deliver and "Gmail&#x27;s limit is 0.3%" in deliver
    for url in ("/analytics/cost/", "/analytics/score/", "/analytics/heatmap/?format=csv"):
        assert tenant.owner_client.get(url).status_code == 200
    assert json.loads(tenant.api().get("/api/v1/analytics/funnel").content)["stages"][0]["count"] == 20
