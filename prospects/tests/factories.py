from __future__ import annotations

import factory

from accounts.tests.factories import OrganizationFactory
from prospects.models import Company, Prospect


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    org = factory.SubFactory(OrganizationFactory)
    name = factory.Faker("company")
    domain = factory.Sequence(lambda n: f"company{n}.test")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)


class ProspectFactory(factory.django.DjangoModelFactory):
    """A prospect; pass `org=` (and optionally `company=`). Dedup keys are derived like the services do."""

    class Meta:
        model = Prospect

    org = factory.SubFactory(OrganizationFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"person{n}@prospect{n % 50}.test")
    email_normalized = factory.LazyAttribute(lambda o: o.email.lower() if o.email else None)
    title = factory.Faker("job")
    company_name = factory.LazyAttribute(lambda o: o.company.name if o.company else "")
    company = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)
