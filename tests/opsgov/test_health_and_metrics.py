"""Health probes and the Prometheus endpoint."""

from __future__ import annotations

import pytest
from django.test import Client

from opsgov.gates import services as gate_services
from opsgov.models import MetricSnapshot

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_login(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_when_database_and_broker_answer(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_names_the_broker_when_it_is_down(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsgov.celery import app

    # Celery prefers the CELERY_BROKER_URL variable (set in CI) over its configuration.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    original = app.conf.broker_url
    app.conf.update(broker_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        response = client.get("/readyz")
    finally:
        app.conf.update(broker_url=original)
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"]
    assert body["checks"]["database"] == "ok"
    assert "Error" in body["checks"]["broker"]


def test_metrics_exposes_gate_status_and_snapshots(client: Client) -> None:
    gate_services.evaluate_gates()
    MetricSnapshot.objects.create(
        metric="mtta", scope="global", window="30d", value=420.0, sample_size=12, is_current=False
    )
    MetricSnapshot.objects.create(metric="mtta", scope="global", window="30d", value=300.0, sample_size=13)
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'opsgov_gate_status{gate="backup_dr",status="no_evidence",step="8"} 1.0' in text
    assert 'opsgov_gate_status{gate="backup_dr",status="pass",step="8"} 0.0' in text
    assert 'opsgov_metric_value{metric="mtta",scope="global",window="30d"} 300.0' in text
    assert "opsgov_http_requests_total" in text


def test_metrics_requires_the_bearer_token_when_configured(client: Client, settings: object) -> None:
    settings.OPSGOV_METRICS_TOKEN = "s3cret-scrape-token"  # type: ignore[attr-defined]
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200


def test_pages_other_than_probes_need_a_login(client: Client) -> None:
    for path in ("/", "/services/", "/teams/", "/policy/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
