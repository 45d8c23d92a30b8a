"""One factory per model of `prospects/models.py`.

Every factory makes a new organisation unless given `org=`; related tenant rows (a note's prospect, a
qualification's ICP, a message's endpoint, ...) are built in that same organisation, so
`NoteFactory(org=tenant.org)` is one call and never crosses tenants.
"""

from __future__ import annotations

import factory

from accounts.tests.factories import OrgOwnedFactory, UserFactory
from leadgen import signing
from prospects.crm.models import CrmConnection, CrmRecord, CrmSyncLog, OutcomeHook
from prospects.models import (
    EMBEDDING_DIM,
    ICP,
    Activity,
    Company,
    DiscoveryRun,
    EnrichmentLog,
    Import,
    ImportRowError,
    LeadForm,
    LeadSourceSettings,
    Note,
    Notification,
    Outcome,
    OutcomeResult,
    PipelineSettings,
    Prospect,
    ProspectEmbedding,
    Qualification,
    SavedView,
    ScoringModel,
    Source,
    Suppression,
    SuppressionKind,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

SAME_ORG = factory.SelfAttribute("..org")


def unit_vector(axis: int = 0) -> list[float]:
    """A unit vector of the embedding dimension along one axis."""
    vector = [0.0] * EMBEDDING_DIM
    vector[axis % EMBEDDING_DIM] = 1.0
    return vector


class CompanyFactory(OrgOwnedFactory):
    class Meta:
        model = Company

    name = factory.Faker("company")
    domain = factory.Sequence(lambda n: f"company{n}.test")


class ProspectFactory(OrgOwnedFactory):
    """A prospect; pass `org=` (and optionally `company=`). Dedup keys are derived like the services do."""

    class Meta:
        model = Prospect

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"person{n}@prospect{n % 50}.test")
    email_normalized = factory.LazyAttribute(lambda o: o.email.lower() if o.email else None)
    title = factory.Faker("job")
    company_name = factory.LazyAttribute(lambda o: o.company.name if o.company else "")
    company = None


# --- the prospect's timeline and compliance ----------------------------------------------------------------------


class NoteFactory(OrgOwnedFactory):
    class Meta:
        model = Note

    prospect = factory.SubFactory(ProspectFactory, org=SAME_ORG)
    author = None
    body = factory.Faker("sentence")


class ActivityFactory(OrgOwnedFactory):
    class Meta:
        model = Activity

    prospect = factory.SubFactory(ProspectFactory, org=SAME_ORG)
    kind = "note"
    summary = factory.Faker("sentence")


class OutcomeFactory(OrgOwnedFactory):
    class Meta:
        model = Outcome

    prospect = factory.SubFactory(ProspectFactory, org=SAME_ORG)
    result = OutcomeResult.WON


class SuppressionFactory(OrgOwnedFactory):
    """An email suppression by default; pass `kind=SuppressionKind.DOMAIN, value="example.com"` for a domain."""

    class Meta:
        model = Suppression

    kind = SuppressionKind.EMAIL
    value = factory.Sequence(lambda n: f"suppressed{n}@example.test")


# --- imports, saved views, inbound -------------------------------------------------------------------------------


class ImportFactory(OrgOwnedFactory):
    """An uploaded import job; no file is written."""

    class Meta:
        model = Import

    original_name = factory.Sequence(lambda n: f"import{n}.csv")
    file_path = factory.LazyAttribute(lambda o: f"imports/{o.original_name}")


class ImportRowErrorFactory(OrgOwnedFactory):
    class Meta:
        model = ImportRowError

    job = factory.SubFactory(ImportFactory, org=SAME_ORG)
    line = factory.Sequence(lambda n: n + 2)
    reason = "invalid email"
    raw = "not-an-email,Ada,Lovelace"


class SavedViewFactory(OrgOwnedFactory):
    class Meta:
        model = SavedView

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"View {n}")
    query = "stage=new"


class LeadFormFactory(OrgOwnedFactory):
    class Meta:
        model = LeadForm

    name = factory.Sequence(lambda n: f"Form {n}")


class LeadSourceSettingsFactory(OrgOwnedFactory):
    """One per organisation; every secret blank unless passed."""

    class Meta:
        model = LeadSourceSettings


class WebhookDeliveryFactory(OrgOwnedFactory):
    class Meta:
        model = WebhookDelivery

    source = Source.FORM
    dedupe_key = factory.Sequence(lambda n: f"delivery-{n}")
    body = "{}"
    prospect = None


# --- the scoring pipeline ----------------------------------------------------------------------------------------


class ICPFactory(OrgOwnedFactory):
    class Meta:
        model = ICP

    name = factory.Sequence(lambda n: f"ICP {n}")


class ProspectEmbeddingFactory(OrgOwnedFactory):
    """A stored vector (a unit vector unless `vector=` is passed), as if the prospect had been embedded."""

    class Meta:
        model = ProspectEmbedding

    prospect = factory.SubFactory(ProspectFactory, org=SAME_ORG)
    vector = factory.LazyFunction(unit_vector)
    text_hash = "test"
    provider = "test"
    model = "test"


class QualificationFactory(OrgOwnedFactory):
    class Meta:
        model = Qualification

    prospect = factory.SubFactory(ProspectFactory, org=SAME_ORG)
    icp = factory.SubFactory(ICPFactory, org=SAME_ORG)
    score = 75
    tier = "B"
    provider = "rules"
    input_hash = factory.Sequence(lambda n: f"{n:064x}")


class EnrichmentLogFactory(OrgOwnedFactory):
    """One provider call; attached to no prospect or company unless passed."""

    class Meta:
        model = EnrichmentLog

    prospect = None
    company = None
    provider = "pdl"
    operation = "company_enrich"


class PipelineSettingsFactory(OrgOwnedFactory):
    """One per organisation; no provider keys unless passed."""

    class Meta:
        model = PipelineSettings


class ScoringModelFactory(OrgOwnedFactory):
    class Meta:
        model = ScoringModel

    features = factory.LazyFunction(lambda: ["fit"])
    coefficients = factory.LazyFunction(lambda: {"fit": 1.0})
    auc = 0.75
    trained_on = 50


class DiscoveryRunFactory(OrgOwnedFactory):
    class Meta:
        model = DiscoveryRun

    icp = factory.SubFactory(ICPFactory, org=SAME_ORG)
    sources = factory.LazyFunction(lambda: ["apollo"])


# --- routing -----------------------------------------------------------------------------------------------------


class NotificationFactory(OrgOwnedFactory):
    class Meta:
        model = Notification

    user = None
    kind = "threshold_crossed"
    title = factory.Faker("sentence", nb_words=4)


class WebhookEndpointFactory(OrgOwnedFactory):
    class Meta:
        model = WebhookEndpoint

    url = factory.Sequence(lambda n: f"https://hooks{n}.example/leadgen")
    secret = factory.LazyFunction(signing.webhook_secret_generate)
    events = factory.LazyFunction(lambda: ["prospect.qualified"])


class WebhookMessageFactory(OrgOwnedFactory):
    class Meta:
        model = WebhookMessage

    endpoint = factory.SubFactory(WebhookEndpointFactory, org=SAME_ORG)
    event_type = "prospect.qualified"
    message_id = factory.Sequence(lambda n: f"msg_{n}")
    payload = factory.LazyFunction(lambda: {"type": "prospect.qualified", "data": {}})


# --- CRM sync ----------------------------------------------------------------------------------------------------


class CrmConnectionFactory(OrgOwnedFactory):
    """A HubSpot connection (token only); the second of an organisation is Salesforce (one per kind)."""

    class Meta:
        model = CrmConnection

    kind = factory.Iterator(["hubspot", "salesforce"])
    credentials = '{"token": "pat-na1-test"}'


class CrmRecordFactory(OrgOwnedFactory):
    class Meta:
        model = CrmRecord

    connection = factory.SubFactory(CrmConnectionFactory, org=SAME_ORG)
    prospect = factory.SubFactory(ProspectFactory, org=SAME_ORG)
    contact_id = factory.Sequence(lambda n: str(1000 + n))


class CrmSyncLogFactory(OrgOwnedFactory):
    class Meta:
        model = CrmSyncLog

    connection = factory.SubFactory(CrmConnectionFactory, org=SAME_ORG)
    crm = "hubspot"
    prospect = factory.SubFactory(ProspectFactory, org=SAME_ORG)
    direction = "push"
    status = "ok"


class OutcomeHookFactory(OrgOwnedFactory):
    class Meta:
        model = OutcomeHook

    secret = factory.LazyFunction(signing.webhook_secret_generate)
