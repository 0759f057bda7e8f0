"""Template filters of the SLO pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def burn(rate: float | None) -> str:
    """A burn rate as "0.42x", "14.4x"; "—" without traffic (None)."""
    if rate is None:
        return "—"
    return f"{rate:.2f}x" if rate < 10 else f"{rate:.1f}x"


@register.filter
def percent(value: float | str | None, decimals: int = 3) -> str:
    """A percentage with `decimals` places and " %"; "—" without data (None, or "" for a missing status)."""
    if value is None or value == "":
        return "—"
    return f"{float(value):.{decimals}f} %"
