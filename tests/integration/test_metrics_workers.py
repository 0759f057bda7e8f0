"""/metrics under gunicorn with two workers: every worker answers the same governance figures, counters are merged.

gunicorn runs with gunicorn.conf.py (multiprocess mode: PROMETHEUS_MULTIPROC_DIR)
against the pytest-django test database. Scrapes are sent concurrently, so both
workers answer some; the governance figures must be identical in every answer
(they are read from the database per scrape, not kept per process), and the
request counter must add up the requests of both workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from monitoring.models import SLO, SLOStatus

from ..conftest import spawn
from ..factories import ServiceFactory
from ..prometheus_server import free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "workers-scrape-token"
SCRAPES = 12

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def get(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def worker_counts(folder: Path) -> dict[str, float]:
    """GET 2xx requests answered per worker (pid), from each worker's own counter file."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)], accumulate=True):
            for sample in metric.samples:
                if sample.name == "opsgov_http_requests_total" and sample.labels == {"method": "GET", "status": "2xx"}:
                    counts[path.stem.rsplit("_", 1)[-1]] = sample.value
    return counts


def test_two_gunicorn_workers_answer_the_same_governance_figures(test_database_url: str, tmp_path: Path) -> None:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    slo = SLO.objects.create(service=service, name="API availability", objective_percent=Decimal("99.9"))
    now = datetime.now(UTC)
    SLOStatus.objects.create(
        slo=slo,
        evaluated_at=now,
        window_start=now - timedelta(days=30),
        window_end=now,
        budget_remaining=0.75,
        burn_rates={"5m": 0.5, "1h": 1.25},
    )

    port = free_port()
    multiproc = tmp_path / "prometheus-multiproc"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "opsgov.settings",
        "DATABASE_URL": test_database_url,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "WEB_CONCURRENCY": "2",
        "OPSGOV_METRICS_TOKEN": TOKEN,
        "GUNICORN_LOG_LEVEL": "warning",
        "INGEST_ENQUEUE": "immediate",
    }
    log_path = tmp_path / "gunicorn.log"
    process = spawn(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "opsgov.wsgi"],
        env,
        log_path,
    )
    base = f"http://127.0.0.1:{port}"
    answered = 0
    try:

        def ready() -> bool:
            nonlocal answered
            if process.poll() is not None:
                return True
            try:
                status, _ = get(base + "/healthz", token=None)
            except OSError:
                return False
            answered += 1
            return status == 200

        if not wait_until(ready, 60) or process.poll() is not None:
            pytest.fail(f"gunicorn did not start:\n{log_path.read_text(errors='replace')}", pytrace=False)

        with ThreadPoolExecutor(max_workers=4) as pool:
            # Until both workers have booted and answered (each then has its counter file).
            def warm() -> bool:
                nonlocal answered
                statuses = list(pool.map(lambda _: get(base + "/healthz", token=None)[0], range(8)))
                answered += statuses.count(200)
                return len(worker_counts(multiproc)) == 2

            assert wait_until(warm, 60), sorted(multiproc.iterdir())
            before = worker_counts(multiproc)
            answers = list(pool.map(lambda _: get(base + "/metrics"), range(SCRAPES)))
            after = worker_counts(multiproc)
        assert [status for status, _ in answers] == [200] * SCRAPES
        assert get(base + "/metrics", token="wrong")[0] == 401

        figures = [
            {key: value for key, value in parse(text).items() if not key[0].startswith("opsgov_http_requests")}
            for _, text in answers
        ]
        assert all(answer == figures[0] for answer in figures), "every worker answers the same figures"
        labels = (("service", "checkout"), ("slo", "API availability"))
        assert figures[0][("opsgov_slo_error_budget_remaining_ratio", labels)] == 0.75
        assert figures[0][("opsgov_slo_burn_rate", (*labels, ("window", "1h")))] == 1.25

        # Both workers answered scrapes (each counts its own requests in its own file).
        assert sum(after.values()) - sum(before.values()) == SCRAPES
        assert all(after[pid] > before[pid] for pid in after), (before, after)

        # The merged counter holds every request answered before this scrape, whichever worker answered.
        _, text = get(base + "/metrics")
        counted = parse(text)
        assert counted[("opsgov_http_requests_total", (("method", "GET"), ("status", "2xx")))] == answered + SCRAPES
        assert counted[("opsgov_http_requests_total", (("method", "GET"), ("status", "4xx")))] == 1
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
