"""The test factories themselves: every model of accounts and prospects has one, and each builds a valid, saved row
whose related tenant rows belong to the row's own organisation (a factory that crossed tenants would make
isolation tests pass for the wrong reason)."""

from __future__ import annotations

from types import ModuleType

import factory
import pytest
from django.apps import apps
from django.db import models

from accounts.tests import factories as accounts_factories
from accounts.tests.factories import OrganizationFactory
from leadgen.tenancy import OrgOwned, org_scope
from prospects.tests import factories as prospects_factories

MODULES: dict[str, ModuleType] = {"accounts": accounts_factories, "prospects": prospects_factories}


def _factories(module: ModuleType) -> list[type[factory.django.DjangoModelFactory]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, factory.django.DjangoModelFactory)
        and value.__module__ == module.__name__
        and not value._meta.abstract
    ]


FACTORIES = sorted((f for module in MODULES.values() for f in _factories(module)), key=lambda f: f.__name__)


def _one_per_org(model: type[models.Model]) -> bool:
    return any(
        isinstance(c, models.UniqueConstraint) and tuple(c.fields) == ("org",)
        for c in model._meta.constraints
    )


def _assert_valid_and_in_one_org(row: models.Model) -> None:
    model = type(row)
    assert model._base_manager.filter(pk=row.pk).exists()
    org = getattr(row, "org", None)
    # NULL is valid in the database for a nullable field even where forms require it (the `created_by` users).
    unset = [f.name for f in model._meta.concrete_fields if f.null and getattr(row, f.attname) is None]
    with org_scope(org):  # full_clean's unique checks read through the scoped manager
        row.full_clean(exclude=unset)
    for field in model._meta.concrete_fields:
        if field.is_relation and field.name != "org":
            related = getattr(row, field.name)
            if isinstance(related, OrgOwned):
                assert related.org_id == row.org_id, (
                    f"{model.__name__}.{field.name} is in another organisation"
                )


@pytest.mark.parametrize("app_label", MODULES)
def test_every_model_has_a_factory(app_label: str) -> None:
    covered = {f._meta.model for f in _factories(MODULES[app_label])}
    missing = [m.__name__ for m in apps.get_app_config(app_label).get_models() if m not in covered]
    assert missing == []


@pytest.mark.django_db
@pytest.mark.parametrize("factory_class", FACTORIES, ids=lambda f: f.__name__)
def test_factory_builds_a_valid_row_whose_related_rows_share_its_org(
    factory_class: type[factory.django.DjangoModelFactory],
) -> None:
    row = factory_class()
    _assert_valid_and_in_one_org(row)
    if not issubclass(factory_class._meta.model, OrgOwned):
        return
    # Given an organisation, everything the factory builds is in it; two rows of one organisation do not collide.
    org = OrganizationFactory()
    rows = (
        [factory_class(org=org)]
        if _one_per_org(factory_class._meta.model)
        else factory_class.create_batch(2, org=org)
    )
    for row in rows:
        assert row.org_id == org.pk
        _assert_valid_and_in_one_org(row)
