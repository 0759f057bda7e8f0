"""manage.py fetch_support_mail: fetch the support mailbox once (what beat does every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from support import mail_in


class Command(BaseCommand):
    help = "Fetch the support mailbox (SUPPORT_IMAP_URL) once: new messages open tickets, replies thread."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", help="An IMAP URL instead of SUPPORT_IMAP_URL.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = mail_in.fetch_mailbox(url=options.get("url"))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"the mailbox could not be fetched: {exc}") from exc
        self.stdout.write(
            f"{result.handled} message(s) handled, {result.duplicates} already known, "
            f"{len(result.errors)} moved to the error folder"
        )
        for error in result.errors:
            self.stderr.write(f"  {error}")
