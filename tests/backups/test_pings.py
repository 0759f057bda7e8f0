"""The core ping grammar (opsgov.pings) with backup jobs as a receiver: start/end pairing by rid, exit
statuses, /log, restic JSON bodies, 404 for unknown uuids, 429 beyond the per-job rate (counted)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client

from backups import services
from backups.models import BackupJob, BackupPing, BackupRun, RunStatus
from opsgov import pings, ratelimit
from opsgov.ratelimit import Rate

from ..cache_support import CACHE_BACKENDS, use_cache
from ..incidents.test_ingest_support import Broker, celery_broker
from ..ingest_service import as_ingest_service, prepared_inserts
from .support import PingClient, fixture, make_job

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 2, 0, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def anonymous() -> Client:
    return PingClient(enforce_csrf_checks=True)


@pytest.mark.parametrize(
    ("action", "kind", "status"),
    [
        ("", "success", None),
        ("start", "start", None),
        ("fail", "fail", None),
        ("log", "log", None),
        ("0", "success", 0),
        ("3", "fail", 3),
        ("255", "fail", 255),
        ("/start/", "start", None),
    ],
)
def test_the_grammar(action: str, kind: str, status: int | None) -> None:
    assert pings.parse_action(action) == (kind, status)


@pytest.mark.parametrize("action", ["256", "-1", "01", "succeed", "1.0", "start2"])
def test_what_is_not_in_the_grammar(action: str) -> None:
    with pytest.raises(pings.PingSyntaxError):
        pings.parse_action(action)


def test_start_then_exit_zero_with_rid_is_one_succeeded_run(anonymous: Client, clock: time_machine.Traveller) -> None:
    job = make_job()
    rid = uuid.uuid4()
    assert anonymous.get(f"/ping/{job.uuid}/start?rid={rid}").content == b"OK"
    clock.move_to(T0 + timedelta(minutes=4))
    assert anonymous.post(f"/ping/{job.uuid}/0?rid={rid}", data="done", content_type="text/plain").status_code == 200
    (run,) = BackupRun.objects.filter(job=job)
    assert (run.status, run.started_at, run.finished_at, run.rid) == (
        RunStatus.SUCCEEDED,
        T0,
        T0 + timedelta(minutes=4),
        rid,
    )
    assert run.slot == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert run.output == "done"
    assert BackupJob.objects.get(pk=job.pk).n_pings == 2


def test_two_overlapping_runs_are_paired_by_rid(anonymous: Client) -> None:
    job = make_job()
    first, second = uuid.uuid4(), uuid.uuid4()
    anonymous.get(f"/ping/{job.uuid}/start?rid={first}")
    anonymous.get(f"/ping/{job.uuid}/start?rid={second}")
    anonymous.get(f"/ping/{job.uuid}/1?rid={first}")
    anonymous.get(f"/ping/{job.uuid}/0?rid={second}")
    runs = dict(BackupRun.objects.filter(job=job).values_list("rid", "status"))
    assert runs == {first: RunStatus.FAILED, second: RunStatus.SUCCEEDED}


def test_fail_without_start_is_a_failed_run_and_log_appends_to_the_open_run(anonymous: Client) -> None:
    job = make_job()
    anonymous.get(f"/ping/{job.uuid}/fail")
    anonymous.get(f"/ping/{job.uuid}/start")
    anonymous.post(f"/ping/{job.uuid}/log", data="50% done", content_type="text/plain")
    anonymous.get(f"/ping/{job.uuid}")
    failed, succeeded = BackupRun.objects.filter(job=job).order_by("pk")
    assert failed.status == RunStatus.FAILED
    assert (succeeded.status, succeeded.output) == (RunStatus.SUCCEEDED, "50% done")


def test_a_restic_json_body_is_parsed(anonymous: Client) -> None:
    job = make_job()
    body = fixture("restic-backup-partial-exit3.jsonl")
    anonymous.post(f"/ping/{job.uuid}/3", data=body, content_type="application/x-ndjson")
    (run,) = BackupRun.objects.filter(job=job)
    assert run.status == RunStatus.PARTIAL
    assert run.snapshot_id.startswith("b2c3d4e5")
    assert run.size_bytes == 999000
    assert run.exit_status == 3
    assert "permission denied" in run.error
    assert run.report_format == "restic-backup"
    # The same snapshot reported again: nothing changes.
    anonymous.post(f"/ping/{job.uuid}/3", data=body, content_type="application/x-ndjson")
    assert BackupRun.objects.filter(job=job).count() == 1


def test_exit_status_zero_with_a_restic_summary_succeeds(anonymous: Client) -> None:
    job = make_job()
    anonymous.post(f"/ping/{job.uuid}/0", data=fixture("restic-backup-ok.jsonl"), content_type="text/plain")
    run = BackupRun.objects.get(job=job)
    assert (run.status, run.size_bytes) == (RunStatus.SUCCEEDED, 7516192768)
    # opsgov's instants: it ended when opsgov received it, started total_duration before.
    assert run.finished_at == T0
    assert run.started_at == T0 - timedelta(seconds=222.6)


def test_unknown_uuid_bad_rid_and_bad_status(anonymous: Client) -> None:
    job = make_job()
    assert anonymous.get(f"/ping/{uuid.uuid4()}/0").status_code == 404
    assert anonymous.get(f"/ping/{job.uuid}/256").status_code == 404
    assert anonymous.get(f"/ping/{job.uuid}/0?rid=nope").status_code == 400
    assert not BackupRun.objects.exists()


@CACHE_BACKENDS
def test_pings_beyond_the_rate_get_429_and_are_counted(anonymous: Client, settings: Any, cache_backend: str) -> None:
    use_cache(settings, cache_backend)
    job = make_job()
    answers = [anonymous.get(f"/ping/{job.uuid}/log").status_code for _ in range(services.PING_RATE.count + 3)]
    assert answers.count(200) == services.PING_RATE.count
    assert answers[-3:] == [429, 429, 429]
    response = anonymous.get(f"/ping/{job.uuid}/log")
    assert int(response["Retry-After"]) >= 1
    job.refresh_from_db()
    assert (job.n_pings, job.n_rate_limited) == (services.PING_RATE.count, 4)
    # On Redis core counted them as it read the owner (scope "ping"); elsewhere the receiver did (its scope).
    scope = "ping" if cache_backend == "redis" else "ping:backups"
    assert ratelimit.peek(scope, str(job.uuid), services.PING_RATE).count == services.PING_RATE.count + 4
    assert PING_RATE_IS_DOCUMENTED


PING_RATE_IS_DOCUMENTED = Rate(30, 60) == services.PING_RATE


def test_a_body_beyond_the_limit_is_capped(anonymous: Client) -> None:
    job = make_job()
    anonymous.post(f"/ping/{job.uuid}/1", data=b"z" * (pings.PING_BODY_LIMIT + 10), content_type="text/plain")
    run = BackupRun.objects.get(job=job)
    assert (len(run.output), run.output_truncated, run.status) == (pings.PING_BODY_LIMIT, True, RunStatus.FAILED)


def test_receivers_are_asked_in_order_and_a_key_registers_once() -> None:
    registry = pings.PingReceiverRegistry()
    seen: list[str] = []

    def nobody(ping: pings.Ping) -> pings.PingResult | None:
        seen.append("nobody")
        return None

    def owner(ping: pings.Ping) -> pings.PingResult | None:
        seen.append("owner")
        return pings.PingResult()

    first = registry.register(pings.PingReceiver("a", nobody))
    registry.register(pings.PingReceiver("b", owner))
    registry.register(first)  # the same receiver again changes nothing
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(pings.PingReceiver("a", owner))
    ping = pings.Ping(uuid=uuid.uuid4(), kind="success", received_at=T0)
    assert registry.dispatch(ping) == pings.PingResult()
    assert seen == ["nobody", "owner"]


def test_the_endpoint_stores_the_ping_and_the_apply_task_makes_the_run_in_arrival_order(
    clock: time_machine.Traveller,
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from backups import tasks

    job = make_job()
    raw = Client()  # no application after each request: what the endpoint alone does
    with CaptureQueriesContext(connection) as queries:
        assert raw.get(f"/ping/{job.uuid}/start").status_code == 200
    # One uuid lookup in core (every receiver's table at once) and one INSERT.
    assert len(queries) == 2, [query["sql"] for query in queries]
    assert "UNION ALL" in queries[0]["sql"] and "backups_backupjob" in queries[0]["sql"]
    assert queries[1]["sql"].lstrip().upper().startswith(("INSERT", "SET LOCAL"))
    clock.move_to(T0 + timedelta(minutes=3))
    with CaptureQueriesContext(connection) as queries:
        assert raw.get(f"/ping/{job.uuid}/0").status_code == 200
    # The owner of the uuid now comes from the cache: the INSERT alone.
    assert len(queries) == 1, [query["sql"] for query in queries]
    assert queries[0]["sql"].lstrip().upper().startswith(("INSERT", "SET LOCAL"))
    assert BackupPing.objects.filter(job=job).count() == 2 and not BackupRun.objects.exists()
    clock.move_to(T0 + timedelta(minutes=10))  # applied later: the instants stay the pings'
    assert tasks.apply_pings() == 2
    run = BackupRun.objects.get(job=job)
    assert (run.status, run.started_at, run.finished_at) == (RunStatus.SUCCEEDED, T0, T0 + timedelta(minutes=3))
    assert not BackupPing.objects.exists()
    assert BackupJob.objects.get(pk=job.pk).n_pings == 2
    assert tasks.apply_pings() == 0


def test_the_reconciliation_applies_pending_pings_before_it_records_a_slot_as_missed(
    clock: time_machine.Traveller,
) -> None:
    job = make_job()
    BackupJob.objects.filter(pk=job.pk).update(created_at=T0 - timedelta(hours=3))
    assert Client().get(f"/ping/{job.uuid}/0").status_code == 200  # in time for the 02:00 slot
    services.reconcile(now=T0 + timedelta(hours=1))
    slots = dict(BackupRun.objects.filter(job=job).values_list("slot", "status"))
    assert slots[datetime(2026, 11, 20, 2, tzinfo=UTC)] == RunStatus.SUCCEEDED


def test_a_deleted_jobs_uuid_answers_404_at_once_though_its_owner_was_cached() -> None:
    job = make_job()
    raw = Client()
    assert raw.get(f"/ping/{job.uuid}/start").status_code == 200  # the owner is cached
    BackupPing.objects.all().delete()
    job.delete()
    assert raw.get(f"/ping/{job.uuid}/0").status_code == 404
    assert not BackupPing.objects.exists()


def test_a_job_saved_with_another_uuid_answers_on_the_new_one_only() -> None:
    job = make_job()
    old = job.uuid
    raw = Client()
    assert raw.get(f"/ping/{old}/start").status_code == 200  # the owner of the old uuid is cached
    job.uuid = uuid.uuid4()
    job.save()
    assert raw.get(f"/ping/{old}/0").status_code == 404
    assert raw.get(f"/ping/{job.uuid}/0").status_code == 200
    assert list(BackupPing.objects.values_list("job_id", "kind")) == [(job.pk, "start"), (job.pk, "success")]


def test_saving_a_job_without_touching_its_uuid_keeps_its_owner_cached() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job = make_job()
    raw = Client()
    assert raw.get(f"/ping/{job.uuid}/start").status_code == 200
    services.job_update(job=job, name="renamed")
    BackupJob.objects.filter(pk=job.pk).update(n_pings=5)
    with CaptureQueriesContext(connection) as queries:
        assert raw.get(f"/ping/{job.uuid}/0").status_code == 200
    assert len(queries) == 1 and "UNION" not in queries[0]["sql"]


@pytest.mark.django_db(transaction=True)
def test_a_job_deleted_behind_the_orms_back_answers_404_and_is_forgotten() -> None:
    """Raw SQL sends no signal: the cached owner reaches the receiver, whose INSERT breaks the foreign key."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job = make_job()
    raw = Client()
    assert raw.get(f"/ping/{job.uuid}/start").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM backups_backupping")
        cursor.execute("DELETE FROM backups_backupjob WHERE id = %s", [job.pk])
    assert raw.get(f"/ping/{job.uuid}/0").status_code == 404
    assert not BackupPing.objects.exists()
    with CaptureQueriesContext(connection) as queries:  # forgotten: the database is asked again
        assert raw.get(f"/ping/{job.uuid}/0").status_code == 404
    assert "UNION ALL" in queries[0]["sql"]


def test_a_burst_of_pings_enqueues_the_apply_task_once(tmp_path: Path) -> None:
    job = make_job()
    broker = Broker(tmp_path)
    services.APPLY_GATE.reset()
    with celery_broker("filesystem://", broker.transport_options):
        # The same parameter types each time (psycopg prepares per statement and types, on the 3rd execution).
        answers = [Client().get(f"/ping/{job.uuid}/{status}").status_code for status in ("0", "1", "0")]
    assert answers == [200, 200, 200]
    assert BackupPing.objects.filter(job=job).count() == 3
    assert [(task.name, task.args) for task in broker.published()] == [("backups.apply_pings", [])]


def test_a_backup_ping_is_stored_and_its_application_enqueued_without_a_reachable_cache(
    settings: Any, tmp_path: Path
) -> None:
    job = make_job()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # discard: nothing listens
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    broker = Broker(tmp_path)
    services.APPLY_GATE.reset()
    with celery_broker("filesystem://", broker.transport_options):
        assert Client().get(f"/ping/{job.uuid}/start").status_code == 200  # owner from the database, rate unchecked
        assert Client().get(f"/ping/{job.uuid}/0").status_code == 200
    assert list(BackupPing.objects.values_list("job_id", "kind")) == [(job.pk, "start"), (job.pk, "success")]
    # No debounce key without a cache: the process's own gate lets one enqueue through per APPLY_DEBOUNCE.
    assert [task.name for task in broker.published()] == ["backups.apply_pings"]


@pytest.mark.django_db(transaction=True)
def test_under_the_ingest_services_options_a_ping_is_stored_by_one_prepared_insert(settings: Any) -> None:
    """Production routes /ping/ to the ingest service, which binds parameters on the server: there a statement
    holding two commands is refused, so the INSERT is one statement (prepared once per connection)."""
    job = make_job()
    with as_ingest_service(settings):
        # The same parameter types each time (psycopg prepares per statement and types, on the 3rd execution).
        answers = [Client().get(f"/ping/{job.uuid}/{status}").status_code for status in ("0", "1", "0")]
        statements = prepared_inserts()
    assert answers == [200, 200, 200]
    assert len(statements) == 1 and "backups_backupping" in statements[0], statements
    assert list(BackupPing.objects.order_by("pk").values_list("kind", "exit_status")) == [
        ("success", 0),
        ("fail", 1),
        ("success", 0),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_ping_insert_commits_asynchronously_in_its_own_transaction_only() -> None:
    from django.db import connection, transaction

    job = make_job()
    values = (job.pk, "start", None, None, T0, "", False)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(services._ASYNC_INSERT, values)
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("off",)
    with connection.cursor() as cursor:  # autocommit: the statement was its own transaction
        cursor.execute(services._ASYNC_INSERT, values)
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",), "the setting must not outlive the ping's transaction"
    assert BackupPing.objects.filter(job=job).count() == 2
