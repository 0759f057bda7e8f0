"""`manage.py create_api_token USERNAME` creates an API token and prints it once (it is stored hashed).

It expires after the policy's `api_tokens.default_ttl_days` unless `--expires-in-days` asks for a
shorter (at most `api_tokens.max_ttl_days`) life; the expiry is printed with it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov.errors import DomainError
from opsgov.policy import get_policy
from opsgov.tokens.services import api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it once. Send it as 'Authorization: Bearer <token>'."

    def add_arguments(self, parser: CommandParser) -> None:
        policy = get_policy().api_tokens
        parser.add_argument("username")
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=None,
            help=f"Days until the token expires (default: the policy's {policy.default_ttl_days}; "
            f"at most {policy.max_ttl_days}).",
        )

    def handle(self, *args: Any, username: str, expires_in_days: int | None, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(username=username)
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        try:
            created = api_token_create(user=user, expires_in_days=expires_in_days)
        except DomainError as exc:
            raise CommandError(f"--expires-in-days: {exc.message}") from None
        self.stderr.write(
            f"Token for {username} (prefix {created.instance.token_key}, expires {created.expiry.isoformat()}). "
            "It is shown once and stored hashed:"
        )
        self.stdout.write(created.token)
