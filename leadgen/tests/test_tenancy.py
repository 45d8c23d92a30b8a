from __future__ import annotations

import pytest
from django.http import Http404

from accounts.models import ApiKey, Membership
from conftest import Tenant
from leadgen.tenancy import OrgScopeMissing, get_for_org, org_scope

pytestmark = pytest.mark.django_db


def test_scoped_manager_refuses_to_run_without_an_org(tenant: Tenant) -> None:
    with pytest.raises(OrgScopeMissing):
        list(ApiKey.objects.all())


def test_scoped_manager_filters_to_current_org(tenant: Tenant, other_tenant: Tenant) -> None:
    with org_scope(tenant.org):
        assert set(Membership.objects.values_list("org_id", flat=True)) == {tenant.org.pk}
    with org_scope(other_tenant.org):
        assert list(ApiKey.objects.all()) == [other_tenant.api_key]
    assert Membership.objects.unscoped().filter(org__in=[tenant.org, other_tenant.org]).count() == 6


def test_get_for_org_answers_404_for_other_orgs_and_garbage(tenant: Tenant, other_tenant: Tenant) -> None:
    with org_scope(tenant.org):
        assert get_for_org(ApiKey, pk=tenant.api_key.pk) == tenant.api_key
        with pytest.raises(Http404):
            get_for_org(ApiKey, pk=other_tenant.api_key.pk)
        with pytest.raises(Http404):
            get_for_org(ApiKey, pk="not-a-number")


def test_saving_into_another_org_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    with org_scope(tenant.org), pytest.raises(OrgScopeMissing):
        other_tenant.api_key.name = "hijack"
        other_tenant.api_key.save()


def test_scope_is_restored_after_nesting(tenant: Tenant, other_tenant: Tenant) -> None:
    with org_scope(tenant.org):
        with org_scope(other_tenant.org):
            assert ApiKey.objects.get() == other_tenant.api_key
        assert ApiKey.objects.get() == tenant.api_key
