"""PagerDuty change events from CI: POST /api/v1/ingest/pagerduty/change/enqueue (and the key-in-URL form)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import time_machine
from django.test import Client

from maintenance import services
from maintenance.models import ChangeRecord
from opsgov.models import Service
from tests.factories import ServiceFactory

from .support import approved_window, fixture, utc

pytestmark = pytest.mark.django_db

URL = "/api/v1/ingest/pagerduty/change/enqueue"


def event(**changes: Any) -> dict[str, Any]:
    body = json.loads(fixture("pagerduty-change-event.json"))
    body.update(changes)
    return body


@pytest.fixture
def routing_key() -> str:
    service = ServiceFactory.create(slug="checkout")
    _, key = services.create_change_integration(name="GitLab CI", service=service)
    return key


def post(client: Client, url: str, body: Any, **headers: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def test_a_ci_change_event_becomes_a_standard_change_with_its_links(client: Client, routing_key: str) -> None:
    with time_machine.travel(utc(2026, 3, 14, 22, 5), tick=False):
        answer = post(client, URL, event(routing_key=routing_key))
    assert answer.status_code == 202, answer.content
    assert answer.json()["message"] == "Change event processed"
    change = ChangeRecord.objects.get()
    assert (change.kind, change.category, change.state, change.outcome, change.source) == (
        "standard",
        "deploy",
        "closed",
        "successful",
        "pagerduty",
    )
    assert change.title == "Deploy checkout 1.4.2 to production"
    assert [s.slug for s in change.services.all()] == ["checkout"]
    assert change.links == [{"href": "https://ci.acme.test/checkout/pipelines/8812", "text": "Pipeline 8812"}]
    assert change.external_id == "CHG-2026-0142"
    # opsgov's instant, with the sender's clock kept as data.
    assert change.actual_start == utc(2026, 3, 14, 22, 5)
    assert change.sender_timestamp == utc(2026, 3, 14, 22, 4)
    again = post(client, URL, event(routing_key=routing_key))
    assert again.status_code == 202
    assert again.json()["message"] == "Change already recorded"
    assert ChangeRecord.objects.count() == 1


def test_the_key_in_the_url_and_the_trailing_slash_forms_work(client: Client, routing_key: str) -> None:
    body = event(routing_key="")
    body["payload"]["custom_details"] = {}
    assert post(client, f"/api/v1/ingest/pagerduty/{routing_key}/change/enqueue", body).status_code == 202
    assert post(client, f"/api/v1/ingest/pagerduty/{routing_key}/change/enqueue/", body).status_code == 202
    assert post(client, "/api/v1/ingest/pagerduty/v2/change/enqueue", event(routing_key=routing_key)).status_code == 202
    assert post(client, URL, body, HTTP_AUTHORIZATION=f"Bearer {routing_key}").status_code == 202
    assert ChangeRecord.objects.count() == 4


def test_an_unknown_key_is_401_and_nothing_is_recorded(client: Client, routing_key: str) -> None:
    assert post(client, URL, event(routing_key="R" * 32)).status_code == 401
    assert post(client, URL, event(routing_key="")).status_code == 401
    assert not ChangeRecord.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda b: b["payload"].pop("summary"), "payload.summary"),
        (lambda b: b["payload"].update(summary="x" * 1025), "payload.summary"),
        (lambda b: b["payload"].update(timestamp="2026-03-14T22:04:00"), "payload.timestamp"),
        (lambda b: b.update(links=[{"href": "javascript:alert(1)"}]), "links.0.href"),
        (lambda b: b.pop("payload"), "payload"),
    ],
)
def test_a_bad_event_is_400_naming_the_field(client: Client, routing_key: str, mutate: Any, path: str) -> None:
    body = event(routing_key=routing_key)
    mutate(body)
    answer = post(client, URL, body)
    assert answer.status_code == 400
    assert any(error.startswith(path) for error in answer.json()["errors"]), answer.json()
    assert not ChangeRecord.objects.exists()


def test_not_json_and_get_are_refused(client: Client, routing_key: str) -> None:
    assert client.post(URL, "not json", content_type="application/json").status_code == 400
    assert client.post(URL, "a=b", content_type="application/x-www-form-urlencoded").status_code == 415
    assert client.get(URL).status_code == 405


def test_a_deploy_inside_a_freeze_is_flagged_but_not_outside_a_window(client: Client, routing_key: str) -> None:
    service = Service.objects.get(slug="checkout")
    approved_window(service)
    services.create_freeze(name="Launch", services=[service], starts_at=utc(2026, 3, 14), ends_at=utc(2026, 3, 16))
    with time_machine.travel(utc(2026, 3, 14, 22, 5), tick=False):
        answer = post(client, URL, event(routing_key=routing_key))
    assert answer.json()["flagged"] is True
    change = ChangeRecord.objects.get()
    assert (change.in_freeze, change.outside_window) == (True, False)
    assert services.required_approvals(change) == ["conflict"]
