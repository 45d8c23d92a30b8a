"""Telling people from machines, one rule at a time (documented for users in docs/tracking.md).

`classify(hit, facts)` returns a `Verdict`: human, or a bot with its kind and a plain reason a sales rep can read.
Kinds: "machine" (Apple Mail Privacy Protection: the proxy fetches the pixel for every mail, opened or not, so these
are "machine opens", shown apart from human opens), "proxy" (a mail provider's image fetch at delivery),
"scanner" (a security gateway following links), "prefetch" (HEAD requests, prefetch headers).

Rules, in the order they are tried:
1. HEAD request → prefetch. 2. `Purpose`/`Sec-Purpose`/`X-Purpose`/`X-Moz` saying prefetch or preview → prefetch.
3. A scanner's user agent (Safe Links, Mimecast, Proofpoint, Barracuda, scripting clients, none) → scanner.
4. A click from a scanner network (data/scanners.json) → scanner. An open from Microsoft's mail network is
   Outlook's image proxy: human unless it comes at delivery (rule 7).
5. The stale Edge/12 agent Gmail's delivery-time fetch uses → proxy.
6. Opens: `GoogleImageProxy` is Gmail showing the mail to its reader → human. An Apple egress network, or Apple's
   bare proxy agent → machine ("Apple Mail Privacy Protection proxy"); clicks from Apple's networks are iCloud
   Private Relay users, so they stay human.
7. Opens through Yahoo's or Outlook's proxy within PROXY_DELIVERY_SECONDS of sending → proxy; later → human.
8. Clicks within CLICK_MIN_SECONDS of sending → scanner ("clicked 2 s after sending"); every link of a message
   (two or more) clicked within ALL_LINKS_SECONDS → scanner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import networks

CLICK_MIN_SECONDS = 10
ALL_LINKS_SECONDS = 10
PROXY_DELIVERY_SECONDS = 30

PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")
SCANNER_AGENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"safelinks|ms-office|microsoft office existence discovery", re.I),
        "Microsoft Defender Safe Links",
    ),
    (re.compile(r"mimecast", re.I), "Mimecast"),
    (re.compile(r"proofpoint|\bppops\b", re.I), "Proofpoint"),
    (re.compile(r"barracuda", re.I), "Barracuda"),
    (
        re.compile(
            r"^(python-requests|python-urllib|curl|wget|go-http-client|java/|okhttp|libwww-perl|axios)", re.I
        ),
        "a script",
    ),
)
EDGE_12 = re.compile(r"\bEdge/12\.\d+")
GOOGLE_PROXY = "GoogleImageProxy"
YAHOO_PROXY = re.compile(r"YahooMailProxy", re.I)
# Apple's proxy fetches with a bare agent, or WebKit with no browser version after it.
APPLE_AGENTS = (
    re.compile(r"^Mozilla/5\.0$"),
    re.compile(
        r"^Mozilla/5\.0 \(Macintosh; Intel Mac OS X [\d_]+\) AppleWebKit/[\d.]+ \(KHTML, like Gecko\)$"
    ),
)


@dataclass(frozen=True)
class Hit:
    kind: str  # "o" (pixel) or "c" (click)
    at: float  # unix time
    ip_prefix: str = ""
    user_agent: str = ""
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageFacts:
    sent_at: float | None  # unix time
    link_count: int = 0
    # Distinct links of the message clicked within ALL_LINKS_SECONDS of this hit (this one included).
    links_clicked_together: int = 0


@dataclass(frozen=True)
class Verdict:
    is_bot: bool
    bot_kind: str = ""
    reason: str = ""
    rule: str = ""
    via: str = ""  # a proxy that carried a human open ("Gmail image proxy")


HUMAN = Verdict(is_bot=False, rule="human")


def _seconds(hit: Hit, facts: MessageFacts) -> float | None:
    return None if facts.sent_at is None else max(0.0, hit.at - facts.sent_at)


def _prefetch(hit: Hit) -> Verdict | None:
    if hit.method.upper() == "HEAD":
        return Verdict(True, "prefetch", "HEAD request: a link checker, not a person", "head")
    for name in PREFETCH_HEADERS:
        value = hit.headers.get(name, "")
        if re.search(r"prefetch|preview|prerender", value, re.I):
            return Verdict(
                True, "prefetch", f"prefetched by the mail app ({name}: {value[:40]})", "prefetch-header"
            )
    return None


def _scanner(hit: Hit) -> Verdict | None:
    agent = hit.user_agent.strip()
    if not agent:
        return Verdict(True, "scanner", "no browser (empty user agent)", "scanner-agent")
    for pattern, name in SCANNER_AGENTS:
        if pattern.search(agent):
            return Verdict(True, "scanner", f"{name} link scanner (user agent)", "scanner-agent")
    network = networks.network_parse(hit.ip_prefix) if hit.ip_prefix else None
    for name, ranges in networks.scanner_ranges().items():
        if ranges.overlaps(network):
            if hit.kind == "o" and name.startswith("Microsoft"):
                return None  # Outlook's image proxy: judged by timing below
            return Verdict(True, "scanner", f"{name} network", "scanner-network")
    return None


def _open(hit: Hit, facts: MessageFacts) -> Verdict:
    agent = hit.user_agent.strip()
    seconds = _seconds(hit, facts)
    if GOOGLE_PROXY in agent:
        return Verdict(False, rule="gmail-proxy", via="Gmail image proxy")
    network = networks.network_parse(hit.ip_prefix) if hit.ip_prefix else None
    apple_agent = any(p.match(agent) for p in APPLE_AGENTS)
    if networks.apple_ranges().overlaps(network) or agent == "Mozilla/5.0":
        evidence = "network and user agent" if apple_agent else "network" if network else "user agent"
        return Verdict(True, "machine", f"Apple Mail Privacy Protection proxy ({evidence})", "apple-mpp")
    proxy = ""
    if YAHOO_PROXY.search(agent):
        proxy = "Yahoo image proxy"
    elif networks.scanner_ranges()["Microsoft Defender Safe Links"].overlaps(network):
        proxy = "Outlook image proxy"
    if proxy and seconds is not None and seconds < PROXY_DELIVERY_SECONDS:
        return Verdict(
            True, "proxy", f"{proxy} fetched it {seconds:.0f} s after sending (at delivery)", "proxy-delivery"
        )
    return Verdict(False, rule="proxy" if proxy else "human", via=proxy)


def _click(hit: Hit, facts: MessageFacts) -> Verdict:
    seconds = _seconds(hit, facts)
    if seconds is not None and seconds < CLICK_MIN_SECONDS:
        return Verdict(True, "scanner", f"clicked {seconds:.0f} s after sending", "click-too-soon")
    if facts.link_count >= 2 and facts.links_clicked_together >= facts.link_count:
        return Verdict(
            True,
            "scanner",
            f"all {facts.link_count} links clicked within {ALL_LINKS_SECONDS} s",
            "all-links",
        )
    return HUMAN


def classify(hit: Hit, facts: MessageFacts) -> Verdict:
    """Human or bot, with the rule and a plain reason."""
    verdict = _prefetch(hit) or _scanner(hit)
    if verdict is not None:
        return verdict
    if EDGE_12.search(hit.user_agent):
        seconds = _seconds(hit, facts)
        when = f" {seconds:.0f} s after sending" if seconds is not None else ""
        return Verdict(
            True, "proxy", f"automatic fetch{when} with an outdated browser signature (Edge 12)", "edge-12"
        )
    return _open(hit, facts) if hit.kind == "o" else _click(hit, facts)
