"""Bounded timelines: one webhook of 10,000 alerts adds a handful of timeline entries, its alerts are counted
per fingerprint under Signals, and the incident page and API read both a page at a time."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from incidents.ingest import services as ingestion
from incidents.ingest.handling import MAX_BODY_BYTES
from incidents.models import AlertSignal, Incident, RawEvent, TimelineEvent, TimelineKind
from opsgov.evidence import evidence_deletion
from opsgov.roles import SRE_LEAD

from .factories import IncidentFactory
from .test_ingest_support import NOW, alertmanager_url, make_integration, post, process_pending

pytestmark = pytest.mark.django_db

ALERTS = 10_000
PAGE_LIMIT = 200_000  # bytes of the incident page


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def webhook(count: int, *, status: str = "firing", names: int = 3) -> bytes:
    alerts = [
        {
            "status": status,
            "labels": {"alertname": f"D{index % names}"},  # short: 10,000 alerts fit the 1 MiB limit
            "startsAt": "2026-11-20T10:55:00Z",
            "fingerprint": f"{index:04x}",
        }
        for index in range(count)
    ]
    body = {"version": "4", "groupKey": "{}:{alertname=~Disk}", "status": status, "alerts": alerts}
    return json.dumps(body, separators=(",", ":")).encode()


def send(token: str, body: bytes) -> None:
    assert len(body) <= MAX_BODY_BYTES
    response = post(alertmanager_url(token), body=body)
    assert response.status_code == 202, response.content


@pytest.fixture
def signed_in(client: Client, make_user: Callable[..., User]) -> Client:
    client.force_login(make_user("lead", SRE_LEAD))
    return client


@pytest.fixture(scope="module")
def big_webhook() -> bytes:
    return webhook(ALERTS)


def test_a_webhook_of_10000_alerts_adds_a_handful_of_timeline_entries_and_a_signal_per_fingerprint(
    big_webhook: bytes,
) -> None:
    _, token = make_integration("alertmanager")
    send(token, big_webhook)
    assert process_pending() == 1
    incident = Incident.objects.get()
    kinds = list(incident.timeline.order_by("id").values_list("kind", flat=True))
    assert len(kinds) <= 4, kinds  # triggered, the webhook's one signal entry, the routing note
    summary = incident.timeline.get(kind=TimelineKind.SIGNAL)
    assert summary.message.startswith(f"{ALERTS} alerts received ({ALERTS} new fingerprints")
    assert summary.data["alerts"] == ALERTS and summary.data["firing"] == ALERTS
    assert incident.alert_signals.count() == ALERTS
    one = incident.alert_signals.get(fingerprint=f"{42:04x}")
    assert (one.count, one.last_status, one.name, one.labels) == (1, "firing", "D0", {"alertname": "D0"})

    # Alertmanager repeats the notification: counted, nothing on the timeline.
    send(token, big_webhook)
    assert process_pending() == 1
    assert incident.timeline.count() == len(kinds)
    one.refresh_from_db()
    assert one.count == 2 and one.first_seen == NOW and one.last_seen == NOW
    assert AlertSignal.objects.filter(incident=incident, count=2).count() == ALERTS

    # A few resolve: a timeline entry each (no more than SIGNAL_ROWS_PER_EVENT of them).
    resolved = json.loads(webhook(3, status="resolved"))
    for alert in resolved["alerts"]:
        alert["endsAt"] = "2026-11-20T10:58:00Z"
    send(token, json.dumps(resolved).encode())
    process_pending()
    assert incident.timeline.filter(kind=TimelineKind.SIGNAL).count() == 1 + 3
    assert incident.alert_signals.filter(last_status="resolved").count() == 3


def test_the_page_of_that_incident_is_small_with_a_bounded_number_of_queries(
    big_webhook: bytes, signed_in: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    _, token = make_integration("alertmanager")
    send(token, big_webhook)
    process_pending()
    incident = Incident.objects.get()
    with django_assert_max_num_queries(25):
        response = signed_in.get(f"/incidents/{incident.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert len(response.content) < PAGE_LIMIT, len(response.content)
    assert f"{ALERTS} alerts, most recently seen first; showing 1\u201350" in page
    assert f"{ALERTS} alerts received" in page
    assert page.count("<code>") - page.count("<code>{}") == 50  # one page of signals
    second = signed_in.get(f"/incidents/{incident.pk}/", {"signals_page": 2}).content.decode()
    assert "showing 51\u2013100" in second


def test_the_api_paginates_timeline_and_signals_and_the_detail_embeds_only_the_newest(
    big_webhook: bytes, sre: APIClient
) -> None:
    _, token = make_integration("alertmanager")
    send(token, big_webhook)
    process_pending()
    incident = Incident.objects.get()
    detail = sre.get(f"/api/v1/incidents/{incident.pk}/")
    assert len(detail.content) < PAGE_LIMIT
    assert detail.json()["timeline_count"] == incident.timeline.count()
    signals = sre.get(f"/api/v1/incidents/{incident.pk}/signals/", {"page_size": 100}).json()
    assert signals["count"] == ALERTS and len(signals["results"]) == 100 and signals["next"]
    assert set(signals["results"][0]) == {
        "kind",
        "fingerprint",
        "name",
        "count",
        "first_seen",
        "last_seen",
        "last_status",
        "labels",
    }
    timeline = sre.get(f"/api/v1/incidents/{incident.pk}/timeline/").json()
    assert timeline["count"] == incident.timeline.count()
    assert timeline["results"][0]["kind"] == "triggered"  # oldest first


def test_old_incidents_with_one_entry_per_alert_render_paginated(
    signed_in: Client, sre: APIClient, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    """Rows written before AlertSignal existed: no migration, the page and API page through them."""
    incident = IncidentFactory.create()
    TimelineEvent.objects.bulk_create(
        TimelineEvent(
            incident=incident,
            kind=TimelineKind.SIGNAL,
            at=NOW + timedelta(seconds=index),
            message=f"Legacy{index} firing",
            data={"fingerprint": f"legacy{index}", "status": "firing", "labels": {"alertname": f"Legacy{index}"}},
        )
        for index in range(130)
    )
    total = incident.timeline.count()
    with django_assert_max_num_queries(25):
        page = signed_in.get(f"/incidents/{incident.pk}/").content.decode()
    assert f"{total} entries, oldest first; showing 1\u201350" in page
    assert "Legacy0 firing" in page and "Legacy60 firing" not in page
    last = signed_in.get(f"/incidents/{incident.pk}/", {"timeline_page": 3}).content.decode()
    assert "Legacy129 firing" in last
    assert "No alert recorded under Signals" in page
    body = sre.get(f"/api/v1/incidents/{incident.pk}/").json()
    assert len(body["timeline"]) == 100 and body["timeline_count"] == total and body["timeline_truncated"] is True
    assert body["timeline"][-1]["message"] == "Legacy129 firing"  # the newest, oldest of them first
    assert len(body["context"]["alerts"]) == 50  # the context still reads the legacy signals


def test_a_legacy_incident_does_not_record_its_known_alerts_again() -> None:
    _, token = make_integration("alertmanager")
    send(token, webhook(2))
    process_pending()
    incident = Incident.objects.get()
    with evidence_deletion("test: an incident written before AlertSignal existed"):
        AlertSignal.objects.filter(incident=incident).delete()
    entries = incident.timeline.count()
    send(token, webhook(2))
    process_pending()
    assert incident.timeline.count() == entries
    assert incident.alert_signals.count() == 2


def test_small_webhooks_keep_an_entry_per_new_alert() -> None:
    _, token = make_integration("alertmanager")
    send(token, webhook(ingestion.SIGNAL_ROWS_PER_EVENT))
    process_pending()
    incident = Incident.objects.get()
    assert incident.timeline.filter(kind=TimelineKind.SIGNAL).count() == ingestion.SIGNAL_ROWS_PER_EVENT
    send(token, webhook(ingestion.SIGNAL_ROWS_PER_EVENT + 1))  # one new alert
    process_pending()
    assert incident.timeline.filter(kind=TimelineKind.SIGNAL).count() == ingestion.SIGNAL_ROWS_PER_EVENT + 1


def test_the_incident_search_finds_alerts_summed_up_in_one_entry(sre: APIClient) -> None:
    _, token = make_integration("alertmanager")
    body = json.loads(webhook(ingestion.SIGNAL_ROWS_PER_EVENT + 1, names=11))  # its name not among the 5 shown
    body["alerts"][-1]["labels"]["alertname"] = "QuietlyFullVolume"  # only on its signal, not on the timeline
    send(token, json.dumps(body).encode())
    process_pending()
    incident = Incident.objects.get()
    assert not incident.timeline.filter(message__contains="QuietlyFullVolume").exists()
    found = sre.get("/api/v1/incidents/", {"q": "quietlyfull"}).json()["results"]
    assert [row["number"] for row in found] == [incident.pk]


def test_a_fingerprint_longer_than_the_column_is_counted_under_its_digest() -> None:
    _, token = make_integration("alertmanager")
    body = json.loads(webhook(2))
    body["alerts"][0]["fingerprint"] = "f" * 300
    send(token, json.dumps(body).encode())
    send(token, json.dumps(body).encode())
    process_pending()
    incident = Incident.objects.get()
    assert not RawEvent.objects.exclude(last_error="").exists()
    long = incident.alert_signals.get(fingerprint=ingestion.signal_key("f" * 300))
    assert long.fingerprint.startswith("sha256:") and long.count == 2
    assert incident.alert_signals.get(fingerprint="0001").count == 2
