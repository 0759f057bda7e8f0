"""Core API: teams, services and the effective policy. Thin: queryset, serializer, filterset, permissions."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db.models import QuerySet
from django.urls import URLPattern, URLResolver, get_resolver, get_script_prefix
from django.urls.resolvers import RegexPattern
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from opsgov import selectors, services
from opsgov.evidence import NoEvidenceDeleteMixin
from opsgov.filters import MetricSnapshotFilterSet, ServiceFilterSet, TeamFilterSet
from opsgov.models import MetricSnapshot, Service, Team
from opsgov.policy import get_policy

from .permissions import HasRole
from .serializers import MetricSnapshotSerializer, ServiceSerializer, TeamSerializer


class TeamViewSet(viewsets.ModelViewSet):
    queryset = selectors.team_list()
    serializer_class = TeamSerializer
    filterset_class = TeamFilterSet
    lookup_field = "slug"
    ordering_fields = ["name", "slug", "created_at"]
    ordering = ["name"]

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.team_create(**serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        team: Team = serializer.instance
        serializer.instance = services.team_update(team=team, data=serializer.validated_data)

    def perform_destroy(self, instance: Team) -> None:
        services.team_delete(team=instance)


class ServiceViewSet(viewsets.ModelViewSet):
    queryset = selectors.service_list()
    serializer_class = ServiceSerializer
    filterset_class = ServiceFilterSet
    lookup_field = "slug"
    ordering_fields = ["name", "slug", "tier", "created_at"]
    ordering = ["name"]

    @staticmethod
    def _plain(data: dict[str, Any]) -> dict[str, Any]:
        if "links" in data:
            data = {**data, "links": [dict(link) for link in data["links"]]}
        return data

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.service_create(**self._plain(serializer.validated_data))

    def perform_update(self, serializer: Any) -> None:
        service: Service = serializer.instance
        serializer.instance = services.service_update(service=service, data=self._plain(serializer.validated_data))

    def perform_destroy(self, instance: Service) -> None:
        services.service_delete(service=instance)


API_PREFIX = "api/v1/"


def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(route, pattern) of every URL pattern under `patterns`, the route as written in the URLconfs."""
    found: list[tuple[str, Any]] = []
    for entry in patterns:
        part = str(entry.pattern)
        if isinstance(entry.pattern, RegexPattern):  # a router's "^teams/$"
            part = part.removeprefix("^").removesuffix("$")
        route = prefix + part
        if isinstance(entry, URLResolver):
            found.extend(_routes(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            found.append((route, entry))
    return found


def _takes_parameters(pattern: Any) -> bool:
    inner = pattern.pattern
    return bool(inner.converters) or (isinstance(inner, RegexPattern) and inner.regex.groups > 0)


def _readable(pattern: URLPattern) -> bool:
    """A DRF view that answers GET (a router's list route, or an APIView with a get method)."""
    view_class = getattr(pattern.callback, "cls", None)
    if view_class is None:
        return False  # plain Django views (the ingestion endpoints): not API resources
    actions = getattr(pattern.callback, "actions", None)
    return "get" in actions if actions is not None else callable(getattr(view_class, "get", None))


@cache
def api_resources(urlconf: str | None = None) -> dict[str, str]:
    """Every parameter-free, readable DRF route under /api/v1/, as {name: path}, sorted by name.

    Read from the URLconf itself, so a resource registered by any app's router
    appears without being listed here. The name is the path after /api/v1/
    ("teams", "checks/http", "oncall/now").
    """
    resources: dict[str, str] = {}
    for route, pattern in _routes(get_resolver(urlconf).url_patterns):
        if not route.startswith(API_PREFIX) or route == API_PREFIX or _takes_parameters(pattern):
            continue
        if _readable(pattern):
            path = route.removeprefix(API_PREFIX)
            resources.setdefault(path.strip("/"), path)
    return dict(sorted(resources.items()))


class ApiRootView(APIView):
    """Every resource of the API, with the absolute URL of its route (never an HTML page)."""

    permission_classes = [HasRole]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        base = f"{get_script_prefix()}{API_PREFIX}"
        return Response(
            {
                name: request.build_absolute_uri(base + path)
                for name, path in api_resources(getattr(request, "urlconf", None)).items()
            }
        )


class PolicyView(APIView):
    """The effective operations policy (defaults overridden by OPSGOV_POLICY), read-only."""

    permission_classes = [HasRole]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(get_policy().model_dump(mode="json"))


class MetricSnapshotViewSet(NoEvidenceDeleteMixin, viewsets.ReadOnlyModelViewSet):
    """The latest value of each operational metric per scope and window.

    Durations are in seconds. A row's `id` is its detail route, which keeps answering
    after a newer computation replaced the row (then with `is_current` false). Filter with `metric`, `scope` (`global`,
    `service:<slug>`, `team:<slug>`, `severity:<key>`) and `window` (7d, 30d, 90d).
    """

    queryset = selectors.latest_snapshots()
    serializer_class = MetricSnapshotSerializer
    filterset_class = MetricSnapshotFilterSet
    ordering_fields = ["metric", "scope", "window"]
    ordering = ["metric", "scope", "window"]

    def get_queryset(self) -> QuerySet[MetricSnapshot]:
        # A row's `id` keeps resolving after a newer computation replaced it (`is_current` false then).
        return MetricSnapshot.objects.all() if self.action == "retrieve" else super().get_queryset()
