"""Processing stored events into incidents (tasks called as functions): Alertmanager and PagerDuty semantics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from incidents import tasks
from incidents.ingest import services as ingestion
from incidents.models import Incident, IncidentStatus, Integration, RawEvent, TimelineKind

from .test_ingest_support import (
    GROUP_KEY,
    NOW,
    PD_KEY,
    alertmanager_url,
    make_integration,
    open_incidents,
    pagerduty_url,
    payload,
    post,
    process_pending,
)

pytestmark = pytest.mark.django_db

T_FIRST_ALERT = datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)
T_LAST_END = datetime(2026, 11, 20, 10, 42, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def send_alertmanager(token: str, data: dict[str, Any]) -> RawEvent:
    response = post(alertmanager_url(token), data)
    assert response.status_code == 202, response.content
    return RawEvent.objects.latest("id")


def send_pagerduty(token: str, data: dict[str, Any]) -> str:
    response = post(pagerduty_url(token), data)
    assert response.status_code == 202, response.content
    return str(response.json()["dedup_key"])


def signals(incident: Incident) -> list[tuple[str, str]]:
    return [
        (event.data.get("fingerprint", event.data.get("event_action")), event.data.get("status", ""))
        for event in incident.timeline.filter(kind=TimelineKind.SIGNAL).order_by("id")
    ]


# --- Alertmanager -----------------------------------------------------------------------


def test_firing_then_repeats_then_resolved_is_one_incident_with_a_signal_per_change() -> None:
    integration, token = make_integration("alertmanager")
    send_alertmanager(token, payload("alertmanager-v4-firing"))
    assert process_pending() == 1
    incident = Incident.objects.get()
    assert incident.title == "Checkout 5xx ratio above 5%"
    # Triggered when opsgov stored the notification; the alerts' startsAt is data (time truth).
    assert (incident.severity, incident.status, incident.triggered_at) == ("SEV-1", "triggered", NOW)
    assert (incident.integration, incident.dedup_key, incident.service.slug) == (integration, GROUP_KEY, "checkout")
    assert signals(incident) == [("6f4b1a2c9d3e0f17", "firing"), ("a81c55d0e2b94f63", "firing")]
    first = incident.timeline.get(data__fingerprint="6f4b1a2c9d3e0f17")
    assert first.data["labels"]["instance"] == "checkout-1:8080"
    assert first.data["startsAt"] == "2026-11-20T10:15:30+00:00"

    # Alertmanager's repeat_interval: the same notification again adds nothing.
    for _ in range(3):
        send_alertmanager(token, payload("alertmanager-v4-firing"))
    assert process_pending() == 3
    timeline_size = incident.timeline.count()
    # Triggered, two signals, and the note that the alerts carry no `service` label (routed to the default).
    assert Incident.objects.count() == 1 and timeline_size == 4

    send_alertmanager(token, payload("alertmanager-v4-resolved"))
    process_pending()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_at == NOW  # when the resolved notification was stored, not the latest endsAt
    assert signals(incident)[2:] == [("6f4b1a2c9d3e0f17", "resolved"), ("a81c55d0e2b94f63", "resolved")]
    assert not RawEvent.objects.filter(processed_at__isnull=True).exists()
    assert set(RawEvent.objects.values_list("incident", flat=True)) == {incident.pk}


def test_only_new_fingerprints_and_changed_statuses_add_signals() -> None:
    _, token = make_integration("alertmanager")
    send_alertmanager(token, payload("alertmanager-v4-firing"))
    data = payload("alertmanager-v4-firing")
    data["alerts"][1]["status"] = "resolved"  # one alert of the group recovered
    third = {**data["alerts"][0], "fingerprint": "0000feedbeef0000", "labels": {"alertname": "HighErrorRate"}}
    data["alerts"].append(third)
    send_alertmanager(token, data)
    process_pending()
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.TRIGGERED  # the group still fires
    assert signals(incident) == [
        ("6f4b1a2c9d3e0f17", "firing"),
        ("a81c55d0e2b94f63", "firing"),
        ("a81c55d0e2b94f63", "resolved"),
        ("0000feedbeef0000", "firing"),
    ]


def test_a_group_firing_again_after_its_incident_resolved_opens_a_new_incident(
    clock: time_machine.Traveller,
) -> None:
    integration, token = make_integration("alertmanager")
    send_alertmanager(token, payload("alertmanager-v4-firing"))
    send_alertmanager(token, payload("alertmanager-v4-resolved"))
    process_pending()
    clock.move_to(NOW + timedelta(hours=1))
    again = payload("alertmanager-v4-firing")
    for alert in again["alerts"]:
        alert["startsAt"] = "2026-11-20T11:30:00Z"
    send_alertmanager(token, again)
    process_pending()
    first, second = Incident.objects.order_by("id")
    assert first.status == IncidentStatus.RESOLVED
    assert second.status == IncidentStatus.TRIGGERED
    assert second.triggered_at == NOW + timedelta(hours=1)  # received then; startsAt 11:30 is data
    assert open_incidents(integration) == [second]
    assert len(signals(second)) == 2


def test_a_resolve_for_a_group_with_no_open_incident_changes_nothing() -> None:
    _, token = make_integration("alertmanager")
    event = send_alertmanager(token, payload("alertmanager-v4-resolved"))
    assert tasks.process_raw_event(event.pk) == 1
    event.refresh_from_db()
    assert event.processed_at is not None and event.incident is None
    assert not Incident.objects.exists()


def test_without_auto_resolve_the_incident_stays_open_and_records_the_resolved_alerts() -> None:
    _, token = make_integration("alertmanager", auto_resolve=False)
    send_alertmanager(token, payload("alertmanager-v4-firing"))
    send_alertmanager(token, payload("alertmanager-v4-resolved"))
    process_pending()
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.TRIGGERED
    assert [status for _, status in signals(incident)] == ["firing", "firing", "resolved", "resolved"]


def test_the_resolve_time_is_never_before_the_last_status_change(clock: time_machine.Traveller) -> None:
    from incidents import services

    _, token = make_integration("alertmanager")
    send_alertmanager(token, payload("alertmanager-v4-firing"))
    process_pending()
    send_alertmanager(token, payload("alertmanager-v4-resolved"))  # stored at NOW, processed later
    acknowledged_at = NOW + timedelta(minutes=1)  # acknowledged by hand before the resolve was processed
    clock.move_to(NOW + timedelta(minutes=2))
    services.incident_acknowledge(incident=Incident.objects.get(), at=acknowledged_at)
    process_pending()
    assert Incident.objects.get().resolved_at == acknowledged_at


def test_alerts_starting_in_the_future_trigger_now() -> None:
    _, token = make_integration("alertmanager")
    data = payload("alertmanager-v4-firing")
    for alert in data["alerts"]:
        alert["startsAt"] = (NOW + timedelta(minutes=3)).isoformat()
    send_alertmanager(token, data)
    process_pending()
    assert Incident.objects.get().triggered_at == NOW


@pytest.mark.parametrize(
    ("labels", "mapping", "expected"),
    [
        ([{"severity": "critical"}, {"severity": "warning"}], {}, "SEV-1"),  # the most severe
        ([{"severity": "warning"}, {"severity": "info"}], {}, "SEV-3"),
        ([{"severity": "High"}], {}, "SEV-2"),  # case-insensitive
        ([{"severity": "critical", "opsgov_severity": "SEV-3"}], {}, "SEV-3"),  # the label overrides
        ([{"severity": "critical", "opsgov_severity": "SEV-9"}], {}, "SEV-1"),  # not a policy severity: ignored
        ([{"severity": "critical"}], {"critical": "SEV-2"}, "SEV-2"),  # the integration's mapping wins
        ([{"severity": "p1"}], {"P1": "SEV-1"}, "SEV-1"),
        ([{"severity": "bogus"}], {}, "SEV-4"),  # unmapped: the integration's default
        ([{}], {}, "SEV-4"),
    ],
)
def test_the_severity_comes_from_the_labels(
    labels: list[dict[str, str]], mapping: dict[str, str], expected: str
) -> None:
    _, token = make_integration("alertmanager", severity_mapping=mapping, default_severity="SEV-4")
    data = payload("alertmanager-v4-firing")
    template = data["alerts"][0]
    data["alerts"] = [
        {**template, "fingerprint": f"fp{index}", "labels": {"alertname": "HighErrorRate", **extra}}
        for index, extra in enumerate(labels)
    ]
    send_alertmanager(token, data)
    process_pending()
    assert Incident.objects.get().severity == expected


def test_without_a_summary_the_title_is_the_alertname_and_group_labels() -> None:
    _, token = make_integration("alertmanager")
    data = payload("alertmanager-v4-firing")
    data["commonAnnotations"] = {}
    data["groupLabels"] = {"alertname": "HighErrorRate", "job": "checkout"}
    send_alertmanager(token, data)
    process_pending()
    assert Incident.objects.get().title == "HighErrorRate (job=checkout)"


def test_out_of_order_processing_applies_the_trigger_first_and_ends_resolved() -> None:
    _, token = make_integration("alertmanager")
    trigger = send_alertmanager(token, payload("alertmanager-v4-firing"))
    resolve = send_alertmanager(token, payload("alertmanager-v4-resolved"))
    assert tasks.process_raw_event(resolve.pk) == 2  # its task ran first: both applied, in order
    assert tasks.process_raw_event(trigger.pk) == 0  # already done
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.RESOLVED
    assert RawEvent.objects.filter(processed_at__isnull=True).count() == 0


def test_processing_the_same_event_twice_does_nothing_the_second_time() -> None:
    _, token = make_integration("alertmanager")
    event = send_alertmanager(token, payload("alertmanager-v4-firing"))
    assert tasks.process_raw_event(event.pk) == 1
    size = Incident.objects.get().timeline.count()
    assert tasks.process_raw_event(event.pk) == 0
    assert tasks.process_raw_event(10**9) == 0  # a missing event is no error
    event.refresh_from_db()
    assert event.attempts == 1 and Incident.objects.get().timeline.count() == size


def test_a_group_key_longer_than_a_dedup_key_is_digested() -> None:
    from incidents.ingest.handling import alertmanager_dedup_key

    _, token = make_integration("alertmanager")
    data = payload("alertmanager-v4-firing")
    data["groupKey"] = "{}:{" + "x" * 300 + "}"
    send_alertmanager(token, data)
    process_pending()
    key = Incident.objects.get().dedup_key
    assert key == alertmanager_dedup_key(data["groupKey"]) and key.startswith("sha256:") and len(key) == 71


# --- PagerDuty Events v2 ----------------------------------------------------------------


def test_pagerduty_trigger_acknowledge_resolve(clock: time_machine.Traveller) -> None:
    integration, token = make_integration("pagerduty")
    assert send_pagerduty(token, payload("pagerduty-v2-trigger")) == PD_KEY
    process_pending()
    incident = Incident.objects.get()
    assert incident.title == "Checkout DB connection pool exhausted"
    assert (incident.severity, incident.dedup_key, incident.integration) == ("SEV-1", PD_KEY, integration)
    assert incident.triggered_at == NOW  # when opsgov stored it; payload.timestamp is data
    assert incident.timeline.get(kind=TimelineKind.TRIGGERED).data["sender_at"] == T_FIRST_ALERT.isoformat()
    assert "Source: checkout-1.prod" in incident.summary
    signal = incident.timeline.get(kind=TimelineKind.SIGNAL)
    assert signal.data["custom_details"] == {"pool_size": 50, "waiting": 213}
    assert signal.data["class"] == "saturation"

    clock.move_to(NOW + timedelta(minutes=2))
    send_pagerduty(token, payload("pagerduty-v2-acknowledge"))
    clock.move_to(NOW + timedelta(minutes=3))
    send_pagerduty(token, payload("pagerduty-v2-acknowledge"))  # already acknowledged: nothing
    process_pending()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    assert incident.acknowledged_at == NOW + timedelta(minutes=2)  # when it was received

    clock.move_to(NOW + timedelta(minutes=10))
    send_pagerduty(token, payload("pagerduty-v2-resolve"))
    process_pending()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_at == NOW + timedelta(minutes=10)
    assert list(RawEvent.objects.order_by("id").values_list("action", "incident")) == [
        ("trigger", incident.pk),
        ("acknowledge", incident.pk),
        ("acknowledge", incident.pk),
        ("resolve", incident.pk),
    ]
    assert not RawEvent.objects.exclude(last_error="").exists()


def test_a_repeated_trigger_for_an_open_key_is_counted_on_its_signal_not_a_new_incident_or_entry() -> None:
    _, token = make_integration("pagerduty")
    send_pagerduty(token, payload("pagerduty-v2-trigger"))
    send_pagerduty(token, payload("pagerduty-v2-trigger"))
    process_pending()
    incident = Incident.objects.get()
    assert signals(incident) == [("trigger", "")]
    (signal,) = incident.alert_signals.all()
    assert (signal.kind, signal.fingerprint, signal.count, signal.last_status) == (
        "events_v2",
        incident.dedup_key,
        2,
        "trigger",
    )
    assert signal.first_seen <= signal.last_seen


def test_a_trigger_after_resolve_opens_a_second_incident() -> None:
    integration, token = make_integration("pagerduty")
    for name in ("trigger", "resolve", "trigger"):
        send_pagerduty(token, payload(f"pagerduty-v2-{name}"))
    process_pending()
    first, second = Incident.objects.order_by("id")
    assert first.status == IncidentStatus.RESOLVED
    assert open_incidents(integration) == [second]
    assert second.dedup_key == first.dedup_key == PD_KEY


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_of_an_unknown_key_is_accepted_and_changes_nothing(action: str) -> None:
    _, token = make_integration("pagerduty")
    send_pagerduty(token, payload(f"pagerduty-v2-{action}"))
    assert process_pending() == 1
    assert not Incident.objects.exists()
    event = RawEvent.objects.get()
    assert event.processed_at is not None and event.incident is None and event.last_error == ""


def test_a_trigger_without_dedup_key_opens_an_incident_under_the_returned_key() -> None:
    _, token = make_integration("generic")
    data = payload("pagerduty-v2-trigger")
    del data["dedup_key"]
    key = send_pagerduty(token, data)
    process_pending()
    assert Incident.objects.get().dedup_key == key
    resolve = {"event_action": "resolve", "dedup_key": key}
    send_pagerduty(token, resolve)
    process_pending()
    assert Incident.objects.get().status == IncidentStatus.RESOLVED


def test_a_pagerduty_timestamp_in_the_future_triggers_now() -> None:
    _, token = make_integration("pagerduty")
    data = payload("pagerduty-v2-trigger")
    data["payload"]["timestamp"] = "2026-11-20T11:04:00.000+0000"
    send_pagerduty(token, data)
    process_pending()
    assert Incident.objects.get().triggered_at == NOW


@pytest.mark.parametrize(
    ("severity", "details", "expected"),
    [
        ("critical", {}, "SEV-1"),
        ("error", {}, "SEV-2"),
        ("warning", {}, "SEV-3"),
        ("info", {}, "SEV-4"),
        ("critical", {"opsgov_severity": "SEV-2"}, "SEV-2"),
    ],
)
def test_pagerduty_severities_map_to_the_policy(severity: str, details: dict[str, str], expected: str) -> None:
    _, token = make_integration("pagerduty")
    data = payload("pagerduty-v2-trigger")
    data["payload"].update(severity=severity, custom_details=details)
    send_pagerduty(token, data)
    process_pending()
    assert Incident.objects.get().severity == expected


def test_without_auto_resolve_a_pagerduty_resolve_is_only_a_signal() -> None:
    _, token = make_integration("pagerduty", auto_resolve=False)
    send_pagerduty(token, payload("pagerduty-v2-trigger"))
    send_pagerduty(token, payload("pagerduty-v2-resolve"))
    process_pending()
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.TRIGGERED
    assert signals(incident) == [("trigger", ""), ("resolve", "")]


# --- Failures ---------------------------------------------------------------------------


def _stored(integration: Integration, action: str, data: Any, key: str = PD_KEY) -> RawEvent:
    return RawEvent.objects.create(integration=integration, dedup_key=key, action=action, payload=data)


def test_a_failing_event_is_recorded_and_holds_back_its_key_until_dead_lettered() -> None:
    integration, _ = make_integration("pagerduty")
    broken = _stored(integration, "trigger", {"event_action": "trigger"})  # stored by an older version, say
    later = _stored(integration, "trigger", payload("pagerduty-v2-trigger"))
    for attempt in range(1, ingestion.MAX_ATTEMPTS):
        result = ingestion.process_raw_event(event_id=later.pk)
        assert result.failed and result.applied == 0
        broken.refresh_from_db()
        later.refresh_from_db()
        assert broken.attempts == attempt and "payload" in broken.last_error
        assert broken.processed_at is None and later.processed_at is None  # order is kept
    result = ingestion.process_raw_event(event_id=later.pk)
    assert result.dead_lettered == (broken.pk,) and result.applied == 1
    broken.refresh_from_db()
    assert broken.processed_at is None and broken.dead_lettered_at is not None  # took no effect; listed
    assert broken.last_error.startswith("Dead-lettered after 5 attempts.")
    assert ingestion.claim_stale_raw_events(older_than=timedelta(0)) == []  # the sweeper leaves it alone
    assert Incident.objects.get().raw_events.get() == RawEvent.objects.get(pk=later.pk)


def test_the_task_retries_only_transient_database_errors_with_bounded_backoff() -> None:
    from django.db import InterfaceError, OperationalError

    task: Any = tasks.process_raw_event  # options Celery's stubs do not declare
    assert task.acks_late is True
    assert task.soft_time_limit is not None and task.time_limit is not None
    assert task.soft_time_limit < task.time_limit
    assert set(task.autoretry_for) == {OperationalError, InterfaceError}
    assert task.max_retries == 5 and task.retry_backoff


# --- Sweeper ----------------------------------------------------------------------------


def test_the_sweeper_claims_only_events_left_unprocessed_for_30_seconds(clock: time_machine.Traveller) -> None:
    integration, _ = make_integration("pagerduty")
    old_a = _stored(integration, "trigger", payload("pagerduty-v2-trigger"))
    old_b = _stored(integration, "acknowledge", payload("pagerduty-v2-acknowledge"))
    old_other = _stored(integration, "resolve", {"event_action": "resolve", "dedup_key": "other"}, key="other")
    done = _stored(integration, "resolve", {"event_action": "resolve", "dedup_key": "x"}, key="x")
    assert tasks.process_raw_event(done.pk) == 1
    clock.move_to(NOW + timedelta(seconds=31))
    fresh = _stored(integration, "resolve", payload("pagerduty-v2-resolve"), key="fresh")

    # The newest claimed event of each key: processing it applies the earlier ones.
    assert ingestion.claim_stale_raw_events() == [old_b.pk, old_other.pk]
    assert ingestion.claim_stale_raw_events() == []  # claimed: not again for another 30 s
    clock.move_to(NOW + timedelta(seconds=62))
    assert ingestion.claim_stale_raw_events() == [old_b.pk, old_other.pk, fresh.pk]
    assert ingestion.claim_stale_raw_events(limit=1) == []  # all claimed just now
    clock.move_to(NOW + timedelta(seconds=93))
    assert ingestion.claim_stale_raw_events(limit=1) == [old_a.pk]  # bounded batches, oldest first

    for event_id in (old_b.pk, old_other.pk, fresh.pk):
        tasks.process_raw_event(event_id)
    assert not RawEvent.objects.filter(processed_at__isnull=True).exists()
    clock.move_to(NOW + timedelta(seconds=200))
    assert ingestion.claim_stale_raw_events() == []
