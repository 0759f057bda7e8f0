"""The signed-in user's email report settings: which scheduled reports they receive."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from ..models import ReportKind
from . import services

DESCRIPTIONS: dict[str, str] = {
    ReportKind.WEEKLY: "Every Monday at 07:00: gates that changed, metrics against targets, the week's incidents, "
    "SLOs at risk, overdue reviews and action items.",
    ReportKind.MONTHLY: "On the 1st of each month at 07:00: gate history over the month, waivers, "
    "and a summary of the audit trail.",
}


class SubscriptionForm(forms.Form):
    """One checkbox per report kind."""

    def __init__(self, *args: Any, initial_choices: dict[str, bool], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind, label in ReportKind.choices:
            self.fields[kind] = forms.BooleanField(
                label=str(label), required=False, initial=initial_choices[kind], help_text=DESCRIPTIONS[kind]
            )


@require_http_methods(["GET", "POST"])
def subscriptions_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    current = {kind: services.is_subscribed(user, kind) for kind in ReportKind.values}
    form = SubscriptionForm(request.POST or None, initial_choices=current)
    if request.method == "POST" and form.is_valid():
        for kind in ReportKind.values:
            wanted = bool(form.cleaned_data[kind])
            if wanted != current[kind]:
                services.set_subscription(user=user, kind=kind, subscribed=wanted)
        messages.success(request, "Your email report settings are saved.")
        return redirect("report-subscriptions")
    rows = [
        {
            "field": form[kind],
            "role": services.REPORT_ROLES[kind],
            "default": user.groups.filter(name=services.REPORT_ROLES[kind]).exists(),
        }
        for kind in ReportKind.values
    ]
    context = {"form": form, "rows": rows, "has_email": bool(getattr(user, "email", ""))}
    return render(request, "opsgov/report_subscriptions.html", context)
