"""Network lists the bot rules match a hit's truncated address against.

A hit keeps only its /24 (IPv4) or /48 (IPv6) network, never the full address, so a rule asks whether that
network *overlaps* a listed range. Ranges are merged into sorted (start, end) integer intervals once per process;
an overlap test is one bisect.

- Apple's egress ranges (Mail Privacy Protection and iCloud Private Relay share them): `data/apple_egress.csv`,
  Apple's CSV format (`prefix,country,region,city,`) with `#` lines naming the source and date. Refresh with
  `manage.py tracking_apple_ranges_refresh`.
- Security scanners' and mail providers' networks: `data/scanners.json`, small lists from each vendor's published
  ranges, with their source and date.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

DATA = Path(__file__).resolve().parent / "data"
APPLE_FILE = DATA / "apple_egress.csv"
SCANNERS_FILE = DATA / "scanners.json"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RangeSet:
    """Merged, sorted intervals per IP version: (starts, ends) for bisecting."""

    v4: tuple[list[int], list[int]]
    v6: tuple[list[int], list[int]]

    def overlaps(self, network: Network | None) -> bool:
        if network is None:
            return False
        starts, ends = self.v4 if network.version == 4 else self.v6
        low, high = int(network.network_address), int(network.broadcast_address)
        index = bisect.bisect_right(starts, high) - 1
        return index >= 0 and ends[index] >= low


def range_set(networks: list[Network]) -> RangeSet:
    by_version: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for net in networks:
        by_version[net.version].append((int(net.network_address), int(net.broadcast_address)))
    merged: dict[int, tuple[list[int], list[int]]] = {}
    for version, intervals in by_version.items():
        starts: list[int] = []
        ends: list[int] = []
        for start, end in sorted(intervals):
            if ends and start <= ends[-1] + 1:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        merged[version] = (starts, ends)
    return RangeSet(v4=merged[4], v6=merged[6])


def network_parse(value: str) -> Network | None:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def apple_csv_parse(text: str) -> list[Network]:
    """The prefixes of Apple's egress CSV (first column); comment and malformed lines are skipped."""
    networks = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        network = network_parse(line.split(",", 1)[0])
        if network is not None:
            networks.append(network)
    return networks


def _apple_path() -> Path:
    return Path(getattr(settings, "TRACKING_APPLE_RANGES_FILE", "") or APPLE_FILE)


@functools.cache
def apple_ranges() -> RangeSet:
    return range_set(apple_csv_parse(_apple_path().read_text()))


@functools.cache
def scanner_ranges() -> dict[str, RangeSet]:
    """Vendor name → its ranges."""
    vendors = json.loads(SCANNERS_FILE.read_text())["vendors"]
    return {
        vendor["name"]: range_set([n for n in map(network_parse, vendor["networks"]) if n is not None])
        for vendor in vendors
    }


def ip_truncate(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of an address, as text; "" for anything that is not an address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if ip.version == 6 and ip.ipv4_mapped:  # type: ignore[union-attr]
        ip = ip.ipv4_mapped  # type: ignore[union-attr]
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
