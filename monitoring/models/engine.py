"""Bookkeeping of the SLO engine (monitoring.slos.engine): SLI rollups, their dirty markers, alert state.

Readers of SLO figures read SLOStatus; these tables exist so that one
evaluation cycle costs what the new SLI data costs, not what the history costs.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .slos import SLO


class SLIHourRollup(models.Model):
    """Sums of the SLI buckets of one SLO whose interval *starts* in the UTC hour [start, start + 1 h).

    Maintained by monitoring.slos.engine.refresh_rollups from the buckets of the
    hours that SLI intake marked dirty; never written anywhere else.
    """

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField(help_text="Start of the UTC hour.")
    good = models.BigIntegerField()
    total = models.BigIntegerField()

    class Meta:
        constraints = [
            # Window sums read an SLO's hours by range (monitoring.slos.engine.window_sums); refreshes replace by key.
            models.UniqueConstraint(fields=["slo", "start"], name="slihour_one_per_slo_start"),
            models.CheckConstraint(condition=Q(good__gte=0, total__gte=F("good")), name="slihour_0_good_total"),
        ]

    def __str__(self) -> str:
        return f"{self.slo_id} {self.start:%Y-%m-%d %H}h {self.good}/{self.total}"


class SLIDayRollup(models.Model):
    """Sums of the hour rollups of one SLO over the UTC day [start, start + 1 day)."""

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField(help_text="Midnight UTC starting the day.")
    good = models.BigIntegerField()
    total = models.BigIntegerField()

    class Meta:
        constraints = [
            # Window sums read an SLO's days by range; refreshes replace by key.
            models.UniqueConstraint(fields=["slo", "start"], name="sliday_one_per_slo_start"),
            models.CheckConstraint(condition=Q(good__gte=0, total__gte=F("good")), name="sliday_0_good_total"),
        ]

    def __str__(self) -> str:
        return f"{self.slo_id} {self.start:%Y-%m-%d} {self.good}/{self.total}"


class SLIDirtyHour(models.Model):
    """An hour of an SLO whose buckets changed since its rollup was computed (written by SLI intake).

    Deliberately not unique: every intake transaction inserts its own rows and
    a refresh deletes exactly the rows it read, so a write committing during a
    refresh leaves its marker for the next one (an upsert onto a shared row
    could be deleted by a refresh that did not see the write's buckets).
    """

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(help_text="Start of the UTC hour to recompute.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [
            # A refresh reads the markers of past hours only; the current hour's wait (monitoring.slos.engine).
            models.Index(fields=["hour"], name="slidirty_hour_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.slo_id} {self.hour:%Y-%m-%d %H}h"


class SLOAlertState(models.Model):
    """Whether one of the policy's burn-rate alerts (by key) is firing for an SLO, and since when.

    A row is written when the alert first fires and on every change after that;
    the engine publishes a ServiceAlert (opsgov.events) in the same transaction.
    """

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="alert_states")
    key = models.CharField(max_length=64, help_text="Key of the alert in policy.monitoring.burn_rate_alerts.")
    firing = models.BooleanField(default=False)
    severity = models.CharField(max_length=8, help_text="Severity of the incident the alert opened.")
    changed_at = models.DateTimeField(help_text="When it last started firing or cleared.")
    long_burn_rate = models.FloatField(null=True, blank=True, help_text="Burn rate over the long window then.")
    short_burn_rate = models.FloatField(null=True, blank=True, help_text="Burn rate over the short window then.")
    title = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLO alert state"
        constraints = [
            models.UniqueConstraint(fields=["slo", "key"], name="sloalert_one_per_slo_key"),
        ]
        indexes = [
            # Each cycle reads the firing alerts only (monitoring.slos.engine.evaluate_slos).
            models.Index(fields=["slo"], name="sloalert_firing_idx", condition=Q(firing=True)),
        ]

    def __str__(self) -> str:
        return f"{self.slo_id} {self.key}: {'firing' if self.firing else 'clear'} since {self.changed_at}"


class SLOEngineState(models.Model):
    """The single row of the SLO engine: a lock for evaluation cycles and what the last one did."""

    built_at = models.DateTimeField(null=True, blank=True, help_text="Last rebuild of the rollups from scratch.")
    evaluated_at = models.DateTimeField(null=True, blank=True)
    last_full = models.BooleanField(default=False, help_text="Whether the last cycle rebuilt the rollups.")
    last_hours = models.PositiveIntegerField(default=0, help_text="Hour rollups recomputed by the last cycle.")
    last_slos = models.PositiveIntegerField(default=0, help_text="SLOs evaluated by the last cycle.")
    last_seconds = models.FloatField(default=0, help_text="Duration of the last cycle.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLO engine state"

    def __str__(self) -> str:
        return f"SLO engine, last cycle {self.evaluated_at}"
