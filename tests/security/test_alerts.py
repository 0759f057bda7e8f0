"""Security alert queue: Falco and webhook alerts, triage, and a true positive escalated to a security incident."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from incidents import tasks as incident_tasks
from incidents.models import Incident, RawEvent
from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD
from security.models import AlertStatus, SecurityAlert
from tests.factories import ServiceFactory

from .support import FIXTURES

pytestmark = pytest.mark.django_db
URL = "/api/v1/security/alerts/"


def _falco() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / "falco-alerts.jsonl").read_text().splitlines() if line.strip()]


def test_falco_alert_escalates_to_a_security_incident(client_for: Any, personas: dict[str, Any]) -> None:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    lead = client_for(personas[SECURITY_LEAD])
    received = [lead.post(URL, line, format="json") for line in _falco()]  # one POST per alert, as Falco does
    assert [r.status_code for r in received] == [201, 201]
    shell = SecurityAlert.objects.get(rule="Terminal shell in container")
    assert (shell.severity, shell.priority, shell.service) == ("low", "Notice", checkout)
    assert shell.reported_at == datetime(2026, 3, 2, 10, 11, 12, 123456, tzinfo=UTC)  # shown, not computed with
    shadow = SecurityAlert.objects.get(rule="Read sensitive file untrusted")
    assert (shadow.severity, shadow.service) == ("medium", checkout)

    assert lead.post(f"{URL}{shadow.pk}/acknowledge/").json()["status"] == "acknowledged"
    closed = lead.post(f"{URL}{shadow.pk}/close/", {"disposition": "true_positive"}, format="json")
    assert closed.status_code == 200, closed.json()
    assert closed.json()["escalation_key"] == f"security-alert:{shadow.pk}"
    for event_id in RawEvent.objects.filter(processed_at__isnull=True).values_list("id", flat=True):
        incident_tasks.process_raw_event(event_id)
    incident = Incident.objects.get(dedup_key=f"security-alert:{shadow.pk}")
    assert incident.title == "Security: Read sensitive file untrusted"
    assert incident.service == checkout
    assert incident.severity == "SEV-3"
    assert incident.commander == personas[SECURITY_LEAD]  # the Security Lead is involved
    assert "Class: security" in incident.summary

    benign = lead.post(f"{URL}{shell.pk}/close/", {"disposition": "benign"}, format="json")
    assert (benign.json()["status"], benign.json()["escalation_key"]) == ("closed", "")
    assert Incident.objects.count() == 1


def test_webhook_alert_and_bad_input(client_for: Any, personas: dict[str, Any]) -> None:
    lead = client_for(personas[SECURITY_LEAD])
    ok = lead.post(URL, [{"title": "Impossible travel", "severity": "high"}], format="json")
    assert ok.status_code == 201 and ok.json()[0]["severity"] == "high"
    bad = lead.post(URL, {"rule": "x", "priority": "Loud", "output": "o"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["message"].startswith("$.priority: 'Loud' is not a Falco priority")
    # A true positive without a service cannot escalate: 400, and the alert stays open.
    alert = SecurityAlert.objects.get()
    refused = lead.post(f"{URL}{alert.pk}/close/", {"disposition": "true_positive"}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "service"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW
    assert (
        client_for(personas[COMPLIANCE_OFFICER]).post(URL, {"title": "t", "severity": "low"}, format="json").status_code
        == 403
    )
