from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Organization, User
from leadgen.tenancy import org_scope
from prospects.models import ICP, Company, Prospect

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_fills_the_pages() -> None:
    call_command("seed_demo")
    call_command("seed_demo")
    org = Organization.objects.get(slug="demo")
    owner = User.objects.get(email="demo@leadgen.localhost")
    assert Membership.objects.unscoped().filter(org=org, user=owner, role="owner").count() == 1
    with org_scope(org):
        assert Prospect.objects.count() == 30
        assert Company.objects.count() == 6
        assert ICP.objects.count() == 1
        assert Prospect.objects.filter(stage="meeting").exists()
    client = Client()
    client.post(reverse("account_login"), {"login": owner.email, "password": "leadgen-demo"})
    assert "Demo Company" in client.get(reverse("dashboard")).content.decode()
    listing = client.get(reverse("prospect_list")).content.decode()
    assert "Northwind Analytics" in listing and "Lindqvist" in listing
