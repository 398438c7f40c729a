"""Encryption at rest for Spectora credentials (MultiFernet, keys from settings).

``ATTIK_ENCRYPTION_KEY`` is a comma-separated list of Fernet keys: the first
encrypts, every one decrypts, so a key can be rotated (put the new one first, run
``manage.py rotate_encryption_key``, then drop the old one). Only demo mode may
leave it unset and derive a key from ``SECRET_KEY``. A stored secret that no key
decrypts raises ``SecretUnreadable``, worded for the person who must fix it.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys decrypts."""

    def __init__(self, what: str = "secret"):
        self.what = what
        self.message = (
            f"The stored {what} cannot be decrypted with ATTIK_ENCRYPTION_KEY; "
            "an admin must enter it again."
        )
        super().__init__(self.message)


def key_list(key_material: str) -> list[str]:
    return [part.strip() for part in key_material.split(",") if part.strip()]


@lru_cache(maxsize=8)
def _multi_fernet(key_material: str, secret_key: str, demo_mode: bool) -> MultiFernet:
    keys = key_list(key_material)
    if not keys:
        if not demo_mode:
            raise ImproperlyConfigured(
                "ATTIK_ENCRYPTION_KEY is not set; outside demo mode secrets are never "
                "encrypted with a key derived from SECRET_KEY."
            )
        derived = hashlib.sha256(("attik-secrets:" + secret_key).encode()).digest()
        return MultiFernet([Fernet(base64.urlsafe_b64encode(derived))])
    fernets = []
    for number, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            raise ImproperlyConfigured(
                f"ATTIK_ENCRYPTION_KEY: key {number} of {len(keys)} is not a Fernet key "
                "(32 bytes, url-safe base64)."
            ) from None
    return MultiFernet(fernets)


def fernet() -> MultiFernet:
    return _multi_fernet(settings.ATTIK_ENCRYPTION_KEY, settings.SECRET_KEY,
                         bool(settings.ATTIK_DEMO_MODE))


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str, *, what: str = "secret") -> str:
    """The stored secret; "" only when nothing is stored. Raises ``SecretUnreadable``."""
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(what) from None


def rotate(token: str, *, what: str = "secret") -> str:
    """The same secret encrypted with the first key. Raises ``SecretUnreadable``."""
    if not token:
        return ""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(what) from None
