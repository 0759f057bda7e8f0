"""manage.py backup_self [--dir DIR]: back opsgov's own database up (backups.self_backup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backups.self_backup import SelfBackupError, backup_self


class Command(BaseCommand):
    help = "Write a consistent backup of opsgov's database with a SHA-256 manifest to OPSGOV_BACKUP_DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, help="Where to write (default: OPSGOV_BACKUP_DIR).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = backup_self(directory=options["dir"])
        except SelfBackupError as error:
            raise CommandError(f"backup_self failed: {error}") from error
        tables = result.manifest["tables"]
        self.stdout.write(
            f"{result.path} ({result.manifest['size_bytes']} bytes, sha256 {result.manifest['sha256']}, "
            f"{len(tables)} tables, {sum(tables.values())} rows)"
        )
