"""Sending with real processes: two Celery worker processes (prefork) and a beat on a Redis of their own."""

from __future__ import annotations

import collections
import itertools
import os
import signal
import time

import pytest

from outreach.models import Message, MessageStatus
from outreach.tests.factories import MailboxFactory, MessageFactory

from .procs import database_url_for_tests, send_stack
from .smtp_peer import smtp_peer

pytestmark = pytest.mark.django_db(transaction=True)
TERMINAL = {MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.UNKNOWN, MessageStatus.CANCELLED}


def _org(tenant):
    tenant.org.postal_address = "1 Main Street, Springfield"
    tenant.org.save()
    return tenant.org


def _statuses(ids) -> collections.Counter[str]:
    return collections.Counter(Message.objects.unscoped().filter(pk__in=ids).values_list("status", flat=True))


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_daily_limit_and_gap_hold_across_two_worker_processes(tenant) -> None:
    with smtp_peer() as peer:
        org = _org(tenant)
        capped = MailboxFactory(org=org, smtp_host=peer.host, smtp_port=peer.port, daily_limit=3)
        gapped = MailboxFactory(org=org, smtp_host=peer.host, smtp_port=peer.port, min_interval_seconds=1)
        capped_ids = [MessageFactory(mailbox=capped).pk for _ in range(8)]
        gapped_ids = [MessageFactory(mailbox=gapped, to_email=f"gap{i}@example.test").pk for i in range(4)]
        with send_stack(database_url=database_url_for_tests(), workers=2, env={"OUTREACH_DISPATCH_TTL": "2"}):
            assert _wait(lambda: _statuses(gapped_ids)[MessageStatus.SENT] == 4, timeout=60)
            assert _wait(lambda: _statuses(capped_ids)[MessageStatus.SENT] == 3, timeout=10)
            time.sleep(2)  # more beats: nothing more may leave the capped mailbox
        assert _statuses(capped_ids) == {MessageStatus.SENT: 3, MessageStatus.QUEUED: 5}
        held = Message.objects.unscoped().filter(pk__in=capped_ids, status=MessageStatus.QUEUED)
        assert all("Daily limit of 3" in m.hold_reason for m in held)
        # The gap is held where the slot is granted (committed right before each SMTP call); delivery times at
        # the peer add each connection's own latency on top.
        slots = sorted(Message.objects.unscoped().filter(pk__in=gapped_ids).values_list("slot_at", flat=True))
        assert len(slots) == 4 and None not in slots
        assert all((b - a).total_seconds() >= 1.0 for a, b in itertools.pairwise(slots)), slots
        assert len(peer.received) == 7


def test_exactly_once_under_two_concurrent_dispatchers(tenant) -> None:
    from leadgen.celery_app import app
    from outreach.tasks import messages_send_task

    with smtp_peer() as peer:
        mailbox = MailboxFactory(org=_org(tenant), smtp_host=peer.host, smtp_port=peer.port)
        ids = [MessageFactory(mailbox=mailbox).pk for _ in range(40)]
        with send_stack(database_url=database_url_for_tests(), workers=2, beat=False) as stack:
            broker = stack.redis.url.replace("unix://", "redis+socket://", 1)
            with app.connection_for_write(broker) as conn:
                # Two dispatchers that both picked every message, in opposite orders.
                for chunk in (ids, ids[::-1]):
                    for i in range(0, len(chunk), 5):
                        messages_send_task.apply_async((tenant.org.pk, chunk[i : i + 5]), connection=conn)
            assert _wait(lambda: _statuses(ids)[MessageStatus.SENT] == 40, timeout=60)
            time.sleep(1)
        counts = collections.Counter(r.rcpt_tos[0] for r in peer.received)
        assert len(counts) == 40 and set(counts.values()) == {1}


def test_fault_kill_worker_during_data_and_restart_redis(tenant) -> None:
    """kill -9 a worker while the slow peer holds DATA, restart Redis: every message reached the peer exactly once
    or is visibly unknown/failed; nothing twice."""
    with smtp_peer(data_delay=1.0) as peer:
        mailbox = MailboxFactory(org=_org(tenant), smtp_host=peer.host, smtp_port=peer.port)
        messages = [MessageFactory(mailbox=mailbox) for _ in range(16)]
        ids = [m.pk for m in messages]
        env = {"OUTREACH_SEND_CHUNK": "4", "OUTREACH_SENDING_TIMEOUT": "4", "OUTREACH_DISPATCH_TTL": "3"}
        with send_stack(database_url=database_url_for_tests(), workers=2, env=env) as stack:
            assert _wait(lambda: peer.handler.in_data > 0, timeout=30)
            # Every pool process dies, so the one holding DATA surely does (under load only one may be busy).
            for victim in stack.worker_children():
                os.kill(victim, signal.SIGKILL)
            time.sleep(0.5)
            stack.redis.restart()
            assert _wait(lambda: set(_statuses(ids)) <= TERMINAL, timeout=120), _statuses(ids)
            time.sleep(2)
        received = collections.Counter(r.rcpt_tos[0] for r in peer.received)
        assert set(received.values()) <= {1}, "a message reached the peer twice"
        rows = {m.to_email: m for m in Message.objects.unscoped().filter(pk__in=ids)}
        for email, row in rows.items():
            if row.status == MessageStatus.SENT:
                assert received[email] == 1
            else:
                assert row.status in (MessageStatus.UNKNOWN, MessageStatus.FAILED), (email, row.status)
        assert _statuses(ids)[MessageStatus.UNKNOWN] >= 1  # the killed send is shown, not resent
