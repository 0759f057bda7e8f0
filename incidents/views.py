"""HTML pages of incidents: the list, one incident with its timeline and actions, declaring one,
the per-service MTTA / MTTR / MTBF pages read from metric snapshots, the integrations, and the
dead letters of ingestion (accepted alert events whose processing failed) with their replay.

Writes go through incidents.services; a refused action is shown as a message
on the incident's page (post/redirect/get), never as an error page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from opsgov import selectors as core_selectors
from opsgov.errors import DomainError
from opsgov.formatting import format_duration
from opsgov.listing import OneOfSelect, filter_data, list_context, paginate
from opsgov.models import MetricSnapshot
from opsgov.policy import get_policy
from opsgov.registry import WINDOWS, MetricDefinition, metrics

from . import services
from .context import incident_context
from .filters import IncidentFilterSet, alert_signals, incident_detail, incident_list, incident_number, timeline_entries
from .forms import DeclareIncidentForm, IncidentActionForm
from .ingest import dead_letters
from .ingest.routing import UNKNOWN_VALUES_DAYS
from .ingest.selectors import recent_unknown_values_prefetch, unknown_routing_values
from .ingest.services import MAX_ATTEMPTS
from .models import Incident, IncidentStatus, Integration, PostIncidentReview, RawEvent
from .selectors import latest_incident_snapshots

CHANGE_PERMISSION = "incidents.change_incident"
ADD_PERMISSION = "incidents.add_incident"


# --- Durations ---------------------------------------------------------------------------


# --- List ----------------------------------------------------------------------------------


def _filter_widgets(filterset: IncidentFilterSet) -> None:
    """Widgets that suit a filter bar: a drop-down of services, checkboxes, date pickers."""
    fields = filterset.form.fields
    service = fields["service"]
    service.widget = OneOfSelect(choices=[("", "Any service"), *iter(service.choices)])
    for name in ("severity", "status"):
        fields[name].widget = forms.CheckboxSelectMultiple(choices=fields[name].choices)
    fields["customer_impact"].widget = forms.Select(choices=[("", "Any"), ("true", "Yes"), ("false", "No")])
    for name in ("triggered_after", "triggered_before"):
        fields[name].widget = forms.DateInput(attrs={"type": "date"})


def incident_list_view(request: HttpRequest) -> HttpResponse:
    data = filter_data(request)
    filterset = IncidentFilterSet(data, queryset=incident_list())
    _filter_widgets(filterset)
    page = paginate(request, filterset.qs)
    context = list_context(data, filterset, page)
    context["can_declare"] = request.user.has_perm(ADD_PERMISSION)
    return render(request, "incidents/incident_list.html", context)


# --- Detail and actions -----------------------------------------------------------------


@dataclass(frozen=True)
class Milestone:
    """One instant in the incident's header: "Acknowledged 10:04, after 4 min"."""

    label: str
    at: datetime
    after: str


def _milestones(incident: Incident) -> list[Milestone]:
    rows = []
    for label, at in (
        ("Acknowledged", incident.acknowledged_at),
        ("Mitigated", incident.mitigated_at),
        ("Resolved", incident.resolved_at),
        ("Cancelled", incident.cancelled_at),
    ):
        if at is not None:
            rows.append(Milestone(label=label, at=at, after=format_duration(at - incident.triggered_at)))
    return rows


# The actions offered for each status (the lifecycle in incidents.services has the final word).
_ACTIONS_BY_STATUS: dict[str, tuple[str, ...]] = {
    IncidentStatus.TRIGGERED: ("acknowledge", "mitigate", "resolve", "cancel"),
    IncidentStatus.ACKNOWLEDGED: ("mitigate", "resolve", "cancel"),
    IncidentStatus.MITIGATED: ("resolve", "cancel"),
    IncidentStatus.RESOLVED: ("reopen",),
    IncidentStatus.CANCELLED: ("reopen",),
}


def incident_by_public_id_view(request: HttpRequest, public_id: str) -> HttpResponseRedirect:
    """/incidents/INC-316/ -> /incidents/316/, the incident's one address (which 404s if there is none)."""
    number = incident_number(public_id)
    if number is None:  # the URL pattern admits only INC-<digits>
        raise Http404
    return redirect("incident-detail", number=number)


#: Timeline entries and signals per page of the incident page.
TIMELINE_PAGE_SIZE = 50


def incident_detail_view(request: HttpRequest, number: int) -> HttpResponse:
    """One incident. Its timeline (oldest first) and its signals (newest first) are paginated, TIMELINE_PAGE_SIZE
    a page (?timeline_page=, ?signals_page=), so the page stays small however many alerts the incident got."""
    incident = get_object_or_404(incident_detail(), pk=number)
    level = get_policy().incidents.severities.get(incident.severity)
    timeline = paginate(request, timeline_entries(incident), parameter="timeline_page", per_page=TIMELINE_PAGE_SIZE)
    signals = paginate(request, alert_signals(incident), parameter="signals_page", per_page=TIMELINE_PAGE_SIZE)
    context = {
        "incident": incident,
        "timeline": timeline,
        "signals": signals,
        # Runbooks, descriptions, links, images, details from the signals (the same value as the API and messages).
        "responder_context": incident_context(incident),
        "impacted_services": list(incident.impacted_services.all()),
        "milestones": _milestones(incident),
        "open_for": format_duration(timezone.now() - incident.triggered_at) if incident.is_open else "",
        "response_target": str(level.response_target) if level else "",
        "severity_description": level.description if level else "",
        "can_change": request.user.has_perm(CHANGE_PERMISSION),
        "review": PostIncidentReview.objects.filter(incident=incident).first(),
        "review_required": incident.severity in get_policy().incidents.review_severities,
        "can_start_review": request.user.has_perm("incidents.add_postincidentreview"),
        # Links in notification emails name the action to take (?action=acknowledge).
        "requested_action": request.GET.get("action", ""),
        "actions": _ACTIONS_BY_STATUS.get(incident.status, ()),
    }
    return render(request, "incidents/incident_detail.html", context)


def _text(form: IncidentActionForm, name: str) -> str:
    return str(form.cleaned_data.get(name) or "")


# action -> (what to call, the arguments it takes from the form, what to say when it worked)
_ACTIONS: dict[str, tuple[Callable[..., Any], tuple[str, ...], str]] = {
    "acknowledge": (services.incident_acknowledge, (), "acknowledged"),
    "mitigate": (services.incident_mitigate, ("message",), "marked mitigated"),
    "resolve": (services.incident_resolve, ("message",), "resolved"),
    "reopen": (services.incident_reopen, ("reason",), "reopened"),
    "cancel": (services.incident_cancel, ("reason",), "cancelled as a false alarm"),
    "note": (services.incident_add_note, ("message",), "noted"),
}


@require_POST
def incident_action_view(request: HttpRequest, number: str, action: str) -> HttpResponseRedirect:
    if action not in _ACTIONS:
        raise Http404("No such action.")
    if not request.user.has_perm(CHANGE_PERMISSION):
        raise PermissionDenied("Your roles do not allow changing incidents.")
    incident = get_object_or_404(Incident, pk=number)
    call, arguments, done = _ACTIONS[action]
    form = IncidentActionForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(str(error) for error in errors)}")
        return redirect(incident)
    try:
        call(incident=incident, actor=request.user, **{name: _text(form, name) for name in arguments})
    except DomainError as exc:
        messages.error(request, f"Could not {action} {incident.public_id}: {exc.message}")
    else:
        messages.success(request, f"{incident.public_id} {done}.")
    return redirect(incident)


def incident_declare_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(ADD_PERMISSION):
        raise PermissionDenied("Your roles do not allow declaring incidents.")
    form = DeclareIncidentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            incident = services.incident_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"{incident.public_id} declared.")
            return redirect(incident)
    return render(request, "incidents/incident_form.html", {"form": form})


# --- Metrics ---------------------------------------------------------------------------------

# (snapshot key, short name, title)
INCIDENT_METRICS: tuple[tuple[str, str, str], ...] = (
    ("mtta", "MTTA", "Mean time to acknowledge"),
    ("mttr", "MTTR", "Mean time to resolve"),
    ("mtbf", "MTBF", "Mean time between failures"),
)
# Shown when the metric is not registered: the policy's targets, without a verdict.
_POLICY_COMPARISON = {"mtta": "<", "mttr": "<", "mtbf": ">"}


@dataclass(frozen=True)
class MetricFigure:
    """One metric for one window, ready to show."""

    window: str
    value: str
    has_data: bool
    verdict: str  # "met", "missed" or "" (no data, or no definition to judge by)
    p50: str
    p90: str
    sample_size: int | None
    computed_at: datetime | None

    @property
    def badge(self) -> str:
        return {"met": "success", "missed": "danger"}.get(self.verdict, "muted")

    @property
    def verdict_label(self) -> str:
        return {"met": "Target met", "missed": "Target missed"}.get(self.verdict, "No data")


@dataclass(frozen=True)
class MetricBlock:
    key: str
    name: str
    title: str
    target: str
    figures: list[MetricFigure]


def _definition(key: str) -> MetricDefinition | None:
    return metrics.get(key) if key in metrics else None


def _target(key: str, definition: MetricDefinition | None) -> str:
    if definition is not None:
        return f"{definition.comparison} {format_duration(definition.target())}"
    span = getattr(get_policy().targets, key, None)
    return f"{_POLICY_COMPARISON[key]} {format_duration(span.approximate())}" if span is not None else "—"


def _verdict(snapshot: MetricSnapshot, definition: MetricDefinition | None) -> str:
    if definition is None:
        return ""
    if snapshot.value is None:
        # MTBF without a failure in the window is better than any "more than" target.
        met = True if snapshot.details.get("no_failures") and definition.comparison.startswith(">") else None
    else:
        met = definition.meets_target(snapshot.value)
    return "" if met is None else ("met" if met else "missed")


def _figure(window: str, snapshot: MetricSnapshot | None, definition: MetricDefinition | None) -> MetricFigure:
    """Show a snapshot: its value (or "> window" when MTBF saw no failure), verdict and percentiles."""
    details = (snapshot.details or {}) if snapshot is not None else {}
    no_failures = bool(details.get("no_failures"))
    if snapshot is None or (snapshot.value is None and not no_failures):
        # Not computed yet, or nothing to measure in the window.
        return MetricFigure(
            window=window,
            value="no data",
            has_data=False,
            verdict="",
            p50="—",
            p90="—",
            sample_size=snapshot.sample_size if snapshot else None,
            computed_at=snapshot.computed_at if snapshot else None,
        )
    value = format_duration(snapshot.value) if snapshot.value is not None else str(details.get("display") or "")
    return MetricFigure(
        window=window,
        value=value or f"> {window}",
        has_data=True,
        verdict=_verdict(snapshot, definition),
        p50=format_duration(details["p50"]) if details.get("p50") is not None else "—",
        p90=format_duration(details["p90"]) if details.get("p90") is not None else "—",
        sample_size=snapshot.sample_size,
        computed_at=snapshot.computed_at,
    )


def _blocks(scope: str, snapshots: dict[tuple[str, str, str], MetricSnapshot], windows: list[str]) -> list[MetricBlock]:
    blocks = []
    for key, name, title in INCIDENT_METRICS:
        definition = _definition(key)
        blocks.append(
            MetricBlock(
                key=key,
                name=name,
                title=title,
                target=_target(key, definition),
                figures=[_figure(window, snapshots.get((key, scope, window)), definition) for window in windows],
            )
        )
    return blocks


def metrics_overview_view(request: HttpRequest) -> HttpResponse:
    """Every service with its 30-day MTTA, MTTR and MTBF against the targets."""
    window = "30d"
    service_list = list(core_selectors.service_list())
    scopes = [f"service:{service.slug}" for service in service_list]
    snapshots = latest_incident_snapshots(scopes, [window])
    rows = [(service, _blocks(f"service:{service.slug}", snapshots, [window])) for service in service_list]
    targets = [(name, title, _target(key, _definition(key))) for key, name, title in INCIDENT_METRICS]
    context = {"rows": rows, "window_days": WINDOWS[window].days, "targets": targets}
    return render(request, "incidents/metrics_overview.html", context)


def service_metrics_view(request: HttpRequest, slug: str) -> HttpResponse:
    """One service's MTTA, MTTR and MTBF over 7, 30 and 90 days, with percentiles and sample sizes."""
    service = get_object_or_404(core_selectors.service_list(), slug=slug)
    windows = list(WINDOWS)
    scope = f"service:{service.slug}"
    blocks = _blocks(scope, latest_incident_snapshots([scope], windows), windows)
    computed = [figure.computed_at for block in blocks for figure in block.figures if figure.computed_at]
    context = {
        "service": service,
        "blocks": blocks,
        "computed_at": max(computed) if computed else None,
        "has_data": any(figure.has_data for block in blocks for figure in block.figures),
        "failure_severities": " and ".join(get_policy().incidents.failure_severities),
    }
    return render(request, "incidents/service_metrics.html", context)


# --- Integrations ------------------------------------------------------------------------

VIEW_INTEGRATION_PERMISSION = "incidents.view_integration"


def integration_list_view(request: HttpRequest) -> HttpResponse:
    """Alert sources with their routing label and how many unknown values they saw in the last 7 days."""
    if not request.user.has_perm(VIEW_INTEGRATION_PERMISSION):
        raise PermissionDenied
    integrations = list(
        Integration.objects.select_related("service")
        .prefetch_related(recent_unknown_values_prefetch())
        .order_by("name", "id")
    )
    rows = [(integration, unknown_routing_values(integration)) for integration in integrations]
    return render(request, "incidents/integration_list.html", {"rows": rows})


def integration_detail_view(request: HttpRequest, uuid: str) -> HttpResponse:
    """One integration: where its alerts go, and the routing values of the last 7 days that named no service."""
    if not request.user.has_perm(VIEW_INTEGRATION_PERMISSION):
        raise PermissionDenied
    integration = get_object_or_404(Integration.objects.select_related("service"), uuid=uuid)
    context = {
        "integration": integration,
        "unknown_values": unknown_routing_values(integration),
        "days": UNKNOWN_VALUES_DAYS,
    }
    return render(request, "incidents/integration_detail.html", context)


# --- Dead letters (incidents.ingest.dead_letters) ------------------------------------------
#
# Accepted alert events whose processing failed, and their replay: seen by whoever may see
# integrations; replayed by holders of incidents.replay_rawevent (SRE Lead), one event per POST
# (post/redirect/get, the outcome as a message).


def _integration_uuid(request: HttpRequest) -> UUID | None:
    """The ?integration=<uuid> filter; None when absent. ValueError for a value that is not a UUID."""
    value = request.GET.get("integration", "").strip()
    return UUID(value) if value else None


def dead_letter_list_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(VIEW_INTEGRATION_PERMISSION):
        raise PermissionDenied
    try:
        wanted = _integration_uuid(request)
    except ValueError:
        messages.error(request, "integration: not a valid UUID; showing every integration.")
        return redirect("dead-letter-list")
    integration = (
        get_object_or_404(Integration.objects.select_related("service"), uuid=wanted) if wanted is not None else None
    )
    events = dead_letters.dead_letters()
    if integration is not None:
        events = events.filter(integration=integration)
    context = {
        "page": paginate(request, events),
        "integration": integration,
        "by_integration": dead_letters.by_integration(),
        "can_replay": dead_letters.may_replay(request.user),
        "max_attempts": MAX_ATTEMPTS,
    }
    return render(request, "incidents/dead_letter_list.html", context)


@require_POST
def dead_letter_replay_view(request: HttpRequest, event_uuid: str) -> HttpResponseRedirect:
    if not dead_letters.may_replay(request.user):
        raise PermissionDenied("Your roles do not allow replaying dead letters (SRE Lead).")
    event = get_object_or_404(RawEvent.objects.select_related("integration"), uuid=event_uuid)
    try:
        dead_letters.replay(event=event, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Replayed: the {event.action} event for {event.dedup_key} is being processed again.")
    return HttpResponseRedirect(reverse("dead-letter-list") + f"?integration={event.integration.uuid}")
