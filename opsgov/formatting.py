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
