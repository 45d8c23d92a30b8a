"""Encryption of secrets at rest (webhook secrets, page tokens, SMTP passwords, provider keys).

Fernet (AES-128-CBC + HMAC-SHA256) with the keys in settings.FIELD_ENCRYPTION_KEYS: the first key encrypts, every
key decrypts, so a key is rotated by putting the new one first. Production refuses to start without keys; local
runs and tests without keys derive one from SECRET_KEY so a fresh checkout works.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# Stored values start with this marker so a column can tell ciphertext from a legacy plain value.
PREFIX = "fernet:"


class DecryptionError(RuntimeError):
    """A stored secret cannot be decrypted with any configured key."""


def _key(raw: str, *, name: str) -> Fernet:
    try:
        return Fernet(raw.encode())
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            f"{name}: each key must be a Fernet key (32 url-safe base64 bytes, "
            "e.g. from `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
        ) from None


@functools.cache
def _fernet_for(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if keys:
        return MultiFernet([_key(k, name="FIELD_ENCRYPTION_KEYS") for k in keys])
    derived = base64.urlsafe_b64encode(hashlib.sha256(f"leadgen.crypto:{secret_key}".encode()).digest())
    return MultiFernet([Fernet(derived)])


def _fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(value: str) -> str:
    """Ciphertext for a secret; the empty string stays empty so "not set" needs no key."""
    if not value:
        return ""
    return PREFIX + _fernet().encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        return stored  # written before encryption was introduced; re-encrypted on next save
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "a stored secret cannot be decrypted: was a key removed from FIELD_ENCRYPTION_KEYS?"
        ) from None


class EncryptedTextField(models.TextField):
    """A TextField whose value is a plain str in Python and Fernet ciphertext in the database.

    Encryption is randomised, so the column cannot be filtered on; look rows up by another column.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return decrypt(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if isinstance(value, str) else value
