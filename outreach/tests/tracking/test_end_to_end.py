"""Send through the SMTP peer, open and click from the delivered mail, let the real worker's `events` task write
the Events: the prospect's human opens and clicks go up, an Apple proxy fetch and a scanner's click do not."""

from __future__ import annotations

import re
import time

from django.test import Client

from outreach.models import Event
from outreach.sending import engine
from outreach.tests.factories import MailboxFactory, MessageFactory
from prospects.models import Prospect
from prospects.tests.factories import ProspectFactory

from . import fixtures as f

SITE = "https://app.leadgen.test"


def _wait_for_events(message, count: int, timeout: float = 20) -> list[Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list(Event.objects.unscoped().filter(message=message).order_by("id"))
        if len(events) >= count:
            return events
        time.sleep(0.1)
    raise AssertionError(f"only {len(events)} of {count} events were written")


def test_send_open_click_counts_humans_only(tenant, peer, celery_worker, settings) -> None:
    settings.TRACKING_FLUSH_AT = 1  # every hit asks the worker for a flush, as a busy buffer would
    tenant.org.postal_address = "1 Main Street, Springfield"
    tenant.org.save()
    prospect = ProspectFactory(org=tenant.org, email="ada@example.test")
    message = MessageFactory(
        mailbox=MailboxFactory(org=tenant.org, smtp_host=peer.host, smtp_port=peer.port),
        prospect=prospect,
        to_email=prospect.email,
        body_text="Hi Ada,\n\nThe case study: https://acme.test/case-study\n",
        meta={"track_opens": True, "track_clicks": True},
    )
    with tenant.scope():
        assert engine.message_send(message_id=message.pk) == "sent"
    [received] = peer.wait_for(1)
    markup = received.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    pixel = re.search(rf'src="{SITE}(/t/o/[\w.-]+\.gif)"', markup).group(1)  # type: ignore[union-attr]
    link = re.search(rf'href="{SITE}(/t/c/[\w.-]+)"', markup).group(1)  # type: ignore[union-attr]
    [sent] = _wait_for_events(message, 1)
    assert sent.kind == "sent"
    time.sleep(max(0.0, 10.5 - (time.time() - sent.at.timestamp())))  # past the scanners' "too soon" window

    machine = Client().get(pixel, REMOTE_ADDR=f.APPLE_MPP["ip"], HTTP_USER_AGENT=f.APPLE_MPP["ua"])
    human_open = Client().get(pixel, REMOTE_ADDR=f.HUMAN["ip"], HTTP_USER_AGENT=f.HUMAN["ua"])
    scanner = Client().get(link, REMOTE_ADDR=f.PROOFPOINT["ip"], HTTP_USER_AGENT=f.PROOFPOINT["ua"])
    assert machine.status_code == human_open.status_code == 200
    assert scanner["Location"] == "https://acme.test/case-study"
    _wait_for_events(message, 4)
    human_click = Client().get(link, REMOTE_ADDR=f.HUMAN["ip"], HTTP_USER_AGENT=f.HUMAN["ua"])
    assert human_click.status_code == 302 and human_click["Location"] == "https://acme.test/case-study"
    events = _wait_for_events(message, 5)

    seen = [(e.kind, e.is_bot, e.bot_kind) for e in events]
    assert seen[0] == ("sent", False, "")
    assert sorted(seen[1:]) == sorted(
        [
            ("opened", True, "machine"),
            ("opened", False, ""),
            ("clicked", True, "scanner"),
            ("clicked", False, ""),
        ]
    )
    prospect = Prospect.objects.unscoped().get(pk=prospect.pk)
    assert (prospect.human_opens, prospect.human_clicks) == (1, 1)
