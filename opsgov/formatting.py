"""Formatting shared by pages, reports and selectors."""

from __future__ import annotations

from datetime import timedelta

_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def format_duration(seconds: float | timedelta | None) -> str:
    """A duration as people read it: "45 s", "6 min 30 s", "3 h 12 min", "2 d 4 h", "31 d".

    The two largest units, rounded to the smaller one; a zero second unit is left out.
    """
    if seconds is None:
        return "—"
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    total = round(max(seconds, 0))
    if total == 0:
        return "0 s"
    for index, (name, size) in enumerate(_UNITS):
        if total < size:
            continue
        if index + 1 == len(_UNITS):
            return f"{total} s"
        smaller_name, smaller_size = _UNITS[index + 1]
        total = round(total / smaller_size) * smaller_size  # round to the smaller unit
        major, rest = divmod(total, size)
        minor = rest // smaller_size
        return f"{major} {name} {minor} {smaller_name}" if minor else f"{major} {name}"
    return f"{total} s"  # pragma: no cover - the loop always returns


# --- Operational metrics ---------------------------------------------------------------------------
# One function per kind of figure, used by every page that shows one (the dashboard, the service
# scorecard, the reports), so the same figure reads the same everywhere.

#: How a target's comparison is written for people.
COMPARISON_SYMBOLS: dict[str, str] = {">": ">", ">=": "≥", "<": "<", "<=": "≤"}
#: A metric without a figure.
NO_DATA = "no data"


def _trim(value: float, places: int) -> str:
    """`value` with at most `places` decimals, trailing zeros left out: 99.95, 100, 4.6."""
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_percent(value: float) -> str:
    """A percentage (availability, backup success, patch compliance): "99.95 %", "100 %"."""
    return f"{_trim(value, 3)} %"


def format_ratio(value: float) -> str:
    """A ratio (0 to 1) as a percentage: 0.55 -> "55 %", 0.3333 -> "33.3 %"."""
    return f"{_trim(value * 100, 1)} %"


def format_score(value: float) -> str:
    """A score (support satisfaction out of 5): "4.62", "5"."""
    return _trim(value, 2)


def format_metric_value(value: float | None, unit: str) -> str:
    """A metric's figure in its unit: durations (MTTA, MTTR, MTBF) as "6 min 30 s", percentages
    (availability) as "99.95 %", ratios as percentages, scores as "4.62"; "no data" without a figure."""
    if value is None:
        return NO_DATA
    if unit == "seconds":
        return format_duration(value)
    if unit == "percent":
        return format_percent(value)
    if unit == "ratio":
        return format_ratio(value)
    return format_score(value)


def format_target(comparison: str, target: float, unit: str) -> str:
    """A target as people read it: "> 99.9 %", "< 15 min", "≥ 100 %"."""
    return f"{COMPARISON_SYMBOLS.get(comparison, comparison)} {format_metric_value(target, unit)}"
