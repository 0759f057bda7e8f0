"""Backup jobs: what is backed up, how often, where to, and by whom (issue 14, item 1).

A job belongs to a service and a data type of the policy (``backups.data_types``);
its schedule, grace and location default from there. The schedule is either an
interval (slots at whole multiples of it since the Unix epoch, UTC: hourly jobs
are due on the hour, daily jobs at midnight UTC plus ``offset``) or a cron
expression read in the job's time zone. Jobs without either (data types backed
up "per change" or "continuously") have no expected runs and are never missed.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.timezone import now as _now

from opsgov.models import Service
from opsgov.policy import get_policy

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Tool(models.TextChoices):
    RESTIC = "restic", "restic"
    PGBACKREST = "pgbackrest", "pgBackRest"
    BARMAN = "barman", "Barman"
    VELERO = "velero", "Velero"
    GENERIC = "generic", "Generic"


class Location(models.TextChoices):
    OFF_SITE = "off-site", "Off-site"
    ON_SITE = "on-site", "On-site"
    VERSION_CONTROL = "version control", "Version control"


def derive_location(repository: str) -> str:
    """The location class a repository string implies: a local path is on-site, git is version control,
    anything remote (s3:, sftp:, rest:, b2:, azure:, gs:, rclone:, a URL) off-site; "" when it says nothing."""
    repo = repository.strip()
    if not repo:
        return ""
    lowered = repo.lower()
    if lowered.startswith(("git@", "git+", "git://")) or lowered.endswith(".git"):
        return Location.VERSION_CONTROL
    if repo.startswith(("/", "./", "../", "~")) or lowered.startswith(("local:", "file:")):
        return Location.ON_SITE
    return Location.OFF_SITE


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(f"{value!r} is not a time zone (e.g. UTC, Europe/Paris).") from error


def validate_cron(value: str) -> None:
    if not value:
        return
    try:
        CronSim(value, datetime(2026, 1, 1, tzinfo=UTC))
    except CronSimError as error:
        raise ValidationError(f"{value!r} is not a cron expression: {error}") from error


class BackupJob(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="The job's ping token.")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="backup_jobs")
    data_type = models.CharField(max_length=32, help_text="A data type of the policy (backups.data_types).")
    name = models.CharField(max_length=120)
    tool = models.CharField(max_length=16, choices=Tool.choices, default=Tool.GENERIC)
    interval = models.DurationField(null=True, blank=True, help_text="Expected every this long (no cron).")
    offset = models.DurationField(default=timedelta(0), help_text="Interval slots start this long after the epoch.")
    cron = models.CharField(max_length=100, blank=True, validators=[validate_cron])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    grace = models.DurationField(null=True, blank=True, help_text="How late a run may arrive before it is missed.")
    repository = models.CharField(max_length=500, blank=True)
    location = models.CharField(max_length=16, choices=Location.choices, blank=True)
    #: What the reports say of the repository: True (encrypted), False (not), None (no report says).
    encrypted = models.BooleanField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="backup_jobs"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=_now)
    # State written by pings and beat (history, not configuration).
    materialised_until = models.DateTimeField(null=True, blank=True, editable=False)
    n_pings = models.PositiveIntegerField(default=0, editable=False)
    n_rate_limited = models.PositiveIntegerField(default=0, editable=False)
    #: Consecutive missed runs; an open failure episode (notified once) and the incident it opened.
    consecutive_missed = models.PositiveIntegerField(default=0, editable=False)
    failure_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    incident_open = models.BooleanField(default=False, editable=False)
    wal_archive_max = models.CharField(max_length=40, blank=True, editable=False)
    #: The end of the newest succeeded run (kept with each run, so freshness reads no history).
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("service__name", "data_type", "name")
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="backupjob_unique_name")]
        indexes = [models.Index(fields=["active", "materialised_until"], name="backupjob_active_idx")]

    def __str__(self) -> str:
        return f"{self.service} · {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("backups:job-detail", kwargs={"pk": self.pk})

    @property
    def ping_path(self) -> str:
        return reverse("ping", kwargs={"uuid": self.uuid})

    @property
    def ping_url(self) -> str:
        return settings.OPSGOV_BASE_URL.rstrip("/") + self.ping_path

    def clean(self) -> None:
        targets = get_policy().backups.data_types
        if self.data_type not in targets:
            raise ValidationError({"data_type": f"Not a data type of the policy: {', '.join(sorted(targets))}."})
        if self.interval is not None and self.cron:
            raise ValidationError({"cron": "Give an interval or a cron expression, not both."})
        if self.interval is not None and self.interval < timedelta(minutes=1):
            raise ValidationError({"interval": "At least one minute."})
        if not self.location:
            self.location = derive_location(self.repository)

    def apply_policy_defaults(self) -> None:
        """Fill schedule, grace and location from the policy's data type where they are not given."""
        policy = get_policy().backups
        target = policy.data_types.get(self.data_type)
        if target is None:
            return
        if self.interval is None and not self.cron and not isinstance(target.frequency, str):
            self.interval = target.frequency.as_timedelta()
        if self.grace is None:
            self.grace = policy.grace.as_timedelta()
        if not self.location:
            self.location = derive_location(self.repository) or target.location

    # --- the schedule -----------------------------------------------------------------

    @property
    def scheduled(self) -> bool:
        return self.interval is not None or bool(self.cron)

    @property
    def grace_period(self) -> timedelta:
        return self.grace if self.grace is not None else get_policy().backups.grace.as_timedelta()

    @property
    def frequency(self) -> timedelta | None:
        """The expected gap between runs (a cron job's: between its next two slots)."""
        if self.interval is not None:
            return self.interval
        if self.cron:
            slots = self.slots_after(datetime.now(UTC))
            first = next(slots)
            return next(slots) - first
        return None

    def slots_after(self, start: datetime) -> Iterator[datetime]:
        """Expected run instants strictly after `start`, in order (UTC)."""
        if self.interval is not None:
            step = self.interval
            k = (start - EPOCH - self.offset) // step + 1
            slot = EPOCH + self.offset + k * step
            while True:
                yield slot
                slot += step
        elif self.cron:
            tz = zoneinfo.ZoneInfo(self.timezone)
            for slot in CronSim(self.cron, start.astimezone(tz)):
                yield slot.astimezone(UTC)

    def slot_of(self, at: datetime) -> datetime | None:
        """The expected slot a run started at `at` answers: the latest slot at or before `at` plus a minute
        (a job started a few seconds early still answers its slot); None for an unscheduled job."""
        at = at + timedelta(minutes=1)
        if self.interval is not None:
            k = (at - EPOCH - self.offset) // self.interval
            return EPOCH + self.offset + k * self.interval
        if self.cron:
            tz = zoneinfo.ZoneInfo(self.timezone)
            for slot in CronSim(self.cron, at.astimezone(tz), reverse=True):
                return slot.astimezone(UTC)
        return None


class ServiceBackupScope(models.Model):
    """Which of the policy's data types a service has (the gate asks a job for each); without one, all."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="backup_scope")
    data_types = models.JSONField(default=list, help_text="Keys of the policy's backups.data_types.")
    reason = models.CharField(max_length=300, blank=True, help_text="Why the others do not apply.")

    def __str__(self) -> str:
        return f"{self.service}: {', '.join(self.data_types)}"

    def clean(self) -> None:
        known = get_policy().backups.data_types
        if not isinstance(self.data_types, list) or not all(isinstance(item, str) for item in self.data_types):
            raise ValidationError({"data_types": "A list of data type keys."})
        unknown = sorted(set(self.data_types) - set(known))
        if unknown:
            raise ValidationError({"data_types": f"Not in the policy: {', '.join(unknown)}."})
