"""SLO admin (audited, status read-only, no bucket inline), `manage.py evaluate_slos`, the beat task."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from incidents.models import Incident, IncidentStatus
from monitoring import tasks
from monitoring.models import SLO, SLOEngineState, SLOStatus
from monitoring.slos import engine
from opsgov.celery import app as celery_app
from tests.incidents.test_ingest_support import process_pending

from .support import make_slo, series

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 11, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def burning(slo: SLO) -> None:
    """Half of every event bad for the last 3 days: every burn-rate alert fires."""
    series(slo, NOW.replace(second=0) - timedelta(days=3), 3 * 24, good=50, total=100, seconds=3600, now=NOW)
    series(slo, NOW.replace(second=0) - timedelta(minutes=60), 60, good=50, total=100, now=NOW)


def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def change_form(slo: SLO, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "service": slo.service_id,
        "name": slo.name,
        "description": slo.description,
        "sli_kind": slo.sli_kind,
        "latency_threshold_ms": "",
        "objective_percent": str(slo.objective_percent),
        "window_kind": slo.window_kind,
        "window_days": slo.window_days,
        "source": slo.source,
        "good_query": "",
        "total_query": "",
        "enabled": "on",
    }
    for prefix in ("status", "alert_states"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_admin_shows_the_status_read_only_and_never_the_buckets() -> None:
    slo = make_slo()
    burning(slo)
    engine.evaluate_slos()
    client = admin_client()
    page = client.get(f"/admin/monitoring/slo/{slo.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "SLO status" in body and "page-fast" in body
    assert "SLI bucket" not in body
    assert client.get(f"/admin/monitoring/slostatus/{slo.pk}/change/").status_code == 200
    assert client.post(f"/admin/monitoring/slostatus/{slo.pk}/change/", {}).status_code == 403
    assert SLOStatus.objects.get(slo=slo).firing == ["page-fast", "page-slow", "ticket"]


def test_disabling_in_the_admin_resolves_alerts_and_is_audited() -> None:
    slo = make_slo(objective_percent=Decimal("99"))
    burning(slo)
    engine.evaluate_slos()
    process_pending()
    client = admin_client()
    response = client.post(f"/admin/monitoring/slo/{slo.pk}/change/", change_form(slo, enabled=None))
    assert response.status_code == 302, response.content[:2000]
    process_pending()
    assert set(Incident.objects.values_list("status", flat=True)) == {IncidentStatus.RESOLVED}
    entry = LogEntry.objects.get_for_object(slo).order_by("pk").last()
    assert entry is not None
    assert entry.changes_dict["enabled"] == ["True", "False"]
    assert entry.actor is not None and entry.actor.username == "root"


def test_the_admin_rejects_a_second_availability_slo_for_a_service() -> None:
    first = make_slo(is_availability=True)
    client = admin_client()
    data = change_form(first, name="Second", is_availability="on")
    response = client.post("/admin/monitoring/slo/add/", data)
    assert response.status_code == 200, "the form is shown again with the error"
    assert SLO.objects.count() == 1


def test_the_command_evaluates_and_reports_progress() -> None:
    slo = make_slo(objective_percent=Decimal("99"))
    burning(slo)
    out = io.StringIO()
    call_command("evaluate_slos", stdout=out)
    text = out.getvalue()
    assert "rebuilding the hour rollups" in text
    assert "reading the windows of 1 SLO(s)" in text
    assert f"firing: slo:{slo.uuid}:page-fast" in text
    assert "Done: 1 SLO(s) evaluated" in text
    out = io.StringIO()
    call_command("evaluate_slos", "--rebuild", stdout=out)
    assert "rebuilding" in out.getvalue()
    assert "0 alert(s) fired, 0 cleared" in out.getvalue()


def test_the_beat_task_runs_a_cycle_every_minute() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["evaluate-slos"]
    assert (entry["task"], entry["schedule"]) == ("monitoring.tasks.evaluate_slos", 60.0)
    assert entry["task"] in celery_app.tasks
    make_slo()
    assert tasks.evaluate_slos() == 1
    assert SLOEngineState.objects.get().last_slos == 1
