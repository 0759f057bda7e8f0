"""Forms of the check pages. Model rules (full_clean) apply too; the services have the last word."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from pydantic import ValidationError as PydanticValidationError

from opsgov.models import Service
from opsgov.policy import get_policy, span

from ..models import SLO, Heartbeat, HttpCheck, SLISource
from .services import HEARTBEAT_FIELDS, HTTP_CHECK_FIELDS

_UNITS = (("week", timedelta(weeks=1)), ("day", timedelta(days=1)), ("hour", timedelta(hours=1)))


def duration_text(value: timedelta) -> str:
    """ "1 day", "26 hours", "90 minutes": the largest unit that divides the duration."""
    for name, size in _UNITS:
        if value >= size and value % size == timedelta(0):
            amount = value // size
            return f"{amount} {name}{'' if amount == 1 else 's'}"
    minutes = round(value.total_seconds() / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


class SpanDurationField(forms.Field):
    """A duration written as people say it: "15 minutes", "26 hours", "1 day", "2 weeks"."""

    default_error_messages = {"invalid": 'Write a duration such as "30 minutes", "6 hours" or "1 day".'}

    def prepare_value(self, value: Any) -> Any:
        return duration_text(value) if isinstance(value, timedelta) else value

    def to_python(self, value: Any) -> timedelta | None:
        if value in self.empty_values:
            return None
        if isinstance(value, timedelta):
            return value
        try:
            parsed = span(str(value))
            return parsed.as_timedelta()
        except (PydanticValidationError, ValueError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def _severity_choices() -> list[tuple[str, str]]:
    return [(key, f"{key} — {level.description}") for key, level in get_policy().incidents.severities.items()]


class HttpCheckForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="The http(s) URL to request. Redirects are not followed: a 3xx is what the server answered.",
    )
    severity = forms.ChoiceField(
        choices=_severity_choices,
        initial="SEV-3",
        help_text="Severity of the incident the check opens when it goes down.",
    )

    class Meta:
        model = HttpCheck
        fields = list(HTTP_CHECK_FIELDS)
        labels = {
            "expected_status_min": "Expected status from",
            "expected_status_max": "Expected status to",
            "timeout_ms": "Timeout (ms)",
            "interval_seconds": "Interval (seconds)",
            "failure_threshold": "Failures before down",
            "slo": "Feeds SLO",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        service_field: Any = self.fields["service"]
        service_field.queryset = Service.objects.order_by("name")
        slo_field: Any = self.fields["slo"]
        slo_field.queryset = SLO.objects.filter(source=SLISource.CHECK).select_related("service")
        slo_field.empty_label = "None"


class HeartbeatForm(forms.ModelForm):
    period = SpanDurationField(
        initial=timedelta(days=1), help_text='Expected time between two success pings, e.g. "1 day" or "15 minutes".'
    )
    grace = SpanDurationField(
        initial=timedelta(hours=1),
        help_text='How late a ping may be before the heartbeat goes down, e.g. "1 hour"; a job that pinged '
        "/start must finish within it.",
    )
    severity = forms.ChoiceField(
        choices=_severity_choices,
        initial="SEV-3",
        help_text="Severity of the incident the heartbeat opens when it goes down.",
    )

    class Meta:
        model = Heartbeat
        fields = list(HEARTBEAT_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        service_field: Any = self.fields["service"]
        service_field.queryset = Service.objects.order_by("name")
