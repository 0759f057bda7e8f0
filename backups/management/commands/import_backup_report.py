"""manage.py import_backup_report FILE --job ID [--format F] [--exit-status N]: store a backup tool's report.

FILE is a path or "-" (standard input). The format is detected unless named (backups.parsers.FORMATS).
A report that does not parse stops with an error naming the line or field path; nothing is stored.
Importing the same report twice changes nothing.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backups import parsers, services
from backups.models import BackupJob


class Command(BaseCommand):
    help = "Import a restic, pgBackRest, Barman or Velero report for a backup job."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help='The report file, or "-" for standard input.')
        parser.add_argument("--job", required=True, type=int, help="The backup job's id.")
        parser.add_argument("--format", choices=parsers.FORMATS, help="The report's format (default: detected).")
        parser.add_argument("--exit-status", type=int, choices=range(256), metavar="0-255", help="The tool's.")

    def handle(self, *args: Any, **options: Any) -> None:
        job = BackupJob.objects.filter(pk=options["job"]).first()
        if job is None:
            raise CommandError(f"No backup job with id {options['job']}.")
        path = options["file"]
        try:
            if path == "-":
                text = sys.stdin.read(parsers.MAX_REPORT_BYTES + 1)
            else:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read(parsers.MAX_REPORT_BYTES + 1)
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"{path}: {error}") from error
        if len(text) > parsers.MAX_REPORT_BYTES:
            raise CommandError(f"{path}: larger than {parsers.MAX_REPORT_BYTES} bytes")
        try:
            result = services.import_report(
                job=job, text=text, fmt=options["format"], exit_status=options["exit_status"]
            )
        except parsers.ReportError as error:
            raise CommandError(f"{path}: {error}") from error
        self.stdout.write(json.dumps(result.as_json(), sort_keys=True))
