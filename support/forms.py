"""Forms of the support pages."""

from __future__ import annotations

from django import forms

from opsgov.models import Service

from .models import TicketStatus, priority_choices


class RequestForm(forms.Form):
    """The public request form."""

    name = forms.CharField(max_length=200)
    email = forms.EmailField()
    organisation = forms.CharField(max_length=200, required=False)
    subject = forms.CharField(max_length=300)
    description = forms.CharField(widget=forms.Textarea, max_length=20000)


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(choices=[(i, str(i)) for i in range(1, 6)], coerce=int, widget=forms.RadioSelect)
    comment = forms.CharField(widget=forms.Textarea, required=False, max_length=5000)


class MessageForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea, max_length=50000)
    internal = forms.BooleanField(required=False)


class TicketUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "—"), *TicketStatus.choices], required=False)
    priority = forms.ChoiceField(choices=(), required=False)
    service = forms.ModelChoiceField(queryset=Service.objects.all(), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["priority"].choices = [("", "—"), *priority_choices()]  # type: ignore[attr-defined]


class TicketNumbersField(forms.Field):
    """The ticked tickets of the queue page (checkboxes named "tickets"), or numbers typed apart by spaces/commas."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"required": "Tick at least one ticket.", "invalid": "%(value)s is not a ticket number."}

    def to_python(self, value: object) -> list[int]:
        values = value if isinstance(value, list | tuple) else [value] if value else []
        numbers = []
        for item in values:
            for part in str(item).replace(",", " ").split():
                if not part.isdigit() or len(part) > 9:
                    raise forms.ValidationError(self.error_messages["invalid"], code="invalid", params={"value": part})
                numbers.append(int(part))
        return numbers


class BulkForm(forms.Form):
    tickets = TicketNumbersField()
    status = forms.ChoiceField(choices=[("", "—"), *TicketStatus.choices], required=False)
    assign_to_me = forms.BooleanField(required=False)
