"""`manage.py import_scan FILE --asset NAME`: import one scanner report (all or nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov.models import Service
from security import services
from security.models import AssetKind, ScanFormat
from security.parsers import FormatError, UnknownFormat, load_json


class Command(BaseCommand):
    help = (
        "Import a scanner report (Trivy, Grype, pip-audit, osv-scanner, CycloneDX BOM/VEX, Dependabot alert) for "
        "an asset; the format is detected unless --format names it. Re-importing the same report changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The report (JSON); '-' reads standard input.")
        parser.add_argument("--asset", default="", help="Asset name (default: the artifact name the report carries).")
        parser.add_argument("--format", choices=ScanFormat.values, default=None)
        parser.add_argument(
            "--create-asset", action="store_true", help="Create the asset when no asset or mapping rule has it."
        )
        parser.add_argument("--service", default=None, help="Slug of the service a created asset belongs to.")
        parser.add_argument("--kind", choices=AssetKind.values, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            content = Path("/dev/stdin" if path == "-" else path).read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        service = None
        if options["service"]:
            service = Service.objects.filter(slug=options["service"]).first()
            if service is None:
                raise CommandError(f"--service: no service {options['service']!r}.")
        try:
            result = services.import_scan(
                report=load_json(content),
                asset_name=options["asset"],
                format=options["format"],
                create_asset=options["create_asset"],
                service=service,
                kind=options["kind"],
            )
        except FormatError as exc:
            raise CommandError(f"{path}: {exc}") from None
        except UnknownFormat as exc:
            raise CommandError(f"{path}: {exc}") from None
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise CommandError(f"{path}: {messages}") from None
        scan = result.scan
        if not result.created:
            self.stdout.write(f"Unchanged: this report was imported already as scan #{scan.pk} of {scan.asset}.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {scan.get_format_display()} scan #{scan.pk} of {scan.asset}: "
                f"{scan.findings_seen} finding(s) listed, {scan.created} new, {scan.reopened} reopened, "
                f"{scan.fixed} fixed, {scan.components} component(s)."
            )
        )
