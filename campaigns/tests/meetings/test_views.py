"""The public booking pages (no login) and Settings → Meetings, through Django's test client."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.test import Client

from campaigns.meetings import services
from campaigns.meetings.models import BookingProfile, DateOverride, Meeting, MeetingType
from campaigns.meetings.tokens import link_token_make, manage_token_make
from campaigns.meetings.views import SLOT_FORMAT
from conftest import Tenant
from prospects.models import Prospect, Stage
from prospects.tests.factories import ProspectFactory


def _book_url(profile: BookingProfile, meeting_type: MeetingType) -> str:
    return f"/book/{profile.slug}/{meeting_type.slug}/"


def _form(slot: dt.datetime, **extra: str) -> dict[str, str]:
    return {"slot": slot.strftime(SLOT_FORMAT), "name": "Ada Lovelace", "email": "ada@engines.test", **extra}


@pytest.mark.django_db
def test_a_visitor_picks_a_day_a_time_and_books(
    tenant: Tenant, host_profile: BookingProfile, intro: MeetingType, django_assert_max_num_queries: Any
) -> None:
    visitor = Client()
    url = _book_url(host_profile, intro)
    with django_assert_max_num_queries(8):
        page = visitor.get(url, {"tz": "Asia/Tokyo"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Intro call" in html and "Hanna Host" in html and "30 minutes" in html
    assert '<option value="Asia/Tokyo" selected>' in html
    with tenant.scope():
        first = services.slots_for(intro)[0]
    local = first.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f">{local:%H:%M}</a>" in html
    chosen = visitor.get(url, {"tz": "Asia/Tokyo", "slot": first.strftime(SLOT_FORMAT)})
    assert 'id="booking-form"' in chosen.content.decode()
    done = visitor.post(url, _form(first, tz="Asia/Tokyo", company="Analytical Engines"))
    assert (
        done.status_code == 302 and "/booking/" in done["Location"] and done["Location"].endswith("?booked=1")
    )
    confirmation = visitor.get(done["Location"]).content.decode()
    assert "You are booked" in confirmation and "Asia/Tokyo" in confirmation
    assert f"{local:%H:%M}" in confirmation and "Pick another time" in confirmation, confirmation[-1500:]
    with tenant.scope():
        meeting = Meeting.objects.get()
        assert meeting.visitor_timezone == "Asia/Tokyo" and meeting.starts_at == first
        assert Prospect.objects.get(email="ada@engines.test").stage == Stage.MEETING


@pytest.mark.django_db
def test_a_link_from_an_email_fills_the_form_and_attaches_the_booking(
    tenant: Tenant, host_profile: BookingProfile, intro: MeetingType
) -> None:
    with tenant.scope():
        grace = ProspectFactory(
            org=tenant.org, first_name="Grace", last_name="Hopper", email="grace@navy.test"
        )
        first = services.slots_for(intro)[0]
    token = link_token_make(org_id=tenant.org.pk, prospect_id=grace.pk, send_key="enrollment:9:step:9")
    page = Client().get(_book_url(host_profile, intro), {"t": token, "slot": first.strftime(SLOT_FORMAT)})
    html = page.content.decode()
    assert 'value="Grace Hopper"' in html and 'value="grace@navy.test"' in html and token in html
    Client().post(
        _book_url(host_profile, intro), _form(first, t=token, name="Grace Hopper", email="grace@navy.test")
    )
    with tenant.scope():
        assert Meeting.objects.get().prospect_id == grace.pk


@pytest.mark.django_db(transaction=True)
def test_the_visitor_who_lost_the_race_is_told_the_time_was_just_taken(
    tenant: Tenant, host_profile: BookingProfile, intro: MeetingType
) -> None:
    with tenant.scope():
        slot = services.slots_for(intro)[0]
    started = threading.Event()
    response: dict[str, Any] = {}

    def post() -> None:
        started.wait(10)
        try:
            response["r"] = Client().post(
                _book_url(host_profile, intro), _form(slot, email="late@example.test")
            )
        finally:
            connections.close_all()

    thread = threading.Thread(target=post)
    thread.start()
    with tenant.scope(), transaction.atomic():
        services.meeting_book(
            meeting_type=intro,
            starts_at=slot,
            visitor=services.Visitor(name="First", email="first@example.test"),
        )
        started.set()
        for _ in range(200):  # until the page's INSERT waits on our uncommitted row
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    break
            threading.Event().wait(0.05)
        else:
            raise AssertionError("the second booking never reached the database")
    thread.join(15)
    late = response["r"]
    assert late.status_code == 409
    assert "That time was just taken by someone else" in late.content.decode()
    assert 'id="days"' in late.content.decode()  # and is shown the times still free
    with tenant.scope():
        assert list(Meeting.objects.values_list("visitor_email", flat=True)) == ["first@example.test"]


@pytest.mark.django_db
def test_a_time_already_gone_is_explained(
    tenant: Tenant, host_profile: BookingProfile, intro: MeetingType
) -> None:
    with tenant.scope():
        slot = services.slots_for(intro)[0]
        services.meeting_book(
            meeting_type=intro, starts_at=slot, visitor=services.Visitor(name="A", email="a@x.test")
        )
    page = Client().post(_book_url(host_profile, intro), _form(slot))
    assert page.status_code == 409 and "That time is no longer available" in page.content.decode()


@pytest.mark.django_db
def test_cancel_asks_first_and_reschedule_moves(
    tenant: Tenant, intro: MeetingType, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant.scope():
        slots = services.slots_for(intro)
        meeting = services.meeting_book(
            meeting_type=intro,
            starts_at=slots[0],
            visitor=services.Visitor(name="Ada", email="ada@engines.test"),
        )
    token = manage_token_make(org_id=tenant.org.pk, meeting_id=meeting.pk)
    visitor = Client()
    moved = visitor.post(f"/booking/{token}/reschedule/", {"slot": slots[2].strftime(SLOT_FORMAT)})
    assert moved.status_code == 302
    meeting.refresh_from_db()
    assert (meeting.starts_at, meeting.sequence) == (slots[2], 1)
    ask = visitor.get(f"/booking/{token}/cancel/")
    assert "Cancel this meeting?" in ask.content.decode()
    meeting.refresh_from_db()
    assert meeting.is_booked  # a GET (a mail scanner) cancels nothing
    with django_capture_on_commit_callbacks(execute=True):
        done = visitor.post(f"/booking/{token}/cancel/")
    assert "This meeting is cancelled" in done.content.decode()
    assert mail.outbox[-1].subject.startswith("Cancelled: ")


@pytest.mark.django_db
def test_bad_links_answer_404(tenant: Tenant, host_profile: BookingProfile, intro: MeetingType) -> None:
    visitor = Client()
    assert visitor.get(f"/book/nobody/{intro.slug}/").status_code == 404
    assert visitor.get(f"/book/{host_profile.slug}/no-such-type/").status_code == 404
    assert visitor.get("/booking/forged.token/").status_code == 404
    with tenant.scope():
        intro.is_active = False
        intro.save()
    assert visitor.get(_book_url(host_profile, intro)).status_code == 404


@pytest.mark.django_db
def test_settings_page_sets_hours_days_off_rules_and_types(tenant: Tenant, other_tenant: Tenant) -> None:
    client = tenant.member_client
    page = client.get("/settings/meetings/")
    assert page.status_code == 200 and "Intro call" in page.content.decode()
    hours = {
        "action": "hours",
        "day1_on": "on",
        "day1_start": "10:00",
        "day1_end": "12:00",
        "day3_on": "on",
        "day3_start": "14:00",
        "day3_end": "13:00",
    }
    bad = client.post("/settings/meetings/", hours)
    assert bad.status_code == 400 and "Wednesday: the end must be after the start." in bad.content.decode()
    hours["day3_end"] = "16:00"
    assert client.post("/settings/meetings/", hours).status_code == 302
    assert (
        client.post(
            "/settings/meetings/", {"action": "override", "date": "2031-01-02", "day_off": "on"}
        ).status_code
        == 302
    )
    rules = {
        "action": "profile",
        "timezone": "Europe/Berlin",
        "buffer_before_minutes": "10",
        "buffer_after_minutes": "5",
        "min_notice_minutes": "120",
        "horizon_days": "14",
        "busy_feed_url": "http://127.0.0.1/cal.ics",
    }
    refused = client.post("/settings/meetings/", rules)
    assert refused.status_code == 400 and "This address cannot be used" in refused.content.decode()
    rules["busy_feed_url"] = "webcal://calendar.example.test/me.ics"
    saved = client.post("/settings/meetings/", rules)
    assert saved.status_code == 302, re.findall(r'<ul class="errorlist".*?</ul>', saved.content.decode())
    new_type = client.post(
        "/settings/meetings/types/new/", {"name": "Product demo", "duration_minutes": "45", "is_active": "on"}
    )
    assert new_type.status_code == 302
    with tenant.scope():
        profile = BookingProfile.objects.get(user=tenant.member)
        assert [(h.weekday, h.start, h.end) for h in profile.weekly_hours.all()] == [
            (1, dt.time(10), dt.time(12)),
            (3, dt.time(14), dt.time(16)),
        ]
        assert DateOverride.objects.get(profile=profile).is_day_off
        assert (profile.timezone, profile.buffer_before_minutes, profile.horizon_days) == (
            "Europe/Berlin",
            10,
            14,
        )
        assert profile.meeting_types.get(slug="product-demo").duration_minutes == 45
    html = client.get("/settings/meetings/").content.decode()
    assert f"/book/{profile.slug}/product-demo/" in html and "Thu 2 Jan 2031: not available" in html
    # Another member's settings and another org's page show nothing of this one.
    other = other_tenant.owner_client.get("/settings/meetings/").content.decode()
    assert profile.slug not in other and "Product demo" not in other


@pytest.mark.django_db
def test_prospect_page_lists_their_meetings(
    tenant: Tenant, intro: MeetingType, django_assert_max_num_queries: Any
) -> None:
    with tenant.scope():
        slots = services.slots_for(intro)
        for n in range(3):
            services.meeting_book(
                meeting_type=intro,
                starts_at=slots[n * 2],
                visitor=services.Visitor(name="Ada Lovelace", email="ada@engines.test"),
            )
        prospect = Prospect.objects.get(email="ada@engines.test")
    with django_assert_max_num_queries(7):
        html = tenant.member_client.get(f"/prospects/{prospect.pk}/meetings/").content.decode()
    assert html.count("Intro call</strong>") == 3 and "Booked" in html


@pytest.mark.django_db
def test_the_host_cancels_from_settings_and_the_visitor_is_told(
    tenant: Tenant, intro: MeetingType, django_capture_on_commit_callbacks: Any
) -> None:
    with tenant.scope():
        slot = services.slots_for(intro)[0]
        meeting = services.meeting_book(
            meeting_type=intro, starts_at=slot, visitor=services.Visitor(name="Ada", email="ada@engines.test")
        )
    # Another member of the same org cannot cancel the owner's meeting.
    assert tenant.member_client.post(f"/settings/meetings/{meeting.pk}/cancel/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = tenant.owner_client.post(
            f"/settings/meetings/{meeting.pk}/cancel/", {"next": "//evil.test/"}
        )
    assert response.status_code == 302 and response["Location"] == "/settings/meetings/"
    meeting.refresh_from_db()
    assert meeting.status == "cancelled" and meeting.sequence == 1
    [cancel] = [
        m for m in mail.outbox if m.to == ["ada@engines.test"] and m.subject.startswith("Cancelled: ")
    ]
    assert "This meeting is cancelled." in cancel.body
    with tenant.scope():
        assert slot in services.slots_for(intro)


@pytest.mark.django_db
def test_a_script_posting_bookings_is_slowed_down(
    tenant: Tenant, host_profile: BookingProfile, intro: MeetingType
) -> None:
    from campaigns.meetings.views import BOOK_POSTS_PER_MINUTE

    client = Client()
    statuses = [
        client.post(_book_url(host_profile, intro), {"name": "", "email": "x"}).status_code
        for _ in range(BOOK_POSTS_PER_MINUTE + 1)
    ]
    assert statuses[:-1] == [200] * BOOK_POSTS_PER_MINUTE and statuses[-1] == 429
    with tenant.scope():
        assert not Prospect.objects.exists()


@pytest.mark.django_db
def test_api_lists_reads_and_cancels_meetings(
    tenant: Tenant, other_tenant: Tenant, intro: MeetingType, django_assert_max_num_queries: Any
) -> None:
    with tenant.scope():
        slots = services.slots_for(intro)
        meetings = [
            services.meeting_book(
                meeting_type=intro,
                starts_at=slots[n * 2],
                visitor=services.Visitor(name=f"V{n}", email=f"v{n}@example.test"),
            )
            for n in range(3)
        ]
    api = tenant.api()
    with django_assert_max_num_queries(4):
        page = api.get("/api/v1/meetings", {"limit": 2}).json()
    assert [m["id"] for m in page["items"]] == [meetings[2].pk, meetings[1].pk] and page["next_cursor"]
    rest = api.get("/api/v1/meetings", {"cursor": page["next_cursor"]}).json()
    assert [m["id"] for m in rest["items"]] == [meetings[0].pk] and rest["next_cursor"] is None
    one = api.get(f"/api/v1/meetings/{meetings[0].pk}").json()
    assert one["uid"] == meetings[0].uid and one["meeting_type"] == "intro-call"
    assert one["host_email"] == tenant.owner.email
    assert other_tenant.api().get(f"/api/v1/meetings/{meetings[0].pk}").status_code == 404
    assert other_tenant.api().get("/api/v1/meetings").json()["items"] == []
    cancelled = api.post(f"/api/v1/meetings/{meetings[0].pk}/cancel").json()
    assert (cancelled["status"], cancelled["sequence"]) == ("cancelled", 1)
    assert [m["id"] for m in api.get("/api/v1/meetings", {"status": "booked"}).json()["items"]] == [
        meetings[2].pk,
        meetings[1].pk,
    ]
