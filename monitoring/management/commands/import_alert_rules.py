"""`manage.py import_alert_rules FILE [FILE...] [--replace] [--dry-run]`: load Prometheus rule files into the catalog.

All or nothing: every file is checked first and any problem (named with its
file, line, group and rule) rejects the whole call. A file imported again
updates its rules in place (matched on file name, group and alert name) and
removes the ones no longer in it; --replace also removes the files not given.
See monitoring.catalog.rule_files for what is read from labels and annotations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from monitoring.catalog import rule_files, services


class _DryRun(Exception):
    """Rolls the import back after reporting what it would do."""


class Command(BaseCommand):
    help = (
        "Import Prometheus alerting rule files into the alert-rule catalog (all or nothing). "
        "A file imported again updates its rules in place and removes the ones no longer in it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="Prometheus rule files (YAML).")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Make these files the whole catalog: remove the files (and their rules) not given.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would change, then roll back.")

    def handle(self, *args: Any, files: list[str], replace: bool, dry_run: bool, **options: Any) -> None:
        contents: list[tuple[str, str | bytes]] = []
        for name in files:
            path = Path(name)
            try:
                size = path.stat().st_size
                if size > rule_files.MAX_FILE_BYTES:
                    raise CommandError(
                        f"{name}: larger than {rule_files.MAX_FILE_BYTES // 1024} KiB; nothing imported."
                    )
                contents.append((path.name, path.read_bytes()))
            except OSError as exc:
                raise CommandError(f"{name}: cannot read the file ({exc.strerror}); nothing imported.") from None
        try:
            with transaction.atomic():
                result = services.import_rule_files(files=contents, replace=replace)
                for file_result in result.files:
                    self.stdout.write(file_result.summary())
                    for label, names in (
                        ("added", file_result.added),
                        ("updated", file_result.updated),
                        ("removed", file_result.removed),
                    ):
                        for rule_name in names:
                            self.stdout.write(f"  {label}: {rule_name}")
                for removed in result.removed_files:
                    self.stdout.write(f"{removed.name}: removed with its {len(removed.removed)} rules (--replace)")
                total = f"{result.added} added, {result.updated} updated, {result.removed} removed"
                if dry_run:
                    self.stdout.write(f"Dry run: {total}; nothing was written.")
                    raise _DryRun()
                self.stdout.write(self.style.SUCCESS(f"Imported: {total}."))
        except _DryRun:
            return
        except rule_files.RuleImportError as exc:
            lines = "\n".join(f"  {error}" for error in exc.errors)
            raise CommandError(f"{exc.message}\n{lines}") from None
