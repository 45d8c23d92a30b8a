from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts import services
from accounts.models import (
    ApiKey,
    AuditLog,
    IdempotencyRecord,
    Invitation,
    Membership,
    Organization,
    Role,
    User,
)

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


class OrgOwnedFactory(factory.django.DjangoModelFactory):
    """Base of every tenant factory: a new organisation unless `org=` is passed, rows saved through
    `.objects.unscoped()` so no scope is needed. Related tenant rows are built in the same organisation
    (`factory.SubFactory(XFactory, org=factory.SelfAttribute("..org"))`)."""

    class Meta:
        abstract = True

    org = factory.SubFactory(OrganizationFactory)

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        return model_class.objects.unscoped().create(*args, **kwargs)


class MembershipFactory(OrgOwnedFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class InvitationFactory(OrgOwnedFactory):
    class Meta:
        model = Invitation

    email = factory.Sequence(lambda n: f"invitee{n}@example.test")
    role = Role.MEMBER
    key_hash = factory.Sequence(lambda n: Invitation.hash_key(f"key-{n}"))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class ApiKeyFactory(OrgOwnedFactory):
    """A key row only; use `apikey_for` when the test needs the secret to authenticate with."""

    class Meta:
        model = ApiKey

    name = factory.Sequence(lambda n: f"Key {n}")
    prefix = factory.Sequence(lambda n: f"lg_{n:08x}")
    key_hash = factory.Sequence(lambda n: ApiKey.hash_key(f"apikey-{n}"))


class AuditLogFactory(OrgOwnedFactory):
    class Meta:
        model = AuditLog

    actor = None
    actor_label = factory.Sequence(lambda n: f"user{n}@example.test")
    action = "invitation.created"
    target_type = "invitation"
    target_id = factory.Sequence(str)


class IdempotencyRecordFactory(OrgOwnedFactory):
    """A completed first response, replayable for repeats of the same key."""

    class Meta:
        model = IdempotencyRecord

    api_key = factory.SubFactory(ApiKeyFactory, org=factory.SelfAttribute("..org"))
    key = factory.Sequence(lambda n: f"idem-{n}")
    request_hash = factory.Sequence(lambda n: f"{n:064x}")
    status_code = 201
    content_type = "application/json"
    body = b"{}"
    completed_at = factory.LazyFunction(timezone.now)


def apikey_for(
    org: Organization, name: str = "test key", created_by: User | None = None
) -> tuple[ApiKey, str]:
    return services.apikey_create(org=org, name=name, created_by=created_by)
