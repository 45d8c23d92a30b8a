from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, Invitation, Membership, Organization, Role, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()
            EmailAddress.objects.create(user=obj, email=obj.email, primary=True, verified=True)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    org = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER

    @classmethod
    def _create(cls, model_class: type[Membership], *args: Any, **kwargs: Any) -> Membership:
        return model_class.objects.unscoped().create(*args, **kwargs)


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    org = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.test")
    role = Role.MEMBER
    key_hash = factory.Sequence(lambda n: Invitation.hash_key(f"key-{n}"))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))

    @classmethod
    def _create(cls, model_class: type[Invitation], *args: Any, **kwargs: Any) -> Invitation:
        return model_class.objects.unscoped().create(*args, **kwargs)


def apikey_for(
    org: Organization, name: str = "test key", created_by: User | None = None
) -> tuple[ApiKey, str]:
    return services.apikey_create(org=org, name=name, created_by=created_by)
