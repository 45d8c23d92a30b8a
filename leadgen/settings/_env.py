"""Typed environment readers that name the variable when its value is malformed.

Secrets may come from `NAME_FILE` (Docker/Kubernetes secrets) instead of `NAME`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

_env = environ.Env()


def _raw(name: str) -> str | None:
    file_var = os.environ.get(f"{name}_FILE")
    if file_var:
        try:
            return Path(file_var).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_var!r}: {exc}") from exc
    return os.environ.get(name)


def string(name: str, default: str | None = None) -> str:
    value = _raw(name)
    if not value:
        if default is None:
            raise ImproperlyConfigured(f"{name} must be set")
        return default
    return value


def optional(name: str) -> str | None:
    return _raw(name) or None


def integer(name: str, default: int) -> int:
    value = _raw(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def boolean(name: str, default: bool) -> bool:
    value = _raw(name)
    if not value:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def listing(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def database(name: str = "DATABASE_URL") -> dict[str, Any]:
    value = string(name)
    try:
        config = _env.db_url_config(value)
    except Exception as exc:
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            f"{name} must be a PostgreSQL URL (postgres://...), got {value.split(':')[0]}"
        )
    # pgserver-style URLs carry the unix socket directory as ?host=...
    options = config.setdefault("OPTIONS", {})
    if "host" in options and not config.get("HOST"):
        config["HOST"] = options.pop("host")
    return config


def redis_url(name: str = "REDIS_URL") -> str:
    value = string(name)
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"{name} must start with redis://, rediss:// or unix://, got {value!r}")
    return value


def email(name: str = "EMAIL_URL") -> dict[str, Any]:
    value = optional(name)
    if value is None:
        return {}
    try:
        return _env.email_url_config(value)
    except Exception as exc:
        raise ImproperlyConfigured(f"{name} is not a valid email URL: {exc}") from None


POOL_MAX_SIZE_DEFAULT = 8
POOL_MIN_SIZE_DEFAULT = 1


def pool_sizes() -> tuple[int, int]:
    """(min, max) connections of the per-process database pool; max 0 turns pooling off. Read here, not in
    base.py, because `leadgen.embedded` sizes PostgreSQL's max_connections from the same numbers."""
    max_size = integer("DATABASE_POOL_MAX_SIZE", POOL_MAX_SIZE_DEFAULT)
    min_size = integer("DATABASE_POOL_MIN_SIZE", POOL_MIN_SIZE_DEFAULT)
    if max_size < 0:
        raise ImproperlyConfigured(f"DATABASE_POOL_MAX_SIZE must be 0 (no pool) or more, got {max_size}")
    if max_size and not 0 <= min_size <= max_size:
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MIN_SIZE must be between 0 and DATABASE_POOL_MAX_SIZE ({max_size}), got {min_size}"
        )
    return min_size, max_size


def networks(name: str) -> list[str]:
    """Comma-separated IP addresses or CIDR networks, normalised (`10.0.0.0/8`, `2001:db8::1`)."""
    import ipaddress

    result = []
    for item in listing(name, []):
        try:
            result.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or network") from None
    return result


def choice(name: str, default: str, choices: set[str]) -> str:
    value = string(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(sorted(choices))}, got {value!r}")
    return value
