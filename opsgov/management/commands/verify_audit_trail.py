"""`manage.py verify_audit_trail`: walk the audit trail's hash chain and report the first broken link."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov.audit import verify_chain


class Command(BaseCommand):
    help = (
        "Check that no audit row has been edited, deleted or left unsealed since it was written: recomputes "
        "every seal's hash in sequence. Exit status 0 when intact, 1 with the first broken link otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000, help="Seals read per query (default 1000).")

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size: must be 1 or more")
        started = time.monotonic()

        def progress(checked: int) -> None:
            if options["verbosity"] >= 1:
                self.stdout.write(f"checked {checked} entries…")

        report = verify_chain(batch_size=batch_size, progress=progress)
        if report.broken is not None:
            raise CommandError(
                f"Audit trail BROKEN after {report.checked} intact entries (last good seal {report.last_sequence}): "
                f"{report.broken}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit trail intact: {report.checked} entries, chain of {report.last_sequence} seals, "
                f"checked in {time.monotonic() - started:.2f} s."
            )
        )
