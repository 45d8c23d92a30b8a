"""Each bot rule on a real request shape (fixtures.py), and the human shapes it must leave alone."""

from __future__ import annotations

from typing import Any

import pytest

from outreach.tracking import bots
from outreach.tracking.networks import ip_truncate

from . import fixtures as f

SENT = 1_800_000_000.0
HOUR = 3600.0


def _hit(shape: dict[str, Any], kind: str, after: float, method: str = "GET") -> bots.Hit:
    return bots.Hit(kind, SENT + after, ip_truncate(shape["ip"]), shape["ua"], method, dict(shape["headers"]))


def _classify(shape: dict[str, Any], kind: str = "o", after: float = HOUR, **facts: int) -> bots.Verdict:
    return bots.classify(
        _hit(shape, kind, after, facts.pop("method", "GET")), bots.MessageFacts(SENT, **facts)
    )  # type: ignore[arg-type]


def test_a_person_opening_and_clicking_is_human() -> None:
    assert _classify(f.HUMAN, "o") == bots.HUMAN
    assert _classify(f.HUMAN, "c", link_count=3, links_clicked_together=1) == bots.HUMAN


@pytest.mark.parametrize("shape", [f.APPLE_MPP, f.APPLE_MPP_WEBKIT])
def test_apple_mail_privacy_protection_is_a_machine_open(shape) -> None:
    verdict = _classify(shape, "o", after=5)
    assert verdict.is_bot and verdict.bot_kind == "machine"
    assert verdict.reason.startswith("Apple Mail Privacy Protection proxy")


def test_private_relay_click_from_apple_network_stays_human() -> None:
    assert not _classify(f.APPLE_RELAY_SAFARI, "c", link_count=2, links_clicked_together=1).is_bot


def test_gmail_image_proxy_is_the_reader_opening() -> None:
    verdict = _classify(f.GMAIL_PROXY, "o", after=20)
    assert not verdict.is_bot and verdict.via == "Gmail image proxy"


def test_gmail_instant_fetch_with_edge_12_is_not_an_open() -> None:
    verdict = _classify(f.GMAIL_EDGE12, "o", after=1)
    assert verdict.is_bot and verdict.bot_kind == "proxy"
    assert "1 s after sending" in verdict.reason and "Edge 12" in verdict.reason


def test_yahoo_proxy_at_delivery_is_not_an_open_later_it_is() -> None:
    at_delivery = _classify(f.YAHOO_PROXY, "o", after=4)
    assert (
        at_delivery.is_bot
        and at_delivery.reason == "Yahoo image proxy fetched it 4 s after sending (at delivery)"
    )
    later = _classify(f.YAHOO_PROXY, "o", after=HOUR)
    assert not later.is_bot and later.via == "Yahoo image proxy"


def test_outlook_proxy_open_counts_after_delivery_but_its_click_is_safe_links() -> None:
    assert _classify(f.OUTLOOK_NETWORK, "o", after=3).bot_kind == "proxy"
    assert not _classify(f.OUTLOOK_NETWORK, "o", after=HOUR).is_bot
    click = _classify(f.OUTLOOK_NETWORK, "c", after=HOUR, link_count=1, links_clicked_together=1)
    assert click.is_bot and click.reason == "Microsoft Defender Safe Links network"


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        (f.MIMECAST, "Mimecast network"),
        (f.PROOFPOINT, "Proofpoint network"),
        (f.BARRACUDA, "Barracuda network"),
        (f.SAFE_LINKS_AGENT, "Microsoft Defender Safe Links link scanner (user agent)"),
        (f.SCRIPT, "a script link scanner (user agent)"),
    ],
)
def test_security_scanners_by_network_and_agent(shape, reason) -> None:
    verdict = _classify(shape, "c", after=HOUR, link_count=1, links_clicked_together=1)
    assert (verdict.is_bot, verdict.bot_kind, verdict.reason) == (True, "scanner", reason)


def test_click_seconds_after_sending_is_a_scanner() -> None:
    verdict = _classify(f.HUMAN, "c", after=2, link_count=1, links_clicked_together=1)
    assert verdict.is_bot and verdict.reason == "clicked 2 s after sending"
    assert not _classify(f.HUMAN, "c", after=bots.CLICK_MIN_SECONDS + 1, link_count=1).is_bot


def test_every_link_clicked_at_once_is_a_scanner() -> None:
    verdict = _classify(f.HUMAN, "c", after=HOUR, link_count=3, links_clicked_together=3)
    assert verdict.is_bot and verdict.reason == f"all 3 links clicked within {bots.ALL_LINKS_SECONDS} s"
    # One link, clicked once: a person.
    assert not _classify(f.HUMAN, "c", after=HOUR, link_count=1, links_clicked_together=1).is_bot


def test_head_request_is_a_prefetch() -> None:
    verdict = _classify(f.HUMAN, "c", after=HOUR, link_count=1, method="HEAD")
    assert verdict.bot_kind == "prefetch" and verdict.reason.startswith("HEAD request")


@pytest.mark.parametrize("shape", [f.SEC_PURPOSE, f.X_MOZ])
def test_prefetch_headers(shape) -> None:
    verdict = _classify(shape, "c", after=HOUR, link_count=1)
    assert verdict.is_bot and verdict.bot_kind == "prefetch" and "prefetch" in verdict.reason


def test_empty_agent_is_no_browser() -> None:
    verdict = _classify({"ip": "203.0.113.9", "ua": "", "headers": {}}, "o")
    assert verdict.is_bot and verdict.reason == "no browser (empty user agent)"


def test_ip_is_truncated() -> None:
    assert ip_truncate("203.0.113.57") == "203.0.113.0/24"
    assert ip_truncate("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert ip_truncate("::ffff:203.0.113.57") == "203.0.113.0/24"
    assert ip_truncate("unknown") == ""
