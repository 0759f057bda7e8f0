"""HTML pages of the SLOs (mounted under /monitoring/slos/): the list with budget bars and burn rates, and
one SLO with its definition, figures, burn-rate alerts and charts of the SLI and the error budget.

Read-only, for every signed-in user (LoginRequiredMiddleware). Figures come from
the SLO engine's SLOStatus and its rollups (monitoring.slos.pages), never from raw
SLI buckets, so a page costs a fixed number of queries whatever the history.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from opsgov.listing import OneOfSelect, filter_data, list_context, paginate
from opsgov.policy import get_policy

from ..models import SLISource, SLOAlertState
from . import engine, pages, selectors
from .filters import SLOFilterSet


def _filter_widgets(filterset: SLOFilterSet) -> None:
    fields = filterset.form.fields
    fields["service"].widget = OneOfSelect(choices=[("", "Any service"), *iter(fields["service"].choices)])
    fields["team"].widget = OneOfSelect(choices=[("", "Any team"), *iter(fields["team"].choices)])
    fields["enabled"].widget = forms.Select(choices=[("", "Any"), ("true", "Enabled"), ("false", "Disabled")])


def slo_list_view(request: HttpRequest) -> HttpResponse:
    """Every SLO with its SLI, error-budget bar, burn rates, firing alerts and freshness; filtered, paginated."""
    data = filter_data(request)
    filterset = SLOFilterSet(data, queryset=selectors.slo_list())
    _filter_widgets(filterset)
    page = paginate(request, filterset.qs)
    policy, now, threshold = get_policy(), timezone.now(), selectors.at_risk_threshold()
    rows = []
    for slo in page.object_list:
        status = pages.slo_status(slo)
        rates = status.burn_rates if status else {}
        rows.append(
            {
                "slo": slo,
                "status": status,
                "budget": pages.budget_state(status.budget_remaining if status else None, threshold=threshold),
                "burn_rates": [(label, rates.get(label)) for label in pages.LIST_BURN_WINDOWS],
                "firing": list(status.firing) if status else [],
                "stale": pages.is_stale(slo, now=now, policy=policy),
            }
        )
    context = list_context(data, filterset, page)
    context.update(
        {
            "rows": rows,
            "burn_windows": pages.LIST_BURN_WINDOWS,
            "threshold_percent": policy.monitoring.slo_at_risk_budget_percent,
            "fresh_within": str(policy.monitoring.sli_fresh_within),
            "tab": "slos",
        }
    )
    return render(request, "monitoring/slos/list.html", context)


def slo_detail_view(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """One SLO: definition, figures, the policy's burn-rate alerts, and charts over its window from the rollups."""
    slo = get_object_or_404(selectors.slo_list(), uuid=uuid)
    policy, now = get_policy(), timezone.now()
    status = pages.slo_status(slo)
    if status is not None:
        window = (status.window_start, status.window_end)
    else:
        window = engine.slo_window(slo, engine.floor_minute(now), policy)
    resolution: pages.Resolution = "hour" if request.GET.get("resolution") == "hour" else "day"
    points = pages.chart_points(slo, start=window[0], end=window[1], resolution=resolution)
    objective = float(slo.objective_percent)
    sli_chart = pages.line_chart(
        [(point.start, point.sli_percent) for point in points],
        window=window,
        reference=objective,
        reference_label=f"Objective {slo.objective_percent.normalize():f} %",
        ceiling=100.0,
        decimals=3,
    )
    budget_chart = pages.line_chart(
        [(point.start, point.budget_remaining_percent) for point in points],
        window=window,
        reference=0.0,
        reference_label="Budget spent (0 %)",
        ceiling=100.0,
        decimals=1,
    )
    alert_states = {state.key: state for state in SLOAlertState.objects.filter(slo=slo)}
    context: dict[str, Any] = {
        "slo": slo,
        "status": status,
        "budget": pages.budget_state(status.budget_remaining if status else None),
        "burn_rows": pages.burn_rows(status, policy),
        "burn_rates": [
            (label, (status.burn_rates if status else {}).get(label)) for label in engine.burn_windows(policy)
        ],
        "alert_states": alert_states,
        "stale": pages.is_stale(slo, now=now, policy=policy),
        "fresh_within": str(policy.monitoring.sli_fresh_within),
        "threshold_percent": policy.monitoring.slo_at_risk_budget_percent,
        "window": window,
        "points": points,
        "resolution": resolution,
        "sli_chart": sli_chart,
        "budget_chart": budget_chart,
        "is_prometheus": slo.source == SLISource.PROMETHEUS,
        "tab": "slos",
    }
    return render(request, "monitoring/slos/detail.html", context)
