"""Service level objectives after OpenSLO's concepts, and the SLI data they are judged on."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from opsgov.models import Service, TimeStampedModel

from ..promql import selector_errors


class SLIKind(models.TextChoices):
    RATIO = "ratio", "Ratio of good to total events"
    LATENCY = "latency", "Latency: share of requests faster than a threshold"


class WindowKind(models.TextChoices):
    ROLLING = "rolling", "Rolling window"
    CALENDAR_MONTH = "calendar-month", "Calendar month"


class SLISource(models.TextChoices):
    PUSH = "push", "Pushed through the API"
    PROMETHEUS = "prometheus", "Pulled from Prometheus (PromQL)"
    CHECK = "check", "Fed by opsgov's synthetic checks"


class SLO(TimeStampedModel):
    """An objective for one service: `objective_percent` of its SLI events must be good over the window.

    A latency SLI is a ratio too: good events are the requests faster than
    `latency_threshold_ms`, so both kinds are judged on good/total counts.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="slos")
    name = models.CharField(max_length=120, help_text='e.g. "API availability", "Checkout latency p99 < 300 ms".')
    description = models.TextField(blank=True)
    sli_kind = models.CharField(max_length=16, choices=SLIKind.choices, default=SLIKind.RATIO)
    latency_threshold_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Latency SLIs only: a request faster than this is a good event."
    )
    objective_percent = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(Decimal("99.999"))],
        help_text="Share of good events to reach over the window, e.g. 99.9.",
    )
    window_kind = models.CharField(max_length=16, choices=WindowKind.choices, default=WindowKind.ROLLING)
    window_days = models.PositiveSmallIntegerField(
        default=30, help_text="Rolling windows: 28 or 30 days. Ignored for calendar-month windows."
    )
    is_availability = models.BooleanField(
        default=False, help_text="This SLO measures the service's availability (at most one per service)."
    )
    source = models.CharField(max_length=16, choices=SLISource.choices, default=SLISource.PUSH)
    good_query = models.TextField(blank=True, help_text="Prometheus source: PromQL counting good events.")
    total_query = models.TextField(blank=True, help_text="Prometheus source: PromQL counting all events.")
    enabled = models.BooleanField(default=True, help_text="Disabled SLOs are neither evaluated nor alerted on.")
    last_sli_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="End of the newest SLI interval received (freshness)."
    )
    # monitoring.slos.prometheus_pull keeps these for SLOs pulled from Prometheus.
    last_pull_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Prometheus source: when the last pull ended."
    )
    last_pull_error = models.TextField(
        blank=True, editable=False, help_text="Prometheus source: why the last pull failed; empty after a success."
    )

    class Meta:
        ordering = ["service__name", "name"]
        verbose_name = "SLO"
        constraints = [
            models.UniqueConstraint(fields=["service", "name"], name="slo_unique_name_per_service"),
            # monitoring availability: one SLO per service is its availability measure.
            models.UniqueConstraint(
                fields=["service"], condition=Q(is_availability=True), name="slo_one_availability_per_service"
            ),
            models.CheckConstraint(
                condition=Q(objective_percent__gt=0, objective_percent__lt=100), name="slo_objective_0_to_100"
            ),
            models.CheckConstraint(
                condition=~Q(window_kind="rolling") | Q(window_days__in=[28, 30]), name="slo_rolling_28_or_30_days"
            ),
            models.CheckConstraint(
                condition=~Q(sli_kind="latency") | Q(latency_threshold_ms__gt=0), name="slo_latency_has_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} · {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("monitoring:slo-detail", kwargs={"uuid": self.uuid})

    @property
    def window(self) -> timedelta:
        """Length of a rolling window (a calendar month's varies: see the SLO engine)."""
        return timedelta(days=self.window_days)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.sli_kind == SLIKind.LATENCY and not self.latency_threshold_ms:
            errors["latency_threshold_ms"] = "A latency SLI needs a threshold in milliseconds."
        if self.sli_kind == SLIKind.RATIO and self.latency_threshold_ms:
            errors["latency_threshold_ms"] = "Only latency SLIs have a threshold."
        if self.window_kind == WindowKind.ROLLING and self.window_days not in (28, 30):
            errors["window_days"] = "A rolling window is 28 or 30 days."
        if self.source == SLISource.PROMETHEUS:
            for field in ("good_query", "total_query"):
                if not getattr(self, field).strip():
                    errors[field] = "An SLO pulled from Prometheus needs both PromQL queries."
            for field, message in selector_errors(self).items():
                errors.setdefault(field, message[:1].upper() + message[1:])
        if errors:
            raise ValidationError(errors)


class SLIBucket(models.Model):
    """Good and total SLI events of one SLO over one interval [start, start + seconds).

    Pushed and pulled data land here alike; a bucket is written again (not
    added to) when the same (SLO, start) arrives twice, so delivery is idempotent.
    """

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="buckets")
    start = models.DateTimeField()
    seconds = models.PositiveIntegerField(default=60, help_text="Length of the interval.")
    good = models.BigIntegerField()
    total = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slo", "start"]
        constraints = [
            # The upsert of monitoring's SLI intake relies on it; window sums scan it by (slo, start).
            models.UniqueConstraint(fields=["slo", "start"], name="slibucket_one_per_slo_start"),
            models.CheckConstraint(condition=Q(good__gte=0, total__gte=F("good")), name="slibucket_0_good_total"),
            models.CheckConstraint(condition=Q(seconds__gt=0), name="slibucket_positive_length"),
        ]

    def __str__(self) -> str:
        return f"{self.slo_id} {self.start:%Y-%m-%d %H:%M} {self.good}/{self.total}"


class SLOStatus(models.Model):
    """The SLO engine's latest evaluation of one SLO: what the UI, the gate, the dashboard and /metrics read.

    One row per SLO, overwritten by each evaluation (the history is in the SLI
    buckets and in MetricSnapshot), so readers never aggregate buckets.
    """

    slo = models.OneToOneField(SLO, on_delete=models.CASCADE, primary_key=True, related_name="status")
    evaluated_at = models.DateTimeField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    good = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    sli_percent = models.FloatField(null=True, blank=True, help_text="good / total * 100; empty without data.")
    budget_remaining = models.FloatField(
        null=True,
        blank=True,
        help_text="Share of the window's error budget left (1 = untouched, 0 = spent, negative = overspent).",
    )
    budget_consumed = models.FloatField(
        null=True,
        blank=True,
        help_text="Share of the window's error budget spent: 1 - budget_remaining (above 1 = overspent).",
    )
    burn_rates = models.JSONField(
        default=dict, blank=True, help_text='Burn rate per window, e.g. {"5m": 0.4, "1h": 1.2, "3d": 0.9}.'
    )
    firing = models.JSONField(default=list, blank=True, help_text="Keys of the policy's burn-rate alerts firing now.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLO status"
        verbose_name_plural = "SLO statuses"

    def __str__(self) -> str:
        return f"{self.slo_id} at {self.evaluated_at:%Y-%m-%d %H:%M}: {self.budget_remaining}"
