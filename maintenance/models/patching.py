"""Hosts that report their patch state, the reports, and the patch obligations they create."""

from __future__ import annotations

import secrets
import uuid
from datetime import date

from django.db import models
from django.urls import reverse

from opsgov.models import Service, TimeStampedModel

from .changes import hash_token


class Host(TimeStampedModel):
    """A machine (an asset) that posts its patch state with its own token (stored hashed)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=255, unique=True)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.PROTECT, related_name="hosts")
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="The host's declared time zone: apt's history log has local times without a zone.",
    )
    token_prefix = models.CharField(max_length=8, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    last_report_at = models.DateTimeField(null=True, blank=True)
    reboot_required = models.BooleanField(null=True, blank=True, help_text="Empty: the host cannot tell (a container).")
    reboot_packages = models.JSONField(default=list, blank=True)
    kernel_status = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="needrestart KSTA: 0 unknown, 1 current, 2 ABI-compatible upgrade, 3 reboot needed.",
    )
    running_kernel = models.CharField(max_length=120, blank=True)
    expected_kernel = models.CharField(max_length=120, blank=True)
    stale_services = models.JSONField(default=list, blank=True, help_text="Services running old libraries.")
    pending_count = models.PositiveIntegerField(default=0)
    #: The newest apt history stanza (its Start-Date, as written) already read: later reports add only newer ones.
    last_history_start = models.CharField(max_length=32, blank=True)
    #: SHA-256 of the normalised content of the last report applied in full (maintenance.services.report_digest):
    #: a report with the same digest and no new history stanza is only recorded as seen (``last_report_at``).
    #: Emptied when something else writes what a report would write (the components of the host's service), so
    #: that the next report is applied in full again.
    report_digest = models.CharField(max_length=64, blank=True, editable=False)
    #: SHA-256 of the fields of a report, as sent (maintenance.services.raw_report_digest), whose normalised
    #: content is ``report_digest``; empty when it is not known. The same fields again are a repeat without
    #: being parsed (maintenance.services.record_raw_repeat). Always written and emptied with ``report_digest``.
    report_raw_digest = models.CharField(max_length=64, blank=True, editable=False)
    #: How many of the ``pending_count`` updates of the last report are security updates (a repeat's answer).
    pending_security_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.token_prefix = token[:8]
        self.token_hash = hash_token(token)
        return token

    def get_absolute_url(self) -> str:
        return reverse("maintenance:host-detail", kwargs={"uuid": self.uuid})


class PatchReport(models.Model):
    """One report a host posted whose content differed from its previous one: what it said, as parsed (the raw
    text is kept for a reader). A report that repeats the previous one adds no row: it moves the host's
    ``last_report_at``."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="reports")
    received_at = models.DateTimeField(help_text="When opsgov stored it (the obligations' clock).")
    pending = models.JSONField(default=list, help_text="[{package, installed, candidate, origin, security}]")
    installed = models.JSONField(default=list, help_text="History stanzas read: [{at, package, version}]")
    reboot_required = models.BooleanField(null=True)
    needrestart = models.JSONField(default=dict, blank=True)
    raw_apt = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["host", "-received_at"], name="patchreport_host_latest_idx")]

    def __str__(self) -> str:
        return f"{self.host} at {self.received_at:%Y-%m-%d %H:%M}"


class PatchClass(models.TextChoices):
    SECURITY_CRITICAL = "security_critical", "Security (critical)"
    OS = "os", "OS update"
    DEPENDENCY = "dependency", "Dependency update"
    DATABASE = "database", "Database"
    INFRASTRUCTURE = "infrastructure", "Infrastructure"
    MAJOR = "major", "Major upgrade"


class ObligationSource(models.TextChoices):
    APT = "apt", "apt (host report)"
    RENOVATE = "renovate", "Renovate report"
    SECURITY = "security", "Security finding past its SLA"


class PatchObligation(models.Model):
    """One required update of one asset (a host's package, a repository's dependency), with its deadline.

    The clock starts at the later of publication (when known) and first
    detection; ``met_at`` is when a later report no longer listed it, or when
    the history log shows it installed. ``exception_until`` leaves it out of
    compliance (counted separately) while valid.
    """

    asset = models.CharField(max_length=255, help_text="host:<name> or repo:<owner/name>.")
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.CASCADE, related_name="obligations")
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=16, choices=ObligationSource.choices)
    package = models.CharField(max_length=255)
    version = models.CharField(max_length=255, help_text="The version that satisfies it.")
    installed_version = models.CharField(max_length=255, blank=True)
    patch_class = models.CharField(max_length=24, choices=PatchClass.choices)
    published_at = models.DateTimeField(null=True, blank=True)
    first_detected_at = models.DateTimeField()
    due_at = models.DateTimeField()
    met_at = models.DateTimeField(null=True, blank=True)
    exception_until = models.DateTimeField(null=True, blank=True)
    exception_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "package", "version"], name="obligation_once_per_version"),
        ]
        indexes = [
            # Reports close a host's open obligations; the gate lists open critical ones.
            models.Index(fields=["asset"], name="obligation_open_idx", condition=models.Q(met_at__isnull=True)),
            # The compliance metric aggregates by due date; the edges of its window by due and met instants.
            models.Index(fields=["due_at"], name="obligation_due_idx"),
            models.Index(fields=["met_at"], name="obligation_met_idx", condition=models.Q(met_at__isnull=False)),
            # Compliance leaves out obligations under a valid exception (few).
            models.Index(
                fields=["exception_until"],
                name="obligation_exception_idx",
                condition=models.Q(exception_until__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset}: {self.package} {self.version}"

    @property
    def met_in_time(self) -> bool:
        return self.met_at is not None and self.met_at <= self.due_at


#: The met_day of rollup rows of obligations not met in time (open, or met after their deadline).
NOT_MET_IN_TIME = date(1970, 1, 1)


class PatchComplianceRollup(models.Model):
    """How many obligations of an asset (and its service) fall due on a UTC day and were met in time on another
    (``met_day`` = NOT_MET_IN_TIME when not met in time): kept up to date by each report
    (maintenance.compliance), so patch compliance over a window reads a few rows per asset, not every
    obligation."""

    asset = models.CharField(max_length=255)
    service_id = models.BigIntegerField(default=0, help_text="The obligation's service id; 0 for none.")
    due_day = models.DateField()
    met_day = models.DateField()
    obligations = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "service_id", "due_day", "met_day"], name="compliance_rollup_key")
        ]
        indexes = [
            models.Index(fields=["due_day"], name="compliance_rollup_due_idx"),
            models.Index(fields=["met_day"], name="compliance_rollup_met_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.asset} due {self.due_day} met {self.met_day}: {self.obligations}"
