"""Synthetic checks: HTTP checks that opsgov runs, and heartbeats that jobs ping (after healthchecks.io).

Both kinds share one status vocabulary (new / up / down / paused) and one
history of status changes (CheckFlip). The rules that move them between
statuses live in monitoring.checks.services; these models only store.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from opsgov.formatting import format_duration
from opsgov.models import Service, TimeStampedModel
from opsgov.policy import get_policy

from .slos import SLO, SLISource


def validate_severity(value: str) -> None:
    """A severity the effective policy defines (SEV-1..SEV-4 by default)."""
    defined = get_policy().incidents.severities
    if value not in defined:
        raise ValidationError(f"Unknown severity {value!r}; the policy defines {', '.join(defined)}.")


class CheckStatus(models.TextChoices):
    NEW = "new", "New"
    UP = "up", "Up"
    DOWN = "down", "Down"
    PAUSED = "paused", "Paused"

    @property
    def badge(self) -> str:
        return {"new": "info", "up": "success", "down": "danger", "paused": "muted"}[self.value]


class HttpMethod(models.TextChoices):
    GET = "GET", "GET"
    HEAD = "HEAD", "HEAD"
    POST = "POST", "POST"


class HttpCheck(TimeStampedModel):
    """A URL that opsgov requests every `interval_seconds` and judges by its status code.

    It goes down after `failure_threshold` failed runs in a row (raising an
    alert for its service) and up again at the first run that succeeds. Each
    run may also count as one good or bad event of `slo` (an SLO fed by checks).
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="http_checks")
    name = models.CharField(max_length=120, help_text='e.g. "Public API /healthz".')
    url = models.URLField(
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="The http(s) URL to request. Redirects are not followed: a 3xx is what the server answered.",
    )
    method = models.CharField(max_length=4, choices=HttpMethod.choices, default=HttpMethod.GET)
    expected_status_min = models.PositiveSmallIntegerField(
        default=200,
        validators=[MinValueValidator(100), MaxValueValidator(599)],
        help_text="Lowest status code that counts as success.",
    )
    expected_status_max = models.PositiveSmallIntegerField(
        default=299,
        validators=[MinValueValidator(100), MaxValueValidator(599)],
        help_text="Highest status code that counts as success (equal to the lowest for one exact code).",
    )
    timeout_ms = models.PositiveIntegerField(
        default=5000,
        validators=[MinValueValidator(100), MaxValueValidator(60000)],
        help_text="A run that has no response headers after this many milliseconds fails (100 to 60000).",
    )
    interval_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(30), MaxValueValidator(86400)],
        help_text="Seconds between runs (30 to 86400).",
    )
    failure_threshold = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="Failed runs in a row before the check goes down and alerts.",
    )
    severity = models.CharField(
        max_length=8,
        default="SEV-3",
        validators=[validate_severity],
        help_text="Severity of the incident the check opens when it goes down.",
    )
    slo = models.ForeignKey(
        SLO,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="http_checks",
        help_text="An SLO of the same service fed by checks: every run counts as one good or bad event.",
    )
    enabled = models.BooleanField(default=True, help_text="A disabled check is paused: it does not run.")
    status = models.CharField(max_length=8, choices=CheckStatus.choices, default=CheckStatus.NEW, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    next_run_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the check is due next; empty while paused."
    )
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_ok = models.BooleanField(null=True, blank=True, editable=False)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)

    class Meta:
        ordering = ["service__name", "name"]
        verbose_name = "HTTP check"
        constraints = [
            models.UniqueConstraint(fields=["service", "name"], name="httpcheck_unique_name_per_service"),
            models.CheckConstraint(
                condition=Q(expected_status_min__lte=F("expected_status_max")), name="httpcheck_status_range_ordered"
            ),
            models.CheckConstraint(condition=Q(interval_seconds__gte=30), name="httpcheck_interval_at_least_30s"),
            models.CheckConstraint(condition=Q(failure_threshold__gte=1), name="httpcheck_threshold_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["new", "up", "down", "paused"]), name="httpcheck_status_valid"
            ),
        ]
        indexes = [
            # monitoring.checks.services.claim_due_http_checks scans enabled checks by next_run_at every 15 s.
            models.Index(fields=["next_run_at"], name="httpcheck_due_idx", condition=Q(enabled=True)),
            # monitoring.checks.selectors.down_checks_by_service (the monitoring gate).
            models.Index(fields=["service"], name="httpcheck_down_idx", condition=Q(status="down")),
        ]

    def __str__(self) -> str:
        return f"{self.service} · {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("monitoring:http-check-detail", kwargs={"uuid": self.uuid})

    @property
    def status_badge(self) -> str:
        return CheckStatus(self.status).badge

    @property
    def expected_status_label(self) -> str:
        if self.expected_status_min == self.expected_status_max:
            return str(self.expected_status_min)
        return f"{self.expected_status_min}\u2013{self.expected_status_max}"

    @property
    def alert_key(self) -> str:
        return f"check:{self.uuid}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        low, high = self.expected_status_min, self.expected_status_max
        if low is not None and high is not None and low > high:
            errors["expected_status_max"] = "Must be at least the lowest expected status."
        if self.slo_id is not None:
            slo = SLO.objects.filter(pk=self.slo_id).only("source", "service_id").first()
            if slo is None:
                errors["slo"] = "No such SLO."
            elif slo.source != SLISource.CHECK:
                errors["slo"] = "Only an SLO whose SLI source is “checks” can be fed by a check."
            elif self.service_id is not None and slo.service_id != self.service_id:
                errors["slo"] = "The SLO belongs to another service."
        if errors:
            raise ValidationError(errors)


class HttpCheckResult(models.Model):
    """The outcome of one run of an HTTP check (bounded history: pruned after RESULT_RETENTION)."""

    http_check = models.ForeignKey(HttpCheck, on_delete=models.CASCADE, related_name="results")
    scheduled_for = models.DateTimeField(help_text="The due time this run was claimed for: one result per run.")
    checked_at = models.DateTimeField(help_text="When the request started.")
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Until the response headers arrived.")
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        constraints = [
            # monitoring.checks.services.record_http_result: a redelivered run is recorded (and counted in the SLI)
            # once.
            models.UniqueConstraint(fields=["http_check", "scheduled_for"], name="httpcheckresult_one_per_run"),
        ]
        indexes = [
            # The detail page's recent results; pruning deletes by checked_at.
            models.Index(fields=["http_check", "-checked_at"], name="httpcheckresult_recent_idx"),
            models.Index(fields=["checked_at"], name="httpcheckresult_age_idx"),
        ]

    def __str__(self) -> str:
        outcome = "ok" if self.ok else "failed"
        return f"{self.http_check_id} at {self.checked_at:%Y-%m-%d %H:%M:%S}: {outcome}"


def _default_period() -> timedelta:
    return timedelta(days=1)


def _default_grace() -> timedelta:
    return timedelta(hours=1)


class Heartbeat(TimeStampedModel):
    """A job that reports in: it pings its URL at least every `period`; a ping later than `grace` after that is late.

    The uuid is the secret of the ping URL (a random UUID4, never a sequence):
    anyone who knows it can ping. A late heartbeat, a /fail ping, or a job that
    pinged /start and did not finish within `grace`, takes it down and raises
    an alert for its service; the next success ping brings it up and resolves it.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="heartbeats")
    name = models.CharField(max_length=120, help_text='e.g. "Nightly database backup".')
    description = models.TextField(blank=True, help_text="What the job does and who runs it.")
    period = models.DurationField(
        default=_default_period, help_text="Expected time between two success pings (1 minute to 365 days)."
    )
    grace = models.DurationField(
        default=_default_grace,
        help_text="How late a ping may be before the heartbeat goes down; also how long a job that pinged "
        "/start may run (1 minute to 30 days).",
    )
    severity = models.CharField(
        max_length=8,
        default="SEV-3",
        validators=[validate_severity],
        help_text="Severity of the incident the heartbeat opens when it goes down.",
    )
    status = models.CharField(max_length=8, choices=CheckStatus.choices, default=CheckStatus.NEW, editable=False)
    last_ping_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="Last success or /fail ping.")
    last_start_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="A /start ping not yet followed by a success or /fail."
    )
    alert_after = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the heartbeat is late unless a ping arrives first."
    )
    n_pings = models.PositiveIntegerField(default=0, editable=False, help_text="Pings received, ever.")

    class Meta:
        ordering = ["service__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["service", "name"], name="heartbeat_unique_name_per_service"),
            models.CheckConstraint(
                condition=Q(status__in=["new", "up", "down", "paused"]), name="heartbeat_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(period__gte=timedelta(minutes=1), grace__gte=timedelta(minutes=1)),
                name="heartbeat_period_grace_at_least_1min",
            ),
        ]
        indexes = [
            # monitoring.checks.services.detect_late_heartbeats: every 30 s, the watched ones by deadline.
            models.Index(fields=["alert_after"], name="heartbeat_due_idx", condition=Q(status__in=["new", "up"])),
            models.Index(fields=["service"], name="heartbeat_down_idx", condition=Q(status="down")),
        ]

    def __str__(self) -> str:
        return f"{self.service} · {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("monitoring:heartbeat-detail", kwargs={"uuid": self.uuid})

    @property
    def ping_path(self) -> str:
        return reverse("ping", kwargs={"uuid": self.uuid})

    @property
    def ping_url(self) -> str:
        """The absolute URL jobs ping (OPSGOV_BASE_URL + /ping/<uuid>)."""
        return settings.OPSGOV_BASE_URL.rstrip("/") + self.ping_path

    @property
    def status_badge(self) -> str:
        return CheckStatus(self.status).badge

    @property
    def period_text(self) -> str:
        return format_duration(self.period)

    @property
    def grace_text(self) -> str:
        return format_duration(self.grace)

    @property
    def alert_key(self) -> str:
        return f"heartbeat:{self.uuid}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.period is not None and not timedelta(minutes=1) <= self.period <= timedelta(days=365):
            errors["period"] = "Between 1 minute and 365 days."
        if self.grace is not None and not timedelta(minutes=1) <= self.grace <= timedelta(days=30):
            errors["grace"] = "Between 1 minute and 30 days."
        if errors:
            raise ValidationError(errors)


class PingKind(models.TextChoices):
    SUCCESS = "success", "Success"
    START = "start", "Start"
    FAIL = "fail", "Fail"


class HeartbeatPing(models.Model):
    """One ping received by a heartbeat (bounded log: the newest PING_LOG_LIMIT per heartbeat are kept)."""

    heartbeat = models.ForeignKey(Heartbeat, on_delete=models.CASCADE, related_name="pings")
    n = models.PositiveIntegerField(help_text="The heartbeat's ping number (1, 2, ...); pruning keeps the newest.")
    at = models.DateTimeField()
    kind = models.CharField(max_length=8, choices=PingKind.choices)
    ignored = models.BooleanField(default=False, help_text="Received while paused: logged, no effect.")
    method = models.CharField(max_length=8)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True, help_text="The first bytes of the request body (capped).")
    body_size = models.PositiveIntegerField(default=0, help_text="Bytes stored of the body.")
    body_truncated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-n"]
        constraints = [
            models.UniqueConstraint(fields=["heartbeat", "n"], name="heartbeatping_unique_n"),
        ]

    def __str__(self) -> str:
        return f"{self.heartbeat_id} #{self.n} {self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class FlipReason(models.TextChoices):
    CHECK_FAILED = "check-failed", "Failed runs in a row reached the threshold"
    CHECK_OK = "check-ok", "A run succeeded"
    LATE = "late", "No ping before the deadline"
    START_TIMEOUT = "start-timeout", "Started, but did not finish within the grace time"
    FAIL_PING = "fail-ping", "The job pinged /fail"
    PING = "ping", "A success ping arrived"
    PAUSED = "paused", "Paused"
    RESUMED = "resumed", "Resumed"


class CheckFlip(models.Model):
    """One status change of an HTTP check or a heartbeat (exactly one of the two), kept for history."""

    http_check = models.ForeignKey(HttpCheck, on_delete=models.CASCADE, null=True, blank=True, related_name="flips")
    heartbeat = models.ForeignKey(Heartbeat, on_delete=models.CASCADE, null=True, blank=True, related_name="flips")
    at = models.DateTimeField(help_text="When the status changed (for a late heartbeat: its deadline).")
    old_status = models.CharField(max_length=8, choices=CheckStatus.choices)
    new_status = models.CharField(max_length=8, choices=CheckStatus.choices)
    reason = models.CharField(max_length=16, choices=FlipReason.choices)
    details = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(http_check__isnull=True, heartbeat__isnull=False)
                | Q(http_check__isnull=False, heartbeat__isnull=True),
                name="checkflip_exactly_one_owner",
            ),
            models.CheckConstraint(condition=~Q(old_status=F("new_status")), name="checkflip_changes_status"),
        ]
        indexes = [
            # Detail pages: a check's newest flips.
            models.Index(fields=["http_check", "-at"], name="checkflip_http_idx"),
            models.Index(fields=["heartbeat", "-at"], name="checkflip_heartbeat_idx"),
        ]

    def __str__(self) -> str:
        owner = f"http check {self.http_check_id}" if self.http_check_id else f"heartbeat {self.heartbeat_id}"
        return f"{owner}: {self.old_status} -> {self.new_status} at {self.at:%Y-%m-%d %H:%M:%S}"

    @property
    def new_badge(self) -> str:
        return CheckStatus(self.new_status).badge
