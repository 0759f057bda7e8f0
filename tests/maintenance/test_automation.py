"""Automation by ping: a maintenance job (a weekly VACUUM ANALYZE) reports its occurrences through /ping/<uuid>."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from maintenance import selectors, services
from maintenance.models import LogOutcome, LogSource, MaintenanceAutomation, MaintenanceLog
from opsgov import ratelimit
from opsgov.errors import DomainError
from opsgov.roles import DEVOPS_LEAD, TECH_LEAD
from tests.factories import ServiceFactory

from ..cache_support import CACHE_BACKENDS, use_cache
from .support import utc

pytestmark = pytest.mark.django_db

T0 = utc(2026, 11, 1, 3, 0)


def vacuum_job(slug: str = "ledger") -> MaintenanceAutomation:
    service = ServiceFactory.create(slug=slug)
    return services.create_automation(name="Weekly VACUUM", service=service, activity="database_maintenance")


def test_start_then_success_logs_a_done_occurrence_with_its_duration() -> None:
    job = vacuum_job()
    anonymous = Client()
    with time_machine.travel(T0, tick=False) as clock:
        assert anonymous.get(f"/ping/{job.uuid}/start").content == b"OK"
        clock.move_to(T0 + timedelta(minutes=75))
        answer = anonymous.post(f"/ping/{job.uuid}", data="VACUUM\nANALYZE", content_type="text/plain")
    assert answer.status_code == 200
    log = MaintenanceLog.objects.get()
    assert (log.service, log.activity, log.source) == (job.service, "database_maintenance", LogSource.AUTOMATION)
    assert (log.performed_at, log.duration, log.outcome) == (T0, timedelta(minutes=75), LogOutcome.DONE)
    assert log.duration_flag == ""  # the policy's 1-2 h
    assert log.notes == "VACUUM\nANALYZE"
    job.refresh_from_db()
    assert (job.started_at, job.n_pings, job.last_ping_at) == (None, 2, T0 + timedelta(minutes=75))


def test_the_occurrence_makes_the_activity_done_for_the_cadence() -> None:
    job = vacuum_job()
    with time_machine.travel(T0, tick=False):
        Client().get(f"/ping/{job.uuid}/start")
    with time_machine.travel(T0 + timedelta(hours=1, minutes=30), tick=False):
        Client().get(f"/ping/{job.uuid}/0")
    rows = {
        row.activity: row
        for row in selectors.cadence_status(now=T0 + timedelta(days=2), services=[job.service])
        if row.activity == "database_maintenance"
    }
    assert rows["database_maintenance"].last_done == T0
    assert rows["database_maintenance"].overdue is False


@pytest.mark.parametrize(("minutes", "flag"), [(20, "short"), (90, ""), (200, "long")])
def test_durations_outside_the_policy_range_are_flagged(minutes: int, flag: str) -> None:
    job = vacuum_job()
    with time_machine.travel(T0, tick=False) as clock:
        Client().get(f"/ping/{job.uuid}/start")
        clock.move_to(T0 + timedelta(minutes=minutes))
        Client().get(f"/ping/{job.uuid}")
    assert MaintenanceLog.objects.get().duration_flag == flag


def test_fail_and_a_nonzero_exit_status_log_failed_occurrences() -> None:
    job = vacuum_job()
    with time_machine.travel(T0, tick=False) as clock:
        Client().get(f"/ping/{job.uuid}/start")
        clock.move_to(T0 + timedelta(minutes=10))
        Client().post(f"/ping/{job.uuid}/fail", data="ERROR: canceling statement", content_type="text/plain")
        clock.move_to(T0 + timedelta(days=7))
        Client().get(f"/ping/{job.uuid}/3")
    first, second = MaintenanceLog.objects.order_by("performed_at")
    assert (first.outcome, first.duration, first.notes) == (
        LogOutcome.FAILED,
        timedelta(minutes=10),
        "ERROR: canceling statement",
    )
    assert second.outcome == LogOutcome.FAILED
    assert second.duration is None
    assert second.notes.splitlines() == ["Duration unknown: no /start ping before this end.", "exit status 3"]
    rows = [r for r in selectors.cadence_status(now=T0 + timedelta(days=8), services=[job.service])]
    assert next(r for r in rows if r.activity == "database_maintenance").last_done is None


def test_an_end_with_another_run_id_does_not_close_the_open_run() -> None:
    job = vacuum_job()
    run, other = uuid.uuid4(), uuid.uuid4()
    with time_machine.travel(T0, tick=False) as clock:
        Client().get(f"/ping/{job.uuid}/start?rid={run}")
        clock.move_to(T0 + timedelta(minutes=5))
        Client().get(f"/ping/{job.uuid}?rid={other}")
        clock.move_to(T0 + timedelta(minutes=80))
        Client().get(f"/ping/{job.uuid}?rid={run}")
    first, second = MaintenanceLog.objects.order_by("created_at", "id")
    assert first.duration is None  # the other run's end: no start of its own
    assert (second.performed_at, second.duration) == (T0, timedelta(minutes=80))


def test_log_pings_only_count_and_unknown_uuids_are_404() -> None:
    job = vacuum_job()
    assert Client().get(f"/ping/{job.uuid}/log").status_code == 200
    assert not MaintenanceLog.objects.exists()
    assert Client().get(f"/ping/{uuid.uuid4()}").status_code == 404
    job.refresh_from_db()
    assert job.n_pings == 1


def test_an_unknown_activity_is_refused() -> None:
    with pytest.raises(DomainError, match="Unknown activity 'defrag'"):
        services.create_automation(name="x", service=ServiceFactory.create(), activity="defrag")


def test_the_api_creates_an_automation_with_its_ping_url(
    personas: dict[str, User], client_for: Callable[[User], APIClient]
) -> None:
    ServiceFactory.create(slug="ledger")
    body = {"name": "VACUUM", "service": "ledger", "activity": "database_maintenance"}
    answer = client_for(personas[DEVOPS_LEAD]).post("/api/v1/maintenance/automations/", body, format="json")
    assert answer.status_code == 201, answer.content
    created = MaintenanceAutomation.objects.get()
    assert answer.json()["ping_url"] == f"http://testserver/ping/{created.uuid}"
    denied = client_for(personas[TECH_LEAD]).post("/api/v1/maintenance/automations/", body, format="json")
    assert denied.status_code == 403
    bad = client_for(personas[DEVOPS_LEAD]).post(
        "/api/v1/maintenance/automations/", {**body, "activity": "defrag"}, format="json"
    )
    assert bad.status_code == 400
    assert "activity" in bad.content.decode()


def test_automation_may_also_post_a_log_through_the_api(
    personas: dict[str, User], client_for: Callable[[User], APIClient]
) -> None:
    ServiceFactory.create(slug="ledger")
    answer = client_for(personas[DEVOPS_LEAD]).post(
        "/api/v1/maintenance/logs/",
        {
            "service": "ledger",
            "activity": "database_maintenance",
            "performed_at": "2026-11-01T03:00:00Z",
            "duration": "03:30:00",
            "source": "automation",
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["duration_flag"] == "long"
    # Without a duration: a 400 naming the field, not a server error.
    missing = client_for(personas[DEVOPS_LEAD]).post(
        "/api/v1/maintenance/logs/",
        {"service": "ledger", "activity": "database_maintenance", "performed_at": "2026-11-01T03:00:00Z"},
        format="json",
    )
    assert missing.status_code == 400, missing.content
    assert [error["field"] for error in missing.json()["errors"]] == ["duration"]


@CACHE_BACKENDS
def test_pings_beyond_the_rate_get_429(settings: Any, cache_backend: str) -> None:
    use_cache(settings, cache_backend)
    job = vacuum_job()
    anonymous = Client()
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):  # one rate window for every ping
        answers = [anonymous.get(f"/ping/{job.uuid}/log").status_code for _ in range(services.PING_RATE.count + 2)]
        refused = anonymous.get(f"/ping/{job.uuid}/log")
    assert answers.count(200) == services.PING_RATE.count
    assert answers[-2:] == [429, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 55
    # On Redis core counted them as it read the owner (scope "ping"); elsewhere the receiver did (its scope).
    scope = "ping" if cache_backend == "redis" else "ping:maintenance"
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        assert ratelimit.peek(scope, str(job.uuid), services.PING_RATE).count == services.PING_RATE.count + 3
