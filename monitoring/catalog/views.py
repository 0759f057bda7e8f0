"""HTML pages of the alert-rule catalog and runbooks (mounted under /monitoring/).

Reads go through monitoring.catalog.selectors, writes through
monitoring.catalog.services. Every page needs a login (LoginRequiredMiddleware); changing
anything needs the model permission of the user's roles. Refused or invalid
input re-renders the form with the errors (status 400); success redirects.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from opsgov.errors import DomainError
from opsgov.listing import OneOfSelect, filter_data, list_context, paginate
from opsgov.policy import get_policy

from ..models import Runbook
from ..models.catalog import policy_today
from . import rendering, rule_files, services
from .filters import AlertRuleFilterSet, RunbookFilterSet
from .forms import LinkRunbookForm, ReviewForm, RuleImportForm, RunbookForm
from .selectors import (
    alert_rule_list,
    overdue_runbooks,
    rule_coverage,
    runbook_detail,
    runbook_list,
)

ADD_RUNBOOK = "monitoring.add_runbook"
CHANGE_RUNBOOK = "monitoring.change_runbook"
ADD_RULE = "monitoring.add_alertrule"
CHANGE_RULE = "monitoring.change_alertrule"


def _require(request: HttpRequest, permission: str, what: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"Your roles do not allow {what}.")


def _yes_no(field: forms.Field, yes: str, no: str) -> None:
    field.widget = forms.Select(choices=[("", "Any"), ("true", yes), ("false", no)])


def _error_text(exc: DomainError | ValidationError) -> str:
    return exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)


# --- Alert rules -----------------------------------------------------------------------------


def _rule_list_context(request: HttpRequest) -> dict[str, Any]:
    data = filter_data(request)
    filterset = AlertRuleFilterSet(data, queryset=alert_rule_list())
    fields = filterset.form.fields
    fields["service"].widget = OneOfSelect(choices=[("", "Any"), *iter(fields["service"].choices)])
    fields["severity"].widget = forms.CheckboxSelectMultiple(choices=fields["severity"].choices)
    _yes_no(fields["has_runbook"], "With a runbook", "Without a runbook")
    _yes_no(fields["has_service"], "With a service", "Without a service")
    page = paginate(request, filterset.qs)
    context = list_context(data, filterset, page)
    context["coverage"] = rule_coverage()
    context["filtered_coverage"] = (
        rule_coverage(filterset.qs) if context["is_filtered"] and filterset.is_valid() else None
    )
    context["can_import"] = request.user.has_perm(ADD_RULE)
    context["import_form"] = RuleImportForm() if context["can_import"] else None
    return context


def alert_rule_list_view(request: HttpRequest) -> HttpResponse:
    return render(request, "monitoring/catalog/alert_rule_list.html", _rule_list_context(request))


def alert_rule_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A rule as the file defines it and what opsgov makes of it; with the permission, link a runbook."""
    rule = get_object_or_404(alert_rule_list(), pk=pk)
    can_change = request.user.has_perm(CHANGE_RULE)
    form: LinkRunbookForm | None
    if request.method == "POST":
        _require(request, CHANGE_RULE, "linking runbooks to alert rules")
        form = LinkRunbookForm(request.POST)
        if form.is_valid():
            runbook = form.cleaned_data["runbook"]
            services.alert_rule_link_runbook(rule=rule, runbook=runbook)
            messages.success(request, f"Runbook {'linked' if runbook else 'unlinked'}.")
            return redirect(rule)
        status = 400
    else:
        form = LinkRunbookForm(initial={"runbook": rule.runbook.slug if rule.runbook else ""}) if can_change else None
        status = 200
    context = {
        "rule": rule,
        "form": form,
        "can_change": can_change,
        "for_text": rule_files.format_duration(rule.for_duration),
        "keep_firing_text": rule_files.format_duration(rule.keep_firing_for),
        "labels": sorted(rule.labels.items()),
        "annotations": sorted(rule.annotations.items()),
    }
    return render(request, "monitoring/catalog/alert_rule_detail.html", context, status=status)


@require_POST
def alert_rule_import_view(request: HttpRequest) -> HttpResponse:
    """Import uploaded rule files; all or nothing, every problem listed on the catalog page."""
    _require(request, ADD_RULE, "importing alert rules")
    form = RuleImportForm(request.POST, request.FILES)
    error_rows: list[str] = []
    if form.is_valid():
        uploads = form.cleaned_data["rule_files"]
        try:
            result = services.import_rule_files(
                files=[(upload.name, upload.read(rule_files.MAX_FILE_BYTES + 1)) for upload in uploads],
                replace=form.cleaned_data["replace"],
                actor=request.user,
            )
        except rule_files.RuleImportError as exc:
            error_rows = [str(error) for error in exc.errors]
            form.add_error(None, exc.message)
        else:
            for file_result in result.files:
                messages.success(request, file_result.summary())
            for removed in result.removed_files:
                messages.info(request, f"{removed.name}: removed with its {len(removed.removed)} rules.")
            return redirect("monitoring:alert-rule-list")
    context = _rule_list_context(request)
    context.update(import_form=form, import_errors=error_rows)
    return render(request, "monitoring/catalog/alert_rule_list.html", context, status=400)


# --- Runbooks -----------------------------------------------------------------------------


def runbook_list_view(request: HttpRequest) -> HttpResponse:
    data = filter_data(request)
    filterset = RunbookFilterSet(data, queryset=runbook_list())
    fields = filterset.form.fields
    fields["service"].widget = OneOfSelect(choices=[("", "Any"), *iter(fields["service"].choices)])
    _yes_no(fields["overdue"], "Review overdue", "Reviewed on time")
    page = paginate(request, filterset.qs)
    context = list_context(data, filterset, page)
    context["overdue_count"] = overdue_runbooks().count()
    context["can_add"] = request.user.has_perm(ADD_RUNBOOK)
    context["today"] = policy_today()
    context["review_every"] = str(get_policy().monitoring.runbook_review_every)
    return render(request, "monitoring/catalog/runbook_list.html", context)


def runbook_detail_view(request: HttpRequest, slug: str) -> HttpResponse:
    runbook = get_object_or_404(runbook_detail(), slug=slug)
    return _detail(request, runbook)


def _detail(
    request: HttpRequest, runbook: Runbook, *, review_form: ReviewForm | None = None, status: int = 200
) -> HttpResponse:
    can_change = request.user.has_perm(CHANGE_RUNBOOK)
    context = {
        "runbook": runbook,
        "body_html": rendering.render_markdown(runbook.body),
        "services": list(runbook.services.all()),
        "alert_rules": list(runbook.alert_rules.all()),
        "can_change": can_change,
        "review_form": review_form or (ReviewForm() if can_change else None),
    }
    return render(request, "monitoring/catalog/runbook_detail.html", context, status=status)


@require_POST
def runbook_review_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Mark as reviewed: records who and which day; the next review falls due a policy period later."""
    _require(request, CHANGE_RUNBOOK, "reviewing runbooks")
    runbook = get_object_or_404(runbook_detail(), slug=slug)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            services.runbook_mark_reviewed(runbook=runbook, actor=request.user, on=form.cleaned_data["reviewed_on"])
        except (DomainError, ValidationError) as exc:
            form.add_error("reviewed_on", _error_text(exc))
        else:
            messages.success(request, "Review recorded.")
            return redirect(runbook)
    fresh = get_object_or_404(runbook_detail(), pk=runbook.pk)
    return _detail(request, fresh, review_form=form, status=400)


def _save_form(request: HttpRequest, form: RunbookForm, runbook: Runbook | None) -> Runbook | None:
    """Create or update from a valid form; a service's refusal becomes a form error (None returned)."""
    data = dict(form.cleaned_data)
    try:
        if runbook is None:
            return services.runbook_create(**data, actor=request.user)
        return services.runbook_update(runbook=runbook, data=data)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc.messages)
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return None


def runbook_create_view(request: HttpRequest) -> HttpResponse:
    """A new runbook, its body prefilled with the template after the seed's sample runbook."""
    _require(request, ADD_RUNBOOK, "writing runbooks")
    if request.method == "POST":
        form = RunbookForm(request.POST)
        if form.is_valid():
            runbook = _save_form(request, form, None)
            if runbook is not None:
                messages.success(request, "Runbook created; it counts as reviewed today.")
                return redirect(runbook)
        status = 400
    else:
        initial: dict[str, Any] = {"body": rendering.RUNBOOK_TEMPLATE, "owner": request.user.get_username()}
        if request.GET.get("service"):
            initial["services"] = [request.GET["service"]]
        form = RunbookForm(initial=initial)
        status = 200
    return render(request, "monitoring/catalog/runbook_form.html", {"form": form, "runbook": None}, status=status)


def runbook_edit_view(request: HttpRequest, slug: str) -> HttpResponse:
    _require(request, CHANGE_RUNBOOK, "changing runbooks")
    runbook = get_object_or_404(Runbook.objects.select_related("owner").prefetch_related("services"), slug=slug)
    if request.method == "POST":
        form = RunbookForm(request.POST)
        if form.is_valid():
            saved = _save_form(request, form, runbook)
            if saved is not None:
                messages.success(request, "Runbook saved.")
                return redirect(saved)
        status = 400
    else:
        form = RunbookForm.for_runbook(runbook)
        status = 200
    return render(request, "monitoring/catalog/runbook_form.html", {"form": form, "runbook": runbook}, status=status)
