"""The rollups equal a direct count from events, whatever the stream: bots, machine opens, repeats, late arrivals."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Sum

from analytics.models import (
    COUNTERS,
    FUNNEL_STAGES,
    CampaignDaily,
    FunnelDaily,
    HeatmapDaily,
    ProspectSegment,
    SegmentDaily,
    SendTimeDaily,
)
from analytics.rollups import (
    rollup_day_rebuild,
    rollups_rebuild_all,
    rollups_rebuild_recent,
    segments_refresh,
)
from campaigns.models import Enrollment
from campaigns.tests.factories import campaign_with_steps
from conftest import Tenant
from outreach.models import Event, Reply
from outreach.tests.factories import MailboxFactory
from prospects.models import Prospect
from prospects.tests.factories import CompanyFactory, ProspectFactory

from .factories import EventFactory, ReplyFactory, sent_message

UTC = dt.UTC
BASE = dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday
KINDS = ["opened", "opened", "clicked", "bounced", "replied", "auto_replied", "unsubscribed", "complained"]


def _bucket(event: Event) -> str | None:
    """The counters' rule, written again in Python: human opens and clicks; machine opens and bot clicks apart."""
    if event.kind == "opened":
        return "opened" if not event.is_bot else ("machine_opened" if event.bot_kind == "machine" else None)
    if event.kind == "clicked":
        return "bot_clicked" if event.is_bot else "clicked"
    return None if event.is_bot else event.kind


def direct_count(org_id: int) -> Counter[tuple[Any, ...]]:
    """(day, campaign, step, variant, counter) → messages, straight from events and replies."""
    out: Counter[tuple[Any, ...]] = Counter()
    seen: set[tuple[int, str]] = set()
    for event in Event.objects.unscoped().filter(org_id=org_id).select_related("message").order_by("id"):
        bucket = _bucket(event)
        if bucket is None or (event.message_id, bucket) in seen:
            continue
        seen.add((event.message_id, bucket))
        meta = event.message.meta
        key = (
            event.at.astimezone(UTC).date(),
            event.campaign_id or 0,
            meta.get("step", 0),
            meta.get("variant", ""),
        )
        out[(*key, bucket)] += 1
        if bucket == "bounced" and event.meta.get("hard"):
            out[(*key, "hard_bounced")] += 1
    replies = Reply.objects.unscoped().filter(org_id=org_id, kind="reply", intent="interested")
    for reply in replies.select_related("message").order_by("id"):
        if (reply.message_id, "positive") in seen:
            continue
        seen.add((reply.message_id, "positive"))
        meta = reply.message.meta
        key = (
            reply.received_at.astimezone(UTC).date(),
            reply.campaign_id or 0,
            meta["step"],
            meta["variant"],
        )
        out[(*key, "positive")] += 1
    return out


def rollup_count(org_id: int) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for row in CampaignDaily.objects.unscoped().filter(org_id=org_id).values():
        for name in COUNTERS:
            if row[name]:
                out[(row["day"], row["campaign_id"], row["step"], row["variant"], name)] += row[name]
    return out


def direct_funnel(org_id: int) -> Counter[tuple[Any, ...]]:
    """(day added, ICP, stage) → people who reached the stage or a later one, straight from prospects, enrollments,
    events and replies (not from the segments the rollup reads)."""
    reached: dict[int, set[str]] = {}
    for event in Event.objects.unscoped().filter(org_id=org_id).select_related("message"):
        bucket = {"sent": "contacted", "opened": "opened", "replied": "replied"}.get(_bucket(event) or "")
        if bucket:
            reached.setdefault(event.prospect_id or event.message.prospect_id, set()).add(bucket)
    for reply in Reply.objects.unscoped().filter(org_id=org_id, kind="reply", intent="interested"):
        if reply.message_id:
            reached.setdefault(reply.prospect_id or reply.message.prospect_id, set()).add("interested")
    enrolled = set(Enrollment.objects.unscoped().filter(org_id=org_id).values_list("prospect_id", flat=True))
    out: Counter[tuple[Any, ...]] = Counter()
    for p in Prospect.objects.unscoped().filter(org_id=org_id):
        stages = reached.get(p.pk, set())
        stages |= {"prospects"}
        if p.enriched_at or p.stage != "new":
            stages.add("enriched")
        if p.stage in ("qualified", "contacted", "replied", "meeting", "won", "lost"):
            stages.add("qualified")
        if p.pk in enrolled:
            stages.add("enrolled")
        if p.stage in ("meeting", "won"):
            stages.add("meeting")
        if p.stage == "won":
            stages.add("won")
        furthest = max(FUNNEL_STAGES.index(name) for name in stages)
        for name in FUNNEL_STAGES[: furthest + 1]:
            out[(p.created_at.astimezone(UTC).date(), p.icp_id or 0, name)] += 1
    return out


def rollup_funnel(org_id: int) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for row in FunnelDaily.objects.unscoped().filter(org_id=org_id).values():
        for name in FUNNEL_STAGES:
            if row[name]:
                out[(row["day"], row["icp_id"], name)] += row[name]
    return out


def grain_totals(model: Any, org_id: int) -> dict[str, int]:
    return model.objects.unscoped().filter(org_id=org_id).aggregate(**{n: Sum(n) for n in COUNTERS})


def random_stream(rng: random.Random, tenant: Tenant, *, messages: int, late: bool) -> None:
    """Messages over four days, each with a random handful of events; some bot, some repeated, some late."""
    org = tenant.org
    mailboxes = [MailboxFactory(org=org), MailboxFactory(org=org)]
    companies = [
        CompanyFactory(org=org, industry=i, employee_count=n) for i, n in (("Software", 40), ("Retail", 900))
    ]
    for index in range(messages):
        prospect = ProspectFactory(
            org=org,
            company=rng.choice(companies),
            seniority=rng.choice(["VP", "Manager", ""]),
            timezone=rng.choice(["Europe/Berlin", "America/New_York", ""]),
            tier=rng.choice(["A", "B", ""]),
            stage=rng.choice(["new", "new", "qualified", "contacted", "meeting", "won", "lost"]),
            icp_id=rng.choice([None, 11, 12]),
            created_at=BASE - dt.timedelta(days=rng.randrange(3), hours=rng.randrange(20)),
        )
        sent_at = BASE + dt.timedelta(days=rng.randrange(4), hours=rng.randrange(10))
        message = sent_message(
            org=org,
            prospect=prospect,
            sent_at=sent_at,
            campaign_id=rng.choice([None, 7, 8]),
            step=rng.choice([1, 2]),
            variant=rng.choice(["A", "B"]),
            mailbox=rng.choice(mailboxes),
            delivered=rng.random() < 0.9,
        )
        for _ in range(rng.randrange(6)):
            kind = rng.choice(KINDS)
            at = sent_at + dt.timedelta(hours=rng.randrange(1, 60))
            if late and rng.random() < 0.3:
                at = sent_at - dt.timedelta(days=rng.randrange(1, 3))  # arrives now, happened days ago
            bot = kind in ("opened", "clicked") and rng.random() < 0.4
            EventFactory(
                message=message,
                kind=kind,
                at=at,
                is_bot=bot,
                bot_kind=("machine" if kind == "opened" and rng.random() < 0.7 else "scanner") if bot else "",
                meta={"hard": rng.random() < 0.5} if kind == "bounced" else {},
            )
        if rng.random() < 0.25 or index == 0:
            ReplyFactory(
                message=message,
                intent=rng.choice(["interested", "interested", "not_now"]),
                received_at=sent_at + dt.timedelta(hours=rng.randrange(1, 30)),
            )


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_a_direct_count_after_random_streams(
    seed: int, tenant: Tenant, other_tenant: Tenant, advance: Callable[[], dict[str, int]]
) -> None:
    rng = random.Random(seed)
    random_stream(rng, tenant, messages=25, late=False)
    random_stream(rng, other_tenant, messages=10, late=True)
    advance()
    assert rollup_count(tenant.org.pk) == direct_count(tenant.org.pk)
    assert rollup_funnel(tenant.org.pk) == direct_funnel(tenant.org.pk)

    # More traffic for the same messages, late arrivals among it, read by the next pass.
    random_stream(rng, tenant, messages=15, late=True)
    for message_event in list(Event.objects.unscoped().filter(org=tenant.org, kind="sent"))[:10]:
        EventFactory(message=message_event.message, kind="opened", at=BASE - dt.timedelta(days=3))
    advance()
    for org_id in (tenant.org.pk, other_tenant.org.pk):
        direct = direct_count(org_id)
        assert rollup_count(org_id) == direct
        totals = Counter({name: 0 for name in COUNTERS})
        for key, count in direct.items():
            totals[key[-1]] += count
        for model in (SegmentDaily, SendTimeDaily, HeatmapDaily):
            assert grain_totals(model, org_id) == dict(totals), model.__name__
        assert rollup_funnel(org_id) == direct_funnel(org_id)
    assert direct_count(tenant.org.pk)  # the stream did count something
    bots = Event.objects.unscoped().filter(org=tenant.org, kind="opened", is_bot=True).count()
    assert bots > 0 and grain_totals(CampaignDaily, tenant.org.pk)["machine_opened"] > 0


@pytest.mark.django_db
def test_a_second_pass_counts_nothing_twice(tenant: Tenant, advance: Callable[[], dict[str, int]]) -> None:
    random_stream(random.Random(9), tenant, messages=10, late=True)
    first = advance()
    again = advance()
    assert first["chunks"] >= 1 and again == {"chunks": 0, "counted": 0}
    assert rollup_count(tenant.org.pk) == direct_count(tenant.org.pk)


@pytest.mark.django_db
def test_day_rebuild_corrects_drift_and_leaves_other_orgs(
    tenant: Tenant, other_tenant: Tenant, advance: Callable[[], dict[str, int]]
) -> None:
    random_stream(random.Random(4), tenant, messages=20, late=True)
    random_stream(random.Random(5), other_tenant, messages=5, late=False)
    advance()
    theirs = rollup_count(other_tenant.org.pk)
    day = BASE.date() + dt.timedelta(days=1)
    # Drift: a row lost and a row inflated (what a crash between systems or a hand edit would leave).
    CampaignDaily.objects.unscoped().filter(org=tenant.org, day=day).update(sent=999, opened=0)
    assert rollup_count(tenant.org.pk) != direct_count(tenant.org.pk)
    rollup_day_rebuild(org_id=tenant.org.pk, day=day)
    assert rollup_count(tenant.org.pk) == direct_count(tenant.org.pk)
    assert rollup_count(other_tenant.org.pk) == theirs


@pytest.mark.django_db
def test_rebuild_picks_up_an_intent_changed_after_the_pass(
    tenant: Tenant, advance: Callable[[], dict[str, int]]
) -> None:
    prospect = ProspectFactory(org=tenant.org)
    message = sent_message(org=tenant.org, prospect=prospect, sent_at=BASE, campaign_id=7)
    reply = ReplyFactory(message=message, intent="not_now", received_at=BASE + dt.timedelta(hours=2))
    advance()
    assert grain_totals(CampaignDaily, tenant.org.pk)["positive"] == 0
    Reply.objects.unscoped().filter(pk=reply.pk).update(intent="interested")  # a rep relabels it
    rollups_rebuild_recent(now=BASE + dt.timedelta(hours=5))
    assert grain_totals(CampaignDaily, tenant.org.pk)["positive"] == 1


@pytest.mark.django_db
def test_send_hour_is_the_recipients_local_time(
    tenant: Tenant, advance: Callable[[], dict[str, int]]
) -> None:
    """14:00 UTC on Monday 2 November is 09:00 in New York (EST) and 15:00 in Berlin (CET)."""
    company = CompanyFactory(org=tenant.org, industry="Software", employee_count=120)
    new_york = ProspectFactory(org=tenant.org, company=company, timezone="America/New_York")
    berlin = ProspectFactory(org=tenant.org, company=company, location="Berlin, Germany")
    late_night = ProspectFactory(org=tenant.org, timezone="Asia/Tokyo")
    at = dt.datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    for prospect in (new_york, berlin, late_night):
        sent_message(org=tenant.org, prospect=prospect, sent_at=at)
    advance()
    cells = set(
        SendTimeDaily.objects.unscoped().filter(org=tenant.org).values_list("weekday", "hour", "sent")
    )
    assert cells == {(0, 9, 1), (0, 15, 1), (0, 23, 1)}  # Tokyo: 23:00 the same Monday
    heat = set(
        HeatmapDaily.objects.unscoped().filter(org=tenant.org).values_list("weekday", "hour", "industry")
    )
    assert heat == {(0, 9, "Software"), (0, 15, "Software"), (0, 23, "")}
    segment = ProspectSegment.objects.unscoped().get(prospect_id=berlin.pk)
    assert (segment.timezone, segment.country, segment.industry, segment.size_band) == (
        "Europe/Berlin",
        "DE",
        "Software",
        "51-200",
    )


@pytest.mark.django_db
def test_funnel_follows_people_who_change_without_events(
    tenant: Tenant, other_tenant: Tenant, advance: Callable[[], dict[str, int]]
) -> None:
    """A stage set by hand, an enrollment and a new prospect reach the funnel on the next pass, with no event; the
    hourly rebuild recounts a cohort a writer changed behind the rollup's back."""
    random_stream(random.Random(6), tenant, messages=8, late=False)
    random_stream(random.Random(7), other_tenant, messages=4, late=False)
    advance()
    theirs = rollup_funnel(other_tenant.org.pk)
    added = BASE + dt.timedelta(days=5)  # a cohort of its own: the stream's people were added before BASE
    quiet = ProspectFactory(org=tenant.org, stage="new", created_at=added)
    advance()
    assert rollup_funnel(tenant.org.pk)[(added.date(), 0, "prospects")] == 1
    Prospect.objects.unscoped().filter(pk=quiet.pk).update(stage="meeting", updated_at=dt.datetime.now(UTC))
    campaign = campaign_with_steps(tenant.org)
    enrolled = Prospect.objects.unscoped().filter(org=tenant.org, stage="new").exclude(pk=quiet.pk).first()
    Enrollment.objects.unscoped().create(org=tenant.org, campaign=campaign, prospect=enrolled)
    advance()
    assert rollup_funnel(tenant.org.pk) == direct_funnel(tenant.org.pk)
    assert rollup_funnel(other_tenant.org.pk) == theirs
    # A writer that changes a stage and leaves updated_at behind (here: hours old): the hourly rebuild counts it.
    Prospect.objects.unscoped().filter(pk=quiet.pk).update(stage="won", updated_at=BASE)
    advance()
    assert rollup_funnel(tenant.org.pk) != direct_funnel(tenant.org.pk)
    rollups_rebuild_recent(now=BASE + dt.timedelta(days=1))
    assert rollup_funnel(tenant.org.pk) == direct_funnel(tenant.org.pk)


@pytest.mark.django_db
def test_rebuild_from_scratch_equals_a_direct_count(
    tenant: Tenant, other_tenant: Tenant, advance: Callable[[], dict[str, int]]
) -> None:
    """The set-based rebuild, in chunks of a few event ids, counts what the incremental passes count; a pass
    after it finds nothing new."""
    random_stream(random.Random(11), tenant, messages=20, late=True)
    random_stream(random.Random(12), other_tenant, messages=8, late=True)
    advance()
    incremental = {org.pk: rollup_count(org.pk) for org in (tenant.org, other_tenant.org)}
    CampaignDaily.objects.unscoped().filter(org=tenant.org).update(sent=999)  # drift the rebuild must drop
    done = rollups_rebuild_all(chunk=7)
    assert done["chunks"] > 3 and done["segments"] > 0
    for org_id in (tenant.org.pk, other_tenant.org.pk):
        direct = direct_count(org_id)
        assert rollup_count(org_id) == direct == incremental[org_id]
        totals = Counter({name: 0 for name in COUNTERS})
        for key, count in direct.items():
            totals[key[-1]] += count
        for model in (SegmentDaily, SendTimeDaily, HeatmapDaily):
            assert grain_totals(model, org_id) == dict(totals), model.__name__
        assert rollup_funnel(org_id) == direct_funnel(org_id)
    assert advance()["chunks"] == 0


@pytest.mark.django_db
def test_segments_in_sql_match_the_python_inference(tenant: Tenant) -> None:
    """Country and timezone come from the same inference as the scheduler's (prospects.timezones), run once per
    distinct text; labels are squeezed and lower-cased as the breakdowns group them."""
    from prospects.timezones import prospect_country, prospect_timezone

    org = tenant.org
    austin = CompanyFactory(
        org=org, location="Austin, TX", industry="  Retail   Banking ", employee_count=5000
    )
    nameless = CompanyFactory(org=org, location="", industry="", employee_count=None)
    people = [
        ProspectFactory(org=org, company=austin, location="", timezone="", seniority="  Vice   President "),
        ProspectFactory(org=org, company=austin, location="Berlin, Germany", timezone="Not/AZone"),
        ProspectFactory(org=org, company=nameless, location="", custom_fields={"country": "Japan"}),
        ProspectFactory(org=org, company=nameless, location="Wilmington, DE", timezone="Asia/Kolkata"),
        ProspectFactory(
            org=org, company=nameless, location="", custom_fields={"country": 7}, department="HR"
        ),
        ProspectFactory(org=org, company=None, location="Nowhere in particular", tier="A"),
    ]
    assert segments_refresh(prospect_ids=[p.pk for p in people]) == len(people)
    segments = {s.prospect_id: s for s in ProspectSegment.objects.unscoped().filter(org=org)}
    for p in people:
        s = segments[p.pk]
        assert (s.timezone, s.country) == (prospect_timezone(p, fallback="UTC")[0], prospect_country(p) or "")
    first, second = segments[people[0].pk], segments[people[1].pk]
    assert (first.seniority, first.industry, first.size_band, first.timezone) == (
        "vice president",
        "Retail Banking",
        "1001-5000",
        "America/Chicago",
    )
    assert (second.timezone, second.country) == ("Europe/Berlin", "DE")
    assert segments[people[5].pk].tier == "A" and segments[people[4].pk].department == "hr"
    assert segments_refresh(prospect_ids=[p.pk for p in people]) == 0  # unchanged: nothing written again


@pytest.mark.django_db
def test_rebuild_command_fills_a_grain_that_started_empty(
    tenant: Tenant, advance: Callable[[], dict[str, int]]
) -> None:
    """After a release adds a grain, its past days are empty until `manage.py analytics_rebuild` counts them."""
    from io import StringIO

    from django.core.management import call_command

    random_stream(random.Random(13), tenant, messages=6, late=False)
    advance()
    expected = grain_totals(HeatmapDaily, tenant.org.pk)
    HeatmapDaily.objects.unscoped().all().delete()
    FunnelDaily.objects.unscoped().all().delete()
    out = StringIO()
    call_command("analytics_rebuild", stdout=out)
    assert "Rollups rebuilt" in out.getvalue()
    assert grain_totals(HeatmapDaily, tenant.org.pk) == expected and expected["sent"]
    assert rollup_funnel(tenant.org.pk) == direct_funnel(tenant.org.pk)
