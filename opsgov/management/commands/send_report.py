"""`manage.py send_report weekly|monthly [--dry-run] [--period YYYY-MM-DD]`.

Without --period: the last complete period (the week before this one, or the
month before this one, in the policy's time zone); with it, the week or month
containing that day. --dry-run prints the report's plain-text part and its
recipients and sends nothing; otherwise it sends to every recipient who has not
had this period's report (once per period and recipient, as the beat task does).
Either way, for the last week (or the current one) a gate never evaluated is
evaluated first and its evaluation stored, as the dashboard's first visit does,
so the report says what the gate says rather than "no evidence".
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from opsgov.models import ReportKind
from opsgov.reports import services as reports


class Command(BaseCommand):
    help = "Send (or with --dry-run print) the weekly operations or monthly governance report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=ReportKind.values, help="weekly or monthly")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the report (text part); send nothing (gates never evaluated are still evaluated).",
        )
        parser.add_argument(
            "--period",
            metavar="YYYY-MM-DD",
            help="A day in the period to report on (default: the last complete week or month).",
        )

    def handle(self, *args: Any, kind: str, dry_run: bool, period: str | None, **options: Any) -> None:
        now = timezone.now()
        try:
            span = reports.parse_period(kind, period, now=now)
        except ValueError as exc:
            raise CommandError(f"--{exc}") from None
        if span.start > now:
            raise CommandError(f"--period: {span.label} has not started yet.")
        if dry_run:
            report = reports.build_report(kind=kind, period=span, now=now)
            rendered = reports.render_report(report)
            addresses = [user.email for user in reports.recipients(kind)]
            self.stdout.write(f"Subject: {rendered.subject}")
            self.stdout.write(f"To: {', '.join(addresses) if addresses else '(nobody is subscribed)'}")
            self.stdout.write("")
            self.stdout.write(rendered.text)
            return
        result = reports.send_report(kind=kind, period=span, now=now)
        self.stdout.write(
            f"{ReportKind(kind).label} for {span.label}: sent {len(result.sent)}, "
            f"already sent {len(result.already_sent)}, being sent elsewhere {len(result.busy)}, "
            f"failed {len(result.failed)}, given up {len(result.given_up)}."
        )
        for address, error in result.failed:
            self.stderr.write(f"  {address}: {error}")
        if result.failed:
            raise CommandError(f"{len(result.failed)} delivery(ies) failed; run the command again to retry them.")
