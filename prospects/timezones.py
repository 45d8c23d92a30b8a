"""A prospect's effective timezone, and where it came from.

Order: the prospect's own `timezone` (an IANA name someone set), else one inferred from the prospect's location
(or a `country` custom field, or the company's location), else the caller's fallback (a campaign's timezone).
Inference reads `leadgen/data/timezones.json`: each country's primary IANA zone (generated from tzdata's
iso3166.tab and zone.tab, hand-corrected for the big multi-zone countries), state and province names and postal
codes for US, CA, AU, BR, MX and RU, and the big business cities. It is a guess from free text, so the source is
always shown next to the zone ("Europe/Berlin (inferred from location)").
"""

from __future__ import annotations

import functools
import json
import unicodedata
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Prospect

DATA_FILE = Path(__file__).resolve().parent.parent / "leadgen" / "data" / "timezones.json"

SOURCE_SET = "set"
SOURCE_LOCATION = "location"
SOURCE_COMPANY = "company_location"
SOURCE_FALLBACK = "fallback"
SOURCE_LABELS = {
    SOURCE_SET: "set on the prospect",
    SOURCE_LOCATION: "inferred from location",
    SOURCE_COMPANY: "inferred from the company's location",
    SOURCE_FALLBACK: "campaign's fallback",
}


@dataclass(frozen=True)
class Place:
    country: str
    zone: str


@dataclass(frozen=True)
class _Tables:
    country_zone: dict[str, str]
    country_by_name: dict[str, str]
    region_names: dict[str, dict[str, str]]
    region_codes: dict[str, dict[str, str]]
    cities: dict[str, tuple[str, str]]


@functools.cache
def _tables() -> _Tables:
    data = json.loads(DATA_FILE.read_text())
    countries: dict[str, Any] = data["countries"]
    return _Tables(
        country_zone={cc: entry["zone"] for cc, entry in countries.items()},
        country_by_name={name: cc for cc, entry in countries.items() for name in entry["names"]},
        region_names={cc: r["names"] for cc, r in data["regions"].items()},
        region_codes={cc: r["codes"] for cc, r in data["regions"].items()},
        cities={name: (cc, zone) for name, (cc, zone) in data["cities"].items()},
    )


def is_valid_timezone(name: str) -> bool:
    if not name or name != name.strip():
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _normalise(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(ascii_text.replace(".", "").split())


def _parts(location: str) -> list[str]:
    parts = [_normalise(p) for p in location.replace(";", ",").replace("/", ",").split(",")]
    return [p for p in parts if p]


def _region(tables: _Tables, country: str, parts: list[str]) -> str | None:
    """A zone inside a multi-zone country from its state, province or city names."""
    names = tables.region_names.get(country, {})
    codes = tables.region_codes.get(country, {})
    for part in parts:
        if part in names:
            return names[part]
        city = tables.cities.get(part)
        if city and city[0] == country:
            return city[1]
    return codes.get(parts[-1]) if len(parts) > 1 else None


def _code_candidates(tables: _Tables, code: str) -> list[Place]:
    """What a short last part ("DE", "CA", "NSW") may mean: a region of a big country, or a country code."""
    places = [
        Place(country, codes[code])
        for country, codes in tables.region_codes.items()
        if code in codes and country in ("US", "CA", "AU")
    ]
    upper = code.upper()
    if upper in tables.country_zone:
        places.append(Place(upper, tables.country_zone[upper]))
    return places


def location_place(location: str) -> Place | None:
    """Best guess of country and IANA zone for a free-text location ("Austin, TX", "Berlin, Germany", "Tokyo")."""
    parts = _parts(location)
    if not parts:
        return None
    tables = _tables()
    city = next((tables.cities[p] for p in parts if p in tables.cities), None)
    for part in reversed(parts):
        country = tables.country_by_name.get(part)
        if not country:
            continue
        # "Atlanta, Georgia" is the state: a name that is also a region of the known city's country.
        if city and city[0] != country and part in tables.region_names.get(city[0], {}):
            return Place(city[0], tables.region_names[city[0]][part])
        return Place(country, _region(tables, country, parts) or tables.country_zone[country])
    if len(parts) > 1 and len(parts[-1]) <= 4:
        candidates = _code_candidates(tables, parts[-1])
        # "Berlin, DE" is Germany and "Wilmington, DE" Delaware: a known city settles which code is meant.
        for place in candidates:
            if city and city[0] == place.country:
                return Place(*city)
        if candidates:
            return candidates[0]
    for country, names in tables.region_names.items():
        for part in parts:
            if part in names and country in ("US", "CA", "AU"):
                return Place(country, names[part])
    return Place(*city) if city else None


def _country_field(prospect: Prospect) -> str:
    value = (prospect.custom_fields or {}).get("country")
    return value if isinstance(value, str) else ""


def prospect_place(prospect: Prospect) -> tuple[Place | None, str]:
    """The prospect's inferred place and its source (location or the company's location)."""
    for text, source in (
        (prospect.location, SOURCE_LOCATION),
        (_country_field(prospect), SOURCE_LOCATION),
        (prospect.company.location if prospect.company_id and prospect.company else "", SOURCE_COMPANY),
    ):
        place = location_place(text) if text else None
        if place is not None:
            return place, source
    return None, SOURCE_FALLBACK


def prospect_timezone(prospect: Prospect, *, fallback: str = "UTC") -> tuple[str, str]:
    """(IANA zone, source): source is one of SOURCE_SET, SOURCE_LOCATION, SOURCE_COMPANY, SOURCE_FALLBACK."""
    if is_valid_timezone(prospect.timezone):
        return prospect.timezone, SOURCE_SET
    place, source = prospect_place(prospect)
    if place is not None:
        return place.zone, source
    return fallback, SOURCE_FALLBACK


def prospect_country(prospect: Prospect) -> str | None:
    """ISO 3166 code of the prospect's inferred country (for public holidays), if any."""
    place, _ = prospect_place(prospect)
    return place.country if place else None


def timezone_label(zone: str, source: str) -> str:
    return f"{zone} ({SOURCE_LABELS.get(source, source)})"
