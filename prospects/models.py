"""Companies and prospects (one row per person per organisation), their timeline, imports and compliance data."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Coalesce, Concat, Lower
from django.utils.timezone import now
from pgvector.django import HnswIndex, VectorField

from leadgen.crypto import EncryptedTextField
from leadgen.tenancy import OrgOwned


class Stage(models.TextChoices):
    NEW = "new", "New"
    ENRICHED = "enriched", "Enriched"
    QUALIFIED = "qualified", "Qualified"
    DISQUALIFIED = "disqualified", "Disqualified"
    CONTACTED = "contacted", "Contacted"
    REPLIED = "replied", "Replied"
    MEETING = "meeting", "Meeting"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Tier(models.TextChoices):
    """A qualification's verdict for one ICP (and the prospect's best one)."""

    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    DISQUALIFIED = "disqualified", "Disqualified"


class Source(models.TextChoices):
    MANUAL = "manual", "Manual"
    CSV = "csv", "CSV import"
    API = "api", "API"
    FORM = "form", "Web form"
    META = "meta", "Meta Lead Ads"
    GOOGLE = "google", "Google Ads lead form"
    DISCOVERY = "discovery", "Discovery"
    MEETING = "meeting", "Meeting booked"


class LawfulBasis(models.TextChoices):
    UNKNOWN = "", "Not recorded"
    CONSENT = "consent", "Consent"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest"
    CONTRACT = "contract", "Contract"


class Company(OrgOwned):
    """Deduplicated per organisation by normalised domain."""

    name = models.CharField(max_length=255, blank=True)
    domain = models.CharField(max_length=255, null=True, blank=True)
    website = models.URLField(max_length=500, blank=True)
    industry = models.CharField(max_length=120, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    location = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    technologies = ArrayField(models.CharField(max_length=80), default=list, blank=True)
    linkedin_url = models.URLField(max_length=500, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    funding_stage = models.CharField(max_length=40, blank=True)
    # Total funding raised, as the source gives it (Apollo and Crunchbase: US dollars).
    funding_total = models.PositiveBigIntegerField(null=True, blank=True)
    keywords = ArrayField(models.CharField(max_length=120), default=list, blank=True)
    about_text = models.TextField(blank=True)
    social_links = models.JSONField(default=dict, blank=True)
    # Facts with their evidence, for grounding: [{"field", "value", "source", "url", "quote"}].
    facts = models.JSONField(default=list, blank=True)
    enriched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        constraints = [
            models.UniqueConstraint(
                fields=["org", "domain"],
                condition=Q(domain__isnull=False),
                name="company_unique_domain_per_org",
            )
        ]
        indexes = [models.Index(fields=["org", "name"], name="company_org_name")]

    def __str__(self) -> str:
        return self.name or self.domain or f"Company {self.pk}"


# What separates words in Prospect.search_vector (and in a search, see selectors.search_terms).
SEARCH_SEPARATORS = "[^[:alnum:]]+"


class Prospect(OrgOwned):
    """One person per organisation, deduplicated by normalised email and matched by LinkedIn URL."""

    # Every index that serves a tenant query leads with org_id, so the FK's own index would only cost inserts.
    org = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )

    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.CharField(max_length=254, blank=True)
    # Lower-cased, trimmed; the dedup key. NULL when the prospect has no email.
    email_normalized = models.CharField(max_length=254, null=True, blank=True, editable=False)
    title = models.CharField(max_length=255, blank=True)
    seniority = models.CharField(max_length=60, blank=True)
    department = models.CharField(max_length=120, blank=True)
    phone = models.CharField(max_length=60, blank=True)
    linkedin_url = models.CharField(max_length=500, blank=True)
    # "linkedin.com/in/<slug>" lower-cased; the second dedup key.
    linkedin_normalized = models.CharField(max_length=300, null=True, blank=True, editable=False)
    location = models.CharField(max_length=255, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="prospects"
    )
    company_name = models.CharField(max_length=255, blank=True)
    company_domain = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    source_detail = models.CharField(max_length=255, blank=True)
    utm = models.JSONField(default=dict, blank=True)
    # No index of its own: a big organisation's owner filter has its own (prospects.sort_indexes); only deleting a
    # user scans for theirs.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    tags = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    lawful_basis = models.CharField(max_length=30, choices=LawfulBasis.choices, blank=True, default="")
    consent_at = models.DateTimeField(null=True, blank=True)
    do_not_contact = models.BooleanField(default=False)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    # Filled by the scoring pipeline (next issue); indexed for list filters and sorts.
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    tier = models.CharField(max_length=12, choices=Tier.choices, blank=True)
    icp_id = models.BigIntegerField(null=True, blank=True)
    # How the score was made: {"fit": .., "intent": .., "engagement": .., "components": {...}, "provider": ..}.
    score_breakdown = models.JSONField(default=dict, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    # Email deliverability from leadgen.emailcheck: valid | risky | invalid (with the reason in email_check).
    email_status = models.CharField(max_length=10, blank=True)
    email_check = models.JSONField(default=dict, blank=True)
    enriched_at = models.DateTimeField(null=True, blank=True)
    # Free-text answers from forms and ad leads, kept for intent scoring.
    answers = models.JSONField(default=dict, blank=True)
    # Human email engagement (bots and machine opens excluded), kept up to date by outreach through
    # prospects.engagement: what the engagement part of the score reads.
    human_opens = models.PositiveIntegerField(default=0)
    human_clicks = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)
    last_engaged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    # The CSV import that created this person and the one that last changed them, with the file's row: the
    # timeline reads "Imported from <file> (row N)" from the import itself, instead of one Activity per row.
    # Plain ids, not foreign keys: deleting an import must not scan or lock a million prospects.
    import_job_id = models.BigIntegerField(null=True, blank=True, editable=False)
    import_line = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_import_job_id = models.BigIntegerField(null=True, blank=True, editable=False)
    last_import_line = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # Word-prefix search (see selectors.search_terms): every run of letters and digits of the names, the email's
    # local part and domain, the company and the title is a word. A GIN over this costs a fraction of a trigram
    # index on every insert.
    search_vector = models.GeneratedField(
        expression=Func(
            Func(
                Func(
                    Lower(
                        Concat(
                            Coalesce("first_name", Value("")),
                            Value(" "),
                            Coalesce("last_name", Value("")),
                            Value(" "),
                            Coalesce("email", Value("")),
                            Value(" "),
                            Coalesce("company_name", Value("")),
                            Value(" "),
                            Coalesce("title", Value("")),
                        )
                    ),
                    Value(SEARCH_SEPARATORS),
                    function="regexp_split_to_array",
                    output_field=ArrayField(models.TextField()),
                ),
                Value(""),
                function="array_remove",
                output_field=ArrayField(models.TextField()),
            ),
            # A list of words, not to_tsvector: the text search parser costs twice as much per inserted row,
            # and prefix matching needs no word positions.
            function="array_to_tsvector",
            output_field=SearchVectorField(),
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "email_normalized"],
                condition=Q(email_normalized__isnull=False),
                name="prospect_unique_email_per_org",
            ),
        ]
        indexes = [
            models.Index(fields=["org", "-created_at", "-id"], name="prospect_org_created"),
            models.Index(fields=["org", "linkedin_normalized"], name="prospect_org_linkedin"),
            models.Index(fields=["org", "last_name", "id"], name="prospect_org_last_name"),
            GinIndex(fields=["search_vector"], name="prospect_search_words"),
            GinIndex(fields=["tags"], name="prospect_tags"),
            # Keyset pagination of the list page: an (org, sort column, id) index per sortable column. The sorts by
            # email, company, title and stage, and the stage and owner filters, have one only in organisations with
            # many prospects, built by prospects.sort_indexes (a table-wide one cost every insert; a small
            # organisation reads its rows for a page through prospect_org_created, or sorts them).
            models.Index(fields=["org", "updated_at", "id"], name="prospect_org_updated"),
            models.Index(F("org"), Coalesce("score", Value(-1)), F("id"), name="prospect_org_score_sort"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or f"Prospect {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Note(OrgOwned):
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["org", "prospect", "-created_at"], name="note_org_prospect")]

    def __str__(self) -> str:
        return self.body[:60]


class Activity(OrgOwned):
    """The prospect's timeline: creation, imports, edits, stage changes, notes, merges, outcomes, email events."""

    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["org", "prospect", "-created_at"], name="activity_org_prospect")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.summary}"

    LABELS: ClassVar[dict[str, str]] = {
        "stage_changed": "Stage changed",
        "threshold_crossed": "Qualified lead alert",
        "imported": "Imported",
        "merged": "Merged",
        "note": "Note",
        "outcome": "Outcome",
    }

    @property
    def label(self) -> str:
        return self.LABELS.get(self.kind) or self.kind.replace("_", " ").capitalize()


class OutcomeResult(models.TextChoices):
    WON = "won", "Won"
    LOST = "lost", "Lost"
    DISQUALIFIED = "disqualified", "Disqualified"


class Outcome(OrgOwned):
    """A recorded result for a prospect; feeds per-org score calibration."""

    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="outcomes")
    result = models.CharField(max_length=20, choices=OutcomeResult.choices)
    reason = models.CharField(max_length=500, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, default="ui")
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["org", "result", "-created_at"], name="outcome_org_result")]

    def __str__(self) -> str:
        return self.result


class SuppressionKind(models.TextChoices):
    EMAIL = "email", "Email"
    DOMAIN = "domain", "Domain"
    EMAIL_HASH = "email_hash", "Erased person (hashed email)"


class Suppression(OrgOwned):
    """People and domains never to import or contact again. Erased people stay only as a sha256 of their email."""

    kind = models.CharField(max_length=12, choices=SuppressionKind.choices)
    value = models.CharField(max_length=254)
    reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "kind", "value"], name="suppression_unique_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"

    @staticmethod
    def hash_email(email_normalized: str) -> str:
        return hashlib.sha256(email_normalized.encode()).hexdigest()


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Import(OrgOwned):
    """A CSV import job: the stored file, its detected format, the column mapping, progress and results."""

    original_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500)
    file_size = models.BigIntegerField(default=0)
    encoding = models.CharField(max_length=30, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    headers = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    update_existing = models.BooleanField(default=True)
    tags = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    status = models.CharField(max_length=12, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    error = models.TextField(blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    # Of created_count, people without an email: kept as people to enrich (the result page says so).
    created_without_email = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    suppressed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "-created_at"], name="import_org_created")]

    def __str__(self) -> str:
        return self.original_name

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class ImportRowError(OrgOwned):
    job = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField()
    reason = models.CharField(max_length=500)
    raw = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "job", "line"], name="importerror_org_job_line")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class SavedView(OrgOwned):
    """A user's named set of list filters (the list page's query string)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "user", "name"], name="savedview_unique_name")]

    def __str__(self) -> str:
        return self.name


def _form_key() -> str:
    return secrets.token_urlsafe(18)


class LeadForm(OrgOwned):
    """A website form posting to /hooks/forms/<key>."""

    name = models.CharField(max_length=100)
    key = models.CharField(max_length=40, unique=True, default=_form_key)
    redirect_url = models.URLField(max_length=500, blank=True)
    allowed_origins = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    tags = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.name


class LeadSourceSettings(OrgOwned):
    """Per-organisation secrets for ad-lead webhooks (encrypted at rest by leadgen.crypto)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    meta_verify_token = models.CharField(max_length=200, blank=True)
    meta_app_secret = EncryptedTextField(blank=True)
    meta_page_access_token = EncryptedTextField(blank=True)
    google_key = EncryptedTextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org"], name="leadsource_one_per_org")]

    def __str__(self) -> str:
        return f"lead sources of {self.org_id}"


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    SUPPRESSED = "suppressed", "Suppressed"
    FAILED = "failed", "Failed"
    # Authenticated but malformed: kept so an admin can see what the provider sent.
    REJECTED = "rejected", "Rejected"


class WebhookDelivery(OrgOwned):
    """Every inbound lead delivery, stored raw before processing; the same delivery twice is processed once."""

    source = models.CharField(max_length=20, choices=Source.choices)
    dedupe_key = models.CharField(max_length=200)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED)
    error = models.TextField(blank=True)
    prospect = models.ForeignKey(Prospect, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(default=now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["org", "source", "dedupe_key"], name="delivery_unique_per_source")
        ]
        indexes = [models.Index(fields=["org", "-received_at"], name="delivery_org_received")]

    def __str__(self) -> str:
        return f"{self.source} {self.dedupe_key}"


# --- ICPs, enrichment, embeddings, qualification (the scoring pipeline) ------------------------------------------

EMBEDDING_DIM = 384


class ICP(OrgOwned):
    """An ideal customer profile: a persona description, structured criteria and example customers."""

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, help_text="The persona, in plain words.")
    # {"industries": [], "employee_min": int|None, "employee_max": int|None, "locations": [], "seniorities": [],
    #  "title_keywords": [], "technologies": [], "funding_stages": [], "exclusions": []}
    criteria = models.JSONField(default=dict, blank=True)
    example_prospect_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    example_company_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    embedding_hash = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    # The ICP a prospect's headline score is shown against outside an ICP filter; at most one per org. With none
    # flagged, the first active ICP is the primary (prospects.scoring.selectors.primary_icp).
    is_primary = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        verbose_name = "ICP"
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="icp_unique_name_per_org"),
            models.UniqueConstraint(
                fields=["org"], condition=Q(is_primary=True), name="icp_one_primary_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProspectEmbedding(OrgOwned):
    """The vector of a prospect's profile text; re-embedded only when the text (its hash) changes."""

    prospect = models.OneToOneField(Prospect, on_delete=models.CASCADE, related_name="embedding")
    vector = VectorField(dimensions=EMBEDDING_DIM)
    text_hash = models.CharField(max_length=64)
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=100)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            HnswIndex(
                name="embedding_vector_hnsw",
                fields=["vector"],
                m=16,
                ef_construction=128,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(fields=["org", "prospect"], name="embedding_org_prospect"),
        ]

    def __str__(self) -> str:
        return f"embedding of {self.prospect_id}"


class Qualification(OrgOwned):
    """One (prospect, ICP) judgement: score, tier, reasoning, flags and grounded hooks, cached by input hash."""

    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="qualifications")
    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="qualifications")
    score = models.PositiveSmallIntegerField()
    tier = models.CharField(max_length=12, choices=Tier.choices)
    similarity = models.FloatField(null=True, blank=True)
    reasoning = models.TextField(blank=True)
    red_flags = models.JSONField(default=list, blank=True)
    # [{"text": ..., "evidence": {"source": "company.industry" | url, "quote": ...}}] — only hooks whose evidence
    # exists in the stored data are kept.
    hooks = models.JSONField(default=list, blank=True)
    matched_criteria = models.JSONField(default=list, blank=True)
    missed_criteria = models.JSONField(default=list, blank=True)
    # Criteria the ICP sets whose value the record lacks: neither met nor missed, they lower the confidence.
    unknown_criteria = models.JSONField(default=list, blank=True)
    # Share of the evidence the judgement could have had that it had (0..1); null when the LLM judged.
    confidence = models.FloatField(null=True, blank=True)
    dropped_hooks = models.PositiveSmallIntegerField(default=0)
    provider = models.CharField(max_length=40)  # "rules" or "openai:<model>"
    model = models.CharField(max_length=100, blank=True)
    prompt_version = models.CharField(max_length=40, blank=True)
    input_hash = models.CharField(max_length=64)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "prospect", "icp"], name="qualification_unique_per_icp")
        ]
        indexes = [models.Index(fields=["org", "icp", "-score"], name="qualification_org_icp_score")]

    def __str__(self) -> str:
        return f"{self.prospect_id} vs {self.icp_id}: {self.score}"


class EnrichmentLog(OrgOwned):
    """Every enrichment call: which provider, what it added, what it cost, how long it took, what failed."""

    prospect = models.ForeignKey(Prospect, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=40)
    operation = models.CharField(max_length=60, blank=True)
    fields_gained = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["org", "-created_at"], name="enrichlog_org_created"),
            models.Index(fields=["org", "provider", "created_at"], name="enrichlog_org_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.operation}"


class PipelineSettings(OrgOwned):
    """Per-organisation pipeline configuration; provider keys are encrypted at rest."""

    hunter_api_key = EncryptedTextField(blank=True)
    apollo_api_key = EncryptedTextField(blank=True)
    pdl_api_key = EncryptedTextField(blank=True)
    openai_api_key = EncryptedTextField(blank=True)
    monthly_budget_usd = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    budget_alerted_month = models.CharField(max_length=7, blank=True)
    # LLM spend per calendar month (the leadgen.AiSpend ledger); blank is unlimited. At it, the rules provider
    # scores and the admins are told once a month (ai_budget_alerted_month).
    monthly_ai_budget_usd = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    ai_budget_alerted_month = models.CharField(max_length=7, blank=True)
    freshness_days = models.PositiveSmallIntegerField(default=30)
    qualification_threshold = models.PositiveSmallIntegerField(default=70)
    slack_webhook_url = EncryptedTextField(blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org"], name="pipelinesettings_one_per_org")]

    def __str__(self) -> str:
        return f"pipeline settings of {self.org_id}"


class ScoringModel(OrgOwned):
    """A per-organisation model fitted on outcomes; the newest active one adjusts scores."""

    features = ArrayField(models.CharField(max_length=60), default=list)
    coefficients = models.JSONField(default=dict)
    intercept = models.FloatField(default=0)
    auc = models.FloatField(null=True, blank=True)
    trained_on = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["org", "-created_at"], name="scoringmodel_org_created")]

    def __str__(self) -> str:
        return f"scoring model {self.pk} (AUC {self.auc})"


class DiscoveryRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class DiscoveryRun(OrgOwned):
    """ICP → provider search → pipeline, with live counts."""

    icp = models.ForeignKey(ICP, on_delete=models.CASCADE, related_name="discovery_runs")
    sources = ArrayField(models.CharField(max_length=30), default=list)
    max_prospects = models.PositiveIntegerField(default=100)
    min_score = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        max_length=12, choices=DiscoveryRunStatus.choices, default=DiscoveryRunStatus.QUEUED
    )
    error = models.TextField(blank=True)
    discovered = models.PositiveIntegerField(default=0)
    enriched = models.PositiveIntegerField(default=0)
    qualified = models.PositiveIntegerField(default=0)
    disqualified = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # Prospects through qualification (qualified, disqualified or failed there); the run is done at `discovered`.
    processed = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "-created_at"], name="discoveryrun_org_created")]

    def __str__(self) -> str:
        return f"discovery run {self.pk}"


class Notification(OrgOwned):
    """In-app notification (e.g. a prospect crossed the qualification threshold, the budget is spent)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [models.Index(fields=["org", "user", "-created_at"], name="notification_org_user")]

    def __str__(self) -> str:
        return self.title


class WebhookEndpoint(OrgOwned):
    """An outbound webhook (Standard Webhooks signatures) for events such as prospect.qualified."""

    url = models.URLField(max_length=500)
    secret = EncryptedTextField()
    events = ArrayField(models.CharField(max_length=60), default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.url


class WebhookMessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookMessage(OrgOwned):
    """One event sent to one endpoint, retried with backoff until delivered or given up."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    event_type = models.CharField(max_length=60)
    message_id = models.CharField(max_length=60, unique=True)
    payload = models.JSONField()
    status = models.CharField(
        max_length=12, choices=WebhookMessageStatus.choices, default=WebhookMessageStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "-created_at"], name="webhookmessage_org_created")]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id}"


# CRM sync (the prospects/crm wing) keeps its models in its own module; imported here for the app's migrations.
from prospects.crm.models import (  # noqa: E402, F401
    CrmConnection,
    CrmKind,
    CrmRecord,
    CrmSyncLog,
    OutcomeHook,
    PushTrigger,
    SyncDirection,
    SyncStatus,
)
