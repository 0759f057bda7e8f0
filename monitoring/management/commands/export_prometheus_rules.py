"""manage.py export_prometheus_rules [--output FILE]: Prometheus rules for the SLOs pulled from Prometheus."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov.policy import get_policy

from ...slos.prometheus_rules import RuleExportError, build_rules, exported_slos, render


class Command(BaseCommand):
    help = (
        "Write Prometheus recording rules (error ratio over 5m ... 3d) and multi-window, multi-burn-rate "
        "alerting rules (from the policy) for every enabled SLO with source 'prometheus'. "
        "Check the file with `promtool check rules FILE`; see monitoring/slos/prometheus_rules.py."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="file to write (replaced whole); standard output when omitted")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rules = build_rules(exported_slos(), get_policy())
        except RuleExportError as exc:
            raise CommandError("No rules written; fix these SLOs first:\n" + "\n".join(exc.errors)) from exc
        text = render(rules)
        groups = rules["groups"]
        summary = f"{len(groups)} SLO(s), {sum(len(group['rules']) for group in groups)} rules"
        output = options["output"]
        if not output:
            self.stdout.write(text, ending="")
            return
        target = Path(output)
        # Written beside the target and renamed over it: a reader never sees half a file.
        temporary = None
        try:
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, target)
        except OSError as exc:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            raise CommandError(f"{output}: cannot write the rules: {exc.strerror or exc}") from exc
        self.stderr.write(f"Wrote {summary} to {output}")
