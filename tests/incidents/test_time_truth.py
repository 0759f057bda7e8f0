"""Time truth: live ingestion sets opsgov's own instants; a sender's clock is data, trusted only within the policy.

The stale fixture is shared/fixtures/pagerduty-v2-trigger.json (copied in tests/incidents/fixtures): its
payload.timestamp is 2026-11-20 10:15:30 UTC. STALE_NOW is 16 days and 44 min 30 s later.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from incidents import services
from incidents.metrics import compute_mtta, compute_mttr, refresh_rollups
from incidents.models import Incident, IncidentStatus, TimelineKind
from opsgov.policy import PolicyError, clear_policy_cache, load_policy

from ..factories import ServiceFactory, UserFactory
from .test_ingest_support import alertmanager_url, make_integration, pagerduty_url, payload, post, process_pending

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
SENDER_TIMESTAMP = datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)  # the fixture's payload.timestamp
STALE_NOW = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
MIN = 60


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def trust_within(tmp_path: Path, settings: Any) -> Iterator[Any]:
    """Set incidents.trust_sender_clock_within in a policy file for the test."""

    def set_bound(text: str) -> None:
        path = tmp_path / "policy.toml"
        path.write_text(f'[incidents]\ntrust_sender_clock_within = "{text}"\n', encoding="utf-8")
        settings.OPSGOV_POLICY = str(path)
        clear_policy_cache()

    yield set_bound
    clear_policy_cache()


def send(url: str, data: dict[str, Any]) -> None:
    response = post(url, data)
    assert response.status_code == 202, response.content


def global_figure(compute: Any, now: datetime) -> tuple[float | None, int]:
    refresh_rollups(now=now)
    value = {figure.scope: figure for figure in compute(window="7d", now=now)}["global"]
    return value.value, value.sample_size


# --- The stale fixture -------------------------------------------------------------------


def test_the_stale_fixture_sent_twice_leaves_mtta_and_mttr_to_opsgovs_instants() -> None:
    with time_machine.travel(STALE_NOW - timedelta(days=2), tick=False) as traveller:
        integration, token = make_integration("pagerduty")
        service = integration.service
        # Two incidents recorded earlier: MTTA 10 min and 19 min, MTTR 3 h and 4 h 28 min.
        for start, ack, resolve in ((STALE_NOW - timedelta(days=2), 10, 180), (STALE_NOW - timedelta(days=1), 19, 268)):
            traveller.move_to(start + timedelta(minutes=resolve))
            incident = services.incident_create(title="earlier", service=service, severity="SEV-2", triggered_at=start)
            services.incident_acknowledge(incident=incident, at=start + timedelta(minutes=ack))
            services.incident_resolve(incident=incident, at=start + timedelta(minutes=resolve))

        # The stale trigger, sent twice (the second is a signal on the open incident), acknowledged and
        # resolved by Events v2 messages 4 and 40 minutes after opsgov stored the first.
        traveller.move_to(STALE_NOW)
        send(pagerduty_url(token), payload("pagerduty-v2-trigger"))
        traveller.move_to(STALE_NOW + timedelta(minutes=1))
        send(pagerduty_url(token), payload("pagerduty-v2-trigger"))
        traveller.move_to(STALE_NOW + timedelta(minutes=4))
        send(pagerduty_url(token), payload("pagerduty-v2-acknowledge"))
        traveller.move_to(STALE_NOW + timedelta(minutes=40))
        send(pagerduty_url(token), payload("pagerduty-v2-resolve"))
        # Sent again later: a second incident, acknowledged by a person 6 min after it was stored.
        traveller.move_to(STALE_NOW + timedelta(hours=2))
        send(pagerduty_url(token), payload("pagerduty-v2-trigger"))
        process_pending()
        traveller.move_to(STALE_NOW + timedelta(hours=2, minutes=6))
        second = Incident.objects.get(status=IncidentStatus.TRIGGERED)
        services.incident_acknowledge(incident=second)
        traveller.move_to(STALE_NOW + timedelta(hours=2, minutes=30))
        send(pagerduty_url(token), payload("pagerduty-v2-resolve"))
        process_pending()

        first, second = Incident.objects.filter(integration=integration).order_by("id")
        assert (first.triggered_at, first.acknowledged_at, first.resolved_at) == (
            STALE_NOW,
            STALE_NOW + timedelta(minutes=4),
            STALE_NOW + timedelta(minutes=40),
        )
        assert (second.triggered_at, second.acknowledged_at, second.resolved_at) == (
            STALE_NOW + timedelta(hours=2),
            STALE_NOW + timedelta(hours=2, minutes=6),
            STALE_NOW + timedelta(hours=2, minutes=30),
        )
        # MTTA = (10 + 19 + 4 + 6) min / 4 = 9 min 45 s = 585 s (with the sender's clock: over 8 days).
        # MTTR = (180 + 268 + 40 + 30) min / 4 = 129.5 min = 7770 s.
        after = STALE_NOW + timedelta(hours=3)
        assert global_figure(compute_mtta, after) == (pytest.approx(585), 4)
        assert global_figure(compute_mttr, after) == (pytest.approx(7770), 4)

        # The sender's timestamp is kept and shown, not used.
        signal = first.timeline.filter(kind=TimelineKind.SIGNAL).first()
        assert signal is not None
        assert signal.message.endswith("; the alert started 16 d 1 h before it reached opsgov")
        triggered = first.timeline.get(kind=TimelineKind.TRIGGERED)
        assert triggered.data["sender_at"] == SENDER_TIMESTAMP.isoformat()
        assert triggered.data["received_at"] == STALE_NOW.isoformat()
        assert triggered.data["sender_clock_used"] is False


# --- Sender clocks ahead, behind, and the policy bound -----------------------------------------


@pytest.mark.usefixtures("clock")
def test_a_timestamp_in_the_future_never_decides_even_with_a_bound(trust_within: Any) -> None:
    trust_within("1 hour")
    _, token = make_integration("pagerduty")
    data = payload("pagerduty-v2-trigger")
    data["payload"]["timestamp"] = "2026-11-20T11:03:00.000+0000"  # 3 min ahead of opsgov's clock
    send(pagerduty_url(token), data)
    process_pending()
    incident = Incident.objects.get()
    assert incident.triggered_at == NOW
    signal = incident.timeline.get(kind=TimelineKind.SIGNAL)
    assert "the sender's time is 3 min after it reached opsgov (a clock ahead: not used)" in signal.message


@pytest.mark.parametrize(
    ("sender_minutes_before", "expected_minutes_before", "phrase"),
    [
        (10, 10, "the alert started 10 min before it reached opsgov (within the policy's"),
        (30, 30, "30 min before it reached opsgov (within"),  # the bound itself is within
        (40, 0, "the alert started 40 min before it reached opsgov (beyond the policy's"),
    ],
)
@pytest.mark.usefixtures("clock")
def test_the_policy_bound_moves_the_trigger_earlier_within_the_bound_only(
    trust_within: Any, sender_minutes_before: int, expected_minutes_before: int, phrase: str
) -> None:
    trust_within("30 minutes")
    _, token = make_integration("pagerduty")
    data = payload("pagerduty-v2-trigger")
    data["payload"]["timestamp"] = (NOW - timedelta(minutes=sender_minutes_before)).isoformat()
    send(pagerduty_url(token), data)
    process_pending()
    incident = Incident.objects.get()
    assert incident.triggered_at == NOW - timedelta(minutes=expected_minutes_before)
    assert phrase in incident.timeline.get(kind=TimelineKind.SIGNAL).message


def test_alertmanager_within_the_bound_triggers_at_starts_at_and_resolves_at_ends_at(
    clock: time_machine.Traveller, trust_within: Any
) -> None:
    trust_within("1 hour")
    _, token = make_integration("alertmanager")
    send(alertmanager_url(token), payload("alertmanager-v4-firing"))  # startsAt 10:15:30, 44 min 30 s before NOW
    clock.move_to(NOW + timedelta(minutes=10))
    send(alertmanager_url(token), payload("alertmanager-v4-resolved"))  # endsAt 10:42, 28 min before receipt
    process_pending()
    incident = Incident.objects.get()
    assert incident.triggered_at == SENDER_TIMESTAMP
    assert incident.resolved_at == datetime(2026, 11, 20, 10, 42, tzinfo=UTC)


def test_without_a_bound_alertmanager_instants_are_the_receipts(clock: time_machine.Traveller) -> None:
    _, token = make_integration("alertmanager")
    send(alertmanager_url(token), payload("alertmanager-v4-firing"))
    clock.move_to(NOW + timedelta(minutes=10))
    send(alertmanager_url(token), payload("alertmanager-v4-resolved"))
    process_pending()
    incident = Incident.objects.get()
    assert (incident.triggered_at, incident.resolved_at) == (NOW, NOW + timedelta(minutes=10))
    messages = list(incident.timeline.filter(kind=TimelineKind.SIGNAL).values_list("message", flat=True))
    assert messages[0].endswith("; the alert started 44 min 30 s before it reached opsgov")
    assert messages[2].endswith("; the alert ended 28 min before it reached opsgov")


def test_a_resolve_whose_sender_time_precedes_the_trigger_resolves_when_received(
    clock: time_machine.Traveller, trust_within: Any
) -> None:
    trust_within("10 minutes")
    _, token = make_integration("alertmanager")
    send(alertmanager_url(token), payload("alertmanager-v4-firing"))  # startsAt beyond the bound: NOW
    clock.move_to(NOW + timedelta(minutes=5))
    resolved = payload("alertmanager-v4-resolved")
    for alert in resolved["alerts"]:
        alert["endsAt"] = "2026-11-20T10:58:00Z"  # within the bound of its receipt, but before the trigger
    send(alertmanager_url(token), resolved)
    process_pending()
    incident = Incident.objects.get()
    assert incident.triggered_at == NOW
    assert incident.resolved_at == NOW + timedelta(minutes=5)
    assert incident.resolved_at >= incident.triggered_at


def test_the_bound_must_be_wall_clock_time(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[incidents]\ntrust_sender_clock_within = "1 business day"\n', encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert "incidents.trust_sender_clock_within" in str(caught.value)
    path.write_text('[incidents]\ntrust_sender_clock_within = "15 minutes"\n', encoding="utf-8")
    assert str(load_policy(path).incidents.trust_sender_clock_within) == "15 minutes"
    assert load_policy(None).incidents.trust_sender_clock_within is None  # off by default


# --- History import is audited -----------------------------------------------------------------


def test_import_incidents_leaves_an_audit_entry_per_incident_naming_the_user_and_the_run() -> None:
    with time_machine.travel(NOW, tick=False):
        ServiceFactory.create(slug="checkout")
        ServiceFactory.create(slug="auth")
        alice = UserFactory.create(username="alice")
        UserFactory.create(username="bob")  # a commander in the file
        out = io.StringIO()
        call_command(
            "import_incidents", str(FIXTURES / "import_good.csv"), "--user", "alice", stdout=out, stderr=io.StringIO()
        )
    created = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident), action=LogEntry.Action.CREATE
    )
    assert created.count() == Incident.objects.count() == 4
    runs = set()
    for entry in created:
        assert entry.actor == alice
        details = entry.additional_data["import"]
        assert (details["command"], details["file"]) == ("import_incidents", "import_good.csv")
        assert details["row"].startswith("line ")
        runs.add(details["run"])
        assert entry.cid == details["run"]
    (run,) = runs
    assert f"Audit trail: run {run} by alice." in out.getvalue()
    # The transitions (acknowledge, resolve...) are in the same run's trail.
    assert LogEntry.objects.filter(cid=run, action=LogEntry.Action.UPDATE).exists()


# --- Internal alerts: opsgov's own instants ----------------------------------------------------


@pytest.mark.usefixtures("clock")
def test_an_internal_alert_triggers_at_its_own_instant_but_never_after_its_receipt() -> None:
    from opsgov.events import ServiceAlert, raise_alert

    service = ServiceFactory.create()
    for key, at in (("late", NOW - timedelta(days=2)), ("ahead", NOW + timedelta(minutes=3))):
        raise_alert(
            ServiceAlert(
                service_id=service.pk, key=key, status="firing", severity="SEV-3", title=key, at=at, source="heartbeat"
            )
        )
    process_pending()
    # A heartbeat's deadline two days back is an instant opsgov recorded, whatever the policy's bound.
    assert Incident.objects.get(dedup_key="late").triggered_at == NOW - timedelta(days=2)
    assert Incident.objects.get(dedup_key="ahead").triggered_at == NOW
