"""Forms of the runbook and alert-rule pages. They check input shapes; rules and messages come from the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from opsgov.models import Service

from ..models import Runbook
from .rule_files import MAX_FILE_BYTES


def _users() -> QuerySet[Any]:
    return get_user_model().objects.filter(is_active=True).order_by("username")


class RunbookForm(forms.Form):
    """A runbook's title, slug, services, owner and Markdown body (new ones start from the template)."""

    title = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=80,
        required=False,
        help_text="Part of the runbook's URL, which alert rules put in their runbook_url. Empty: made from the title.",
    )
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The services this runbook is for.",
    )
    owner = forms.ModelChoiceField(
        queryset=_users(), to_field_name="username", help_text="Who keeps it accurate and reviews it."
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 28, "class": "mono"}),
        help_text="Markdown: ## headings, lists, `code`, ``` fenced blocks, | tables |. HTML is sanitized when shown.",
    )

    @classmethod
    def for_runbook(cls, runbook: Runbook, data: Any = None) -> RunbookForm:
        initial = {
            "title": runbook.title,
            "slug": runbook.slug,
            "services": [service.slug for service in runbook.services.all()],
            "owner": runbook.owner.get_username(),
            "body": runbook.body,
        }
        return cls(data, initial=initial)


class ReviewForm(forms.Form):
    """Record a review: the day (default today) is optional."""

    reviewed_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Reviewed on")


class LinkRunbookForm(forms.Form):
    """Link an opsgov runbook to an alert rule (or none, to unlink)."""

    runbook = forms.ModelChoiceField(
        queryset=Runbook.objects.order_by("title"),
        to_field_name="slug",
        required=False,
        empty_label="No runbook linked in opsgov",
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files (a list of uploads once cleaned)."""

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class RuleImportForm(forms.Form):
    """Upload one or more Prometheus rule files."""

    rule_files = MultipleFileField(
        widget=MultipleFileInput(attrs={"accept": ".yml,.yaml"}),
        help_text=f"Prometheus rule files (YAML, up to {MAX_FILE_BYTES // 1024} KiB each).",
        label="Rule files",
    )
    replace = forms.BooleanField(
        required=False,
        label="Replace the catalog",
        help_text="Also remove the files (and their rules) not uploaded now.",
    )
