"""`manage.py unlock_account USERNAME`: lift a login lockout (django-axes) and audit who did it."""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov.lockout import unlock_account


class Command(BaseCommand):
    help = "Unlock accounts locked after too many failed logins (the audit row names --actor, or the OS user)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="+", help="Usernames to unlock.")
        parser.add_argument(
            "--actor",
            help="opsgov username recorded as having unlocked (default: none; the OS user is recorded either way).",
        )

    def handle(self, *args: Any, usernames: list[str], actor: str | None, **options: Any) -> None:
        actor_user = None
        if actor:
            actor_user = get_user_model()._default_manager.filter(username=actor).first()
            if actor_user is None:
                raise CommandError(f"--actor: no user {actor!r}")
        via = f"manage.py unlock_account (OS user {getpass.getuser()})"
        for username in usernames:
            removed = unlock_account(username=username, actor=actor_user, via=via)
            self.stdout.write(f"{username}: unlocked ({removed} attempt record(s) removed)")
