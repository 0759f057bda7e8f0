"""HTML pages of the core app: home (the eight gates), teams, services, policy."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from . import selectors, services
from .filters import ServiceFilterSet, TeamFilterSet
from .policy import get_policy


def home(request: HttpRequest) -> HttpResponse:
    states = selectors.gate_states()
    missing = [state.gate.key for state in states if state.evaluation is None]
    if missing:
        # First visit after install: evaluate now rather than show nothing.
        services.evaluate_gates(keys=missing)
        states = selectors.gate_states()
    return render(request, "opsgov/home.html", {"states": states})


def policy(request: HttpRequest) -> HttpResponse:
    return render(request, "opsgov/policy.html", {"policy": get_policy()})


def team_list(request: HttpRequest) -> HttpResponse:
    filterset = TeamFilterSet(request.GET, queryset=selectors.team_list())
    page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
    return render(request, "opsgov/team_list.html", {"filter": filterset, "page": page})


def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(selectors.team_list(), slug=slug)
    return render(request, "opsgov/team_detail.html", {"team": team, "services": team.services.all()})


def service_list(request: HttpRequest) -> HttpResponse:
    filterset = ServiceFilterSet(request.GET, queryset=selectors.service_list())
    page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
    return render(request, "opsgov/service_list.html", {"filter": filterset, "page": page})


def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(selectors.service_list(), slug=slug)
    return render(request, "opsgov/service_detail.html", {"service": service})
