"""Production: refuses to start without SECRET_KEY and ALLOWED_HOSTS; secure cookies, HSTS, CSP."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from . import _env
from .base import *  # noqa: F403
from .base import LOGGING, MIDDLEWARE

DEBUG = False
SECRET_KEY = _env.string("SECRET_KEY")
if len(SECRET_KEY) < 32 or SECRET_KEY.startswith("insecure-"):
    raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 32 characters")
ALLOWED_HOSTS = _env.listing("ALLOWED_HOSTS", [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set (comma-separated host names)")
if not _env.listing("FIELD_ENCRYPTION_KEYS", []):
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set (comma-separated Fernet keys)")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = _env.boolean("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = _env.integer("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
MIDDLEWARE = [*MIDDLEWARE, "leadgen.middleware.ContentSecurityPolicyMiddleware"]
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'"
)

# Structured logs unless LOG_FORMAT says otherwise.
LOG_FORMAT = _env.choice("LOG_FORMAT", "json", {"plain", "json"})
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # type: ignore[index]
