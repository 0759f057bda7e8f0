"""HTML pages of the synthetic checks: the checks page (HTTP checks and heartbeats), one check with its
recent results or pings and its status changes, and the create / edit forms.

Writes go through monitoring.checks; a refused change is shown on the form or
as a message (post/redirect/get), never as an error page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from opsgov.errors import DomainError
from opsgov.views import OneOfSelect, filter_data

from . import check_selectors as selectors
from . import checks
from .check_filters import HeartbeatFilterSet, HttpCheckFilterSet
from .check_forms import HeartbeatForm, HttpCheckForm
from .models import CheckStatus, Heartbeat, HttpCheck

#: Rows per table on the checks page.
PAGE_SIZE = 50
#: How often the checks page refreshes its tables (htmx polling).
REFRESH_SECONDS = 30


def _require(request: HttpRequest, permission: str, what: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"Your roles do not allow {what}.")


def _page(request: HttpRequest, queryset: Any, parameter: str) -> Page:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get(parameter))


def _filter_widgets(filterset: HttpCheckFilterSet) -> None:
    fields = filterset.form.fields
    service = fields["service"]
    service.widget = OneOfSelect(choices=[("", "Any service"), *iter(service.choices)])
    fields["status"].widget = forms.CheckboxSelectMultiple(choices=CheckStatus.choices)


def _summary(counts: dict[str, Counter[str]]) -> list[dict[str, Any]]:
    return [
        {
            "status": status.value,
            "label": str(status.label),
            "badge": status.badge,
            "http": counts["http"][status.value],
            "heartbeat": counts["heartbeat"][status.value],
            "total": counts["http"][status.value] + counts["heartbeat"][status.value],
        }
        for status in CheckStatus
    ]


def check_list_view(request: HttpRequest) -> HttpResponse:
    """Every HTTP check and heartbeat with its status, filtered by service, status and `q`."""
    data = filter_data(request)
    http_filter = HttpCheckFilterSet(data, queryset=selectors.http_check_list())
    heartbeat_filter = HeartbeatFilterSet(data, queryset=selectors.heartbeat_list())
    _filter_widgets(http_filter)
    filters = data.copy()
    for parameter in ("http_page", "heartbeat_page"):
        filters.pop(parameter, None)
    context = {
        "filter": http_filter,
        "http_page": _page(request, http_filter.qs, "http_page"),
        "heartbeat_page": _page(request, heartbeat_filter.qs, "heartbeat_page"),
        "filter_query": filters,
        "is_filtered": bool(filters),
        "summary": _summary(selectors.status_counts()),
        "can_add_http": request.user.has_perm("monitoring.add_httpcheck"),
        "can_add_heartbeat": request.user.has_perm("monitoring.add_heartbeat"),
        "refresh_seconds": REFRESH_SECONDS,
    }
    template = "monitoring/checks/_tables.html" if getattr(request, "htmx", False) else "monitoring/checks/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- HTTP checks --------------------------------------------------------------------------------


def http_check_detail_view(request: HttpRequest, uuid: UUID) -> HttpResponse:
    check = get_object_or_404(selectors.http_check_list(), uuid=uuid)
    context = {
        "check": check,
        "results": selectors.recent_results(check),
        "flips": selectors.recent_flips(check),
        "can_change": request.user.has_perm("monitoring.change_httpcheck"),
        "can_delete": request.user.has_perm("monitoring.delete_httpcheck"),
    }
    return render(request, "monitoring/checks/http_detail.html", context)


def _save_form(request: HttpRequest, form: forms.ModelForm, save: Callable[[dict[str, Any]], Any]) -> Any:
    """Call `save` with the form's data when it is valid; a DomainError lands on the form. None when not saved."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save(dict(form.cleaned_data))
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return None


def http_check_create_view(request: HttpRequest) -> HttpResponse:
    _require(request, "monitoring.add_httpcheck", "adding HTTP checks")
    form = HttpCheckForm(request.POST or None)
    check = _save_form(request, form, lambda data: checks.http_check_create(**data))
    if check is not None:
        messages.success(request, f"HTTP check “{check.name}” created; its first run is due now.")
        return redirect(check)
    return render(request, "monitoring/checks/http_form.html", {"form": form, "check": None})


def http_check_edit_view(request: HttpRequest, uuid: UUID) -> HttpResponse:
    _require(request, "monitoring.change_httpcheck", "changing HTTP checks")
    check = get_object_or_404(HttpCheck, uuid=uuid)
    form = HttpCheckForm(request.POST or None, instance=HttpCheck.objects.get(pk=check.pk))
    saved = _save_form(request, form, lambda data: checks.http_check_update(check=check, data=data, actor=request.user))
    if saved is not None:
        messages.success(request, f"HTTP check “{saved.name}” saved.")
        return redirect(saved)
    return render(request, "monitoring/checks/http_form.html", {"form": form, "check": check})


_HTTP_ACTIONS: dict[str, tuple[str, str]] = {
    "pause": ("monitoring.change_httpcheck", "paused"),
    "resume": ("monitoring.change_httpcheck", "resumed"),
    "delete": ("monitoring.delete_httpcheck", "deleted"),
}


@require_POST
def http_check_action_view(request: HttpRequest, uuid: UUID, action: str) -> HttpResponseRedirect:
    if action not in _HTTP_ACTIONS:
        raise Http404("No such action.")
    permission, done = _HTTP_ACTIONS[action]
    _require(request, permission, f"to {action} HTTP checks")
    check = get_object_or_404(HttpCheck, uuid=uuid)
    if action == "pause":
        checks.http_check_pause(check=check, actor=request.user)
    elif action == "resume":
        checks.http_check_resume(check=check, actor=request.user)
    else:
        checks.http_check_delete(check=check, actor=request.user)
        messages.success(request, f"HTTP check “{check.name}” {done}.")
        return redirect(reverse("monitoring:check-list"))
    messages.success(request, f"HTTP check “{check.name}” {done}.")
    return redirect(check)


# --- Heartbeats ---------------------------------------------------------------------------------


def heartbeat_detail_view(request: HttpRequest, uuid: UUID) -> HttpResponse:
    heartbeat = get_object_or_404(selectors.heartbeat_list(), uuid=uuid)
    context = {
        "heartbeat": heartbeat,
        "pings": selectors.recent_pings(heartbeat),
        "flips": selectors.recent_flips(heartbeat),
        "can_change": request.user.has_perm("monitoring.change_heartbeat"),
        "can_delete": request.user.has_perm("monitoring.delete_heartbeat"),
        "ping_log_limit": checks.PING_LOG_LIMIT,
        "body_limit_kib": checks.PING_BODY_LIMIT // 1024,
    }
    return render(request, "monitoring/checks/heartbeat_detail.html", context)


def heartbeat_create_view(request: HttpRequest) -> HttpResponse:
    _require(request, "monitoring.add_heartbeat", "adding heartbeats")
    form = HeartbeatForm(request.POST or None)
    heartbeat = _save_form(request, form, lambda data: checks.heartbeat_create(**data))
    if heartbeat is not None:
        messages.success(request, f"Heartbeat “{heartbeat.name}” created; it is watched from its first ping on.")
        return redirect(heartbeat)
    return render(request, "monitoring/checks/heartbeat_form.html", {"form": form, "heartbeat": None})


def heartbeat_edit_view(request: HttpRequest, uuid: UUID) -> HttpResponse:
    _require(request, "monitoring.change_heartbeat", "changing heartbeats")
    heartbeat = get_object_or_404(Heartbeat, uuid=uuid)
    form = HeartbeatForm(request.POST or None, instance=Heartbeat.objects.get(pk=heartbeat.pk))
    saved = _save_form(request, form, lambda data: checks.heartbeat_update(heartbeat=heartbeat, data=data))
    if saved is not None:
        messages.success(request, f"Heartbeat “{saved.name}” saved.")
        return redirect(saved)
    return render(request, "monitoring/checks/heartbeat_form.html", {"form": form, "heartbeat": heartbeat})


_HEARTBEAT_ACTIONS: dict[str, tuple[str, str]] = {
    "pause": ("monitoring.change_heartbeat", "paused"),
    "resume": ("monitoring.change_heartbeat", "resumed"),
    "delete": ("monitoring.delete_heartbeat", "deleted"),
}


@require_POST
def heartbeat_action_view(request: HttpRequest, uuid: UUID, action: str) -> HttpResponseRedirect:
    if action not in _HEARTBEAT_ACTIONS:
        raise Http404("No such action.")
    permission, done = _HEARTBEAT_ACTIONS[action]
    _require(request, permission, f"to {action} heartbeats")
    heartbeat = get_object_or_404(Heartbeat, uuid=uuid)
    if action == "pause":
        checks.heartbeat_pause(heartbeat=heartbeat, actor=request.user)
    elif action == "resume":
        checks.heartbeat_resume(heartbeat=heartbeat)
    else:
        checks.heartbeat_delete(heartbeat=heartbeat, actor=request.user)
        messages.success(request, f"Heartbeat “{heartbeat.name}” {done}.")
        return redirect(reverse("monitoring:check-list"))
    messages.success(request, f"Heartbeat “{heartbeat.name}” {done}.")
    return redirect(heartbeat)
