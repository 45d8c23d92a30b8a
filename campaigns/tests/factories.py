from __future__ import annotations

import datetime as dt

import factory

from accounts.tests.factories import OrganizationFactory
from campaigns.models import Campaign, Step, Variant
from leadgen.tenancy import org_scope


class CampaignFactory(factory.django.DjangoModelFactory):
    """A campaign sending every day, all day (so tests are not at the mercy of the clock) in UTC."""

    class Meta:
        model = Campaign

    org = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    send_days = [1, 2, 3, 4, 5, 6, 7]
    window_start = dt.time(0, 0)
    window_end = dt.time(23, 59, 59)
    daily_new_limit = 0

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)


class StepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Step

    campaign = factory.SubFactory(CampaignFactory)
    org = factory.LazyAttribute(lambda o: o.campaign.org)
    order = factory.Sequence(lambda n: n)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variant

    step = factory.SubFactory(StepFactory)
    org = factory.LazyAttribute(lambda o: o.step.org)
    name = "A"
    subject = "Hello {{ first_name }}"
    body = "Hi {{ first_name }},\n\nA short note about {{ company_name|default:'your team' }}.\n"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        return model_class.objects.unscoped().create(*args, **kwargs)


def campaign_with_steps(org, *, mailboxes=(), steps=1, variants=("A",), **fields):  # type: ignore[no-untyped-def]
    """A campaign with `steps` steps (the later ones reply in thread after 48 h) and the named variants each."""
    campaign = CampaignFactory(org=org, **fields)
    with org_scope(org):
        campaign.mailboxes.set(mailboxes)
    for order in range(steps):
        step = StepFactory(
            campaign=campaign,
            order=order,
            delay_amount=0 if order == 0 else 48,
            thread="new" if order == 0 else "reply",
        )
        for name in variants:
            VariantFactory(
                step=step,
                name=name,
                subject=f"{name}: hello {{{{ first_name }}}}" if order == 0 else "",
                body=f"Hi {{{{ first_name }}}},\n\nStep {order + 1}, variant {name}.\n",
            )
    return campaign
