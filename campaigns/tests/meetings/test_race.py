"""Two visitors, one time: PostgreSQL's exclusion constraint decides, in real concurrent transactions."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction

from campaigns.meetings import services
from campaigns.meetings.models import Meeting, MeetingType
from conftest import Tenant
from leadgen.tenancy import org_scope


def _visitor(n: int) -> services.Visitor:
    return services.Visitor(name=f"Visitor {n}", email=f"visitor{n}@example.test")


def _wait_until_blocked(pid_box: dict[str, int], timeout: float = 10.0) -> None:
    """Until the other connection waits on a lock (its insert is held by the uncommitted overlapping row)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "pid" in pid_box:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid_box["pid"]]
                )
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
        time.sleep(0.05)
    raise AssertionError("the second booking never waited on the first")


@pytest.mark.django_db(transaction=True)
def test_the_second_of_two_overlapping_bookings_is_told_the_time_was_taken(
    tenant: Tenant, intro: MeetingType
) -> None:
    """Both pass the free-slot check (neither sees the other's uncommitted row); the constraint refuses one."""
    with tenant.scope():
        slot = services.slots_for(intro)[0]
    outcome: dict[str, Any] = {}
    pid_box: dict[str, int] = {}
    first_inserted = threading.Event()

    def second() -> None:
        first_inserted.wait(10)
        try:
            with org_scope(tenant.org.pk):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    pid_box["pid"] = cursor.fetchone()[0]
                services.meeting_book(meeting_type=intro, starts_at=slot, visitor=_visitor(2))
            outcome["second"] = "booked"
        except services.SlotTaken:
            outcome["second"] = "taken"
        except services.SlotUnavailable:
            outcome["second"] = "unavailable"
        finally:
            connections.close_all()

    thread = threading.Thread(target=second)
    thread.start()
    with tenant.scope(), transaction.atomic():
        services.meeting_book(meeting_type=intro, starts_at=slot, visitor=_visitor(1))
        first_inserted.set()
        _wait_until_blocked(pid_box)  # the second is inside its INSERT, past its own check
    thread.join(15)
    assert outcome == {"second": "taken"}
    with tenant.scope():
        assert list(Meeting.objects.values_list("visitor_email", flat=True)) == ["visitor1@example.test"]


@pytest.mark.django_db(transaction=True)
def test_many_visitors_at_once_one_wins(tenant: Tenant, intro: MeetingType) -> None:
    with tenant.scope():
        slot = services.slots_for(intro)[0]
    visitors = 4
    barrier = threading.Barrier(visitors)
    results: list[str] = []
    lock = threading.Lock()

    def book(n: int) -> None:
        barrier.wait(10)
        try:
            with org_scope(tenant.org.pk):
                services.meeting_book(meeting_type=intro, starts_at=slot, visitor=_visitor(n))
            result = "booked"
        except services.SlotTaken:
            result = "taken"
        except services.SlotUnavailable:
            result = "unavailable"
        finally:
            connections.close_all()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=book, args=(n,)) for n in range(visitors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results).count("booked") == 1 and len(results) == visitors
    with tenant.scope():
        assert Meeting.objects.filter(starts_at=slot).count() == 1


@pytest.mark.django_db
def test_the_constraint_itself_refuses_overlap_but_allows_back_to_back_and_cancelled(
    tenant: Tenant, intro: MeetingType
) -> None:
    """Straight inserts, no service: the database is what guarantees it."""
    start = dt.datetime(2031, 5, 5, 9, tzinfo=dt.UTC)

    def insert(begin: dt.datetime, minutes: int, **extra: Any) -> Meeting:
        return Meeting.objects.create(
            org=tenant.org,
            host=tenant.owner,
            meeting_type=intro,
            starts_at=begin,
            ends_at=begin + dt.timedelta(minutes=minutes),
            visitor_name="V",
            visitor_email="v@example.test",
            **extra,
        )

    with tenant.scope():
        insert(start, 30)
        insert(start + dt.timedelta(minutes=30), 30)  # back to back: [) ranges do not overlap
        insert(start + dt.timedelta(minutes=10), 30, status="cancelled")  # cancelled rows hold no time
        Meeting.objects.create(  # another host at the same time
            org=tenant.org,
            host=tenant.admin,
            meeting_type=intro,
            starts_at=start,
            ends_at=start + dt.timedelta(minutes=30),
            visitor_name="V",
            visitor_email="v@example.test",
        )
        with pytest.raises(IntegrityError, match="meeting_host_no_overlap"), transaction.atomic():
            insert(start + dt.timedelta(minutes=15), 10)
