"""API tokens (django-rest-knox): stored hashed, each with an expiry, revocable.

``POST /api/v1/auth/token/`` issues one (``{"token", "expiry"}``); clients send
``Authorization: Token <token>``. The database keeps only a SHA-512 digest.
"""

from __future__ import annotations

from django.utils import timezone
from knox.models import AuthToken


def token_issue(user) -> tuple[AuthToken, str]:
    """A new token for ``user`` (the plain text is returned once, never stored)."""
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    return AuthToken.objects.create(user=user)


def token_revoke(token: AuthToken) -> None:
    token.delete()


def token_revoke_all(user) -> int:
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted
