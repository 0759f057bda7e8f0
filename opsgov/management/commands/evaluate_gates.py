"""`manage.py evaluate_gates [--gate KEY ...]`: evaluate the quality gates now and print each one's status.

What the beat task does every 5 minutes, with waivers applied and status
changes notified to the gates' owners (opsgov.gates.services).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov.gates import services as gate_services
from opsgov.models import GateStatus
from opsgov.registry import gates


class Command(BaseCommand):
    help = "Evaluate the quality gates now (all, or those named with --gate) and print each one's status."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--gate",
            action="append",
            dest="keys",
            metavar="KEY",
            help="A gate key to evaluate (repeatable; default: every registered gate).",
        )

    def handle(self, *args: Any, keys: list[str] | None, **options: Any) -> None:
        known = [gate.key for gate in gates.all()]
        unknown = sorted(set(keys or []) - set(known))
        if unknown:
            raise CommandError(f"Unknown gate(s): {', '.join(unknown)}. Registered: {', '.join(known) or 'none'}.")
        evaluations = gate_services.evaluate_gates(keys=keys or None)
        width = max((len(evaluation.gate) for evaluation in evaluations), default=0)
        for evaluation in evaluations:
            status = GateStatus(evaluation.status)
            change = ""
            if evaluation.status_changed and evaluation.previous_status:
                change = f" (was {GateStatus(evaluation.previous_status).label})"
            reason = evaluation.reason.removeprefix(f"{status.label}: ")  # "No evidence: No evidence: ..."
            self.stdout.write(f"{evaluation.gate:<{width}}  {status.label}{change}: {reason}")
        self.stdout.write(self.style.SUCCESS(f"Evaluated {len(evaluations)} gate(s)."))
