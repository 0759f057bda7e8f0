"""Template filters of the alert-rule catalog pages."""

from __future__ import annotations

from datetime import timedelta

from django import template

from monitoring.catalog.rule_files import format_duration

register = template.Library()


@register.filter
def prom_duration(value: timedelta | None) -> str:
    """A duration in Prometheus' notation ("5m", "1h30m"); "—" when unset."""
    return format_duration(value) or "—"
