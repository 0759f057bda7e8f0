"""The heartbeat state machine (monitoring.checks): late, /fail, /start, success, paused; one alert per flip."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitoring.checks import services as checks
from monitoring.models import CheckFlip, CheckStatus, FlipReason, Heartbeat, HeartbeatPing
from tests.factories import ServiceFactory

from .check_support import alert_actions, incidents_for, make_heartbeat, process_alerts

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
# period 1 day + grace 1 hour after a ping at T0: late strictly after T0 + 25 h.
DEADLINE = T0 + timedelta(days=1, hours=1)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def ping(heartbeat: Heartbeat, kind: str = "success", **extra: object) -> Heartbeat | None:
    return checks.heartbeat_ping(uuid=heartbeat.uuid, ping=checks.PingRequest(kind=kind, method="GET", **extra))  # type: ignore[arg-type]


def fresh(heartbeat: Heartbeat) -> Heartbeat:
    heartbeat.refresh_from_db()
    return heartbeat


def flips(heartbeat: Heartbeat) -> list[tuple[str, str, str, datetime]]:
    return list(
        CheckFlip.objects.filter(heartbeat=heartbeat)
        .order_by("at", "id")
        .values_list("old_status", "new_status", "reason", "at")
    )


def test_a_new_heartbeat_is_watched_from_its_first_ping(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    assert (heartbeat.status, heartbeat.alert_after) == (CheckStatus.NEW, None)
    clock.move_to(T0 + timedelta(days=30))
    assert checks.detect_late_heartbeats() == 0, "never pinged: nothing to be late for"

    clock.move_to(T0)
    ping(heartbeat)
    heartbeat = fresh(heartbeat)
    assert (heartbeat.status, heartbeat.last_ping_at, heartbeat.alert_after) == (CheckStatus.UP, T0, DEADLINE)
    assert flips(heartbeat) == [("new", "up", FlipReason.PING, T0)]
    assert alert_actions(heartbeat.alert_key) == [], "new -> up is no recovery: nothing to resolve"


def test_late_by_one_second_goes_down_exactly_once(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    ping(heartbeat)

    clock.move_to(DEADLINE)
    assert checks.detect_late_heartbeats() == 0, "at the deadline itself it is not late yet"
    assert fresh(heartbeat).status == CheckStatus.UP

    clock.move_to(DEADLINE + timedelta(seconds=1))
    assert checks.detect_late_heartbeats() == 1
    heartbeat = fresh(heartbeat)
    assert (heartbeat.status, heartbeat.alert_after) == (CheckStatus.DOWN, None)
    assert flips(heartbeat)[-1] == ("up", "down", FlipReason.LATE, DEADLINE), "it went down at its deadline"
    assert alert_actions(heartbeat.alert_key) == ["trigger"]

    for minutes in (1, 30, 600):
        clock.move_to(DEADLINE + timedelta(minutes=minutes))
        assert checks.detect_late_heartbeats() == 0
    assert alert_actions(heartbeat.alert_key) == ["trigger"], "still down: no second alert"
    assert len(flips(heartbeat)) == 2


def test_a_ping_before_the_deadline_moves_it(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    ping(heartbeat)
    clock.move_to(DEADLINE - timedelta(minutes=5))
    ping(heartbeat)
    clock.move_to(DEADLINE + timedelta(hours=1))
    assert checks.detect_late_heartbeats() == 0
    assert fresh(heartbeat).alert_after == DEADLINE - timedelta(minutes=5) + timedelta(days=1, hours=1)


def test_a_success_ping_after_down_brings_it_up_and_resolves_the_incident(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    ping(heartbeat)
    clock.move_to(DEADLINE + timedelta(seconds=1))
    checks.detect_late_heartbeats()
    process_alerts()
    [incident] = incidents_for(heartbeat.alert_key)
    assert (incident.status, incident.triggered_at, incident.severity) == ("triggered", DEADLINE, "SEV-3")
    assert "late" in incident.title

    back = DEADLINE + timedelta(hours=2)
    clock.move_to(back)
    ping(heartbeat)
    heartbeat = fresh(heartbeat)
    assert (heartbeat.status, heartbeat.alert_after) == (CheckStatus.UP, back + timedelta(days=1, hours=1))
    assert flips(heartbeat)[-1] == ("down", "up", FlipReason.PING, back)
    assert alert_actions(heartbeat.alert_key) == ["trigger", "resolve"]
    process_alerts()
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at) == ("resolved", back)

    ping(heartbeat)
    assert alert_actions(heartbeat.alert_key) == ["trigger", "resolve"], "up stays up: nothing more to say"


def test_fail_takes_it_down_at_once_and_alerts_once(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat(severity="SEV-2")
    ping(heartbeat)
    clock.move_to(T0 + timedelta(hours=3))
    ping(heartbeat, "fail")
    heartbeat = fresh(heartbeat)
    assert (heartbeat.status, heartbeat.last_ping_at, heartbeat.alert_after) == (
        CheckStatus.DOWN,
        T0 + timedelta(hours=3),
        None,
    )
    assert flips(heartbeat)[-1] == ("up", "down", FlipReason.FAIL_PING, T0 + timedelta(hours=3))
    ping(heartbeat, "fail")
    assert alert_actions(heartbeat.alert_key) == ["trigger"]
    process_alerts()
    [incident] = incidents_for(heartbeat.alert_key)
    assert (incident.severity, incident.triggered_at) == ("SEV-2", T0 + timedelta(hours=3))
    assert "failure" in incident.title


def test_fail_on_a_new_heartbeat_takes_it_down_too() -> None:
    heartbeat = make_heartbeat()
    ping(heartbeat, "fail")
    assert fresh(heartbeat).status == CheckStatus.DOWN
    assert alert_actions(heartbeat.alert_key) == ["trigger"]


def test_a_started_job_must_finish_within_the_grace_time(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    ping(heartbeat)  # up at T0, late after T0 + 25 h
    started = T0 + timedelta(days=1)
    clock.move_to(started)
    ping(heartbeat, "start")
    heartbeat = fresh(heartbeat)
    assert (heartbeat.status, heartbeat.last_start_at) == (CheckStatus.UP, started)
    # min(last ping + period + grace, start + grace) = min(T0 + 25 h, T0 + 25 h): the start does not extend it.
    assert heartbeat.alert_after == started + timedelta(hours=1)

    clock.move_to(started + timedelta(minutes=40))
    ping(heartbeat)  # finished within the grace time
    heartbeat = fresh(heartbeat)
    assert heartbeat.last_start_at is None
    assert heartbeat.alert_after == started + timedelta(minutes=40) + timedelta(days=1, hours=1)

    next_start = started + timedelta(hours=2)
    clock.move_to(next_start)
    ping(heartbeat, "start")
    clock.move_to(next_start + timedelta(hours=1, seconds=1))
    assert checks.detect_late_heartbeats() == 1
    heartbeat = fresh(heartbeat)
    assert heartbeat.status == CheckStatus.DOWN
    assert flips(heartbeat)[-1] == ("up", "down", FlipReason.START_TIMEOUT, next_start + timedelta(hours=1))
    assert alert_actions(heartbeat.alert_key) == ["trigger"]


def test_a_paused_heartbeat_never_goes_down_and_ignores_pings(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    ping(heartbeat)
    checks.heartbeat_pause(heartbeat=heartbeat)
    heartbeat = fresh(heartbeat)
    assert (heartbeat.status, heartbeat.alert_after) == (CheckStatus.PAUSED, None)

    clock.move_to(DEADLINE + timedelta(days=3))
    assert checks.detect_late_heartbeats() == 0
    ping(heartbeat, "fail")
    ping(heartbeat)
    heartbeat = fresh(heartbeat)
    assert heartbeat.status == CheckStatus.PAUSED, "a ping does not resume it"
    assert list(HeartbeatPing.objects.filter(heartbeat=heartbeat).values_list("n", "kind", "ignored")) == [
        (3, "success", True),
        (2, "fail", True),
        (1, "success", False),
    ]
    assert alert_actions(heartbeat.alert_key) == []

    checks.heartbeat_resume(heartbeat=heartbeat)
    assert fresh(heartbeat).status == CheckStatus.NEW
    ping(heartbeat)
    assert fresh(heartbeat).status == CheckStatus.UP
    assert [flip[:3] for flip in flips(heartbeat)] == [
        ("new", "up", FlipReason.PING),
        ("up", "paused", FlipReason.PAUSED),
        ("paused", "new", FlipReason.RESUMED),
        ("new", "up", FlipReason.PING),
    ]


def test_pausing_a_down_heartbeat_resolves_its_alert(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    ping(heartbeat, "fail")
    checks.heartbeat_pause(heartbeat=heartbeat)
    assert alert_actions(heartbeat.alert_key) == ["trigger", "resolve"]
    checks.heartbeat_pause(heartbeat=heartbeat)
    assert alert_actions(heartbeat.alert_key) == ["trigger", "resolve"], "pausing twice changes nothing"


def test_deleting_a_down_heartbeat_resolves_its_alert() -> None:
    heartbeat = make_heartbeat()
    key = heartbeat.alert_key
    ping(heartbeat, "fail")
    checks.heartbeat_delete(heartbeat=heartbeat)
    assert alert_actions(key) == ["trigger", "resolve"]
    assert not Heartbeat.objects.filter(pk=heartbeat.pk).exists()


def test_a_longer_period_moves_the_deadline(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    ping(heartbeat)
    heartbeat = checks.heartbeat_update(heartbeat=heartbeat, data={"period": timedelta(days=7)})
    assert heartbeat.alert_after == T0 + timedelta(days=7, hours=1)


def test_the_ping_log_keeps_the_newest_pings_only(clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    total = checks.PING_LOG_LIMIT + 30
    for _ in range(total):
        ping(heartbeat)
    numbers = list(HeartbeatPing.objects.filter(heartbeat=heartbeat).values_list("n", flat=True))
    # At ping 100 the pings numbered <= 0 go (none); the beat's prune keeps 31..130.
    assert len(numbers) == total
    assert checks.prune_check_history() == {"results": 0, "pings": 30}
    numbers = list(HeartbeatPing.objects.filter(heartbeat=heartbeat).values_list("n", flat=True))
    assert (len(numbers), min(numbers), max(numbers)) == (checks.PING_LOG_LIMIT, 31, 130)
    assert fresh(heartbeat).n_pings == total


def test_period_and_grace_are_bounded() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        checks.heartbeat_create(
            service=ServiceFactory.create(), name="x", period=timedelta(seconds=30), grace=timedelta(days=31)
        )
    assert set(caught.value.message_dict) == {"period", "grace"}


def test_a_down_heartbeat_cannot_move_to_another_service() -> None:
    from opsgov.errors import DomainError

    heartbeat = make_heartbeat()
    ping(heartbeat, "fail")
    with pytest.raises(DomainError):
        checks.heartbeat_update(heartbeat=heartbeat, data={"service": ServiceFactory.create()})
    assert fresh(heartbeat).service_id == heartbeat.service_id
