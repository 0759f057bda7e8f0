"""Personal API tokens (knox AuthToken): created with an expiry from the policy, listed and revoked by their owner.

The "API tokens" page (opsgov.tokens.views) and `manage.py create_api_token`
both create tokens here. A token is stored hashed; its text exists only in the
answer to its creation and is shown once. Its expiry is the policy's
`api_tokens.default_ttl_days`, or a shorter (never a longer) one its creator
picks, up to `api_tokens.max_ttl_days`. knox refuses an expired token (and
deletes it when it is presented). Revoking deletes the token, as knox's own
logout does.

Who created or revoked which token is recorded by the audit trail (AuthToken is
registered with it where the audit trail is set up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken

from opsgov.errors import DomainError
from opsgov.policy import get_policy


@dataclass(frozen=True)
class CreatedToken:
    """A new token: its row and its text, which is shown once and never stored."""

    instance: AuthToken
    token: str

    @property
    def expiry(self) -> datetime:
        assert self.instance.expiry is not None
        return self.instance.expiry


def token_lifetime_days(expires_in_days: int | None) -> int:
    """The days a new token lives: the policy's default, or `expires_in_days` within 1..max; DomainError else."""
    policy = get_policy().api_tokens
    if expires_in_days is None:
        return policy.default_ttl_days
    if expires_in_days <= 0:
        raise DomainError("A token must expire after a positive number of days.", field="expires_in_days")
    if expires_in_days > policy.max_ttl_days:
        raise DomainError(
            f"A token may live at most {policy.max_ttl_days} days (policy api_tokens.max_ttl_days).",
            field="expires_in_days",
        )
    return expires_in_days


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser, expires_in_days: int | None = None) -> CreatedToken:
    """A new personal token of `user`, expiring per the policy (see token_lifetime_days)."""
    if not user.is_active:
        raise DomainError("An inactive user cannot have API tokens.")
    days = token_lifetime_days(expires_in_days)
    instance, token = AuthToken.objects.create(user=user, expiry=timedelta(days=days))
    return CreatedToken(instance=instance, token=token)


@transaction.atomic
def api_token_revoke(*, user: AbstractBaseUser, token_key: str) -> int:
    """Delete `user`'s token(s) with this prefix; how many were deleted (0: none of theirs)."""
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    return deleted


def api_tokens_of(user: AbstractBaseUser) -> QuerySet[AuthToken]:
    """`user`'s tokens, newest first (expired ones too, until knox removes them)."""
    return AuthToken.objects.filter(user=user).order_by("-created")


def is_expired(token: AuthToken, *, now: datetime | None = None) -> bool:
    return token.expiry is not None and token.expiry <= (now or timezone.now())
