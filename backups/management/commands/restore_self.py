"""manage.py restore_self --verify FILE: restore a backup_self backup into a scratch database and verify it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backups.self_backup import SelfBackupError, restore_verify


class Command(BaseCommand):
    help = "Restore FILE into a scratch database, compare its row counts with the manifest, record a restore test."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--verify", type=Path, required=True, metavar="FILE", help="A backup_self backup.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["verify"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            result = restore_verify(path)
        except SelfBackupError as error:
            raise CommandError(f"restore_self failed: {error}") from error
        test = result.restore_test
        if not result.ok:
            details = ", ".join(
                f"{table}: {want} in the manifest, {got} restored" for table, (want, got) in result.mismatches.items()
            )
            raise CommandError(f"verification failed: {details}")
        self.stdout.write(
            f"verified: {result.tables} tables match the manifest; RTO {test.rto_seconds:.1f} s; "
            f"restore test #{test.pk} recorded"
        )
