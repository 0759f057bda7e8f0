"""Core records shared by every app: teams, services, metric snapshots, gate evaluations."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone


class TimeStampedModel(models.Model):
    """Abstract base: every record knows when it was created and last changed."""

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Team(TimeStampedModel):
    """A group of people that owns services and is notified about them."""

    slug = models.SlugField(max_length=64, unique=True, help_text="Stable identifier used in URLs and the API.")
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    email = models.EmailField(blank=True, help_text="Where the team's notifications and reports go.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("team-detail", kwargs={"slug": self.slug})


class ServiceTier(models.IntegerChoices):
    TIER_1 = 1, "Tier 1 (critical)"
    TIER_2 = 2, "Tier 2 (important)"
    TIER_3 = 3, "Tier 3 (supporting)"


class Lifecycle(models.TextChoices):
    ACTIVE = "active", "Active"
    DEPRECATED = "deprecated", "Deprecated"

    @property
    def badge(self) -> str:
        return {"active": "success", "deprecated": "muted"}[self.value]


def validate_links(value: Any) -> None:
    """Links are a list of {"title": ..., "url": ...} with http(s) URLs."""
    if not isinstance(value, list):
        raise ValidationError("Links must be a list of {title, url} objects.")
    check_url = URLValidator(schemes=["http", "https"])
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"title", "url"}:
            raise ValidationError(f"links[{index}]: expected exactly the keys 'title' and 'url'.")
        if not isinstance(item["title"], str) or not item["title"].strip():
            raise ValidationError(f"links[{index}].title: must be a non-empty string.")
        try:
            check_url(item["url"])
        except ValidationError:
            raise ValidationError(f"links[{index}].url: {item['url']!r} is not an http(s) URL.") from None


class Service(TimeStampedModel):
    """A production system that opsgov governs: everything else hangs off a service."""

    slug = models.SlugField(max_length=64, unique=True, help_text="Stable identifier used in URLs and the API.")
    name = models.CharField(max_length=120)
    tier = models.PositiveSmallIntegerField(choices=ServiceTier.choices, default=ServiceTier.TIER_2)
    owner_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.ACTIVE)
    description = models.TextField(blank=True)
    links = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_links],
        help_text='Dashboards, repositories, runbooks: [{"title": "Grafana", "url": "https://..."}]',
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(tier__gte=1, tier__lte=3), name="service_tier_1_to_3"),
            models.CheckConstraint(
                condition=models.Q(lifecycle__in=["active", "deprecated"]), name="service_lifecycle_valid"
            ),
        ]
        indexes = [
            # Gates and the dashboard iterate over active services.
            models.Index(fields=["owner_team"], name="service_active_team_idx", condition=models.Q(lifecycle="active")),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("service-detail", kwargs={"slug": self.slug})


class MetricSnapshot(models.Model):
    """One computed value of an operational metric for a scope and window, at a time.

    The dashboard, the API and /metrics read these rows, never the history
    tables, so their cost does not grow with the amount of history.
    """

    metric = models.CharField(max_length=64)
    scope = models.CharField(max_length=160, help_text='"global", "service:<slug>", "team:<slug>", "severity:<key>"')
    window = models.CharField(max_length=16, help_text='Window length, e.g. "7d", "30d", "90d".')
    value = models.FloatField(null=True, blank=True, help_text="Empty when there is no data in the window.")
    sample_size = models.PositiveIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True, help_text="Extra figures such as p50/p90.")
    computed_at = models.DateTimeField(default=timezone.now)
    is_current = models.BooleanField(
        default=True, help_text="The newest value of its (metric, scope, window); older rows are history."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["metric", "scope", "window", "-computed_at"]
        constraints = [
            # selectors.latest_snapshots reads only current rows: one per key, whatever the history.
            models.UniqueConstraint(
                fields=["metric", "scope", "window"],
                condition=models.Q(is_current=True),
                name="snapshot_one_current_per_key",
            ),
        ]
        indexes = [
            # Trends and history pruning: a key's rows over time.
            models.Index(fields=["metric", "scope", "window", "-computed_at"], name="snapshot_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}[{self.scope}, {self.window}] = {self.value}"


class GateStatus(models.TextChoices):
    PASS = "pass", "Pass"
    AT_RISK = "at_risk", "At risk"
    FAIL = "fail", "Fail"
    NO_EVIDENCE = "no_evidence", "No evidence"
    # Set by the gate engine, never by a gate: an evidence row covered by an active
    # waiver, or a gate whose only problems are waived (opsgov.gates_engine). Never a pass.
    WAIVED = "waived", "Waived"

    @property
    def badge(self) -> str:
        return {
            "pass": "success",
            "at_risk": "warning",
            "fail": "danger",
            "no_evidence": "muted",
            "waived": "info",
        }[self.value]


class GateEvaluation(models.Model):
    """One evaluation of a quality gate: status, reason and the evidence behind it (history)."""

    gate = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=GateStatus.choices)
    reason = models.CharField(max_length=500)
    evidence = models.JSONField(default=list, blank=True)
    evaluated_at = models.DateTimeField(default=timezone.now)
    previous_status = models.CharField(
        max_length=16,
        choices=GateStatus.choices,
        blank=True,
        help_text="The status of the gate's evaluation before this one; empty for its first evaluation.",
    )
    status_changed = models.BooleanField(
        default=False, help_text="The status differs from the previous evaluation's (or this is the first one)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["gate", "-evaluated_at"]
        indexes = [
            # selectors.latest_gate_evaluations and the gate history page.
            models.Index(fields=["gate", "-evaluated_at"], name="gate_eval_latest_idx"),
            # The gate page's timeline: only the evaluations where the status changed.
            models.Index(
                fields=["gate", "-evaluated_at"], name="gate_eval_changes_idx", condition=models.Q(status_changed=True)
            ),
        ]
        permissions = [("run_gate_evaluation", "Can re-evaluate a quality gate on demand")]

    def __str__(self) -> str:
        return f"{self.gate}: {self.status} at {self.evaluated_at:%Y-%m-%d %H:%M}"

    @property
    def status_badge(self) -> str:
        return GateStatus(self.status).badge


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker ran the heartbeat task: proof that the queue is served."""

    name = models.CharField(max_length=64, unique=True)
    beats = models.PositiveBigIntegerField(default=0)
    last_seen_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen_at:%Y-%m-%d %H:%M:%S}"


# Waivers and status-change notifications live in their own module; importing them
# here registers them with the app.
from .gate_models import GateNotification, GateWaiver  # noqa: E402, F401

# The scheduled email reports' records live in their own module; imported here so Django finds them.
from .report_models import DeliveryStatus, ReportDelivery, ReportKind, ReportSubscription  # noqa: E402, F401
from .trend_models import MetricTrendPoint  # noqa: E402, F401
