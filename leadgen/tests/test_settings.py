"""Start-up configuration errors name the variable; production refuses unsafe defaults."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _check(settings_module: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL must be a PostgreSQL URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must start with"),
        ({"API_RATE_LIMIT_PER_MINUTE": "lots"}, "API_RATE_LIMIT_PER_MINUTE must be an integer"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE: cannot read"),
    ],
)
def test_malformed_variable_is_named(env: dict[str, str], message: str) -> None:
    result = _check("leadgen.settings.local", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_requires_secret_key_and_hosts() -> None:
    result = _check("leadgen.settings.production", SECRET_KEY="", ALLOWED_HOSTS="")
    assert "SECRET_KEY must be set" in result.stderr
    result = _check("leadgen.settings.production", SECRET_KEY="x" * 50, ALLOWED_HOSTS="")
    assert "ALLOWED_HOSTS must be set" in result.stderr
    ok = _check(
        "leadgen.settings.production",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="crm.example.com",
        FIELD_ENCRYPTION_KEYS="k",
    )
    assert ok.returncode == 0, ok.stderr


def test_production_headers() -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, "
        "'default-src' in s.CONTENT_SECURITY_POLICY)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadgen.settings.production",
        "SECRET_KEY": "y" * 50,
        "ALLOWED_HOSTS": "crm.example.com",
        "FIELD_ENCRYPTION_KEYS": "k",
    }
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["True", "True", "True", "True"], result.stderr
