"""`manage.py policy show` prints the effective policy as TOML; `policy check FILE` validates a file."""

from __future__ import annotations

from typing import Any

import tomli_w
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov.policy import PolicyError, get_policy, load_policy


class Command(BaseCommand):
    help = "Show the effective operations policy, or check a policy file."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("show", help="Print the effective policy (defaults plus OPSGOV_POLICY) as TOML.")
        check = sub.add_parser("check", help="Validate a policy TOML file; exits non-zero naming each bad field.")
        check.add_argument("file", help="Path of the TOML file to check.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "show":
            source = settings.OPSGOV_POLICY or "built-in defaults (OPSGOV_POLICY is not set)"
            self.stdout.write(f"# Effective opsgov policy; source: {source}\n")
            self.stdout.write(tomli_w.dumps(get_policy().model_dump(mode="json", exclude_none=True)))
            return
        try:
            load_policy(options["file"])
        except PolicyError as exc:
            for line in exc.errors:
                self.stderr.write(f"{exc.source}: {line}")
            raise CommandError(f"{exc.source}: {len(exc.errors)} error(s); the policy was not accepted.") from exc
        self.stdout.write(self.style.SUCCESS(f"{options['file']}: OK"))
