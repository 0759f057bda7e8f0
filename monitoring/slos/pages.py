"""What the SLO pages show, computed from the SLO engine's state (no formula of its own).

- Budget state of an SLO from SLOStatus.budget_remaining and the policy's
  ``monitoring.slo_at_risk_budget_percent``: ok, at risk, exhausted (<= 0) or no data.
- Freshness from SLO.last_sli_at and ``monitoring.sli_fresh_within``.
- The chart series of the detail page, read from the hour or day rollups
  (SLIHourRollup, SLIDayRollup; one query), never from raw buckets. Each point's
  SLI and the cumulative error budget remaining since the window's start are
  monitoring.slos.engine.Figures of the sums, so they follow the engine's definitions.
- The SVG geometry of both charts (polyline points, axis ticks), rendered by the
  template as inline SVG.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.core.exceptions import ObjectDoesNotExist

from opsgov.policy import Policy

from ..models import SLO, SLIDayRollup, SLIHourRollup, SLOStatus
from . import engine
from .selectors import at_risk_threshold

#: The burn-rate windows shown in the SLO list.
LIST_BURN_WINDOWS = ("1h", "6h", "1d", "3d")

Resolution = Literal["day", "hour"]


@dataclass(frozen=True)
class BudgetState:
    key: Literal["ok", "at-risk", "exhausted", "no-data"]
    label: str
    badge: str  # opsgov.css badge modifier
    remaining_percent: float | None  # 100 x budget_remaining
    bar_percent: float  # the bar's width, clamped to 0..100


def budget_state(remaining: float | None, *, threshold: float | None = None) -> BudgetState:
    """The words and colour of an error budget: ok, at risk (below the policy's share), exhausted (<= 0)."""
    limit = at_risk_threshold() if threshold is None else threshold
    if remaining is None:
        return BudgetState("no-data", "No data", "muted", None, 0.0)
    percent = 100 * remaining
    bar = min(max(percent, 0.0), 100.0)
    if remaining <= 0:
        return BudgetState("exhausted", "Exhausted", "danger", percent, bar)
    if remaining < limit:
        return BudgetState("at-risk", "At risk", "warning", percent, bar)
    return BudgetState("ok", "OK", "success", percent, bar)


def slo_status(slo: SLO) -> SLOStatus | None:
    """The SLO's latest evaluation (joined by monitoring.slos.selectors.slo_list), None before the first."""
    try:
        return slo.status
    except ObjectDoesNotExist:
        return None


def is_stale(slo: SLO, *, now: datetime, policy: Policy) -> bool:
    """No SLI data, or the newest is older than policy.monitoring.sli_fresh_within."""
    if slo.last_sli_at is None:
        return True
    return policy.monitoring.sli_fresh_within.after(slo.last_sli_at) < now


@dataclass(frozen=True)
class BurnRow:
    """One alert of the policy for one SLO: its threshold, windows, the SLO's burn rates and whether it fires."""

    key: str
    kind: str
    severity: str
    threshold: float
    long_window: str
    short_window: str
    long_rate: float | None
    short_rate: float | None
    firing: bool


def burn_rows(status: SLOStatus | None, policy: Policy) -> list[BurnRow]:
    rates = status.burn_rates if status else {}
    firing = set(status.firing) if status else set()
    rows = []
    for key, alert in policy.monitoring.burn_rate_alerts.items():
        long_w = engine.window_label(alert.long_window.as_timedelta())
        short_w = engine.window_label(alert.short_window.as_timedelta())
        rows.append(
            BurnRow(
                key=key,
                kind=alert.kind,
                severity=policy.burn_rate_severity(alert),
                threshold=alert.burn_rate,
                long_window=long_w,
                short_window=short_w,
                long_rate=rates.get(long_w),
                short_rate=rates.get(short_w),
                firing=key in firing,
            )
        )
    return rows


# --- Chart series -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    start: datetime
    good: int
    total: int
    sli_percent: float | None  # this period's SLI
    budget_remaining_percent: float | None  # cumulative since the window's start


def chart_points(slo: SLO, *, start: datetime, end: datetime, resolution: Resolution) -> list[Point]:
    """One point per day (or hour) of [start, end) that has a rollup, in one query.

    Rollups hold whole UTC periods, so the first point is the period holding
    `start` and the hour still being collected is not in them yet: the last
    point can differ slightly from the engine's exact window figures.
    """
    model: type[SLIDayRollup] | type[SLIHourRollup]
    if resolution == "day":
        model, first = SLIDayRollup, engine.floor_day(start)
    else:
        model, first = SLIHourRollup, engine.floor_hour(start)
    rows = model.objects.filter(slo=slo, start__gte=first, start__lt=end).order_by("start")
    ratio = engine.budget_ratio(slo)
    points = []
    good_sum = total_sum = 0
    for row_start, good, total in rows.values_list("start", "good", "total"):
        good_sum, total_sum = good_sum + good, total_sum + total
        remaining = engine.Figures(good_sum, total_sum, ratio=ratio).budget_remaining
        points.append(
            Point(
                start=row_start,
                good=good,
                total=total,
                sli_percent=engine.Figures(good, total, ratio=ratio).sli_percent,
                budget_remaining_percent=None if remaining is None else 100 * remaining,
            )
        )
    return points


# --- SVG geometry -----------------------------------------------------------------------------

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


@dataclass(frozen=True)
class Chart:
    """Everything the template needs to draw one line chart with a reference line."""

    width: int
    height: int
    points: str  # the polyline's "x,y x,y ..."
    dots: list[dict[str, Any]]  # x, y and the value (a <title> for each point)
    y_ticks: list[dict[str, Any]]  # y and label
    x_ticks: list[dict[str, Any]]  # x and label
    reference_y: float | None  # the objective (or zero budget) line
    reference_label: str
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int

    @property
    def count(self) -> int:
        return len(self.dots)


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    step = (high - low) / count if high > low else 1.0
    return [low + step * index for index in range(count + 1)]


def line_chart(
    values: list[tuple[datetime, float | None]],
    *,
    window: tuple[datetime, datetime],
    reference: float | None,
    reference_label: str,
    floor: float | None = None,
    ceiling: float | None = None,
    unit: str = " %",
    decimals: int = 2,
) -> Chart:
    """Place `values` (time, value; None skipped) on a time axis spanning `window`, the y axis fitting the values
    and the reference line (bounded by `floor` and `ceiling`)."""
    known = [value for _, value in values if value is not None]
    candidates = [*known, *([reference] if reference is not None else [])]
    low = min(candidates) if candidates else 0.0
    high = max(candidates) if candidates else 100.0
    pad = (high - low) * 0.1 or max(abs(high) * 0.01, 0.1)
    low, high = low - pad, high + pad
    if floor is not None:
        low = max(low, floor)
    if ceiling is not None:
        high = min(high, ceiling)
    if high <= low:
        high = low + 1
    start, end = window
    span = (end - start).total_seconds() or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(at: datetime) -> float:
        return round(LEFT + plot_w * min(max((at - start).total_seconds() / span, 0.0), 1.0), 1)

    def y_of(value: float) -> float:
        return round(TOP + plot_h * (1 - (min(max(value, low), high) - low) / (high - low)), 1)

    dots = [
        {"x": x_of(at), "y": y_of(value), "at": at, "value": f"{value:.{decimals}f}{unit}"}
        for at, value in values
        if value is not None
    ]
    y_ticks = [{"y": y_of(value), "label": f"{value:.{decimals}f}{unit}"} for value in _nice_ticks(low, high)]
    days = max(int(span // 86400), 1)
    step = timedelta(days=max(days // 6, 1)) if span >= 2 * 86400 else timedelta(hours=6)
    x_ticks = []
    at = engine.floor_day(start) + step if span >= 2 * 86400 else engine.floor_hour(start) + step
    while at < end:
        x_ticks.append({"x": x_of(at), "label": f"{at:%d %b}" if span >= 2 * 86400 else f"{at:%H:%M}"})
        at += step
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        points=" ".join(f"{dot['x']},{dot['y']}" for dot in dots),
        dots=dots,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        reference_y=None if reference is None else y_of(reference),
        reference_label=reference_label,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
    )
