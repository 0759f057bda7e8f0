"""`manage.py evaluate_slos`: one SLO evaluation cycle now (what the beat task does every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from monitoring.slos import engine


class Command(BaseCommand):
    help = (
        "Evaluate every enabled SLO: refresh the SLI rollups, then error budgets, burn rates and burn-rate "
        "alerts into SLOStatus (alerts open and resolve incidents). --rebuild recomputes every rollup first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="Rebuild the hour and day rollups from every SLI bucket (after a data fix that bypassed intake).",
        )

    def handle(self, *args: Any, rebuild: bool, **options: Any) -> None:
        result = engine.evaluate_slos(rebuild=rebuild, progress=self.stdout.write)
        for key in result.fired:
            self.stdout.write(self.style.WARNING(f"firing: {key}"))
        for key in result.cleared:
            self.stdout.write(f"cleared: {key}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {result.evaluated} SLO(s) evaluated in {result.seconds:.2f} s; "
                f"{len(result.fired)} alert(s) fired, {len(result.cleared)} cleared."
            )
        )
