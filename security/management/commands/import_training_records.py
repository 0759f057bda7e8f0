"""`manage.py import_training_records FILE`: completions exported by a learning system (CSV)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from security import training

from .import_access_accounts import _message, _read


class Command(BaseCommand):
    help = (
        "Import awareness-training completions (header course,user,completed_at: the course's slug, a username "
        "or e-mail, an ISO 8601 date or date-time). One bad line refuses the file; known rows are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV (UTF-8); '-' reads standard input.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = training.import_records(text=_read(options["file"]))
        except ValidationError as exc:
            raise CommandError(_message(options["file"], exc)) from None
        self.stdout.write(f"{result.created} completion(s) recorded, {result.skipped} already known.")
