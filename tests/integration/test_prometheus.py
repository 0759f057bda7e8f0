"""A real Prometheus scrapes a test exporter and opsgov's /metrics; the PromQL pull counts the exporter's events.

The test serves a small exporter on 127.0.0.1 (prometheus_client's HTTP
server) with a request counter by status code, and opsgov on pytest-django's
live server. Debian's Prometheus scrapes both every second (opsgov with its
bearer token). The test then serves requests in known intervals, runs the
pull, and compares the SLI buckets with what the exporter counted; and it asks
Prometheus for governance series it scraped from opsgov.

The pull runs with 10-second buckets instead of 60 (its `step` argument), so
the test takes seconds rather than minutes; the arithmetic is the same, and
tests/monitoring/test_prometheus_pull.py covers 1-minute buckets on backfilled
samples.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from incidents.models import Incident
from monitoring.models import SLO, SLIBucket, SLISource, SLOStatus
from monitoring.slos.prometheus_pull import pull_prometheus_slis

from ..factories import ServiceFactory
from ..prometheus_server import PrometheusServer, free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STEP = 10
TOKEN = "prometheus-scrape-token"
#: (good, failed) requests served in the middle of each interval.
PLAN = [(3, 0), (5, 1), (0, 2), (7, 0)]


@pytest.fixture
def exporter() -> Iterator[tuple[Counter, str]]:
    registry = CollectorRegistry()
    requests = Counter("checkout_requests", "Requests served by the test's checkout", ["code"], registry=registry)
    for code in ("200", "500"):
        requests.labels(code)  # both series exist from the first scrape, at 0
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield requests, f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def test_prometheus_scrapes_the_exporter_and_opsgov_and_the_pull_counts_each_interval(
    settings: Any, exporter: tuple[Counter, str], live_server: Any, tmp_path: Path
) -> None:
    settings.OPSGOV_METRICS_TOKEN = TOKEN  # the live server answers Prometheus only with it
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    slo = SLO.objects.create(
        service=service,
        name="API availability",
        objective_percent=Decimal("99.5"),
        source=SLISource.PROMETHEUS,
        good_query='checkout_requests_total{code!~"5.."}',
        total_query="checkout_requests_total",
    )
    now = datetime.now(UTC)
    SLOStatus.objects.create(
        slo=slo,
        evaluated_at=now,
        window_start=now - timedelta(days=30),
        window_end=now,
        budget_remaining=0.625,
        burn_rates={"1h": 2.5},
    )
    for _ in range(2):
        Incident.objects.create(title="Checkout down", service=service, severity="SEV-1")

    requests, _ = exporter
    # Started here, not as a fixture, so the settings above hold before its first scrape of opsgov.
    prometheus = PrometheusServer.start(tmp_path, config=_config(exporter[1], live_server.url))
    try:
        _run(prometheus, requests, slo, settings)
    finally:
        prometheus.stop()


def _config(exporter: str, opsgov_url: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": "checkout", "static_configs": [{"targets": [exporter]}]},
            {
                "job_name": "opsgov",
                "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials": TOKEN},
                "static_configs": [{"targets": [urlsplit(opsgov_url).netloc]}],
            },
        ],
    }


def _value(prometheus: PrometheusServer, query: str) -> float | None:
    result = prometheus.instant(query)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def _run(prometheus: PrometheusServer, requests: Counter, slo: SLO, settings: Any) -> None:
    def fail(what: str) -> None:
        pytest.fail(f"{what}\n--- Prometheus ---\n{prometheus.log_tail()}", pytrace=False)

    both_up = 'sum(up{job=~"checkout|opsgov"})'
    if not wait_until(lambda: _value(prometheus, both_up) == 2.0, 30):
        fail(f"Prometheus does not scrape both targets: {prometheus.instant('up')}")

    # Serve requests in the middle of each 10-second interval, 5 s from either edge: at a 1 s scrape
    # interval, each interval's scrapes see exactly its own requests.
    first = (int(time.time() + 3) // STEP + 1) * STEP  # the next interval starting 3 s or more from now
    for index, (good, failed) in enumerate(PLAN):
        sleep_until(first + index * STEP + STEP / 2)
        requests.labels("200").inc(good)
        requests.labels("500").inc(failed)
        assert time.time() < first + (index + 1) * STEP - 2, "the machine stalled: the requests fell too late"
    # Two scrapes after the last interval's end: it is complete in Prometheus.
    sleep_until(first + len(PLAN) * STEP + 2.5)

    settings.PROMETHEUS_URL = prometheus.url
    settings.PROMETHEUS_PULL_DELAY = 2
    (result,) = pull_prometheus_slis(step=STEP)
    assert result.error == "", result.error

    stored = {
        round((start.timestamp() - first) / STEP): (good, total)
        for start, good, total in SLIBucket.objects.filter(slo=slo).values_list("start", "good", "total")
    }
    # Interval k holds PLAN[k]: good requests, and total = good + failed.
    for index, (good, failed) in enumerate(PLAN):
        assert stored[index] == (good, good + failed), (index, stored)
    # Before the plan, scrapes saw the counters at 0; after it, nothing is complete yet.
    assert all(stored[index] == (0, 0) for index in stored if index < 0)
    assert max(stored) == len(PLAN) - 1
    # Over the whole pulled range the buckets add up to the exporter's counters: 15 good, 18 in all.
    assert sum(good for good, _ in stored.values()) == 15 == requests.labels("200")._value.get()
    assert sum(total for _, total in stored.values()) == 18
    assert result.end == datetime.fromtimestamp(first + len(PLAN) * STEP, tz=UTC)
    slo.refresh_from_db()
    assert slo.last_pull_error == ""
    assert slo.last_sli_at == result.end

    # The governance figures, as Prometheus scraped them from opsgov's /metrics (with the token).
    budget = 'opsgov_slo_error_budget_remaining_ratio{service="checkout",slo="API availability"}'
    assert _value(prometheus, budget) == 0.625
    assert _value(prometheus, 'opsgov_slo_burn_rate{service="checkout",window="1h"}') == 2.5
    assert _value(prometheus, 'opsgov_slo_objective_ratio{service="checkout"}') == 0.995
    assert _value(prometheus, 'opsgov_open_incidents{severity="SEV-1"}') == 2.0
    assert _value(prometheus, 'opsgov_gate_status{gate="monitoring",status="pass"}') is not None
    # A change in opsgov reaches Prometheus at the next scrape: the figures are read per scrape.
    SLOStatus.objects.filter(slo=slo).update(budget_remaining=0.5)
    if not wait_until(lambda: _value(prometheus, budget) == 0.5, 15):
        fail(f"Prometheus still has {prometheus.instant(budget)}")
