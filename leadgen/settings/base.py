"""Settings shared by every environment. Each integration stays off until its variable is set."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from . import _env

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = _env.string("SECRET_KEY", "insecure-local-only-key-change-me-0123456789abcdefghijklmnop")
DEBUG = _env.boolean("DEBUG", False)
ALLOWED_HOSTS = _env.listing("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
# Proxies in front of the app that append to X-Forwarded-For (leadgen.clientip); 0 ignores the header.
TRUSTED_PROXY_COUNT = _env.integer("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"TRUSTED_PROXY_COUNT must be 0 or more, got {TRUSTED_PROXY_COUNT}")
CSRF_TRUSTED_ORIGINS = _env.listing("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = _env.string("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "ninja",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "leadgen",
    "accounts",
    "prospects",
    "campaigns",
    "outreach",
    "analytics",
]

MIDDLEWARE = [
    "leadgen.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the request: 413 over the size limits, then text PostgreSQL can store.
    "leadgen.middleware.BodySizeLimitMiddleware",
    "leadgen.middleware.CleanTextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.OrgMiddleware",
    "accounts.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "leadgen.urls"
WSGI_APPLICATION = "leadgen.wsgi.application"
# Wrapped around the WSGI application by leadgen/wsgi.py (gunicorn), innermost first.
WSGI_WRAPPERS: list[str] = ["outreach.tracking.wsgi.TrackingFastPath"]
ASGI_APPLICATION = "leadgen.asgi.application"
# Wrapped around the ASGI application by leadgen/asgi.py (gunicorn's uvicorn worker), innermost first.
ASGI_WRAPPERS: list[str] = ["outreach.tracking.asgi.TrackingASGI"]
# Lines per chunk of a streamed download (CSV exports) under ASGI (leadgen/streaming.py).
STREAMED_CHUNK_LINES = 500

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.org",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

DATABASES = {"default": _env.database()}
# One psycopg pool per process, shared by its threads (Django 5.2): a threaded server or a worker's enrichment
# threads can no longer open one connection each and exhaust PostgreSQL's max_connections. A pool needs
# CONN_MAX_AGE 0 (a connection goes back to the pool at the end of each request or task); with
# DATABASE_POOL_MAX_SIZE=0 (e.g. behind PgBouncer in transaction mode) persistent connections are used instead.
_pool_min, _pool_max = _env.pool_sizes()
if _pool_max:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": _pool_min,
        "max_size": _pool_max,
        # Seconds a request waits for a free connection before failing (psycopg_pool.PoolTimeout).
        "timeout": _env.integer("DATABASE_POOL_TIMEOUT", 30),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = _env.integer("DATABASE_CONN_MAX_AGE", 60)
# With a pool this makes it check a connection before handing it out.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = _env.redis_url()
CACHES = {
    "default": {
        "BACKEND": "leadgen.cache.ReusingRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "leadgen",
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# allauth: email is the login; verification is mandatory; rate limits live in the (Redis) cache.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
# A B2B sign-up says plainly that an address is taken (see the note in README "Security").
ACCOUNT_PREVENT_ENUMERATION = False
ACCOUNT_RATE_LIMITS = {
    # "key" is the account together with the client IP (accounts.adapters.AccountAdapter): a client that keeps
    # failing is stopped without locking the account's owner out elsewhere; a password reset lifts every lock.
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupExtraForm"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Leadgen] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Leadgen"

FORMS_URLFIELD_ASSUME_HTTPS = True
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / ".data" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / ".data" / "media"

_email = _env.email("EMAIL_URL")
if _email:
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email.get("EMAIL_HOST", "")
    EMAIL_PORT = _email.get("EMAIL_PORT", 25)
    EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = _env.string("DEFAULT_FROM_EMAIL", "Leadgen <noreply@leadgen.localhost>")
# Directory of the embedded SMTP sink's .eml files; when set, /dev/mail/ lists them (local runs only).
MAIL_SINK_DIR = _env.optional("MAIL_SINK_DIR")

# Celery: JSON only, late acks, per-purpose queues (DESIGN.md "Runtime").
CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = _env.integer("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = _env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ["default", "enrich", "ai", "send", "events"]
# Tasks that leave the default queue, so a worker per queue can scale that step alone (`celery worker -Q ai`).
CELERY_TASK_ROUTES = {
    "prospects.scoring.tasks.icp_embed_task": {"queue": "ai"},
    "prospects.scoring.tasks.pipeline_enrich_task": {"queue": "enrich"},
    "prospects.scoring.tasks.pipeline_embed_task": {"queue": "ai"},
    "prospects.scoring.tasks.pipeline_qualify_task": {"queue": "ai"},
    "prospects.routing.tasks.webhook_deliver_task": {"queue": "events"},
    "prospects.routing.tasks.slack_notify_task": {"queue": "events"},
    "prospects.discovery.tasks.discovery_run_task": {"queue": "enrich"},
    # The Graph API fetch of a Meta lead is external HTTP.
    "prospects.inbound.tasks.meta_lead_fetch": {"queue": "enrich"},
    "prospects.scoring.tasks.prospect_enrich_task": {"queue": "enrich"},
    "prospects.scoring.tasks.prospect_enrich_retry_task": {"queue": "enrich"},
    "outreach.tasks.messages_send_task": {"queue": "send"},
    "outreach.tasks.messages_dispatch_task": {"queue": "send"},
    "outreach.tasks.unknown_reconcile_task": {"queue": "send"},
    # IMAP sync (outreach.inbound) is network I/O to the tenants' servers, beside the other engagement work.
    "outreach.inbound.tasks.mailbox_sync_task": {"queue": "events"},
    "outreach.inbound.tasks.mailboxes_sync_due": {"queue": "events"},
    "outreach.inbound.tasks.reply_slack_task": {"queue": "events"},
    "outreach.tracking.tasks.events_flush_task": {"queue": "events"},
    "campaigns.tasks.scheduler_tick": {"queue": "default"},
    # CRM sync (prospects.crm): external HTTP to HubSpot and Salesforce.
    "prospects.crm.tasks.crm_push_task": {"queue": "enrich"},
    "prospects.crm.tasks.crm_pull_task": {"queue": "enrich"},
    "prospects.crm.tasks.crm_hubspot_deals_task": {"queue": "enrich"},
    "analytics.tasks.rollups_advance_task": {"queue": "events"},
    "analytics.tasks.rollups_rebuild_task": {"queue": "events"},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "leadgen.tasks.heartbeat", "schedule": 15.0},
    "idempotency-purge": {"task": "accounts.tasks.idempotency_purge", "schedule": 3600.0},
    # Refit each org's scoring model on its outcomes (prospects.scoring.qualification), daily.
    "scoring-models-train": {
        "task": "prospects.scoring.tasks.scoring_models_train_due",
        "schedule": 24 * 3600.0,
    },
    # Per-org HNSW indexes for organisations with many prospect vectors (prospects.scoring.vector_indexes), hourly.
    "vector-indexes-maintain": {
        "task": "prospects.scoring.tasks.vector_indexes_maintain_task",
        "schedule": 3600.0,
    },
    # Per-org list indexes (sorts and filters) for organisations with many prospects (prospects.sort_indexes), hourly.
    "sort-indexes-maintain": {
        "task": "prospects.imports.tasks.sort_indexes_maintain_task",
        "schedule": 3600.0,
    },
    # Campaigns (campaigns.scheduler): advance on sent messages, stop rules, entry rules, then due steps.
    "campaigns-scheduler": {"task": "campaigns.tasks.scheduler_tick", "schedule": 30.0},
    # Replies, auto-replies and bounces (outreach.inbound.imap): every mailbox with IMAP settings, polled.
    "imap-sync": {
        "task": "outreach.inbound.tasks.mailboxes_sync_due",
        "schedule": float(_env.integer("OUTREACH_IMAP_POLL_INTERVAL", 60)),
    },
    # CRM sync (prospects.crm): poll each connected CRM for closed deals and disqualified leads; re-queue stuck pushes.
    "crm-pull": {
        "task": "prospects.crm.tasks.crm_pull_due",
        "schedule": float(_env.integer("CRM_POLL_INTERVAL", 900)),
    },
    # Engagement rollups (analytics.rollups): new events into their days, and today/yesterday recounted hourly.
    "analytics-rollups-advance": {"task": "analytics.tasks.rollups_advance_task", "schedule": 5.0},
    "analytics-rollups-rebuild": {"task": "analytics.tasks.rollups_rebuild_task", "schedule": 3600.0},
    # Queued messages that are due go out (outreach.sending.engine); crashed sends are swept first.
    "outreach-dispatch": {
        "task": "outreach.tasks.messages_dispatch_task",
        "schedule": float(_env.integer("OUTREACH_DISPATCH_INTERVAL", 5)),
    },
    # `unknown` messages (a crash mid-send) settled from the ESP's records where it keeps them (Mailgun, Postmark).
    "outreach-unknown-reconcile": {"task": "outreach.tasks.unknown_reconcile_task", "schedule": 600.0},
    # Tracking hits buffered in Redis become Events (outreach.tracking.writer); also asked for when the buffer grows.
    "tracking-events-flush": {
        "task": "outreach.tracking.tasks.events_flush_task",
        "schedule": float(_env.integer("TRACKING_FLUSH_INTERVAL", 3)),
    },
}
# /healthz reports the worker down when its last heartbeat is older than this.
WORKER_HEARTBEAT_MAX_AGE = _env.integer("WORKER_HEARTBEAT_MAX_AGE", 60)

# Request bodies (leadgen.middleware.BodySizeLimitMiddleware answers 413 above these): any body read into memory
# (JSON, forms, multipart fields other than files), and a whole multipart upload (CSV imports, streamed to disk).
DATA_UPLOAD_MAX_MEMORY_SIZE = _env.integer("REQUEST_BODY_MAX_BYTES", 5 * 1024 * 1024)
UPLOAD_MAX_BYTES = _env.integer("UPLOAD_MAX_BYTES", 256 * 1024 * 1024)
# CSV imports apply their rows with this many database connections at once (prospects.imports.engine); 0 = one per
# CPU of this host. Set it to the database host's core count when the database runs elsewhere.
IMPORT_WRITERS = _env.integer("IMPORT_WRITERS", 0)
# ... and clean a large file's rows in this many forked processes; 0 = one per CPU of this host, 1 = none.
IMPORT_PARSERS = _env.integer("IMPORT_PARSERS", 0)

# /metrics (Prometheus): off until a bearer token or an address allowlist is set; either one admits a scrape.
METRICS_TOKEN = _env.optional("METRICS_TOKEN")
METRICS_ALLOWED_IPS = _env.networks("METRICS_ALLOWED_IPS")

# JSON API
API_RATE_LIMIT_PER_MINUTE = _env.integer("API_RATE_LIMIT_PER_MINUTE", 600)

INVITATION_MAX_AGE_DAYS = _env.integer("INVITATION_MAX_AGE_DAYS", 7)

# Keys for encrypting secrets at rest (SMTP passwords, provider keys); the first one encrypts, all decrypt.
FIELD_ENCRYPTION_KEYS = _env.listing("FIELD_ENCRYPTION_KEYS", [])

# Inbound lead webhooks (prospects.inbound.views): Meta's Graph API and the web-form rate limit.
META_GRAPH_URL = _env.string("META_GRAPH_URL", "https://graph.facebook.com").rstrip("/")
META_GRAPH_VERSION = _env.string("META_GRAPH_VERSION", "v19.0")
# Base of the exponential backoff (seconds) when fetching a Meta lead fails transiently: 30, 60, 120 … 1800 s.
META_FETCH_RETRY_BACKOFF = _env.integer("META_FETCH_RETRY_BACKOFF", 30)
LEAD_FORM_RATE_LIMIT_PER_MINUTE = _env.integer("LEAD_FORM_RATE_LIMIT_PER_MINUTE", 10)

# AI layer (leadgen.ai). Without OPENAI_API_KEY embeddings come from the offline MiniLM model and judgements from
# the rules provider. OPENAI_BASE_URL points at any OpenAI-compatible server (Azure, Ollama, vLLM).
OPENAI_API_KEY = _env.optional("OPENAI_API_KEY")
OPENAI_BASE_URL = _env.optional("OPENAI_BASE_URL")
# "local" or "openai"; switching it means re-embedding every stored vector.
AI_EMBEDDING_PROVIDER = _env.string("AI_EMBEDDING_PROVIDER", "openai" if OPENAI_API_KEY else "local")
AI_EMBEDDING_MODEL = _env.string("AI_EMBEDDING_MODEL", "text-embedding-3-small")
AI_EMBEDDING_BATCH_SIZE = _env.integer("AI_EMBEDDING_BATCH_SIZE", 64)
# BLAS threads per process for the offline model; more than 1 only pays on otherwise idle cores.
AI_EMBEDDING_THREADS = _env.integer("AI_EMBEDDING_THREADS", 1)
# An organisation holding at least this many prospect vectors gets its own HNSW index (prospects.scoring.vector_indexes),
# built by beat; EMBEDDING_INDEX_BUILD_MEMORY is the maintenance_work_mem of that build.
EMBEDDING_ORG_INDEX_MIN_ROWS = _env.integer("EMBEDDING_ORG_INDEX_MIN_ROWS", 50_000)
EMBEDDING_INDEX_BUILD_MEMORY = _env.string("EMBEDDING_INDEX_BUILD_MEMORY", "512MB")
# An organisation holding at least this many prospects gets its own list indexes, sorts and filters
# (prospects.sort_indexes).
PROSPECT_ORG_SORT_INDEX_MIN_ROWS = _env.integer("PROSPECT_ORG_SORT_INDEX_MIN_ROWS", 50_000)
AI_CHAT_MODEL = _env.string("AI_CHAT_MODEL", "gpt-4o-mini")
AI_REQUEST_TIMEOUT = _env.integer("AI_REQUEST_TIMEOUT", 30)
AI_MAX_RETRIES = _env.integer("AI_MAX_RETRIES", 3)
# USD per million tokens, (input, output), merged over leadgen.ai.llm.DEFAULT_PRICES.
AI_MODEL_PRICES: dict[str, tuple[float, float]] = {}

# Enrichment providers (prospects.scoring.enrichment.providers). Each is enabled per organisation by its API key in Settings →
# Pipeline; the base URLs only change for tests (local fakes) or a proxy.
HUNTER_API_URL = _env.string("HUNTER_API_URL", "https://api.hunter.io").rstrip("/")
APOLLO_API_URL = _env.string("APOLLO_API_URL", "https://api.apollo.io").rstrip("/")
PDL_API_URL = _env.string("PDL_API_URL", "https://api.peopledatalabs.com").rstrip("/")
# CRM sync (prospects.crm): each organisation connects its own CRM in Settings → Integrations; these base URLs
# only change for tests (local fakes) or a proxy. A Salesforce org may also name its own login host (My Domain).
HUBSPOT_API_URL = _env.string("HUBSPOT_API_URL", "https://api.hubapi.com").rstrip("/")
SALESFORCE_LOGIN_URL = _env.string("SALESFORCE_LOGIN_URL", "https://login.salesforce.com").rstrip("/")
SALESFORCE_API_VERSION = _env.string("SALESFORCE_API_VERSION", "62.0")
# First retry of a failed push after this many seconds, doubling each time (a CRM's Retry-After wins when longer).
CRM_PUSH_RETRY_BACKOFF = _env.integer("CRM_PUSH_RETRY_BACKOFF", 30)
# Requests per minute per provider API key, kept under each provider's published limit.
ENRICHMENT_RATE_LIMITS = {
    "hunter": _env.integer("HUNTER_RATE_LIMIT_PER_MINUTE", 300),
    "apollo": _env.integer("APOLLO_RATE_LIMIT_PER_MINUTE", 100),
    "pdl": _env.integer("PDL_RATE_LIMIT_PER_MINUTE", 60),
}
# Paid providers after the free website facts, in this order; each fills only the fields still missing.
ENRICHMENT_PROVIDER_ORDER = _env.listing("ENRICHMENT_PROVIDER_ORDER", ["hunter", "apollo", "pdl"])
if set(ENRICHMENT_PROVIDER_ORDER) - {"hunter", "apollo", "pdl"}:
    raise ImproperlyConfigured(
        "ENRICHMENT_PROVIDER_ORDER: use a comma-separated subset of hunter, apollo, pdl"
    )
# Base (seconds) of the exponential backoff when a provider answers 429/5xx: 30, 60, 120 … capped below.
ENRICH_RETRY_BACKOFF = _env.integer("ENRICH_RETRY_BACKOFF", 30)
ENRICH_RETRY_BACKOFF_MAX = _env.integer("ENRICH_RETRY_BACKOFF_MAX", 1800)

# Scoring pipeline (prospects.scoring.pipeline): prospects per task batch (one embedding call per batch), threads that
# enrich a batch's companies in parallel, and whether new or changed prospects enter the pipeline by themselves.
PIPELINE_BATCH_SIZE = _env.integer("PIPELINE_BATCH_SIZE", 128)
# Rows per keyset batch of a streamed CSV export (memory against round trips).
PROSPECT_EXPORT_BATCH = 2000
PIPELINE_ENRICH_THREADS = _env.integer("PIPELINE_ENRICH_THREADS", 4)
PIPELINE_AUTO_ENQUEUE = _env.boolean("PIPELINE_AUTO_ENQUEUE", True)
# Each enrichment thread keeps a connection of its process's pool for the thread's life; the task's own thread
# needs one more.
if _pool_max and _pool_max < PIPELINE_ENRICH_THREADS + 1:
    raise ImproperlyConfigured(
        f"DATABASE_POOL_MAX_SIZE ({_pool_max}) must be at least PIPELINE_ENRICH_THREADS + 1 "
        f"({PIPELINE_ENRICH_THREADS + 1})"
    )
# Base (seconds) of the exponential backoff of outbound webhook and Slack retries: 30, 60, 120 … (8 tries).
WEBHOOK_RETRY_BACKOFF = _env.integer("WEBHOOK_RETRY_BACKOFF", 30)

# Campaigns (campaigns/): due enrollments claimed per scheduler batch, and how far ahead of its send time a step's
# message is made (a review queue sees drafts this long before they are due).
CAMPAIGN_DISPATCH_BATCH = _env.integer("CAMPAIGN_DISPATCH_BATCH", 500)
CAMPAIGN_PREPARE_AHEAD_SECONDS = _env.integer("CAMPAIGN_PREPARE_AHEAD_SECONDS", 3600)

# Outreach (outreach/): sending. Guards are `guard(message) -> str | SendHold | None`, run right before every send;
# the composition root lists them (campaigns adds its enrollment guard).
OUTREACH_SEND_GUARDS: list[str] = ["campaigns.services.enrollment_send_guard"]
# Campaign names for the inbox filter: outreach never imports campaigns, so the composition root names the function.
OUTREACH_CAMPAIGN_NAMES = "campaigns.selectors.campaign_names"
# The onboarding checklist's "Connect a mailbox" step (prospects/onboarding.py) reads the org's mailboxes here.
ONBOARDING_MAILBOXES = "outreach.selectors.mailboxes_list"
# A message still `sending` this long after its claim was interrupted by a crash (more than the task time limit).
OUTREACH_SENDING_TIMEOUT = _env.integer("OUTREACH_SENDING_TIMEOUT", 900)
OUTREACH_DISPATCH_BATCH = _env.integer("OUTREACH_DISPATCH_BATCH", 2000)
OUTREACH_SEND_CHUNK = _env.integer("OUTREACH_SEND_CHUNK", 25)
# How long a dispatched message is not dispatched again while its task is on the way (a lost task is redone after).
OUTREACH_DISPATCH_TTL = _env.integer("OUTREACH_DISPATCH_TTL", 120)
# The mailto half of List-Unsubscribe: unsubscribe+<token>@<this domain> (processed with the engagement issue).
OUTREACH_UNSUBSCRIBE_MAILTO_DOMAIN = _env.string(
    "OUTREACH_UNSUBSCRIBE_MAILTO_DOMAIN", (SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0])
)
# Tracking (outreach/tracking/): the request path asks for a flush each time the hit buffer reaches a multiple of
# TRACKING_FLUSH_AT; the writer stores TRACKING_BATCH_SIZE hits per transaction (short, so a loaded database
# never runs one past the task's time limit). TRACKING_APPLE_RANGES_FILE
# replaces the shipped Apple egress list (outreach/tracking/data/apple_egress.csv) with a file of yours.
TRACKING_FLUSH_AT = _env.integer("TRACKING_FLUSH_AT", 500)
TRACKING_BATCH_SIZE = _env.integer("TRACKING_BATCH_SIZE", 250)
TRACKING_APPLE_RANGES_FILE = _env.string("TRACKING_APPLE_RANGES_FILE", "")
TRACKING_APPLE_RANGES_URL = _env.string(
    "TRACKING_APPLE_RANGES_URL", "https://mask-api.icloud.com/egress-ip-ranges.csv"
)
# A mailbox is paused when this share of its sends bounce, over at least OUTREACH_BOUNCE_MIN_SENT sends.
OUTREACH_BOUNCE_PAUSE_RATE = float(_env.string("OUTREACH_BOUNCE_PAUSE_RATE", "0.05"))
OUTREACH_BOUNCE_MIN_SENT = _env.integer("OUTREACH_BOUNCE_MIN_SENT", 20)
# This many soft (4.x.x) bounces of one address count as a hard bounce (outreach.inbound.services).
OUTREACH_SOFT_BOUNCE_LIMIT = _env.integer("OUTREACH_SOFT_BOUNCE_LIMIT", 3)
# First retry of an IMAP sync after a network error, doubled each time (capped at an hour).
OUTREACH_IMAP_RETRY_BACKOFF = _env.integer("OUTREACH_IMAP_RETRY_BACKOFF", 60)
# Tenant-supplied SMTP/IMAP hosts go through the SSRF guard; loopback is allowed only where this is on (local runs).
OUTREACH_ALLOW_LOOPBACK = _env.boolean("OUTREACH_ALLOW_LOOPBACK", False)
# ESP API endpoints (django-anymail); empty keeps anymail's default. Tests point them at local fakes.
OUTREACH_ESP_API_URLS = {
    "ses": _env.string("OUTREACH_SES_ENDPOINT_URL", ""),
    "mailgun": _env.string("OUTREACH_MAILGUN_API_URL", ""),
    "postmark": _env.string("OUTREACH_POSTMARK_API_URL", ""),
    "sendgrid": _env.string("OUTREACH_SENDGRID_API_URL", ""),
    "brevo": _env.string("OUTREACH_BREVO_API_URL", ""),
}

# "plain" for people, "json" (one object per line, leadgen.jsonlog) for log shippers; production defaults to json.
LOG_FORMAT = _env.choice("LOG_FORMAT", "plain", {"plain", "json"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "leadgen.jsonlog.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": _env.string("LOG_LEVEL", "INFO")},
    # pgserver reports every start and stop of the embedded PostgreSQL at INFO.
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "pgserver": {"level": "WARNING"},
        # flufl.bounce logs every detector it tries at INFO, a dozen lines per bounce (outreach.inbound.classify).
        "flufl.bounce": {"level": "WARNING"},
    },
}
