"""A prospect's effective timezone: set, inferred from free-text locations, or the campaign's fallback."""

from __future__ import annotations

import pytest

from conftest import Tenant
from prospects.tests.factories import CompanyFactory, ProspectFactory
from prospects.timezones import (
    SOURCE_COMPANY,
    SOURCE_FALLBACK,
    SOURCE_LOCATION,
    SOURCE_SET,
    is_valid_timezone,
    location_place,
    prospect_country,
    prospect_timezone,
    timezone_label,
)


@pytest.mark.parametrize(
    ("location", "country", "zone"),
    [
        ("Berlin, Germany", "DE", "Europe/Berlin"),
        ("München, Deutschland", "DE", "Europe/Berlin"),
        ("Berlin, DE", "DE", "Europe/Berlin"),
        ("Wilmington, DE", "US", "America/New_York"),
        ("Tokyo", "JP", "Asia/Tokyo"),
        ("Tokyo, Japan", "JP", "Asia/Tokyo"),
        ("San Francisco, CA", "US", "America/Los_Angeles"),
        ("Austin, Texas, United States", "US", "America/Chicago"),
        ("Paris, TX", "US", "America/Chicago"),
        ("Paris, France", "FR", "Europe/Paris"),
        ("Atlanta, Georgia", "US", "America/New_York"),
        ("Tbilisi, Georgia", "GE", "Asia/Tbilisi"),
        ("Denver, CO, USA", "US", "America/Denver"),
        ("Seattle", "US", "America/Los_Angeles"),
        ("Perth, Western Australia", "AU", "Australia/Perth"),
        ("Australia", "AU", "Australia/Sydney"),
        ("Vancouver, BC, Canada", "CA", "America/Vancouver"),
        ("Canada", "CA", "America/Toronto"),
        ("Manaus, Brazil", "BR", "America/Manaus"),
        ("São Paulo, Brasil", "BR", "America/Sao_Paulo"),
        ("Novosibirsk, Russia", "RU", "Asia/Novosibirsk"),
        ("Tijuana, Baja California, Mexico", "MX", "America/Tijuana"),
        ("London, UK", "GB", "Europe/London"),
        ("Remote", None, None),
        ("", None, None),
    ],
)
def test_location_inference(location: str, country: str | None, zone: str | None) -> None:
    place = location_place(location)
    if country is None:
        assert place is None
    else:
        assert place is not None and (place.country, place.zone) == (country, zone)


def test_only_real_iana_names_are_valid() -> None:
    assert is_valid_timezone("Europe/Berlin")
    assert not is_valid_timezone("Europe/Atlantis")
    assert not is_valid_timezone("CET ")
    assert not is_valid_timezone("")
    assert not is_valid_timezone("../../etc/passwd")


@pytest.mark.django_db
def test_set_then_location_then_company_then_fallback(tenant: Tenant) -> None:
    own = ProspectFactory(org=tenant.org, timezone="Asia/Tokyo", location="Berlin, Germany")
    assert prospect_timezone(own, fallback="UTC") == ("Asia/Tokyo", SOURCE_SET)

    located = ProspectFactory(org=tenant.org, location="Berlin, Germany")
    assert prospect_timezone(located) == ("Europe/Berlin", SOURCE_LOCATION)
    assert timezone_label(*prospect_timezone(located)) == "Europe/Berlin (inferred from location)"
    assert prospect_country(located) == "DE"

    by_field = ProspectFactory(org=tenant.org, custom_fields={"country": "Japan"})
    assert prospect_timezone(by_field) == ("Asia/Tokyo", SOURCE_LOCATION)

    company = CompanyFactory(org=tenant.org, location="Seattle, WA")
    via_company = ProspectFactory(org=tenant.org, company=company)
    assert prospect_timezone(via_company) == ("America/Los_Angeles", SOURCE_COMPANY)

    unknown = ProspectFactory(org=tenant.org, timezone="Not/AZone", location="Remote")
    assert prospect_timezone(unknown, fallback="Europe/Paris") == ("Europe/Paris", SOURCE_FALLBACK)
    assert prospect_country(unknown) is None
