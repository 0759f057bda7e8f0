"""`manage.py create_integration`: prints the ingestion URL and the token once; clear errors for bad input."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from incidents.models import Integration, hash_token

from ..factories import ServiceFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_integration", *args, stdout=out)
    return out.getvalue()


def printed(output: str, label: str) -> str:
    match = re.search(rf"^{label}: (\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


@pytest.fixture(autouse=True)
def _service(settings: Any) -> None:
    settings.OPSGOV_BASE_URL = "https://opsgov.example.com/"
    ServiceFactory.create(slug="checkout", name="Checkout")


def test_it_creates_an_alertmanager_integration_and_prints_a_working_url_and_token() -> None:
    output = run("--kind", "alertmanager", "--service", "checkout")
    token = printed(output, "Token")
    url = printed(output, "URL")
    assert url == f"https://opsgov.example.com/api/v1/ingest/alertmanager/{token}/"
    integration = Integration.objects.get()
    assert (integration.name, integration.kind, integration.service.slug) == (
        "Checkout Prometheus Alertmanager",
        "alertmanager",
        "checkout",
    )
    assert (integration.default_severity, integration.auto_resolve, integration.severity_mapping) == ("SEV-3", True, {})
    assert integration.token_hash == hash_token(token) and token not in integration.token_hash
    assert "https://opsgov.example.com/api/v1/ingest/alertmanager/ with the header 'Authorization: Bearer" in output
    assert "Events v2 senders" not in output, "an Alertmanager integration takes no routing key"

    firing = {
        "version": "4",
        "groupKey": "g",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-11-20T10:15:30Z", "fingerprint": "f"}],
    }
    response = Client().post(
        url.removeprefix("https://opsgov.example.com"), json.dumps(firing), content_type="application/json"
    )
    assert response.status_code == 202


def test_it_takes_every_option() -> None:
    output = run(
        "--kind",
        "pagerduty",
        "--service",
        "checkout",
        "--name",
        "Grafana",
        "--default-severity",
        "sev-2",
        "--no-auto-resolve",
        "--map",
        "critical=SEV-1",
        "P3=SEV-3",
        "--map",
        "page=SEV-2",
    )
    token = printed(output, "Token")
    assert printed(output, "URL") == f"https://opsgov.example.com/api/v1/ingest/pagerduty/{token}/enqueue"
    integration = Integration.objects.get()
    assert integration.name == "Grafana" and integration.kind == "pagerduty"
    assert integration.default_severity == "SEV-2" and integration.auto_resolve is False
    assert integration.severity_mapping == {"critical": "SEV-1", "p3": "SEV-3", "page": "SEV-2"}
    assert (
        "Events v2 senders: url https://opsgov.example.com/api/v1/ingest/v2/enqueue, routing_key <token> (in the body)."
        in output
    )

    trigger = {
        "routing_key": token,
        "event_action": "trigger",
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
    }
    response = Client().post("/api/v1/ingest/v2/enqueue", json.dumps(trigger), content_type="application/json")
    assert response.status_code == 202, response.content


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "alertmanager", "--service", "nope"], "No service with slug 'nope'. Known services: checkout."),
        (
            ["--kind", "alertmanager", "--service", "checkout", "--default-severity", "SEV-9"],
            "--default-severity 'SEV-9' is not a severity of the policy (SEV-1, SEV-2, SEV-3, SEV-4).",
        ),
        (
            ["--kind", "generic", "--service", "checkout", "--map", "critical=SEV-7"],
            "--map 'critical=SEV-7': unknown severity 'SEV-7'",
        ),
        (
            ["--kind", "generic", "--service", "checkout", "--map", "critical"],
            "--map 'critical': write SOURCE=SEVERITY",
        ),
    ],
)
def test_bad_input_stops_with_a_clear_message_and_creates_nothing(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert message in str(caught.value)
    assert not Integration.objects.exists()


def test_an_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(CommandError) as caught:
        run("--kind", "nagios", "--service", "checkout")
    message = str(caught.value)
    assert "argument --kind: invalid choice: 'nagios'" in message
    assert all(kind in message for kind in ("alertmanager", "pagerduty", "generic"))
