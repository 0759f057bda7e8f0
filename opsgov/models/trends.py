"""The daily trend of every operational metric: one stored point per metric, scope, window and day.

Written by opsgov.services.compute_metrics with each snapshot, read by the dashboard's sparklines.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class MetricTrendPoint(models.Model):
    """The last value computed on one UTC day of a metric for a scope and window.

    compute_metrics upserts the point of the day with every snapshot it stores,
    so the day's last computation is its point. A 90-day trend reads at most 90
    rows per metric, however many snapshots the history holds (MetricSnapshot
    keeps every 5-minute cycle of the last 48 hours); points older than
    ``services.TREND_KEPT`` are pruned with the snapshots.
    """

    metric = models.CharField(max_length=64)
    scope = models.CharField(max_length=160)
    window = models.CharField(max_length=16)
    day = models.DateField(help_text="UTC day of the computations.")
    value = models.FloatField(null=True, blank=True, help_text="Empty when there was no data in the window.")
    sample_size = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(help_text="When the day's last value was computed.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["metric", "scope", "window", "day"]
        constraints = [
            # The upsert of services.record_trend; opsgov.dashboard.trend_values reads a key's days through it.
            models.UniqueConstraint(fields=["metric", "scope", "window", "day"], name="trend_one_point_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}[{self.scope}, {self.window}] on {self.day} = {self.value}"
