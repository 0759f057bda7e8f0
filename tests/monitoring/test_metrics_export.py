"""/metrics: the governance figures of monitoring, incidents and the core, in two queries per scrape."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db.models import F
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from incidents.models import Incident
from monitoring.models import SLO, SLIBucket, SLISource, SLOStatus
from opsgov.gates import services as gate_services
from opsgov.models import GateEvaluation, GateStatus, MetricSnapshot, Service
from opsgov.prometheus import GovernanceRegistry, ScrapeData, governance, governance_families, shape_rows
from tests.factories import ServiceFactory, TeamFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Client, token: str | None = None) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else None)
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def governance_part(samples: Samples) -> Samples:
    """Everything but the process's own counters (which change with each request)."""
    return {key: val for key, val in samples.items() if not key[0].startswith("opsgov_http_requests")}


def make_slo(service: Service, name: str, **fields: Any) -> SLO:
    return SLO.objects.create(
        service=service, name=name, objective_percent=fields.pop("objective", Decimal("99.9")), **fields
    )


def make_status(slo: SLO, **fields: Any) -> SLOStatus:
    return SLOStatus.objects.create(
        slo=slo, evaluated_at=NOW, window_start=NOW - timedelta(days=30), window_end=NOW, **fields
    )


@pytest.fixture
def governed() -> dict[str, Any]:
    """Two services with SLOs, snapshots and incidents whose figures are known by hand."""
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    search = ServiceFactory.create(slug="search", name="Search")
    api = make_slo(checkout, "API availability", is_availability=True)
    latency = make_slo(search, "Search latency", sli_kind="latency", latency_threshold_ms=300, objective=Decimal("99"))
    pulled = make_slo(
        search,
        "Search errors",
        source=SLISource.PROMETHEUS,
        good_query='http_requests_total{job="search",code!~"5.."}',
        total_query='http_requests_total{job="search"}',
        last_pull_at=NOW,
        last_pull_error="Prometheus at http://127.0.0.1:1 cannot be reached",
    )
    make_slo(checkout, "Old SLO", enabled=False)
    # 2,000,000 events, 1,000 bad: SLI 99.95 %; budget 0.1 % of 2M = 2,000 bad allowed, 1,000 spent: 0.5 left.
    make_status(
        api,
        good=1_999_000,
        total=2_000_000,
        sli_percent=99.95,
        budget_remaining=0.5,
        burn_rates={"5m": 0.0, "1h": 16.2, "6h": 7.5, "3d": 0.4},
        firing=["page-fast"],
    )
    # Never evaluated: the latency SLO has no status row; the pulled one has a status without data.
    make_status(pulled, sli_percent=None, budget_remaining=None, burn_rates={"5m": None})
    MetricSnapshot.objects.bulk_create(
        [
            MetricSnapshot(metric="availability", scope="service:checkout", window="30d", value=99.95),
            MetricSnapshot(metric="availability", scope="service:checkout", window="30d", value=98.0, is_current=False),
            MetricSnapshot(metric="availability", scope="global", window="30d", value=99.9),
            MetricSnapshot(metric="availability", scope="team:core", window="30d", value=99.0),
            MetricSnapshot(metric="mtta", scope="service:checkout", window="30d", value=300.0),
            MetricSnapshot(metric="mtta", scope="global", window="30d", value=240.0),
            MetricSnapshot(metric="mttr", scope="service:checkout", window="7d", value=5400.0),
            MetricSnapshot(metric="mtbf", scope="service:checkout", window="90d", value=None),
            MetricSnapshot(metric="mtbf", scope="service:search", window="90d", value=3_888_000.0),
        ]
    )
    at = NOW - timedelta(hours=3)
    for severity, status in [
        ("SEV-1", "triggered"),
        ("SEV-1", "acknowledged"),
        ("SEV-2", "mitigated"),
        ("SEV-3", "resolved"),
        ("SEV-3", "cancelled"),
    ]:
        Incident.objects.create(
            title=f"{severity} {status}",
            service=checkout,
            severity=severity,
            status=status,
            triggered_at=at,
            acknowledged_at=at if status in ("acknowledged", "mitigated", "resolved") else None,
            mitigated_at=at if status == "mitigated" else None,
            resolved_at=at + timedelta(minutes=30) if status == "resolved" else None,
            cancelled_at=at if status == "cancelled" else None,
        )
    GateEvaluation.objects.create(gate="monitoring", status=GateStatus.FAIL, reason="old", evaluated_at=at)
    GateEvaluation.objects.create(gate="monitoring", status=GateStatus.AT_RISK, reason="now", evaluated_at=NOW)
    return {"api": api, "latency": latency, "pulled": pulled}


def test_slo_figures_come_from_the_status_rows(client: Client, governed: dict[str, Any]) -> None:
    samples = scrape(client)
    api = {"service": "checkout", "slo": "API availability"}
    assert value(samples, "opsgov_slo_objective_ratio", **api) == 0.999
    assert value(samples, "opsgov_slo_sli_ratio", **api) == pytest.approx(0.9995)  # 99.95 %
    assert value(samples, "opsgov_slo_error_budget_remaining_ratio", **api) == 0.5
    assert value(samples, "opsgov_slo_burn_rate", window="1h", **api) == 16.2
    assert value(samples, "opsgov_slo_burn_rate", window="5m", **api) == 0.0
    assert value(samples, "opsgov_slo_alert_firing", alert="page-fast", **api) == 1.0
    assert value(samples, "opsgov_slo_alert_firing", alert="page-slow", **api) is None, "only firing alerts"
    assert value(samples, "opsgov_slo_alert_firing", alert="ticket", **api) is None
    assert value(samples, "opsgov_slo_evaluated_timestamp_seconds", **api) == NOW.timestamp()

    latency = {"service": "search", "slo": "Search latency"}
    assert value(samples, "opsgov_slo_objective_ratio", **latency) == 0.99
    # Not evaluated yet: no budget, no burn rate, rather than zeros.
    assert value(samples, "opsgov_slo_error_budget_remaining_ratio", **latency) is None
    assert not [key for key in samples if key[0] == "opsgov_slo_burn_rate" and ("slo", "Search latency") in key[1]]

    pulled = {"service": "search", "slo": "Search errors"}
    assert value(samples, "opsgov_slo_pull_success", **pulled) == 0.0, "its last pull failed"
    assert value(samples, "opsgov_slo_pull_success", **api) is None, "a pushed SLO is not pulled"
    assert value(samples, "opsgov_slo_burn_rate", window="5m", **pulled) is None, "a window without data"
    assert value(samples, "opsgov_slo_objective_ratio", service="checkout", slo="Old SLO") is None, "disabled"


def test_availability_and_incident_figures_come_from_the_current_snapshots(
    client: Client, governed: dict[str, Any]
) -> None:
    samples = scrape(client)
    # Stored in percent (the availability target is a percent): 99.95 % is 0.9995.
    assert value(samples, "opsgov_availability_ratio", service="checkout", window="30d") == pytest.approx(0.9995)
    assert value(samples, "opsgov_organisation_availability_ratio", window="30d") == pytest.approx(0.999)
    assert value(samples, "opsgov_availability_target_ratio") == pytest.approx(0.999)
    assert not [key for key in samples if key[0] == "opsgov_availability_ratio" and ("service", "core") in key[1]]
    assert value(samples, "opsgov_mtta_seconds", service="checkout", window="30d") == 300.0
    assert value(samples, "opsgov_mttr_seconds", service="checkout", window="7d") == 5400.0
    assert value(samples, "opsgov_mtbf_seconds", service="search", window="90d") == 3_888_000.0  # 45 days
    assert value(samples, "opsgov_mtbf_seconds", service="checkout", window="90d") is None, "no failure: no figure"
    # Open now: SEV-1 triggered + acknowledged, SEV-2 mitigated; resolved and cancelled ones are not open.
    assert value(samples, "opsgov_open_incidents", severity="SEV-1") == 2.0
    assert value(samples, "opsgov_open_incidents", severity="SEV-2") == 1.0
    assert value(samples, "opsgov_open_incidents", severity="SEV-3") == 0.0
    assert value(samples, "opsgov_open_incidents", severity="SEV-4") == 0.0
    # The gate's newest evaluation only.
    assert value(samples, "opsgov_gate_status", gate="monitoring", step="1", status="at_risk") == 1.0
    assert value(samples, "opsgov_gate_status", gate="monitoring", step="1", status="fail") == 0.0
    # The generic family still carries every scope.
    assert value(samples, "opsgov_metric_value", metric="mtta", scope="global", window="30d") == 240.0


def seed_history(*, services: int, slos_per_service: int, buckets_per_slo: int, incidents: int) -> None:
    """Much history and many current rows: what the scrape must not grow with."""
    rng = random.Random(5)  # noqa: S311 - test data, not secrets
    team = TeamFactory.create()
    created = Service.objects.bulk_create(
        [Service(slug=f"svc-{index}", name=f"Service {index}", owner_team=team) for index in range(services)]
    )
    slos = SLO.objects.bulk_create(
        [
            SLO(service=service, name=f"SLO {number}", objective_percent=Decimal("99.9"))
            for service in created
            for number in range(slos_per_service)
        ]
    )
    SLOStatus.objects.bulk_create(
        [
            SLOStatus(
                slo=slo,
                evaluated_at=NOW,
                window_start=NOW - timedelta(days=30),
                window_end=NOW,
                sli_percent=99.9,
                budget_remaining=rng.random(),
                burn_rates={window: rng.random() * 3 for window in ("5m", "30m", "1h", "6h", "1d", "3d")},
                firing=[],
            )
            for slo in slos
        ]
    )
    start = NOW - timedelta(minutes=buckets_per_slo)
    SLIBucket.objects.bulk_create(
        [
            SLIBucket(slo=slo, start=start + timedelta(minutes=minute), good=99, total=100)
            for slo in slos
            for minute in range(buckets_per_slo)
        ],
        batch_size=5000,
    )
    MetricSnapshot.objects.bulk_create(
        [
            MetricSnapshot(
                metric=metric,
                scope=f"service:{service.slug}",
                window=window,
                value=rng.random() * 1000,
                is_current=day == 0,
                computed_at=NOW - timedelta(days=day),
            )
            for metric in ("availability", "mtta", "mttr", "mtbf")
            for service in created
            for window in ("7d", "30d", "90d")
            for day in range(10)
        ],
        batch_size=5000,
    )
    Incident.objects.bulk_create(
        [
            Incident(
                title=f"Incident {index}",
                service=created[index % services],
                severity=f"SEV-{1 + index % 4}",
                status="resolved" if index % 50 else "triggered",
                triggered_at=NOW - timedelta(hours=index),
                resolved_at=NOW - timedelta(hours=index) + timedelta(minutes=20) if index % 50 else None,
            )
            for index in range(incidents)
        ],
        batch_size=5000,
    )


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_scrape_costs_two_queries_whatever_the_amount_of_data(
    client: Client, django_assert_max_num_queries: Callable[..., Any], size: str
) -> None:
    gate_services.evaluate_gates()
    if size == "large":
        seed_history(services=40, slos_per_service=5, buckets_per_slo=300, incidents=3000)
    else:
        seed_history(services=1, slos_per_service=1, buckets_per_slo=0, incidents=0)
    with django_assert_max_num_queries(2):
        samples = scrape(client)
    slos = 200 if size == "large" else 1
    assert len([key for key in samples if key[0] == "opsgov_slo_error_budget_remaining_ratio"]) == slos
    assert len([key for key in samples if key[0] == "opsgov_slo_burn_rate"]) == slos * 6
    if size == "large":
        # Every 50th of the 3,000 incidents is open: 60, by severity index % 4 over multiples of 50: 1 and 3.
        assert value(samples, "opsgov_open_incidents", severity="SEV-1") == 30.0
        assert value(samples, "opsgov_open_incidents", severity="SEV-3") == 30.0
        assert value(samples, "opsgov_open_incidents", severity="SEV-2") == 0.0
        assert len([key for key in samples if key[0] == "opsgov_mtta_seconds"]) == 40 * 3


def test_scrapes_read_the_database_not_per_process_state(
    client: Client, governed: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Multiprocess mode (as under gunicorn): the governance figures come from a registry built per scrape.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    first = governance_part(scrape(client))
    second = governance_part(scrape(client))
    assert first == second
    SLOStatus.objects.filter(slo=governed["api"]).update(budget_remaining=0.25)
    third = scrape(client)
    assert value(third, "opsgov_slo_error_budget_remaining_ratio", service="checkout", slo="API availability") == 0.25


def test_the_bearer_token_still_guards_the_governance_figures(
    client: Client, governed: dict[str, Any], settings: Any
) -> None:
    settings.OPSGOV_METRICS_TOKEN = "scrape-me"
    response = client.get("/metrics")
    assert response.status_code == 401
    assert b"opsgov_slo" not in response.content
    samples = scrape(client, "scrape-me")
    assert value(samples, "opsgov_slo_error_budget_remaining_ratio", service="checkout", slo="API availability") == 0.5


def test_apps_add_row_sources_that_join_the_one_union_query(django_assert_num_queries: Callable[..., Any]) -> None:
    registry = GovernanceRegistry()
    for name, build in governance.sources().items():
        registry.add_source(name, build)
    ServiceFactory.create(slug="alpha")
    registry.add_source(
        "services", lambda: shape_rows(Service.objects.all(), source="services", key="service", label=F("slug"))
    )
    seen: list[ScrapeData] = []

    def collect(data: ScrapeData) -> list[Any]:
        seen.append(data)
        return []

    registry.add_collector("probe", collect)
    with pytest.raises(ValueError, match="registered twice"):
        registry.add_collector("probe", lambda data: [])

    with django_assert_num_queries(1):
        list(governance_families(registry))
    (data,) = seen
    assert [(row.key, row.label) for row in data.rows("services")] == [("service", "alpha")]


@time_machine.travel(NOW, tick=False)
def test_timestamps_are_seconds_since_the_epoch(client: Client, governed: dict[str, Any]) -> None:
    SLO.objects.filter(pk=governed["api"].pk).update(last_sli_at=NOW - timedelta(minutes=2))
    samples = scrape(client)
    assert (
        value(samples, "opsgov_slo_last_sli_timestamp_seconds", service="checkout", slo="API availability")
        == NOW.timestamp() - 120
    )


def test_label_values_are_escaped_so_any_slo_name_reads_back(client: Client) -> None:
    name = 'Latency "p99" < 300 ms \\ checkout\nsecond line'
    slo = make_slo(ServiceFactory.create(slug="checkout"), name)
    make_status(slo, budget_remaining=0.9)
    samples = scrape(client)
    assert value(samples, "opsgov_slo_error_budget_remaining_ratio", service="checkout", slo=name) == 0.9
