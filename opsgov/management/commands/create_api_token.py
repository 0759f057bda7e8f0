"""`manage.py create_api_token USERNAME` creates an API token and prints it once (it is stored hashed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from knox.models import AuthToken


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it once. Send it as 'Authorization: Bearer <token>'."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--expires-in-days", type=int, default=None, help="Days until the token expires (default: never)."
        )

    def handle(self, *args: Any, username: str, expires_in_days: int | None, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(username=username)
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be a positive number of days.")
        expiry = timedelta(days=expires_in_days) if expires_in_days else None
        instance, token = AuthToken.objects.create(user=user, expiry=expiry)
        self.stderr.write(
            f"Token for {username} (prefix {instance.token_key}, "
            f"{'expires ' + instance.expiry.isoformat() if instance.expiry else 'no expiry'}). "
            "It is shown once and stored hashed:"
        )
        self.stdout.write(token)
