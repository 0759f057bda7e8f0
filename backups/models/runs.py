"""Runs of a job, the restore points its repository holds and the integrity checks of that repository.

A run answers one expected slot of its job's schedule (``slot``; None for an
unscheduled job). Beat records a ``missed`` run for a slot nothing answered
within the grace period. A run's result: ``succeeded``; ``failed`` (a /fail
ping, a non-zero exit status, restic's exit_error, Velero ``Failed``);
``partial`` (restic exit status 3, Velero ``PartiallyFailed``: a snapshot
exists but not everything is in it): a failure too; ``started`` until its end
arrives. Only ``succeeded`` counts as success.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .jobs import BackupJob


class RunStatus(models.TextChoices):
    STARTED = "started", "Started"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    PARTIAL = "partial", "Partial (failed)"
    MISSED = "missed", "Missed"


FAILED_STATUSES = (RunStatus.FAILED, RunStatus.PARTIAL, RunStatus.MISSED)


class RunSource(models.TextChoices):
    PING = "ping", "Ping"
    REPORT = "report", "Report"
    SCHEDULE = "schedule", "Schedule (missed)"
    SELF = "self", "opsgov backup_self"


class BackupRun(models.Model):
    job = models.ForeignKey(BackupJob, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    source = models.CharField(max_length=16, choices=RunSource.choices)
    slot = models.DateTimeField(null=True, blank=True, help_text="The expected run this one answers.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: When opsgov recorded it (its own clock; started/finished may come from the tool's report).
    recorded_at = models.DateTimeField(default=timezone.now)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    snapshot_id = models.CharField(max_length=128, blank=True)
    rid = models.UUIDField(null=True, blank=True, help_text="The ping run id pairing a start with its end.")
    exit_status = models.SmallIntegerField(null=True, blank=True)
    output = models.TextField(blank=True, help_text="The ping body (up to the documented limit).")
    output_truncated = models.BooleanField(default=False)
    report_format = models.CharField(max_length=32, blank=True)
    raw_report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    #: Arrived for a slot the reconciliation had already recorded as missed: kept, but the slot stays failed.
    late = models.BooleanField(default=False)

    class Meta:
        ordering = ("-recorded_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=["job", "snapshot_id"], condition=~Q(snapshot_id=""), name="backuprun_unique_snapshot"
            ),
            models.UniqueConstraint(
                fields=["job", "slot"], condition=Q(status="missed"), name="backuprun_one_missed_per_slot"
            ),
        ]
        indexes = [
            models.Index(fields=["job", "slot"], name="backuprun_job_slot_idx"),
            models.Index(fields=["job", "-finished_at"], name="backuprun_job_finished_idx"),
            models.Index(fields=["job", "rid"], name="backuprun_job_rid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job} · {self.status} · {self.finished_at or self.slot or self.recorded_at}"

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RestorePoint(models.Model):
    """A backup the repository holds (a restic snapshot, a pgBackRest/Barman backup, a Velero backup)."""

    job = models.ForeignKey(BackupJob, on_delete=models.CASCADE, related_name="restore_points")
    point_id = models.CharField(max_length=128)
    taken_at = models.DateTimeField()
    size_bytes = models.BigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    #: False once a newer report no longer lists it (pruned, expired).
    present = models.BooleanField(default=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-taken_at",)
        constraints = [models.UniqueConstraint(fields=["job", "point_id"], name="restorepoint_unique")]

    def __str__(self) -> str:
        return f"{self.job} · {self.point_id}"


class IntegrityCheck(models.Model):
    """A repository consistency check (restic check, pgbackrest verify, barman check)."""

    job = models.ForeignKey(BackupJob, on_delete=models.CASCADE, related_name="integrity_checks")
    checked_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    errors = models.PositiveIntegerField(default=0)
    report_format = models.CharField(max_length=32)
    detail = models.TextField(blank=True)
    raw_report = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ("-checked_at",)

    def __str__(self) -> str:
        return f"{self.job} · {'ok' if self.ok else 'errors'} · {self.checked_at}"


class BackupPing(models.Model):
    """A ping accepted for a job and not applied yet: the ping endpoint's one INSERT (backups.services).

    Applied in arrival order (``apply_pings``: a task enqueued by the first ping of a quiet moment, a beat
    task every 10 s, and the missed-run reconciliation before it reads the slots), then deleted. Instants
    are opsgov's: ``received_at`` is when the endpoint answered, so a run's times do not depend on when
    it was applied."""

    job = models.ForeignKey(BackupJob, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8)
    exit_status = models.SmallIntegerField(null=True, blank=True)
    rid = models.UUIDField(null=True, blank=True)
    received_at = models.DateTimeField()
    body = models.TextField(blank=True)
    body_truncated = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"ping {self.kind} of job {self.job_id} at {self.received_at}"
