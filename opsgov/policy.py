"""The organisation's operations policy: the opinionated part of opsgov.

Every table of the seed document (severities, support SLAs, maintenance
cadence, backup strategy, targets) is a pydantic model here, with the seed's
values as defaults. A TOML file named by OPSGOV_POLICY overrides any part of
it; unknown keys are errors, so a typo never silently falls back to a default.
A bad file stops start-up with the field path and the reason
(`manage.py policy check FILE` shows the same messages without starting).

Durations are written as text, e.g. "15 minutes", "4 hours", "1 business day",
"3 months". Business units are measured on the business calendar by the SLA
clock (opsgov.sla); the others are wall-clock time.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from dateutil.relativedelta import relativedelta
from django.conf import settings
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)


class PolicyError(Exception):
    """A policy file that cannot be used; `errors` holds one "field.path: reason" line each."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"Invalid policy {source}:\n" + "\n".join(f"  {e}" for e in errors))


# --- Durations ------------------------------------------------------------------


class Unit(StrEnum):
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"
    YEARS = "years"
    BUSINESS_HOURS = "business hours"
    BUSINESS_DAYS = "business days"

    @property
    def is_business(self) -> bool:
        return self in (Unit.BUSINESS_HOURS, Unit.BUSINESS_DAYS)

    @property
    def is_calendar(self) -> bool:
        """Months and years have no fixed length; they are added on the calendar."""
        return self in (Unit.MONTHS, Unit.YEARS)


_SPAN_RE = re.compile(
    r"^\s*(?P<amount>[+-]?\d+)\s*(?P<business>business\s+)?(?P<unit>minute|hour|day|week|month|year)s?\s*$",
    re.IGNORECASE,
)
_FIXED: dict[Unit, timedelta] = {
    Unit.MINUTES: timedelta(minutes=1),
    Unit.HOURS: timedelta(hours=1),
    Unit.DAYS: timedelta(days=1),
    Unit.WEEKS: timedelta(weeks=1),
}


class Span(BaseModel):
    """A positive duration such as "15 minutes", "1 business day" or "3 months"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: int = Field(gt=0)
    unit: Unit

    @model_validator(mode="before")
    @classmethod
    def _parse_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _SPAN_RE.match(value)
            if not match:
                raise ValueError(
                    f"{value!r} is not a duration; write e.g. '15 minutes', '4 hours', "
                    "'1 business day', '2 weeks', '3 months'"
                )
            amount = int(match["amount"])
            if amount <= 0:
                raise ValueError(f"{value!r}: a duration must be positive")
            unit = match["unit"].lower() + "s"
            if match["business"]:
                if unit not in ("hours", "days"):
                    raise ValueError(f"{value!r}: only hours and days can be business time")
                unit = "business " + unit
            return {"amount": amount, "unit": unit}
        return value

    @model_serializer
    def _as_text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        unit = self.unit.value
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"

    @classmethod
    def parse(cls, text: str) -> Span:
        return cls.model_validate(text)

    def as_timedelta(self) -> timedelta:
        """The wall-clock length; only for minutes, hours, days and weeks."""
        if self.unit not in _FIXED:
            raise ValueError(f"{self} has no fixed wall-clock length")
        return self.amount * _FIXED[self.unit]

    def after(self, start: datetime) -> datetime:
        """`start` plus this span on the 24x7 calendar.

        Fixed units are real elapsed time (computed in UTC, so "1 day" is 24
        hours even across a DST change); months and years are calendar
        arithmetic that keeps the local wall-clock time. Business units need a
        business calendar: use opsgov.sla.due_at.
        """
        if self.unit == Unit.MONTHS:
            return start + relativedelta(months=self.amount)
        if self.unit == Unit.YEARS:
            return start + relativedelta(years=self.amount)
        zone = start.tzinfo
        if zone is None:
            raise ValueError("a naive datetime has no defined elapsed time; pass an aware one")
        return (start.astimezone(UTC) + self.as_timedelta()).astimezone(zone)

    def approximate(self, business_day_hours: float = 8) -> timedelta:
        """A length for comparisons and display only (a month is 30 days, a business day its hours)."""
        if self.unit == Unit.MONTHS:
            return timedelta(days=30 * self.amount)
        if self.unit == Unit.YEARS:
            return timedelta(days=365 * self.amount)
        if self.unit == Unit.BUSINESS_HOURS:
            return timedelta(hours=self.amount)
        if self.unit == Unit.BUSINESS_DAYS:
            return timedelta(hours=business_day_hours * self.amount)
        return self.as_timedelta()


def span(text: str) -> Span:
    return Span.parse(text)


Percent = Annotated[float, Field(ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Business calendar ------------------------------------------------------------

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class WorkingPeriod(_Strict):
    """One stretch of working time in a day, written "09:00-17:00"."""

    start: time
    end: time

    @model_validator(mode="before")
    @classmethod
    def _parse_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = value.split("-")
            if len(parts) != 2:
                raise ValueError(f"{value!r} is not a period; write e.g. '09:00-17:00'")
            return {"start": parts[0].strip(), "end": parts[1].strip()}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> WorkingPeriod:
        if self.start >= self.end:
            raise ValueError(f"a working period must start before it ends ({self})")
        return self

    @model_serializer
    def _as_text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


_NINE_TO_FIVE = [WorkingPeriod(start=time(9), end=time(17))]


class BusinessCalendarPolicy(_Strict):
    """Working hours, time zone and holidays, used by every "business" clock."""

    time_zone: str = "UTC"
    working_hours: dict[Weekday, list[WorkingPeriod]] = Field(
        default_factory=lambda: {day: list(_NINE_TO_FIVE) for day in WEEKDAYS[:5]}
    )
    business_day_hours: float = Field(default=8, gt=0, le=24)
    holiday_country: str | None = Field(default=None, description="ISO 3166 code for public holidays, e.g. 'US', 'DE'")
    holiday_subdivision: str | None = None
    extra_holidays: list[date] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')") from None
        return value

    @field_validator("working_hours")
    @classmethod
    def _some_working_time(cls, value: dict[str, list[WorkingPeriod]]) -> dict[str, list[WorkingPeriod]]:
        if not any(value.values()):
            raise ValueError("at least one weekday needs working hours")
        for day, periods in value.items():
            ordered = sorted(periods, key=lambda p: p.start)
            for before, after in itertools.pairwise(ordered):
                if after.start < before.end:
                    raise ValueError(f"{day}: periods {before} and {after} overlap")
        return value

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays.list_supported_countries():
            raise ValueError(f"unknown country code {value!r} (use an ISO 3166 code such as 'US' or 'DE')")
        return value

    @field_validator("holiday_subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        country = info.data.get("holiday_country")
        if country is None:
            raise ValueError("a subdivision needs holiday_country")
        if value not in holidays.list_supported_countries()[country]:
            raise ValueError(f"{value!r} is not a subdivision of {country}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


# --- Incidents ----------------------------------------------------------------------


class SeverityLevel(_Strict):
    description: str
    response_target: Span


def _default_severities() -> dict[str, SeverityLevel]:
    return {
        "SEV-1": SeverityLevel(description="Critical (system down, data loss)", response_target=span("15 minutes")),
        "SEV-2": SeverityLevel(description="High (major feature broken)", response_target=span("1 hour")),
        "SEV-3": SeverityLevel(description="Medium (partial degradation)", response_target=span("4 hours")),
        "SEV-4": SeverityLevel(description="Low (minor issues)", response_target=span("1 business day")),
    }


class IncidentPolicy(_Strict):
    """Severity levels with response targets; which count as failures (MTBF) and need a review."""

    severities: dict[Annotated[str, Field(pattern=r"^SEV-\d$")], SeverityLevel] = Field(
        default_factory=_default_severities
    )
    failure_severities: list[str] = Field(default_factory=lambda: ["SEV-1", "SEV-2"])
    review_severities: list[str] = Field(default_factory=lambda: ["SEV-1", "SEV-2"])
    review_due: Span = span("5 business days")
    min_response_attainment_percent: Percent = 90
    min_action_item_closing_rate: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Action items closed in a window / (open at its start + created in it), at least this",
    )
    max_overdue_action_items_percent: Percent = Field(
        default=10, description="Continuous improvement gate: at most this share of open action items overdue"
    )
    trust_sender_clock_within: Span | None = Field(
        default=None,
        description="Ingestion: a sender's timestamp (Alertmanager startsAt/endsAt, Events v2 payload.timestamp) "
        "at most this long before opsgov received the event may move the incident's trigger (and an "
        "Alertmanager resolve) earlier; unset (the default): the instants are always opsgov's own",
    )

    ingest_max_events_per_minute: int | None = Field(
        default=None,
        gt=0,
        description="Ingestion: events one integration may deliver per minute; past it the endpoints answer 503 "
        "with Retry-After (senders retry a 5xx, never a 429) until the minute ends; unset (the default): no cap",
    )

    @field_validator("severities")
    @classmethod
    def _some_severity(cls, value: dict[str, SeverityLevel]) -> dict[str, SeverityLevel]:
        if not value:
            raise ValueError("at least one severity is needed")
        return value

    @field_validator("trust_sender_clock_within")
    @classmethod
    def _wall_clock(cls, value: Span | None) -> Span | None:
        if value is not None and (value.unit.is_business or value.unit.is_calendar):
            raise ValueError("a fixed wall-clock length is needed (minutes, hours, days or weeks)")
        return value

    @field_validator("failure_severities", "review_severities")
    @classmethod
    def _known_severities(cls, value: list[str], info: ValidationInfo) -> list[str]:
        defined = info.data.get("severities") or {}
        for index, key in enumerate(value):
            if key not in defined:
                raise ValueError(f"item {index}: unknown severity {key!r} (defined: {', '.join(defined)})")
        return value

    def severity_keys(self) -> list[str]:
        return sorted(self.severities)

    def most_severe(self, candidates: Iterable[str], default: str) -> str:
        """The most severe of `candidates` that the policy defines (SEV-1 before SEV-2), else `default`."""
        order = self.severity_keys()
        known = [candidate for candidate in candidates if candidate in order]
        return min(known, key=order.index) if known else default


# --- Support ----------------------------------------------------------------------


class SupportTier(_Strict):
    description: str
    response: Span
    resolution: Span


def _default_tiers() -> dict[str, SupportTier]:
    return {
        "P1": SupportTier(
            description="Critical (system down)", response=span("15 minutes"), resolution=span("4 hours")
        ),
        "P2": SupportTier(
            description="High (major feature broken)", response=span("1 hour"), resolution=span("24 hours")
        ),
        "P3": SupportTier(
            description="Medium (workaround available)", response=span("4 hours"), resolution=span("1 week")
        ),
        "P4": SupportTier(
            description="Low (minor issues, questions)", response=span("1 business day"), resolution=span("2 weeks")
        ),
    }


class SupportPolicy(_Strict):
    """Support tiers with response and resolution targets."""

    tiers: dict[Annotated[str, Field(pattern=r"^P\d$")], SupportTier] = Field(default_factory=_default_tiers)
    pause_while_waiting_on_customer: bool = True
    business_hours_tiers: list[str] = Field(
        default_factory=lambda: ["P3", "P4"],
        description="Tiers whose clocks count only business hours (opsgov.sla's business calendar); the others "
        "run around the clock",
    )
    at_risk_share: float = Field(
        default=0.75, gt=0, lt=1, description="A clock is 'at risk' once this share of its target has elapsed"
    )
    auto_close_after: Span = Field(
        default=span("7 days"),
        description="A resolved ticket closes after this; a customer reply within it reopens the ticket",
    )
    min_first_response_attainment_percent: Percent = 90
    min_resolution_attainment_percent: Percent = 90
    csat_min_sample: int = Field(
        default=10, ge=1, description="Fewer CSAT answers in the window: the figure is 'too few answers' (at risk)"
    )
    csat_link_valid_for: Span = Field(default=span("30 days"), description="How long a rating link can be used")
    nps_min_interval: Span = Field(
        default=span("3 months"), description="A contact gets at most one NPS survey per this period"
    )
    article_review_every: Span = Field(
        default=span("6 months"), description="Knowledge-base articles are reviewed by their owner this often"
    )
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Larger attachments are refused")
    attachment_types: list[str] = Field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "application/pdf",
            "text/plain",
            "text/csv",
            "application/zip",
        ],
        description="Attachment content types that are kept; others are refused with a reason",
    )
    min_nps: float = Field(default=0, ge=-100, le=100, description="NPS over 90 days at or above this")
    max_backlog_age: Span = Field(
        default=span("1 week"), description="Median age of open tickets below this (backlog by age)"
    )
    mailbox_stale_after: Span = Field(
        default=span("15 minutes"), description="Gate: a configured mailbox not fetched for this long is failing"
    )

    @field_validator("tiers")
    @classmethod
    def _response_before_resolution(cls, value: dict[str, SupportTier]) -> dict[str, SupportTier]:
        if not value:
            raise ValueError("at least one tier is needed")
        for key, tier in value.items():
            if tier.response.approximate() > tier.resolution.approximate():
                raise ValueError(f"{key}: response target {tier.response} is longer than resolution {tier.resolution}")
        return value

    @field_validator("business_hours_tiers")
    @classmethod
    def _known_tiers(cls, value: list[str], info: ValidationInfo) -> list[str]:
        defined = info.data.get("tiers") or {}
        for index, key in enumerate(value):
            if key not in defined:
                raise ValueError(f"item {index}: unknown tier {key!r} (defined: {', '.join(defined)})")
        return value


# --- Maintenance ----------------------------------------------------------------


class MaintenanceActivity(_Strict):
    title: str
    every: Span | None = Field(default=None, description="Cadence; empty means 'as needed'")
    due_within: Span | None = Field(default=None, description="Deadline after the trigger (e.g. a critical advisory)")
    duration_min: Span | None = None
    duration_max: Span | None = None

    @model_validator(mode="after")
    def _sane(self) -> MaintenanceActivity:
        if self.every is None and self.due_within is None:
            raise ValueError("set 'every' (a cadence) or 'due_within' (a deadline), or both")
        if (
            self.duration_min
            and self.duration_max
            and self.duration_min.approximate() > self.duration_max.approximate()
        ):
            raise ValueError(f"duration_min {self.duration_min} is longer than duration_max {self.duration_max}")
        return self


def _default_activities() -> dict[str, MaintenanceActivity]:
    def act(
        title: str, every: str | None, lo: str | None, hi: str | None, due: str | None = None
    ) -> MaintenanceActivity:
        return MaintenanceActivity(
            title=title,
            every=span(every) if every else None,
            due_within=span(due) if due else None,
            duration_min=span(lo) if lo else None,
            duration_max=span(hi) if hi else None,
        )

    return {
        "security_patches": act("Security patches", None, None, None, due="48 hours"),
        "dependency_updates": act("Dependency updates", "1 month", "2 hours", "4 hours"),
        "os_patches": act("OS patches", "1 month", "2 hours", "4 hours"),
        "database_maintenance": act("Database maintenance", "1 week", "1 hour", "2 hours"),
        "infrastructure_updates": act("Infrastructure updates", "3 months", "4 hours", "8 hours"),
        "major_upgrades": act("Major upgrades", "1 year", None, None),
    }


PatchClass = Literal["security_critical", "os", "dependency", "database", "infrastructure", "major"]
PATCH_CLASSES: tuple[str, ...] = ("security_critical", "os", "dependency", "database", "infrastructure", "major")


def _default_patch_deadlines() -> dict[PatchClass, Span]:
    return {
        "security_critical": span("48 hours"),
        "os": span("31 days"),
        "dependency": span("31 days"),
        "database": span("7 days"),
        "infrastructure": span("92 days"),
        "major": span("365 days"),
    }


class MaintenancePolicy(_Strict):
    """Maintenance cadence per activity (the seed's maintenance schedule)."""

    activities: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], MaintenanceActivity] = Field(
        default_factory=_default_activities
    )
    patch_deadlines: dict[PatchClass, Span] = Field(
        default_factory=_default_patch_deadlines,
        description="Deadline of a patch obligation per class, from the later of its publication and its first "
        "detection (security_critical, os, dependency, database, infrastructure, major)",
    )
    change_incident_link_within: Span = Field(
        default=span("4 hours"),
        description="An incident triggered on a service this long after a change on it is linked to the change "
        "as a suspected cause",
    )
    emergency_approval_within: Span = Field(
        default=span("48 hours"),
        description="An emergency change may be implemented first and approved afterwards within this period",
    )
    pages_during_maintenance: list[str] = Field(
        default_factory=lambda: ["SEV-1"],
        description="Severities whose alerts still page while an approved maintenance window of the service is open",
    )
    maintenance_alerts_count_in_metrics: bool = Field(
        default=True, description="Alerts during an approved window still count in every metric"
    )
    eol_plan_within: Span = Field(
        default=span("180 days"),
        description="A component this close to its end of life needs an upgrade plan",
    )

    @field_validator("change_incident_link_within", "emergency_approval_within", "eol_plan_within")
    @classmethod
    def _fixed_length(cls, value: Span) -> Span:
        if value.unit.is_business or value.unit.is_calendar:
            raise ValueError("write this period in minutes, hours, days or weeks")
        return value

    @field_validator("patch_deadlines")
    @classmethod
    def _every_class(cls, value: dict[PatchClass, Span]) -> dict[PatchClass, Span]:
        missing = [key for key in PATCH_CLASSES if key not in value]
        if missing:
            raise ValueError(f"missing patch classes: {', '.join(missing)}")
        for key, deadline in value.items():
            if deadline.unit.is_business:
                raise ValueError(f"{key}: a patch deadline is calendar time, not business time")
        return value


# --- Backups ------------------------------------------------------------------------

BackupLocation = Literal["off-site", "on-site", "version control"]


class BackupTarget(_Strict):
    title: str
    frequency: Span | Literal["per change", "continuous"]
    retention: Span
    location: BackupLocation
    rto: Span = Field(default=span("4 hours"), description="Restore tests must bring the data back within this")
    rpo: Span | None = Field(
        default=None, description="Restored data may be at most this old (None: the backup frequency)"
    )


def _default_backups() -> dict[str, BackupTarget]:
    return {
        "database": BackupTarget(
            title="Database", frequency=span("1 hour"), retention=span("90 days"), location="off-site"
        ),
        "application": BackupTarget(
            title="Application", frequency=span("1 day"), retention=span("30 days"), location="off-site"
        ),
        "logs": BackupTarget(title="Logs", frequency=span("1 day"), retention=span("1 year"), location="off-site"),
        "configs": BackupTarget(
            title="Configs", frequency="per change", retention=span("1 year"), location="version control"
        ),
        "user_data": BackupTarget(
            title="User data", frequency="continuous", retention=span("7 years"), location="off-site"
        ),
    }


class BackupPolicy(_Strict):
    """Backup strategy per data type, and how often restores and DR drills are tested."""

    data_types: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], BackupTarget] = Field(
        default_factory=_default_backups
    )
    restore_test_every: Span = span("3 months")
    dr_drill_every: Span = span("3 months")
    integrity_check_every: Span = Field(
        default=span("1 month"), description="A passing repository check (restic check, pgbackrest verify) this often"
    )
    grace: Span = Field(default=span("30 minutes"), description="A new job's grace period after each expected run")
    missed_incident_severity: str = Field(
        default="SEV-2", description="Severity of the incident two consecutive missed database backups open"
    )
    dr_plan_review_every: Span = Field(default=span("1 year"), description="A DR plan is reviewed this often")


# --- Targets --------------------------------------------------------------------


class Targets(_Strict):
    """The seed's operational-metric targets."""

    availability_percent: Percent = Field(default=99.9, description="Availability above this")
    mtta: Span = Field(default=span("15 minutes"), description="Mean time to acknowledge below this")
    mttr: Span = Field(default=span("4 hours"), description="Mean time to resolve below this")
    mtbf: Span = Field(default=span("720 hours"), description="Mean time between failures above this")
    support_satisfaction: float = Field(default=4.5, ge=1, le=5, description="Mean CSAT (1-5) above this")
    backup_success_percent: Percent = Field(default=100, description="Backup success rate at least this")
    patch_compliance_percent: Percent = Field(default=95, description="Patch compliance above this")


# --- Source severities ------------------------------------------------------------

#: Severity words that alert sources use (Alertmanager's ``severity`` label, PagerDuty's
#: ``payload.severity``; compared in lower case) and the policy severity each means by default.
#: Alert ingestion (incidents) merges an integration's own mapping over it; the alert-rule
#: catalog (monitoring) reads rules' ``severity`` labels through it.
SOURCE_SEVERITY_MAPPING: dict[str, str] = {
    "critical": "SEV-1",
    "error": "SEV-2",
    "high": "SEV-2",
    "major": "SEV-2",
    "warning": "SEV-3",
    "minor": "SEV-3",
    "info": "SEV-4",
    "low": "SEV-4",
}


# --- Monitoring -------------------------------------------------------------------


class BurnRateAlert(_Strict):
    """One row of the Google SRE workbook's multi-window, multi-burn-rate alerting table.

    The alert fires while the error budget burns at `burn_rate` times the
    sustainable rate over both `long_window` and `short_window` (the short
    window makes it clear soon after the burn stops).
    """

    burn_rate: float = Field(gt=0)
    long_window: Span
    short_window: Span
    severity: str | None = Field(
        default=None,
        pattern=r"^SEV-\d$",
        description="Severity of the incident the alert opens; unset: Policy.burn_rate_severity decides",
    )
    kind: Literal["page", "ticket"] = "page"

    @model_validator(mode="after")
    def _short_within_long(self) -> BurnRateAlert:
        if self.short_window.unit.is_business or self.long_window.unit.is_business:
            raise ValueError("burn-rate windows are wall-clock time, not business time")
        if self.short_window.unit.is_calendar or self.long_window.unit.is_calendar:
            raise ValueError("burn-rate windows need a fixed length (minutes, hours, days or weeks)")
        if self.short_window.as_timedelta() >= self.long_window.as_timedelta():
            raise ValueError("short_window must be shorter than long_window")
        return self


def _default_burn_rate_alerts() -> dict[str, BurnRateAlert]:
    # The SRE workbook, "Alerting on SLOs", table 5-8 (for a 30-day SLO window).
    return {
        "page-fast": BurnRateAlert(
            burn_rate=14.4, long_window=span("1 hour"), short_window=span("5 minutes"), kind="page"
        ),
        "page-slow": BurnRateAlert(
            burn_rate=6, long_window=span("6 hours"), short_window=span("30 minutes"), kind="page"
        ),
        "ticket": BurnRateAlert(burn_rate=1, long_window=span("3 days"), short_window=span("6 hours"), kind="ticket"),
    }


class HttpCheckPolicy(_Strict):
    """Which addresses HTTP checks may request (monitoring.checks.targets enforces it)."""

    allow_private_targets: bool | None = Field(
        default=None,
        description="Let HTTP checks request loopback, link-local, private, multicast, unspecified and reserved "
        "addresses; unset (the default): allowed only while opsgov runs with DEBUG on (the embedded default, "
        "`make run`, the tests), refused in production (DEBUG=false)",
    )
    allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Networks (CIDR, e.g. '10.20.0.0/16') that HTTP checks may request even when private targets "
        "are refused: internal services you mean to watch",
    )


class MonitoringPolicy(_Strict):
    """SLO alerting thresholds, SLI freshness, runbook review cadence and HTTP check targets (step 1)."""

    burn_rate_alerts: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")], BurnRateAlert] = Field(
        default_factory=_default_burn_rate_alerts
    )
    sli_fresh_within: Span = Field(
        default=span("1 hour"), description="An SLO whose newest SLI data is older than this has stale data"
    )
    runbook_review_every: Span = Field(
        default=span("6 months"), description="A runbook is due for review this long after its last review"
    )
    slo_at_risk_budget_percent: Percent = Field(
        default=25, description="An SLO with less error budget remaining than this is at risk"
    )
    slo_ticket_due: Span = Field(
        default=span("5 business days"),
        description="A ticket-kind burn-rate alert's follow-up (an improvement-backlog item) is due this long after "
        "opsgov records the breach",
    )
    http_checks: HttpCheckPolicy = Field(default_factory=HttpCheckPolicy)


# --- Security operations -------------------------------------------------------------

SecuritySeverity = Literal["critical", "high", "medium", "low", "info"]


def _default_vulnerability_sla() -> dict[SecuritySeverity, Span | None]:
    return {
        "critical": span("48 hours"),
        "high": span("7 days"),
        "medium": span("30 days"),
        "low": span("90 days"),
    }


class SecurityPolicy(_Strict):
    """Vulnerability SLAs, scan freshness, access reviews, training and alert triage (step 5)."""

    vulnerability_sla: dict[SecuritySeverity, Span | None] = Field(
        default_factory=_default_vulnerability_sla,
        description="Time to fix a finding, by normalised severity: critical 48 hours (the seed's maintenance "
        "table: security patches within 48 hours of a critical); high 7 days, medium 30 days and low 90 days "
        "(opsgov's defaults); info has none. A severity left out has no SLA.",
    )
    sla_starts_at: Literal["first_detected", "published"] = Field(
        default="first_detected",
        description="When a finding's SLA clock starts: when opsgov first recorded it, or the vulnerability's "
        "publication date as the scanner reports it (never later than first detection)",
    )
    reopen_restarts_sla: bool = Field(
        default=True,
        description="A fixed finding that comes back starts a new SLA clock at its reopening (false: the first "
        "clock goes on, so it is usually overdue at once)",
    )
    default_severity: SecuritySeverity = Field(
        default="medium",
        description="Severity of a finding whose report gives none and no alias or CVSS vector gives one "
        "(pip-audit reports carry no severity)",
    )
    gate_severities: list[SecuritySeverity] = Field(
        default_factory=lambda: list[SecuritySeverity](["critical", "high"]),
        description="Severities whose findings past SLA (without a valid risk acceptance) fail the step-5 gate",
    )
    scan_fresh_within: Span = Field(
        default=span("7 days"), description="An asset whose newest scan is older than this is not freshly scanned"
    )
    max_risk_acceptance: Span = Field(
        default=span("365 days"), description="Longest a risk acceptance may run before it expires"
    )
    access_review_every: Span = Field(
        default=span("3 months"), description="Cadence of access review campaigns (quarterly by default)"
    )
    training_target_percent: Percent = Field(
        default=80, description="Awareness training completion at or above this passes the gate"
    )
    alert_triage_within: Span = Field(
        default=span("4 hours"), description="A security alert should be acknowledged within this after it arrives"
    )
    signal_window: Span = Field(
        default=span("15 minutes"),
        description="Window in which opsgov's own signals (failed logins, refused API requests) are counted",
    )
    failed_logins_alert_after: int = Field(
        default=5, gt=0, description="This many failed logins for one username (or address) in the window: an alert"
    )
    permission_denied_alert_after: int = Field(
        default=20, gt=0, description="This many refused API requests by one user in the window: an alert"
    )
    access_review_due_within: Span = Field(
        default=span("30 days"),
        description="Time reviewers have to decide an access review campaign's rows; rows still undecided then "
        "are escalated to the Security Leads",
    )
    incident_runbook: str = Field(
        default="security-incident",
        min_length=1,
        description="Slug of the monitoring runbook the step-5 gate asks for as the security incident runbook",
    )


# --- API tokens ---------------------------------------------------------------------


class ApiTokenPolicy(_Strict):
    """Expiry of personal API tokens (`manage.py create_api_token`, the "API tokens" page)."""

    default_ttl_days: int = Field(
        default=90, gt=0, le=3650, description="Days a new personal API token is valid unless a shorter expiry is asked"
    )
    max_ttl_days: int = Field(
        default=365, gt=0, le=3650, description="Longest expiry, in days, that may be asked for a personal API token"
    )

    @model_validator(mode="after")
    def _default_within_max(self) -> ApiTokenPolicy:
        if self.default_ttl_days > self.max_ttl_days:
            raise ValueError(
                f"default_ttl_days {self.default_ttl_days} is longer than max_ttl_days {self.max_ttl_days}"
            )
        return self


# --- Retention ---------------------------------------------------------------------


class RetentionPolicy(_Strict):
    """How long evidence is kept before `manage.py apply_retention` may remove it.

    Evidence is otherwise never deleted (opsgov.evidence). Audit rows are kept for ever: no
    setting here touches them. Incidents, timelines, reviews, action items, gate evaluations and
    waivers are kept for ever too.
    """

    raw_events: Span = Field(
        default=span("400 days"),
        description="Processed raw events (received alert payloads) older than this are removed; "
        "unprocessed ones are kept",
    )
    metric_snapshots: Span = Field(
        default=span("2 years"),
        description="Metric snapshots computed longer ago than this are removed (the current one of each metric "
        "is kept)",
    )

    @field_validator("raw_events", "metric_snapshots")
    @classmethod
    def _wall_clock(cls, value: Span) -> Span:
        if value.unit.is_business:
            raise ValueError("a retention period is calendar time, not business time")
        return value


# --- Compliance -------------------------------------------------------------------


def _default_finding_sla() -> dict[Literal["critical", "high", "medium", "low"], Span]:
    return {"critical": span("15 days"), "high": span("30 days"), "medium": span("90 days"), "low": span("180 days")}


class CompliancePolicy(_Strict):
    """Compliance and audit (step 6): finding deadlines, audit cadence, evidence currency, exceptions."""

    finding_sla: dict[Literal["critical", "high", "medium", "low"], Span] = Field(
        default_factory=_default_finding_sla,
        description="A finding is due this long after it is recorded, by severity (on the SLA clock, opsgov.sla)",
    )
    internal_audit_every: Span = Field(
        default=span("1 year"), description="An internal audit's period must end within this long before now"
    )
    min_coverage_percent: Percent = Field(
        default=80, description="Gate: at least this share of a framework's assessable requirements mapped to controls"
    )
    evidence_valid_for: Span = Field(
        default=span("1 year"),
        description="An approved evidence file without its own expiry counts this long after its effective date",
    )
    gate_evidence_fresh_within: Span = Field(
        default=span("2 days"), description="A gate evaluation counts as live evidence for this long"
    )
    exception_max: Span = Field(default=span("1 year"), description="The longest an exception may run")
    exception_expiring_within: Span = Field(
        default=span("30 days"), description="Exceptions ending within this long are reported as expiring"
    )
    exception_approver_roles: list[str] = Field(
        default_factory=lambda: ["Compliance Officer", "CISO", "Legal", "Executive Sponsor"],
        description="Roles whose holders may approve a compliance exception (groups of these names)",
    )
    evidence_max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0, description="Largest evidence file")
    evidence_allowed_types: list[str] = Field(
        default_factory=lambda: ["pdf", "png", "jpg", "jpeg", "txt", "csv", "json", "yaml", "yml", "log", "zip"],
        description="File extensions an evidence upload may have",
    )
    monthly_report_within: Span = Field(
        default=span("35 days"), description="Gate: the monthly compliance report was sent within this long"
    )

    @field_validator("exception_max")
    @classmethod
    def _at_most_a_year(cls, value: Span) -> Span:
        if value.approximate(business_day_hours=24) > timedelta(days=366):
            raise ValueError("an exception runs at most a year")
        return value


class Policy(_Strict):
    """The whole effective policy."""

    business_calendar: BusinessCalendarPolicy = Field(default_factory=BusinessCalendarPolicy)
    incidents: IncidentPolicy = Field(default_factory=IncidentPolicy)
    support: SupportPolicy = Field(default_factory=SupportPolicy)
    maintenance: MaintenancePolicy = Field(default_factory=MaintenancePolicy)
    backups: BackupPolicy = Field(default_factory=BackupPolicy)
    targets: Targets = Field(default_factory=Targets)
    monitoring: MonitoringPolicy = Field(default_factory=MonitoringPolicy)
    api_tokens: ApiTokenPolicy = Field(default_factory=ApiTokenPolicy)
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    compliance: CompliancePolicy = Field(default_factory=CompliancePolicy)
    security: SecurityPolicy = Field(default_factory=SecurityPolicy)

    @model_validator(mode="after")
    def _alert_severities_defined(self) -> Policy:
        defined = self.incidents.severities
        for key, alert in self.monitoring.burn_rate_alerts.items():
            if alert.severity is not None and alert.severity not in defined:
                raise ValueError(
                    f"monitoring.burn_rate_alerts.{key}.severity: unknown severity {alert.severity!r} "
                    f"(defined: {', '.join(defined)})"
                )
        return self

    def burn_rate_severity(self, alert: BurnRateAlert) -> str:
        """The severity of the incident a burn-rate alert opens.

        Its own if set; else a page is the least severe failure severity (SEV-2
        by default) and a ticket the most severe other one (SEV-3 by default),
        falling back to the least severe severity defined.
        """
        if alert.severity is not None:
            return alert.severity
        defined = self.incidents.severity_keys()
        failures = [key for key in defined if key in self.incidents.failure_severities]
        others = [key for key in defined if key not in self.incidents.failure_severities]
        if alert.kind == "page" and failures:
            return failures[-1]
        if alert.kind == "ticket" and others:
            return others[0]
        return defined[-1]


# --- Loading ----------------------------------------------------------------------


def format_errors(exc: ValidationError) -> list[str]:
    """One "field.path: reason" line per pydantic error."""
    lines = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{path or '(top level)'}: {message}")
    return lines


def parse_policy(data: dict[str, Any], *, source: str = "policy") -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, format_errors(exc)) from exc


def load_policy(path: str | Path | None) -> Policy:
    """The defaults, overridden by the TOML file at `path` when given."""
    if path is None:
        return Policy()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(source, [f"cannot read the file: {exc.strerror}"]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, [f"not valid TOML: {exc}"]) from exc
    return parse_policy(data, source=source)


@cache
def _cached(path: str | None) -> Policy:
    return load_policy(path)


def get_policy() -> Policy:
    """The effective policy for this process (OPSGOV_POLICY, read once)."""
    return _cached(settings.OPSGOV_POLICY)


def clear_policy_cache() -> None:
    _cached.cache_clear()
