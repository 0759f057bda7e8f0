"""`manage.py apply_retention`: remove evidence older than the policy's retention periods (dry run by default)."""

from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov import retention


class Command(BaseCommand):
    help = (
        "Remove what the policy's `retention` section allows (processed raw events, old metric snapshots). "
        "Without --apply only counts. With --apply deletes in batches and writes an audit row (counts, cut-offs, "
        "who). Audit rows are never removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--apply", action="store_true", help="Delete (default: dry run, only count).")
        parser.add_argument("--actor", help="opsgov username the audit row names (the OS user is recorded too).")
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows deleted per transaction (default 1000).")

    def handle(self, *args: Any, apply: bool, actor: str | None, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size: must be 1 or more")
        actor_user = None
        if actor:
            actor_user = get_user_model()._default_manager.filter(username=actor).first()
            if actor_user is None:
                raise CommandError(f"--actor: no user {actor!r}")
        for rule in retention.retention_rules():
            self.stdout.write(f"{rule.label}: {rule.description}; cut-off {rule.cutoff.isoformat()}")

        def progress(label: str, done: int, total: int) -> None:
            self.stdout.write(f"{label}: deleted {done} of {total}")

        result = retention.apply_retention(apply=apply, actor=actor_user, batch_size=batch_size, progress=progress)
        summary = ", ".join(f"{label} {count}" for label, count in result.counts.items())
        if apply:
            self.stdout.write(
                self.style.SUCCESS(f"Removed: {summary}. Audited (OS user {getpass.getuser()}, actor {actor or '-'}).")
            )
        else:
            self.stdout.write(f"Dry run, nothing deleted. Would remove: {summary}. Run with --apply to delete.")
