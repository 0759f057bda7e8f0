"""`manage.py compute_metrics`: compute every registered operational metric now (what the beat task does)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov import services
from opsgov.registry import metrics


class Command(BaseCommand):
    help = "Compute operational metrics (MTTA, MTTR, MTBF, ...) over 7/30/90-day windows into snapshots."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("metric", nargs="*", help="Metric keys to compute (default: all registered).")

    def handle(self, *args: Any, metric: list[str], **options: Any) -> None:
        known = [definition.key for definition in metrics.all()]
        unknown = sorted(set(metric) - set(known))
        if unknown:
            raise CommandError(f"Unknown metric(s): {', '.join(unknown)}. Registered: {', '.join(known) or 'none'}.")
        started = time.monotonic()

        def report(key: str, rows: int, seconds: float) -> None:
            self.stdout.write(f"{key}: {rows} snapshots in {seconds:.2f} s")

        stored = services.compute_metrics(keys=metric or None, progress=report)
        self.stdout.write(self.style.SUCCESS(f"Done: {len(stored)} snapshots in {time.monotonic() - started:.2f} s."))
