"""`make test`: the embedded (or configured) PostgreSQL and Redis; fast password hashing."""

from __future__ import annotations

from ._env import string
from .base import *  # noqa: F403
from .base import CACHES, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES["default"]["KEY_PREFIX"] = "leadgen-test"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MAIL_SINK_DIR = None  # type: ignore[assignment]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Concurrent local runs can pick their own test database name.
DATABASES["default"]["TEST"] = {"NAME": string("TEST_DATABASE_NAME", "test_leadgen")}
# Retries of Meta lead fetches come after ~1 s instead of ~30 s.
META_FETCH_RETRY_BACKOFF = 1
# Outbound webhook retries come after ~1 s instead of ~30 s.
WEBHOOK_RETRY_BACKOFF = 1
# CRM push retries come after ~1 s instead of ~30 s.
CRM_PUSH_RETRY_BACKOFF = 1
