"""Forms of the incident pages: declaring an incident and the lifecycle actions.

They check input shapes only; the lifecycle rules (and their error messages)
come from incidents.services.
"""

from __future__ import annotations

from django import forms

from opsgov.models import Lifecycle, Service
from opsgov.policy import get_policy


def severity_choices() -> list[tuple[str, str]]:
    """An empty first choice, then the effective policy's severities with their meaning and response target."""
    severities = get_policy().incidents.severities
    return [
        ("", "Choose a severity"),
        *(
            (key, f"{key} — {level.description} (respond within {level.response_target})")
            for key, level in sorted(severities.items())
        ),
    ]


class DeclareIncidentForm(forms.Form):
    """Open an incident now, by hand (alerts open theirs through the integrations)."""

    title = forms.CharField(max_length=255, help_text="What is wrong, as users see it.")
    service = forms.ModelChoiceField(
        queryset=Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("name"),
        to_field_name="slug",
        empty_label="Choose a service",
    )
    severity = forms.ChoiceField(choices=severity_choices)  # no default: the declarer must choose
    summary = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text="What is known so far."
    )
    customer_impact = forms.BooleanField(required=False, label="Customers are affected")
    impacted_services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("name"),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Other services affected",
    )


class IncidentActionForm(forms.Form):
    """The text an action may carry: a reason (reopen, cancel) or a message (mitigate, resolve, note)."""

    reason = forms.CharField(required=False, max_length=2000)
    message = forms.CharField(required=False, max_length=10000)
