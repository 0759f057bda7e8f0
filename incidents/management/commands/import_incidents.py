"""`manage.py import_incidents FILE [--dry-run]`: bring incident history over from another tool.

Every row is validated first; if any row is wrong, the errors are listed with
their line (CSV, as a spreadsheet numbers rows) or index (JSON) and field, and
nothing is imported. Rows are then created through the lifecycle services with
their historical instants, so each incident gets a complete timeline and the
metrics count it exactly like one recorded live. The whole import is one
transaction; a dry run performs it and rolls it back.

Audit: history import is the only way (with the incidents API's import role)
to give incidents past instants, so every audit-trail entry it writes (the
Incident's creation and each transition, django-auditlog) carries the
importing user as actor (`--user`, else none) and `additional_data`
{"import": {"command": "import_incidents", "file", "row", "run"}}, with the
run's id also as the entries' correlation id (`cid`): a compliance officer can
find every incident a run brought in, and who ran it.
"""

from __future__ import annotations

import argparse
import csv
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from auditlog.context import set_extra_data
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter
from django.db import transaction
from django.utils import timezone
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from incidents import services
from incidents.models import Incident
from opsgov.errors import DomainError
from opsgov.models import Service
from opsgov.policy import get_policy

REQUIRED_COLUMNS = ("title", "service", "severity", "triggered_at")
OPTIONAL_COLUMNS = (
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
    "cancelled_at",
    "summary",
    "customer_impact",
    "commander",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

COLUMN_HELP = """\
Columns (CSV header row, or keys of each object in a JSON array):
  title            required; up to 255 characters
  service          required; slug of an existing service (e.g. checkout)
  severity         required; a severity of the policy (SEV-1 ... SEV-4 by default)
  triggered_at     required; ISO 8601 with offset, e.g. 2026-03-04T09:15:00+01:00 or ...Z
  acknowledged_at  optional; ISO 8601 with offset, not before triggered_at
  mitigated_at     optional; not before triggered_at / acknowledged_at
  resolved_at      optional; not before the earlier instants
  cancelled_at     optional; a false alarm (excluded from metrics); not with resolved_at
  summary          optional; free text
  customer_impact  optional; true/false (also yes/no, 1/0); default false
  commander        optional; username of an existing user

An incident with neither resolved_at nor cancelled_at stays open. No instant may
be in the future. A row with the same service, title and triggered_at as an
existing incident (or another row) is refused, so importing a file twice fails
instead of duplicating history. If any row is wrong, nothing is imported.
"""

# Clock skew tolerated for "not in the future" (the lifecycle services allow the same).
FUTURE_TOLERANCE = services.FUTURE_TOLERANCE


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keep the column table of the help text as written."""


# --- Row model ------------------------------------------------------------------------------


def _context(info: ValidationInfo) -> dict[str, Any]:
    return info.context or {}


class IncidentRow(BaseModel):
    """One incident to import, as read from a CSV row or a JSON object."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=255)
    service: str = Field(min_length=1)
    severity: str = Field(min_length=1)
    triggered_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    mitigated_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    cancelled_at: AwareDatetime | None = None
    summary: str = ""
    customer_impact: bool = False
    commander: str | None = None

    @field_validator(
        "acknowledged_at", "mitigated_at", "resolved_at", "cancelled_at", "commander", "summary", mode="before"
    )
    @classmethod
    def _blank_is_absent(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return "" if info.field_name == "summary" else None
        return value

    @field_validator("customer_impact", mode="before")
    @classmethod
    def _blank_is_false(cls, value: Any) -> Any:
        return False if value is None or (isinstance(value, str) and not value.strip()) else value

    @field_validator("service")
    @classmethod
    def _known_service(cls, value: str, info: ValidationInfo) -> str:
        known = _context(info).get("services")
        if known is not None and value not in known:
            raise ValueError(f"no service with slug {value!r}")
        return value

    @field_validator("severity")
    @classmethod
    def _policy_severity(cls, value: str) -> str:
        defined = get_policy().incidents.severities
        if value not in defined:
            raise ValueError(f"unknown severity {value!r}; the policy defines {', '.join(defined)}")
        return value

    @field_validator("commander")
    @classmethod
    def _known_user(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = _context(info).get("users")
        if value is not None and known is not None and value not in known:
            raise ValueError(f"no active user {value!r}")
        return value

    @field_validator("triggered_at", "acknowledged_at", "mitigated_at", "resolved_at", "cancelled_at")
    @classmethod
    def _in_order(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        """Not in the future, and not before an earlier step (fields validate in column order)."""
        if value is None:
            return None
        now = _context(info).get("now") or timezone.now()
        if value > now + FUTURE_TOLERANCE:
            raise ValueError(f"{value.isoformat()} is in the future")
        earlier = ("triggered_at", "acknowledged_at", "mitigated_at")
        for name in earlier[: earlier.index(info.field_name)] if info.field_name in earlier else earlier:
            before = info.data.get(name)
            if before is not None and value < before:
                raise ValueError(f"{value.isoformat()} is before {name} ({before.isoformat()})")
        if info.field_name == "cancelled_at" and info.data.get("resolved_at") is not None:
            raise ValueError("an incident is either resolved or cancelled, not both")
        return value

    @property
    def key(self) -> tuple[str, str, datetime]:
        """What makes two rows the same incident: service, title and trigger instant."""
        return (self.service, self.title, self.triggered_at)


# --- Reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    where: str  # "line 3" (CSV) or "item [2]" (JSON)
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}" if self.field else f"{self.where}: {self.message}"


@dataclass(frozen=True)
class RawRow:
    where: str
    data: dict[str, Any]


class FileProblem(Exception):
    """The file as a whole cannot be read (format, header): nothing row by row to report."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def read_csv(path: Path) -> list[RawRow]:
    """Rows keyed by the header; `where` is the spreadsheet row (the header is line 1)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        records = list(csv.reader(handle))
    if not records:
        raise FileProblem([RowError("line 1", "", "the file is empty; expected a header row")])
    header = [name.strip() for name in records[0]]
    problems = []
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        problems.append(
            RowError("line 1", "", f"unknown column(s) {', '.join(map(repr, unknown))}; expected {', '.join(COLUMNS)}")
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        problems.append(RowError("line 1", "", f"missing required column(s) {', '.join(missing)}"))
    duplicated = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicated:
        problems.append(RowError("line 1", "", f"column(s) named twice: {', '.join(duplicated)}"))
    if problems:
        raise FileProblem(problems)
    rows = []
    for index, record in enumerate(records[1:], start=2):
        if not any(value.strip() for value in record):
            continue  # blank line, or a spreadsheet's empty trailing row
        if len(record) > len(header):
            rows.append(RawRow(f"line {index}", {"__extra__": record[len(header) :]}))
            continue
        rows.append(RawRow(f"line {index}", dict(zip(header, record, strict=False))))
    return rows


def read_json(path: Path) -> list[RawRow]:
    """Rows of a JSON array of objects; `where` is the array index."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise FileProblem([RowError(f"line {exc.lineno}", "", f"not valid JSON: {exc.msg}")]) from exc
    if not isinstance(document, list):
        raise FileProblem([RowError("document", "", "expected a JSON array of incident objects")])
    return [
        RawRow(f"item [{index}]", item if isinstance(item, dict) else {"__not_object__": item})
        for index, item in enumerate(document)
    ]


def read_file(path: Path) -> list[RawRow]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".json":
        return read_json(path)
    raise CommandError(f"{path.name}: unknown format {suffix or '(none)'!r}; use a .csv or .json file.")


# --- Validation -----------------------------------------------------------------------------


def validate_rows(rows: list[RawRow], *, now: datetime) -> tuple[list[tuple[str, IncidentRow]], list[RowError]]:
    """Validate every row (nothing written); duplicates of each other or of stored incidents are errors."""
    User = get_user_model()
    context = {
        "services": set(Service.objects.values_list("slug", flat=True)),
        "users": set(User.objects.filter(is_active=True).values_list(User.USERNAME_FIELD, flat=True)),
        "now": now,
    }
    valid: list[tuple[str, IncidentRow]] = []
    errors: list[RowError] = []
    for raw in rows:
        if "__extra__" in raw.data:
            errors.append(RowError(raw.where, "", "more values than columns in the header"))
            continue
        if "__not_object__" in raw.data:
            errors.append(RowError(raw.where, "", "expected an object with the incident's fields"))
            continue
        try:
            valid.append((raw.where, IncidentRow.model_validate(raw.data, context=context)))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "extra_forbidden":
                    message = f"unknown field; expected {', '.join(COLUMNS)}"
                errors.append(RowError(raw.where, field, message))
    errors.extend(_duplicates(valid))
    return valid, errors


def _duplicates(rows: list[tuple[str, IncidentRow]]) -> list[RowError]:
    errors = []
    seen: dict[tuple[str, str, datetime], str] = {}
    for where, row in rows:
        if row.key in seen:
            errors.append(RowError(where, "triggered_at", f"the same incident as {seen[row.key]}"))
        else:
            seen[row.key] = where
    instants = sorted({row.triggered_at for _, row in rows})
    stored: dict[tuple[str, str, datetime], int] = {}
    for start in range(0, len(instants), 500):  # SQLite limits the parameters of one query
        for service, title, triggered_at, pk in Incident.objects.filter(
            triggered_at__in=instants[start : start + 500]
        ).values_list("service__slug", "title", "triggered_at", "pk"):
            stored[(service, title, triggered_at)] = pk
    for where, row in rows:
        if row.key in stored:
            errors.append(
                RowError(where, "triggered_at", f"already imported as INC-{stored[row.key]} (same service and title)")
            )
    return errors


# --- Import ---------------------------------------------------------------------------------


def import_row(
    row: IncidentRow, *, services_by_slug: dict[str, Service], users: dict[str, Any], source: str
) -> Incident:
    """Create one incident through the lifecycle, step by step at its historical instants."""
    incident = services.incident_create(
        title=row.title,
        service=services_by_slug[row.service],
        severity=row.severity,
        summary=row.summary,
        triggered_at=row.triggered_at,
        customer_impact=row.customer_impact,
        commander=users.get(row.commander) if row.commander else None,
    )
    if row.acknowledged_at:
        incident = services.incident_acknowledge(incident=incident, at=row.acknowledged_at)
    if row.mitigated_at:
        incident = services.incident_mitigate(incident=incident, at=row.mitigated_at)
    if row.resolved_at:
        # History from another tool: its reviews happened there, none is due here.
        incident = services.incident_resolve(incident=incident, at=row.resolved_at, review=False)
    if row.cancelled_at:
        incident = services.incident_cancel(
            incident=incident, at=row.cancelled_at, reason="marked a false alarm in the previous tool"
        )
    services.incident_add_note(incident=incident, message=f"Imported from {source}.")
    return incident


class Command(BaseCommand):
    help = (
        "Import incident history from a CSV or JSON file (chosen by the extension).\n"
        "Every row is validated first; if any is wrong, the errors are listed with\n"
        "their line and field, and nothing is imported.\n\n" + COLUMN_HELP
    )
    progress_default: ClassVar[int] = 100

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="A .csv file with a header row, or a .json array of objects.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and run the whole import, then roll it back."
        )
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="The active user the audit trail records as having imported the history (default: none).",
        )
        parser.add_argument(
            "--progress-every",
            type=int,
            default=self.progress_default,
            metavar="N",
            help=f"Report progress every N rows (default {self.progress_default}).",
        )

    def handle(
        self, *args: Any, file: Path, dry_run: bool, progress_every: int, user: str | None = None, **options: Any
    ) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        actor = self._actor(user)
        try:
            raw_rows = read_file(file)
        except FileProblem as problem:
            self._report(problem.errors)
            raise CommandError(f"{file.name} cannot be read; nothing was imported.") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file.name} is not UTF-8 text ({exc.reason}); nothing was imported.") from None

        rows, errors = validate_rows(raw_rows, now=timezone.now())
        if errors:
            self._report(errors)
            bad = len({error.where for error in errors})
            raise CommandError(
                f"{len(errors)} error{'s' if len(errors) != 1 else ''} in {bad} of {len(raw_rows)} "
                f"row{'s' if len(raw_rows) != 1 else ''}; nothing was imported."
            )
        if not rows:
            self.stdout.write(f"{file.name} has no incidents to import.")
            return
        self.stdout.write(f"{len(rows)} row{'s' if len(rows) != 1 else ''} valid; importing…")
        run = str(uuid.uuid4())
        statuses = self._import(
            rows, source=file.name, dry_run=dry_run, every=max(progress_every, 1), actor=actor, run=run
        )
        summary = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
        if dry_run:
            self.stdout.write(f"Dry run: {len(rows)} incidents would be imported ({summary}); nothing was written.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {len(rows)} incidents from {file.name} ({summary})."))
            self.stdout.write(f"Audit trail: run {run}" + (f" by {actor.get_username()}." if actor else "."))

    def _actor(self, username: str | None) -> Any:
        if username is None:
            return None
        User = get_user_model()
        found = User.objects.filter(is_active=True, **{User.USERNAME_FIELD: username}).first()
        if found is None:
            raise CommandError(f"--user {username!r}: no active user with that username; nothing was imported.")
        return found

    def _import(
        self,
        rows: list[tuple[str, IncidentRow]],
        *,
        source: str,
        dry_run: bool,
        every: int,
        actor: Any = None,
        run: str = "",
    ) -> Counter[str]:
        User = get_user_model()
        services_by_slug = {service.slug: service for service in Service.objects.all()}
        users = {user.get_username(): user for user in User.objects.filter(is_active=True)}
        statuses: Counter[str] = Counter()
        with transaction.atomic():
            for count, (where, row) in enumerate(rows, start=1):
                audit = {
                    "actor": actor,
                    "cid": run,
                    "additional_data": {
                        "import": {"command": "import_incidents", "file": source, "row": where, "run": run}
                    },
                }
                try:
                    with set_extra_data(context_data=audit):
                        incident = import_row(
                            row, services_by_slug=services_by_slug, users=users, source=f"{source} {where}"
                        )
                except DomainError as exc:  # validation mirrors the lifecycle's rules; this is a last resort
                    self._report([RowError(where, exc.field or "", exc.message)])
                    raise CommandError(f"{where} was refused by the lifecycle; nothing was imported.") from exc
                statuses["open" if incident.is_open else incident.status] += 1
                if count % every == 0 and count < len(rows):
                    self.stdout.write(f"  {count} of {len(rows)} imported…")
            if dry_run:
                transaction.set_rollback(True)
        return statuses

    def _report(self, errors: list[RowError]) -> None:
        for error in errors:
            self.stderr.write(str(error))
