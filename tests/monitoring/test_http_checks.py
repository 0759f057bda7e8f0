"""HTTP checks against a real HTTP server on loopback: outcomes, timeouts, down/up with one alert per flip,
SLI feeding (computed by hand), claiming and enqueueing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError

from monitoring.checks import services as checks
from monitoring.checks import tasks as check_tasks
from monitoring.models import (
    CheckFlip,
    CheckStatus,
    FlipReason,
    HttpCheck,
    HttpCheckResult,
    SLIBucket,
    SLIKind,
    SLISource,
)
from tests.factories import ServiceFactory
from tests.incidents.test_ingest_support import UNREACHABLE_BROKER, Broker, celery_broker

from .check_support import (
    SLOW_SECONDS,
    LoopbackServer,
    alert_actions,
    incidents_for,
    loopback_server,
    make_check_slo,
    make_http_check,
    process_alerts,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as running:
        yield running


def run(check: HttpCheck, scheduled_for: datetime | None = None) -> HttpCheckResult | None:
    """Run one run of `check` now, as the worker does (the scheduled time defaults to now)."""
    from django.utils import timezone

    return checks.run_http_check(check_id=check.pk, scheduled_for=scheduled_for or timezone.now())


def probe(at: datetime, *, ok: bool = True, latency_ms: int = 40, status_code: int | None = 200) -> checks.Probe:
    return checks.Probe(
        at=at, ok=ok, status_code=status_code, latency_ms=latency_ms, error="" if ok else "Answered 500; expected 200."
    )


def fresh(check: HttpCheck) -> HttpCheck:
    check.refresh_from_db()
    return check


# --- Outcomes --------------------------------------------------------------------------------------


def test_a_200_is_a_success_and_brings_a_new_check_up(server: LoopbackServer) -> None:
    check = make_http_check(server.url("/ok"))
    result = run(check)
    assert result is not None
    assert (result.ok, result.status_code, result.error) == (True, 200, "")
    assert result.latency_ms is not None and 0 <= result.latency_ms < check.timeout_ms
    check = fresh(check)
    assert (check.status, check.last_ok, check.last_status_code, check.consecutive_failures) == ("up", True, 200, 0)
    assert list(CheckFlip.objects.filter(http_check=check).values_list("old_status", "new_status")) == [("new", "up")]
    assert alert_actions(check.alert_key) == [], "new -> up is not a recovery"
    assert server.requests == [("GET", "/ok")]


def test_a_500_is_a_failure_naming_the_status(server: LoopbackServer) -> None:
    check = make_http_check(server.url("/error"))
    result = run(check)
    assert result is not None
    assert (result.ok, result.status_code) == (False, 500)
    assert result.error == "Answered 500; expected 200\u2013299."


def test_a_slow_answer_fails_at_the_timeout(server: LoopbackServer) -> None:
    check = make_http_check(server.url("/slow"), timeout_ms=300)
    started = time.monotonic()
    result = run(check)
    elapsed = time.monotonic() - started
    assert result is not None
    assert (result.ok, result.status_code, result.latency_ms) == (False, None, None)
    assert result.error == "Timed out after 300 ms."
    assert elapsed < SLOW_SECONDS, "the run gave up at its timeout instead of waiting for the slow answer"


def test_a_refused_connection_is_a_failure_with_the_error(server: LoopbackServer) -> None:
    # A port nobody listens on: take one from a server that has just closed.
    with loopback_server() as closed:
        url = closed.url("/ok")
    result = run(make_http_check(url))
    assert result is not None
    assert result.ok is False
    assert result.error.startswith("ConnectError")


def test_an_expected_range_and_no_redirect_following(server: LoopbackServer) -> None:
    strict = make_http_check(server.url("/status/302"), name="strict")
    lenient = make_http_check(
        server.url("/status/302"), name="lenient", service=strict.service, expected_status_max=399
    )
    assert run(strict).ok is False  # type: ignore[union-attr]
    assert run(lenient).ok is True  # type: ignore[union-attr]
    assert ("GET", "/ok") not in server.requests, "the redirect was not followed"


@pytest.mark.parametrize("method", ["HEAD", "POST"])
def test_the_method_is_the_checks(server: LoopbackServer, method: str) -> None:
    result = run(make_http_check(server.url("/ok"), method=method))
    assert result is not None and result.ok
    assert server.requests == [(method, "/ok")]


# --- Down, up, alerts and incidents ----------------------------------------------------------------


def test_it_goes_down_after_the_threshold_and_up_again_with_one_alert_each(server: LoopbackServer) -> None:
    check = make_http_check(server.url("/error"), failure_threshold=2, severity="SEV-2")
    base = T0
    with time_machine.travel(base, tick=False) as clock:
        run(check)
        check = fresh(check)
        assert (check.status, check.consecutive_failures) == (CheckStatus.NEW, 1), "one failure is not enough"
        assert alert_actions(check.alert_key) == []

        clock.move_to(base + timedelta(minutes=1))
        run(check)
        check = fresh(check)
        assert (check.status, check.consecutive_failures) == (CheckStatus.DOWN, 2)
        assert alert_actions(check.alert_key) == ["trigger"]

        clock.move_to(base + timedelta(minutes=2))
        run(check)
        assert alert_actions(check.alert_key) == ["trigger"], "still down: no second alert"
        process_alerts()
        [incident] = incidents_for(check.alert_key)
        assert (incident.status, incident.severity, incident.triggered_at) == (
            "triggered",
            "SEV-2",
            base + timedelta(minutes=1),
        )
        assert incident.service_id == check.service_id

        checks.http_check_update(check=check, data={"url": server.url("/ok")})
        clock.move_to(base + timedelta(minutes=3))
        run(check)
        check = fresh(check)
        assert (check.status, check.consecutive_failures) == (CheckStatus.UP, 0)
        assert alert_actions(check.alert_key) == ["trigger", "resolve"]
        process_alerts()
        incident.refresh_from_db()
        assert (incident.status, incident.resolved_at) == ("resolved", base + timedelta(minutes=3))

    assert list(
        CheckFlip.objects.filter(http_check=check).order_by("at").values_list("old_status", "new_status", "reason")
    ) == [("new", "down", FlipReason.CHECK_FAILED), ("down", "up", FlipReason.CHECK_OK)]


def test_a_success_between_failures_resets_the_count(server: LoopbackServer) -> None:
    check = make_http_check(server.url("/error"), failure_threshold=2)
    outcomes = [False, True, False, True, False]
    for minute, ok in enumerate(outcomes):
        checks.record_http_result(
            check=check,
            scheduled_for=T0 + timedelta(minutes=minute),
            probe=probe(T0 + timedelta(minutes=minute), ok=ok),
        )
    check = fresh(check)
    assert (check.status, check.consecutive_failures) == (CheckStatus.UP, 1)
    assert alert_actions(check.alert_key) == []


def test_a_run_recorded_twice_counts_once() -> None:
    check = make_http_check("http://127.0.0.1:9/never-requested", failure_threshold=1)
    first = checks.record_http_result(check=check, scheduled_for=T0, probe=probe(T0, ok=False))
    again = checks.record_http_result(check=check, scheduled_for=T0, probe=probe(T0 + timedelta(seconds=3), ok=False))
    assert first is not None and again is not None and first.pk == again.pk
    assert HttpCheckResult.objects.filter(http_check=check).count() == 1
    assert alert_actions(check.alert_key) == ["trigger"]


def test_a_redelivered_task_does_not_request_again(server: LoopbackServer) -> None:
    check = make_http_check(server.url("/ok"))
    run(check, T0)
    run(check, T0)
    assert server.requests == [("GET", "/ok")]
    assert HttpCheckResult.objects.filter(http_check=check).count() == 1


def test_pausing_a_down_check_resolves_its_alert_and_stops_it(server: LoopbackServer) -> None:
    check = make_http_check(server.url("/error"), failure_threshold=1)
    run(check)
    with time_machine.travel(T0, tick=False):
        check = checks.http_check_pause(check=check)
    assert (check.status, check.next_run_at, check.enabled) == (CheckStatus.PAUSED, None, False)
    assert alert_actions(check.alert_key) == ["trigger", "resolve"]
    assert checks.claim_due_http_checks(now=T0 + timedelta(days=1)) == []
    assert run(check) is None, "a paused check does not run"

    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        check = checks.http_check_resume(check=check)
    assert (check.status, check.next_run_at, check.consecutive_failures) == (
        CheckStatus.NEW,
        T0 + timedelta(hours=1),
        0,
    )


def test_deleting_a_down_check_resolves_its_alert(server: LoopbackServer) -> None:
    check = make_http_check(server.url("/error"), failure_threshold=1)
    key = check.alert_key
    run(check)
    checks.http_check_delete(check=check)
    assert alert_actions(key) == ["trigger", "resolve"]


# --- SLI -----------------------------------------------------------------------------------------


def test_each_run_is_one_event_of_its_minutes_bucket() -> None:
    service = ServiceFactory.create()
    slo = make_check_slo(service)
    api = make_http_check("http://127.0.0.1:9/api", service=service, name="api", slo=slo)
    web = make_http_check("http://127.0.0.1:9/web", service=service, name="web", slo=slo)
    minute = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    runs = [
        (api, minute + timedelta(seconds=5), True),
        (api, minute + timedelta(seconds=35), False),
        (web, minute + timedelta(seconds=50), True),
        (api, minute + timedelta(seconds=65), True),
        (web, minute + timedelta(seconds=110), False),
    ]
    for check, at, ok in runs:
        checks.record_http_result(check=check, scheduled_for=at, probe=probe(at, ok=ok))
    # A redelivered run adds nothing.
    checks.record_http_result(check=api, scheduled_for=runs[0][1], probe=probe(runs[0][1], ok=True))

    # 10:00 bucket: runs at :05 (good), :35 (bad), :50 (good) -> good 2 of 3.
    # 10:01 bucket: runs at 10:01:05 (good) and 10:01:50 (bad) -> good 1 of 2.
    assert list(
        SLIBucket.objects.filter(slo=slo).order_by("start").values_list("start", "good", "total", "seconds")
    ) == [
        (minute, 2, 3, 60),
        (minute + timedelta(minutes=1), 1, 2, 60),
    ]
    slo.refresh_from_db()
    assert slo.last_sli_at == minute + timedelta(minutes=2), "freshness: the end of the newest bucket"


def test_a_latency_slo_counts_only_runs_within_its_threshold() -> None:
    service = ServiceFactory.create()
    slo = make_check_slo(service, name="Health latency", sli_kind=SLIKind.LATENCY, latency_threshold_ms=100)
    check = make_http_check("http://127.0.0.1:9/x", service=service, slo=slo)
    minute = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    # ok in 80 ms: good; ok in 100 ms: good (at the threshold); ok in 150 ms: bad; failed: bad -> 2 of 4.
    for second, ok, latency in ((1, True, 80), (2, True, 100), (3, True, 150), (4, False, 20)):
        at = minute + timedelta(seconds=second)
        checks.record_http_result(check=check, scheduled_for=at, probe=probe(at, ok=ok, latency_ms=latency))
    assert SLIBucket.objects.values_list("good", "total").get(slo=slo) == (2, 4)


def test_a_real_run_feeds_its_slo(server: LoopbackServer) -> None:
    service = ServiceFactory.create()
    slo = make_check_slo(service)
    check = make_http_check(server.url("/ok"), service=service, slo=slo)
    with time_machine.travel(T0, tick=False):
        run(check)
    assert SLIBucket.objects.values_list("start", "good", "total").get(slo=slo) == (T0.replace(second=0), 1, 1)


def test_only_a_check_fed_slo_of_the_same_service_can_be_linked() -> None:
    service = ServiceFactory.create()
    pushed = make_check_slo(service, name="Pushed", source=SLISource.PUSH)
    other = make_check_slo(ServiceFactory.create(), name="Elsewhere")
    for slo, message in ((pushed, "checks"), (other, "another service")):
        with pytest.raises(ValidationError) as caught:
            make_http_check("http://127.0.0.1:9/x", service=service, slo=slo)
        assert message in caught.value.message_dict["slo"][0]


def test_the_expected_range_must_be_ordered() -> None:
    with pytest.raises(ValidationError) as caught:
        make_http_check("http://127.0.0.1:9/x", expected_status_min=300, expected_status_max=200)
    assert "expected_status_max" in caught.value.message_dict


# --- Claiming and enqueueing -----------------------------------------------------------------------


def test_a_due_run_is_claimed_once_and_the_next_one_scheduled() -> None:
    with time_machine.travel(T0, tick=False):
        check = make_http_check("http://127.0.0.1:9/x", interval_seconds=60)
        paused = make_http_check("http://127.0.0.1:9/y", name="paused", enabled=False)
    now = T0 + timedelta(seconds=10)
    [claimed] = checks.claim_due_http_checks(now=now)
    assert (claimed.check_id, claimed.scheduled_for, claimed.next_run_at) == (check.pk, T0, T0 + timedelta(seconds=60))
    assert checks.claim_due_http_checks(now=now) == [], "the same run is not claimed twice"
    assert paused.pk not in {run.check_id for run in checks.claim_due_http_checks(now=T0 + timedelta(days=1))}


def test_a_check_far_behind_is_not_run_again_for_each_missed_interval() -> None:
    with time_machine.travel(T0, tick=False):
        check = make_http_check("http://127.0.0.1:9/x", interval_seconds=60)
    later = T0 + timedelta(hours=3)
    [claimed] = checks.claim_due_http_checks(now=later)
    assert claimed.next_run_at == later + timedelta(seconds=60)
    assert checks.claim_due_http_checks(now=later + timedelta(seconds=59)) == []
    assert fresh(check).next_run_at == later + timedelta(seconds=60)


def test_the_beat_task_enqueues_one_task_per_due_run(tmp_path: Path) -> None:
    with time_machine.travel(T0, tick=False):
        first = make_http_check("http://127.0.0.1:9/a", name="a")
        second = make_http_check("http://127.0.0.1:9/b", name="b", service=first.service)
        broker = Broker(tmp_path)
        with celery_broker("filesystem://", broker.transport_options):
            assert check_tasks.enqueue_due_http_checks() == 2
            assert check_tasks.enqueue_due_http_checks() == 0
    published = broker.published()
    # Two messages published in the same instant: the filesystem broker does not keep their order.
    assert sorted((task.name, task.args) for task in published) == [
        ("monitoring.check_tasks.run_http_check", [first.pk, T0.isoformat()]),
        ("monitoring.check_tasks.run_http_check", [second.pk, T0.isoformat()]),
    ]


def test_runs_that_cannot_be_enqueued_are_given_back_for_the_next_beat() -> None:
    with time_machine.travel(T0, tick=False):
        check = make_http_check("http://127.0.0.1:9/a")
        with celery_broker(UNREACHABLE_BROKER):
            assert check_tasks.enqueue_due_http_checks() == 0
        assert fresh(check).next_run_at == T0, "still due"
        assert [run.check_id for run in checks.claim_due_http_checks()] == [check.pk]


def test_the_task_runs_a_claimed_run(server: LoopbackServer) -> None:
    check = make_http_check(server.url("/ok"))
    assert check_tasks.run_http_check(check.pk, T0.isoformat()) is True
    assert HttpCheckResult.objects.get(http_check=check).scheduled_for == T0


def test_old_results_are_pruned() -> None:
    check = make_http_check("http://127.0.0.1:9/x")
    now = T0 + timedelta(days=10)
    for days_ago in (8, 7, 6):
        at = now - timedelta(days=days_ago, seconds=1)
        checks.record_http_result(check=check, scheduled_for=at, probe=probe(at))
    # Retention is 7 days: the runs 8 days and 7 days + 1 s ago go, the one 6 days ago stays.
    assert checks.prune_check_history(now=now)["results"] == 2
    assert HttpCheckResult.objects.filter(http_check=check).count() == 1


def test_a_down_check_cannot_move_to_another_service_until_paused() -> None:
    from opsgov.errors import DomainError

    check = make_http_check("http://127.0.0.1:9/x", failure_threshold=1)
    checks.record_http_result(check=check, scheduled_for=T0, probe=probe(T0, ok=False))
    elsewhere = ServiceFactory.create()
    with pytest.raises(DomainError) as caught:
        checks.http_check_update(check=check, data={"service": elsewhere, "enabled": False})
    assert caught.value.field == "service"
    assert alert_actions(check.alert_key) == ["trigger"], "nothing changed"
    checks.http_check_pause(check=check)
    moved = checks.http_check_update(check=check, data={"service": elsewhere})
    assert moved.service_id == elsewhere.pk
