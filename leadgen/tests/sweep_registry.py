"""What the cross-tenant sweep needs to build every id-bearing URL.

Each URL kwarg that names a tenant object maps to a function that creates such an object in the given tenant
and returns (value for the URL, a text that appears on list pages for that object). A route with a kwarg missing
here fails the sweep: register a factory when you add a route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.tests.factories import InvitationFactory, MembershipFactory, UserFactory, apikey_for

Factory = Callable[[Any], tuple[Any, str]]


def _membership(tenant: Any) -> tuple[Any, str]:
    user = UserFactory()
    return MembershipFactory(org=tenant.org, user=user).pk, user.email


def _invitation(tenant: Any) -> tuple[Any, str]:
    invitation = InvitationFactory(org=tenant.org)
    return invitation.pk, invitation.email


def _apikey(tenant: Any) -> tuple[Any, str]:
    key, _ = apikey_for(tenant.org, name=f"sweep key {tenant.org.slug}")
    return key.pk, key.name


def _prospect(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import ProspectFactory

    prospect = ProspectFactory(org=tenant.org, first_name="Sweepmarker", last_name=tenant.org.slug)
    return prospect.pk, prospect.email


def _company(tenant: Any) -> tuple[Any, str]:
    from prospects.tests.factories import CompanyFactory

    company = CompanyFactory(org=tenant.org, name=f"Sweepco {tenant.org.slug}")
    return company.pk, company.name


ID_FACTORIES: dict[str, Factory] = {
    "membership_id": _membership,
    "invitation_id": _invitation,
    "apikey_id": _apikey,
    "prospect_id": _prospect,
    "company_id": _company,
}

# Kwargs that carry signed tokens, not ids: such routes are public by design and checked by their own tests.
PUBLIC_KWARGS = {"token": "signed, expiring invitation links"}

# Route prefixes outside tenant data: Django's staff admin and allauth's own signed-key pages.
EXEMPT_PREFIXES = ("admin/", "accounts/")


def register(kwarg: str, factory: Factory) -> None:
    ID_FACTORIES[kwarg] = factory
