"""Forms of the gate page: "as of" replay, waiver request and revocation. Rules live in opsgov.gates.waivers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from ..models import ORGANISATION_WIDE, Service
from ..registry import Gate
from .selectors import EvidenceRow
from .waivers import MAX_WAIVER_DURATION, approver_candidates

#: The expiry the request form suggests.
DEFAULT_WAIVER_DURATION = timedelta(days=30)
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
#: Separates the service and the evidence key in the check drop-down (slugs never contain it); an
#: organisation-wide row has no service before it ("|training").
CHECK_SEPARATOR = "|"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format=DATETIME_LOCAL, **kwargs)


class AsOfForm(forms.Form):
    """`?at=2026-10-01T00:00`: show the gate as it stood then (in the site's time zone unless an offset is given)."""

    at = forms.DateTimeField(
        required=False,
        label="As of",
        widget=DateTimeLocalInput(),
        help_text="Show the evaluation that was current at this time.",
    )


def check_value(row: EvidenceRow) -> str:
    return f"{row.service_slug}{CHECK_SEPARATOR}{row.key}"


class ApproverChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.get_username()})" if name else str(obj.get_username())


def check_label(row: EvidenceRow) -> str:
    """A check as the drop-down offers it: its label and its service's name, or "organisation-wide"."""
    if not row.service_slug:
        return f"{row.label} ({ORGANISATION_WIDE})"
    return f"{row.label} ({row.service.name if row.service else row.service_slug})"


class WaiverRequestForm(forms.Form):
    """Ask an approver to waive one failing check of the gate, for one service or organisation-wide."""

    check = forms.ChoiceField(label="Failing check", help_text="A failing or at-risk row of the latest evaluation.")
    approver = ApproverChoiceField(
        queryset=get_user_model().objects.none(),  # set per gate in __init__
        label="Approver",
        help_text="A holder of the role that approves waivers of this gate; not you.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, label="Reason")
    compensating_control = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        label="Compensating control",
        help_text="What covers the risk while the check is waived.",
    )
    expires_at = forms.DateTimeField(
        label="Expires",
        widget=DateTimeLocalInput(),
        help_text=f"Required; at most {MAX_WAIVER_DURATION.days} days ahead.",
    )

    def __init__(
        self,
        *args: Any,
        gate: Gate,
        rows: list[EvidenceRow],
        user: Any,
        taken: frozenset[tuple[str, str]] = frozenset(),
        **kwargs: Any,
    ) -> None:
        """`taken`: (service slug, evidence key) of the checks that have an open waiver already; not offered.

        The slug is "" for an organisation-wide check.
        """
        kwargs.setdefault("initial", {"expires_at": timezone.localtime() + DEFAULT_WAIVER_DURATION})
        super().__init__(*args, **kwargs)
        choices = [
            (check_value(row), check_label(row))
            for row in rows
            if row.waivable and (row.service_slug, row.key) not in taken
        ]
        self.has_choices = bool(choices)
        check = self.fields["check"]
        assert isinstance(check, forms.ChoiceField)
        check.choices = choices
        approver = self.fields["approver"]
        assert isinstance(approver, forms.ModelChoiceField)
        approver.queryset = approver_candidates(gate).exclude(pk=getattr(user, "pk", None))
        self.services = {row.service_slug: row.service for row in rows if row.service is not None}

    def clean_check(self) -> tuple[Service | None, str]:
        """(the service, or None for an organisation-wide check; the evidence key)."""
        value = self.cleaned_data["check"]
        slug, _, key = value.partition(CHECK_SEPARATOR)
        service = self.services.get(slug) if slug else None
        if (slug and service is None) or not key:
            raise ValidationError("Choose a failing check of the latest evaluation.")
        return service, key

    # Service field names -> form field names, for errors raised by opsgov.gates.waivers.
    FIELD_FOR = {"evidence_key": "check", "service": "check", "gate": None, "state": None}

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for name, messages in error.message_dict.items():
            target = self.FIELD_FOR.get(name, name)
            self.add_error(target if target in self.fields else None, messages)


class RevokeForm(forms.Form):
    reason = forms.CharField(required=False, max_length=5000, label="Why revoke (optional)")
