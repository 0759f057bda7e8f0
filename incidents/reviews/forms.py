"""Forms of the review and backlog pages.

They check input shapes only; the workflow rules (what may change when, what a
submission needs) and their messages come from incidents.reviews.services.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from ..models import ActionItem, ActionPriority, ActionStatus, Incident, PostIncidentReview, ReviewRevision

SECTION_HELP: dict[str, str] = {
    "summary": "What happened, in a few sentences, for someone who was not there.",
    "impact": "Who and what was affected, how badly and for how long.",
    "timeline": "Pre-filled from the incident's timeline (UTC); add what happened outside the tool.",
    "root_causes": "Why it happened: the conditions that made it possible, not who to blame.",
    "contributing_factors": "What made it worse or slower to fix.",
    "what_went_well": "What to keep doing.",
    "what_went_wrong": "What to change; each change becomes an action item below.",
}


def _users() -> QuerySet[Any]:
    return get_user_model().objects.filter(is_active=True).order_by("username")


class ReviewForm(forms.Form):
    """The written sections of a review, after the seed's post-mortem structure (all optional while a draft)."""

    summary = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    impact = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    timeline = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}))
    root_causes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Root causes")
    contributing_factors = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Contributing factors"
    )
    what_went_well = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="What went well")
    what_went_wrong = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="What went wrong")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.help_text = SECTION_HELP[name]

    @classmethod
    def for_review(cls, review: PostIncidentReview | ReviewRevision, data: Any = None) -> ReviewForm:
        """The form over a review's sections, or over a correction's (a ReviewRevision)."""
        return cls(data, initial={name: getattr(review, name) for name in cls.base_fields}, prefix="review")


class ActionItemRowForm(forms.Form):
    """One row of the review's inline list of action items; an empty extra row adds nothing."""

    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    title = forms.CharField(max_length=255)
    owner = forms.ModelChoiceField(queryset=_users(), to_field_name="username", required=False, empty_label="Nobody")
    due_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    priority = forms.ChoiceField(choices=ActionPriority.choices, initial=ActionPriority.MEDIUM)
    status = forms.ChoiceField(choices=ActionStatus.choices, initial=ActionStatus.OPEN)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _users()  # type: ignore[attr-defined]

    @staticmethod
    def initial_for(item: ActionItem) -> dict[str, Any]:
        return {
            "id": item.pk,
            "title": item.title,
            "owner": item.owner.get_username() if item.owner else None,
            "due_date": item.due_date,
            "priority": item.priority,
            "status": item.status,
        }


# No delete column: action items are evidence (opsgov.evidence); one added by mistake is closed as won't do.
ActionItemFormSet = forms.formset_factory(ActionItemRowForm, extra=1)


def action_item_formset(
    review: PostIncidentReview, items: list[ActionItem], data: Any = None
) -> forms.BaseFormSet[ActionItemRowForm]:
    return ActionItemFormSet(data, initial=[ActionItemRowForm.initial_for(item) for item in items], prefix="items")


class ActionItemForm(forms.Form):
    """An action item on its own page: create (optionally for an incident) or edit."""

    title = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    owner = forms.ModelChoiceField(queryset=_users(), to_field_name="username", required=False, empty_label="Nobody")
    due_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    priority = forms.ChoiceField(choices=ActionPriority.choices, initial=ActionPriority.MEDIUM)
    status = forms.ChoiceField(
        choices=[(ActionStatus.OPEN, "Open"), (ActionStatus.IN_PROGRESS, "In progress")],
        initial=ActionStatus.OPEN,
        help_text="Close an item with the buttons on its page.",
    )
    incident = forms.ModelChoiceField(
        queryset=Incident.objects.order_by("-triggered_at"),
        required=False,
        widget=forms.NumberInput,
        label="Incident number",
        help_text='The N of "INC-N", if the item comes from an incident.',
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _users()  # type: ignore[attr-defined]
        if editing:
            # An item stays with its incident and review; closing has its own buttons.
            del self.fields["incident"]

    @classmethod
    def for_item(cls, item: ActionItem, data: Any = None) -> ActionItemForm:
        initial = {
            "title": item.title,
            "description": item.description,
            "owner": item.owner.get_username() if item.owner else None,
            "due_date": item.due_date,
            "priority": item.priority,
            "status": item.status,
        }
        form = cls(data, initial=initial, editing=True)
        if item.status not in (ActionStatus.OPEN, ActionStatus.IN_PROGRESS):
            del form.fields["status"]  # closed: reopen it to change its status
        return form


class CloseForm(forms.Form):
    resolution = forms.ChoiceField(choices=[(ActionStatus.DONE, "Done"), (ActionStatus.WONT_DO, "Won't do")])
