"""`manage.py import_tickets FILE [--dry-run]`: bring ticket history over from another tool.

FILE is CSV (a header row) or JSON (a list of objects), by extension. Columns:

=====================  ========  =============================================================
column                 required  meaning
=====================  ========  =============================================================
subject                yes       the ticket's subject
requester_email        yes       the requester's address (a contact is created on first use)
priority               yes       a policy tier (P1..P4)
opened_at              yes       ISO 8601 with an offset, e.g. 2026-03-02T09:05:00+01:00
first_response_at      no        the first public agent reply
resolved_at            no        when it was resolved
closed_at              no        when it was closed
description, requester_name, organisation, category    no    text
service                no        a service slug
channel                no        email, web, api or phone (default email)
=====================  ========  =============================================================

Every row is validated first; any error is listed with its line (CSV, as a spreadsheet numbers rows) or
index (JSON) and field, and nothing is imported. The import is one transaction (a dry run rolls it back).
Clocks and breaches are computed from the instants as if recorded live; nothing is e-mailed.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opsgov.models import Service
from opsgov.policy import get_policy
from support import services
from support.models import Channel

REQUIRED = ("subject", "requester_email", "priority", "opened_at")


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    subject: str = Field(min_length=1, max_length=300)
    requester_email: str
    priority: str
    opened_at: AwareDatetime
    first_response_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    description: str = ""
    requester_name: str = Field(default="", max_length=200)
    organisation: str = Field(default="", max_length=200)
    category: str = Field(default="", max_length=100)
    service: str = ""
    channel: Channel = Channel.EMAIL

    @model_validator(mode="before")
    @classmethod
    def _blank_is_missing(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value not in ("", None)}
        return data

    @field_validator("requester_email")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            validate_email(value)
        except DjangoValidationError:
            raise ValueError(f"{value!r} is not an e-mail address") from None
        return value.lower()

    @field_validator("priority")
    @classmethod
    def _known_priority(cls, value: str) -> str:
        tiers = get_policy().support.tiers
        if value not in tiers:
            raise ValueError(f"unknown priority {value!r} (the policy defines {', '.join(tiers)})")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Row:
        for name in ("first_response_at", "resolved_at", "closed_at"):
            value: datetime | None = getattr(self, name)
            if value is not None and value < self.opened_at:
                raise ValueError(f"{name} is before opened_at")
        if self.closed_at is not None and self.resolved_at is None:
            raise ValueError("closed_at needs resolved_at")
        return self


def _read(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) pairs: "line N" for CSV, "item N" for JSON."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot read: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path}: not JSON: line {exc.lineno}: {exc.msg}") from exc
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise CommandError(f"{path}: a JSON import is a list of objects")
        return [(f"item {index}", item) for index, item in enumerate(data)]
    reader = csv.DictReader(text.splitlines())
    missing = [column for column in REQUIRED if column not in (reader.fieldnames or [])]
    if missing:
        raise CommandError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    return [(f"line {index}", dict(row)) for index, row in enumerate(reader, start=2)]


class Command(BaseCommand):
    help = "Import ticket history (CSV or JSON) with its first-response and resolution instants; all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Validate and import, then roll back.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        rows = _read(path)
        services_by_slug = {service.slug: service for service in Service.objects.all()}
        errors: list[str] = []
        valid: list[Row] = []
        for where, raw in rows:
            try:
                row = Row.model_validate(raw)
            except ValidationError as exc:
                for error in exc.errors():
                    field = ".".join(str(part) for part in error["loc"]) or "row"
                    errors.append(f"{where}: {field}: {error['msg']}")
                continue
            if row.service and row.service not in services_by_slug:
                errors.append(f"{where}: service: unknown service {row.service!r}")
                continue
            valid.append(row)
        if errors:
            raise CommandError("nothing imported:\n" + "\n".join(errors))
        try:
            with transaction.atomic():
                for row in valid:
                    services.import_ticket(
                        subject=row.subject,
                        description=row.description,
                        requester_email=str(row.requester_email),
                        requester_name=row.requester_name,
                        organisation=row.organisation,
                        priority=row.priority,
                        opened_at=row.opened_at,
                        service=services_by_slug.get(row.service),
                        category=row.category,
                        channel=row.channel,
                        first_response_at=row.first_response_at,
                        resolved_at=row.resolved_at,
                        closed_at=row.closed_at,
                    )
                if options["dry_run"]:
                    transaction.set_rollback(True)
        except DjangoValidationError as exc:
            raise CommandError(f"nothing imported: {'; '.join(exc.messages)}") from exc
        verb = "would import" if options["dry_run"] else "imported"
        self.stdout.write(f"{verb} {len(valid)} ticket(s) from {path}")
