"""/metrics for Prometheus.

Scrapes read precomputed values only (latest metric snapshots and gate
evaluations), so a scrape never scans history. Under gunicorn with several
workers, set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does) and the process
counters of every worker are merged. Protected by a bearer token when
OPSGOV_METRICS_TOKEN is set.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .models import GateStatus

HTTP_REQUESTS = Counter(
    "opsgov_http_requests", "HTTP requests answered, by method and status class", ["method", "status"]
)


class SnapshotCollector(Collector):
    """Gate statuses and the latest metric snapshots, straight from their tables."""

    def collect(self) -> Iterator[Metric]:
        from . import selectors

        gate_family = GaugeMetricFamily(
            "opsgov_gate_status", "1 for the current status of each quality gate", labels=["gate", "step", "status"]
        )
        for state in selectors.gate_states():
            current = state.evaluation.status if state.evaluation else None
            for status in GateStatus:
                gate_family.add_metric(
                    [state.gate.key, str(state.gate.step), status.value], 1.0 if status.value == current else 0.0
                )
        yield gate_family

        value_family = GaugeMetricFamily(
            "opsgov_metric_value", "Latest computed operational metric", labels=["metric", "scope", "window"]
        )
        for snapshot in selectors.latest_snapshots():
            if snapshot.value is not None:
                value_family.add_metric([snapshot.metric, snapshot.scope, snapshot.window], snapshot.value)
        yield value_family


def _authorised(request: HttpRequest) -> bool:
    token = settings.OPSGOV_METRICS_TOKEN
    if not token:
        return True
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


@require_GET
@login_not_required
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorised(request):
        response = HttpResponse("A valid bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    output = generate_latest(registry) + generate_latest(_snapshot_registry())
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


def _snapshot_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector())
    return registry


class RequestCounterMiddleware:
    """Counts answered requests for /metrics (low cardinality: method and status class)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        HTTP_REQUESTS.labels(request.method, f"{response.status_code // 100}xx").inc()
        return response
