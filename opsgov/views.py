"""HTML pages of the core app: the dashboard at `/` (and its metrics CSV), teams, services, policy.

Views read through selectors and shape what templates show; templates do not
query beyond what the selectors already fetched.
"""

from __future__ import annotations

import csv

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from . import dashboard, selectors
from .filters import ServiceFilterSet, TeamFilterSet
from .gates import services as gate_services
from .listing import OneOfSelect, filter_data, list_context, paginate
from .policy import WEEKDAYS, Policy, Span, get_policy

# --- Policy ---------------------------------------------------------------------

# Targets: (field, label, comparison shown, unit suffix). Fields missing here are
# still shown, with their description, so a new target is never hidden.
_TARGETS: list[tuple[str, str, str, str]] = [
    ("availability_percent", "Availability", ">", " %"),
    ("mtta", "Mean time to acknowledge (MTTA)", "<", ""),
    ("mttr", "Mean time to resolve (MTTR)", "<", ""),
    ("mtbf", "Mean time between failures (MTBF)", ">", ""),
    ("support_satisfaction", "Support satisfaction (CSAT)", ">", " / 5"),
    ("backup_success_percent", "Backup success rate", "≥", " %"),
    ("patch_compliance_percent", "Patch compliance", ">", " %"),
]


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _duration_range(low: Span | None, high: Span | None) -> str:
    if low and high:
        if low == high:
            return str(low)
        if low.unit == high.unit:
            return f"{low.amount}\u2013{high}"
        return f"{low} \u2013 {high}"
    if low or high:
        return str(low or high)
    return "—"


def _policy_context(policy: Policy) -> dict[str, object]:
    calendar = policy.business_calendar
    working_hours = [
        (day.title(), ", ".join(str(period) for period in calendar.working_hours.get(day, [])) or "Closed")
        for day in WEEKDAYS
    ]
    incidents = policy.incidents
    severities = [
        {
            "key": key,
            "description": level.description,
            "response_target": str(level.response_target),
            "failure": key in incidents.failure_severities,
            "review": key in incidents.review_severities,
        }
        for key, level in sorted(incidents.severities.items())
    ]
    tiers = [
        {
            "key": key,
            "description": tier.description,
            "response": str(tier.response),
            "resolution": str(tier.resolution),
        }
        for key, tier in sorted(policy.support.tiers.items())
    ]
    activities = [
        {
            "key": key,
            "title": activity.title,
            "every": str(activity.every) if activity.every else "As needed",
            "due_within": str(activity.due_within) if activity.due_within else "—",
            "duration": _duration_range(activity.duration_min, activity.duration_max),
        }
        for key, activity in policy.maintenance.activities.items()
    ]
    backups = [
        {
            "key": key,
            "title": target.title,
            "frequency": str(target.frequency),
            "retention": str(target.retention),
            "location": target.location,
        }
        for key, target in policy.backups.data_types.items()
    ]
    targets = []
    known = {field for field, *_ in _TARGETS}
    for field, label, comparison, unit in _TARGETS:
        if field in type(policy.targets).model_fields:
            targets.append(
                {
                    "label": label,
                    "target": f"{comparison} {_value(getattr(policy.targets, field))}{unit}",
                    "meaning": type(policy.targets).model_fields[field].description or "",
                }
            )
    for field, info in type(policy.targets).model_fields.items():
        if field not in known:
            targets.append(
                {
                    "label": field.replace("_", " ").capitalize(),
                    "target": _value(getattr(policy.targets, field)),
                    "meaning": info.description or "",
                }
            )
    return {
        "policy": policy,
        "policy_from_file": bool(settings.OPSGOV_POLICY),
        "working_hours": working_hours,
        "business_day_hours": _value(calendar.business_day_hours),
        "severities": severities,
        "tiers": tiers,
        "activities": activities,
        "backups": backups,
        "targets": targets,
        # monitoring.checks.targets decides with the same rule; core does not import the app.
        "http_checks_private_allowed": (
            settings.HTTP_CHECKS_ALLOW_PRIVATE_BY_DEFAULT
            if policy.monitoring.http_checks.allow_private_targets is None
            else policy.monitoring.http_checks.allow_private_targets
        ),
    }


def policy(request: HttpRequest) -> HttpResponse:
    return render(request, "opsgov/policy.html", _policy_context(get_policy()))


# --- Teams and services ------------------------------------------------------------


def _service_filter_widgets(filterset: ServiceFilterSet) -> None:
    """Widgets that suit a filter bar: checkboxes for tier and lifecycle, a drop-down of teams."""
    fields = filterset.form.fields
    for name in ("tier", "lifecycle"):
        fields[name].widget = forms.CheckboxSelectMultiple(choices=fields[name].choices)
    team = fields["owner_team"]
    team.widget = OneOfSelect(choices=[("", "Any team"), *iter(team.choices)])


def team_list(request: HttpRequest) -> HttpResponse:
    data = filter_data(request)
    filterset = TeamFilterSet(data, queryset=selectors.team_list(with_service_count=True))
    page = paginate(request, filterset.qs)
    return render(request, "opsgov/team_list.html", list_context(data, filterset, page))


def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(selectors.team_list(), slug=slug)
    return render(request, "opsgov/team_detail.html", {"team": team, "services": list(team.services.all())})


def service_list(request: HttpRequest) -> HttpResponse:
    data = filter_data(request)
    filterset = ServiceFilterSet(data, queryset=selectors.service_list())
    _service_filter_widgets(filterset)
    page = paginate(request, filterset.qs)
    return render(request, "opsgov/service_list.html", list_context(data, filterset, page))


def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(selectors.service_list(), slug=slug)
    return render(request, "opsgov/service_detail.html", {"service": service})


# --- Dashboard ------------------------------------------------------------------
# Thin views over opsgov.dashboard: the page, the htmx fragment it polls, and the CSV of the metric rows
# it shows. A fixed number of queries whatever the data size.

#: How often the dashboard refreshes itself (htmx polling of its fragment).
REFRESH_SECONDS = 60


@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    states = selectors.gate_states()
    missing = [state.gate.key for state in states if state.evaluation is None]
    if missing:
        # First visit after install: evaluate now rather than show nothing.
        gate_services.evaluate_gates(keys=missing)
        states = selectors.gate_states()
    cards = dashboard.gate_cards(now=now, states=states)
    context = {
        "now": now,
        "gates": cards,
        "summary": dashboard.gate_summary(cards),
        "metric_rows": dashboard.metric_rows(now=now),
        "metric_window": dashboard.WINDOW,
        "trend_days": dashboard.TREND_DAYS,
        "panels": dashboard.panel_contexts(now=now),
        "attention": dashboard.attention_items(now=now),
        "refresh_seconds": REFRESH_SECONDS,
    }
    # The page polls itself with htmx: answer those requests with the fragment only.
    template = "opsgov/_dashboard.html" if getattr(request, "htmx", False) else "opsgov/dashboard.html"
    response = render(request, template, context)
    # Same URL, two representations: caches (and the back button) must tell them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


CSV_COLUMNS = (
    "metric",
    "title",
    "scope",
    "window",
    "value",
    "unit",
    "display",
    "comparison",
    "target",
    "status",
    "sample_size",
    "computed_at",
)


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "@", "\t", "\r") else text


@require_GET
def metrics_csv_view(request: HttpRequest) -> HttpResponse:
    """The dashboard's metric rows as CSV: the snapshots shown (global, 30 days), with targets and status."""
    now = timezone.now()
    rows = dashboard.metric_rows(now=now, with_trend=False)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="opsgov-metrics-{now:%Y%m%d-%H%M}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                _cell(row.key),
                _cell(row.title),
                dashboard.SCOPE,
                dashboard.WINDOW,
                "" if row.value is None else repr(float(row.value)),
                row.unit,
                _cell(row.display),
                row.comparison,
                repr(float(row.target)),
                row.verdict,
                row.sample_size if row.snapshot else "",
                row.computed_at.isoformat() if row.computed_at else "",
            ]
        )
    return response
