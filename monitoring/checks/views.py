"""HTML pages of the synthetic checks: the checks page (HTTP checks and heartbeats), one check with its
recent results or pings and its status changes, and the create / edit forms.

Writes go through monitoring.checks.services; a refused change is shown on the form or
as a message (post/redirect/get), never as an error page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from opsgov.errors import DomainError
from opsgov.listing import OneOfSelect, filter_data, paginate

from ..models import CheckStatus
from . import selectors, services
from .filters import HeartbeatFilterSet, HttpCheckFilterSet
from .forms import HeartbeatForm, HttpCheckForm
from .kinds import HEARTBEAT, HTTP_CHECK, CheckKind

#: How often the checks page refreshes its tables (htmx polling).
REFRESH_SECONDS = 30


def _require(request: HttpRequest, permission: str, what: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"Your roles do not allow {what}.")


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
        "http_page": paginate(request, http_filter.qs, parameter="http_page"),
        "heartbeat_page": paginate(request, heartbeat_filter.qs, parameter="heartbeat_page"),
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


# --- One check or heartbeat: detail, create / edit forms, actions -----------------------------------
# monitoring.checks.urls passes each view the CheckPages of the kind its URL names.


@dataclass(frozen=True)
class CheckPages:
    """How the pages of one kind of check differ."""

    kind: CheckKind[Any]
    form_class: type[forms.ModelForm]
    detail_template: str
    form_template: str
    #: What the templates call the record: "check", "heartbeat".
    context_name: str
    #: What the detail page shows besides the record and its status changes (recent results or pings).
    detail_context: Callable[[Any], dict[str, Any]]
    #: The end of the message once one is created.
    created_note: str


HTTP_PAGES = CheckPages(
    kind=HTTP_CHECK,
    form_class=HttpCheckForm,
    detail_template="monitoring/checks/http_detail.html",
    form_template="monitoring/checks/http_form.html",
    context_name="check",
    detail_context=lambda check: {"results": selectors.recent_results(check)},
    created_note="its first run is due now.",
)
HEARTBEAT_PAGES = CheckPages(
    kind=HEARTBEAT,
    form_class=HeartbeatForm,
    detail_template="monitoring/checks/heartbeat_detail.html",
    form_template="monitoring/checks/heartbeat_form.html",
    context_name="heartbeat",
    detail_context=lambda heartbeat: {
        "pings": selectors.recent_pings(heartbeat),
        "ping_log_limit": services.PING_LOG_LIMIT,
        "body_limit_kib": services.PING_BODY_LIMIT // 1024,
    },
    created_note="it is watched from its first ping on.",
)

#: The actions of the action URLs: the permission they need (change, delete) and their past tense.
_ACTIONS: dict[str, tuple[str, str]] = {
    "pause": ("change", "paused"),
    "resume": ("change", "resumed"),
    "delete": ("delete", "deleted"),
}


def detail_view(request: HttpRequest, uuid: UUID, pages: CheckPages) -> HttpResponse:
    kind = pages.kind
    instance = get_object_or_404(kind.listed(), uuid=uuid)
    context = {
        pages.context_name: instance,
        **pages.detail_context(instance),
        "flips": selectors.recent_flips(instance),
        "can_change": request.user.has_perm(kind.permission("change")),
        "can_delete": request.user.has_perm(kind.permission("delete")),
    }
    return render(request, pages.detail_template, context)


def _save_form(request: HttpRequest, form: forms.ModelForm, save: Callable[[dict[str, Any]], Any]) -> Any:
    """Call `save` with the form's data when it is valid; a DomainError lands on the form. None when not saved."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return save(dict(form.cleaned_data))
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return None


def create_view(request: HttpRequest, pages: CheckPages) -> HttpResponse:
    kind = pages.kind
    _require(request, kind.permission("add"), f"adding {kind.plural}")
    form = pages.form_class(request.POST or None)
    created = _save_form(request, form, lambda data: kind.create(**data))
    if created is not None:
        messages.success(request, f"{kind.label} “{created.name}” created; {pages.created_note}")
        return redirect(created)
    return render(request, pages.form_template, {"form": form, pages.context_name: None})


def edit_view(request: HttpRequest, uuid: UUID, pages: CheckPages) -> HttpResponse:
    kind = pages.kind
    _require(request, kind.permission("change"), f"changing {kind.plural}")
    instance = get_object_or_404(kind.model, uuid=uuid)
    form = pages.form_class(request.POST or None, instance=kind.model.objects.get(pk=instance.pk))
    saved = _save_form(request, form, lambda data: kind.update(instance, data, request.user))
    if saved is not None:
        messages.success(request, f"{kind.label} “{saved.name}” saved.")
        return redirect(saved)
    return render(request, pages.form_template, {"form": form, pages.context_name: instance})


@require_POST
def action_view(request: HttpRequest, uuid: UUID, action: str, pages: CheckPages) -> HttpResponseRedirect:
    """Pause, resume or delete; back to the record, or to the checks page after a delete."""
    kind = pages.kind
    if action not in _ACTIONS:
        raise Http404("No such action.")
    permission, done = _ACTIONS[action]
    _require(request, kind.permission(permission), f"to {action} {kind.plural}")
    instance = get_object_or_404(kind.model, uuid=uuid)
    perform: dict[str, Callable[[Any, Any], object]] = {
        "pause": kind.pause,
        "resume": kind.resume,
        "delete": kind.delete,
    }
    perform[action](instance, request.user)
    messages.success(request, f"{kind.label} “{instance.name}” {done}.")
    return redirect(reverse("monitoring:check-list") if action == "delete" else instance)
