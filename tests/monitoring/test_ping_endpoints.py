"""The public ping endpoints: no login, no CSRF, 404 for unknown uuids, capped bodies, GET/HEAD/POST."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from monitoring.checks import services as checks
from monitoring.models import CheckStatus, Heartbeat, HeartbeatPing

from .check_support import alert_actions, make_heartbeat

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def anonymous() -> Client:
    """A client without a session that enforces CSRF, like curl in a cron job."""
    return Client(enforce_csrf_checks=True)


def test_a_get_without_login_records_a_success(anonymous: Client) -> None:
    heartbeat = make_heartbeat()
    response = anonymous.get(f"/ping/{heartbeat.uuid}", HTTP_USER_AGENT="curl/8.5.0")
    assert response.status_code == 200
    assert response.content == b"OK"
    assert response["Content-Type"].startswith("text/plain")
    assert "no-cache" in response["Cache-Control"]
    heartbeat.refresh_from_db()
    assert (heartbeat.status, heartbeat.last_ping_at, heartbeat.n_pings) == (CheckStatus.UP, T0, 1)
    ping = HeartbeatPing.objects.get(heartbeat=heartbeat)
    assert (ping.kind, ping.method, ping.remote_addr, ping.user_agent) == ("success", "GET", "127.0.0.1", "curl/8.5.0")


@pytest.mark.parametrize("method", ["get", "head", "post"])
def test_get_head_and_post_are_all_success_pings(anonymous: Client, method: str) -> None:
    heartbeat = make_heartbeat()
    response = getattr(anonymous, method)(f"/ping/{heartbeat.uuid}")
    assert response.status_code == 200
    assert HeartbeatPing.objects.get(heartbeat=heartbeat).method == method.upper()
    heartbeat.refresh_from_db()
    assert heartbeat.status == CheckStatus.UP


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_refused_and_change_nothing(anonymous: Client, method: str) -> None:
    heartbeat = make_heartbeat()
    response = getattr(anonymous, method)(f"/ping/{heartbeat.uuid}")
    assert response.status_code == 405
    assert not HeartbeatPing.objects.exists()


def test_a_trailing_slash_works_too(anonymous: Client) -> None:
    heartbeat = make_heartbeat()
    assert anonymous.get(f"/ping/{heartbeat.uuid}/").status_code == 200
    assert anonymous.get(f"/ping/{heartbeat.uuid}/start/").status_code == 200
    assert list(HeartbeatPing.objects.order_by("n").values_list("kind", flat=True)) == ["success", "start"]


def test_start_and_fail_endpoints(anonymous: Client, clock: time_machine.Traveller) -> None:
    heartbeat = make_heartbeat()
    assert anonymous.post(f"/ping/{heartbeat.uuid}/start").content == b"OK"
    heartbeat.refresh_from_db()
    assert (heartbeat.status, heartbeat.last_start_at) == (CheckStatus.NEW, T0)

    clock.move_to(T0 + timedelta(minutes=10))
    assert anonymous.get(f"/ping/{heartbeat.uuid}/fail").content == b"OK"
    heartbeat.refresh_from_db()
    assert (heartbeat.status, heartbeat.last_start_at) == (CheckStatus.DOWN, None)
    assert alert_actions(heartbeat.alert_key) == ["trigger"]
    assert list(HeartbeatPing.objects.order_by("n").values_list("kind", flat=True)) == ["start", "fail"]


def test_an_unknown_uuid_is_a_plain_404_and_leaves_no_trace(anonymous: Client) -> None:
    make_heartbeat()
    for path in (f"/ping/{uuid.uuid4()}", f"/ping/{uuid.uuid4()}/fail", "/ping/not-a-uuid", "/ping/123"):
        response = anonymous.get(path)
        assert response.status_code == 404, path
        assert b"login" not in response.content.lower()
    assert not HeartbeatPing.objects.exists()


def test_a_post_body_is_stored_up_to_the_cap(anonymous: Client) -> None:
    heartbeat = make_heartbeat()
    log_tail = "backup finished: 42 tables, 1.2 GB\n"
    anonymous.post(f"/ping/{heartbeat.uuid}", data=log_tail, content_type="text/plain")
    big = b"x" * (checks.PING_BODY_LIMIT + 5000)
    response = anonymous.post(f"/ping/{heartbeat.uuid}", data=big, content_type="application/octet-stream")
    assert response.status_code == 200
    small, capped = HeartbeatPing.objects.order_by("n")
    assert (small.body, small.body_size, small.body_truncated) == (log_tail, len(log_tail), False)
    assert (len(capped.body), capped.body_size, capped.body_truncated) == (10 * 1024, 10 * 1024, True)


def test_a_body_larger_than_djangos_upload_limit_is_still_accepted(anonymous: Client, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    heartbeat = make_heartbeat()
    response = anonymous.post(f"/ping/{heartbeat.uuid}", data=b"y" * 50_000, content_type="text/plain")
    assert response.status_code == 200, "only the first bytes are read, so the upload limit never trips"
    assert HeartbeatPing.objects.get().body_size == checks.PING_BODY_LIMIT


def test_invalid_utf8_is_stored_with_replacement_characters(anonymous: Client) -> None:
    heartbeat = make_heartbeat()
    anonymous.post(f"/ping/{heartbeat.uuid}", data=b"ok \xff\xfe end", content_type="text/plain")
    assert HeartbeatPing.objects.get().body == "ok \ufffd\ufffd end"


def test_many_pings_in_a_row_all_answer_ok(anonymous: Client) -> None:
    heartbeat = make_heartbeat()
    answers = {anonymous.get(f"/ping/{heartbeat.uuid}").status_code for _ in range(150)}
    assert answers == {200}
    assert Heartbeat.objects.get(pk=heartbeat.pk).n_pings == 150
    # The ping log prunes itself every PING_LOG_LIMIT pings: at ping 100 nothing is older than the limit yet.
    assert HeartbeatPing.objects.filter(heartbeat=heartbeat).count() == 150


def test_a_ping_answers_with_a_fixed_number_of_queries(anonymous: Client, django_assert_max_num_queries) -> None:
    heartbeat = make_heartbeat()
    anonymous.get(f"/ping/{heartbeat.uuid}")
    # Core's one uuid lookup (opsgov.pings: every receiver's table in one query), then SAVEPOINT,
    # SELECT ... FOR UPDATE, UPDATE heartbeat, INSERT ping, RELEASE: no per-history cost.
    with django_assert_max_num_queries(6):
        assert anonymous.get(f"/ping/{heartbeat.uuid}").status_code == 200


def test_exit_statuses_and_log_follow_the_core_grammar(anonymous: Client) -> None:
    """opsgov.pings: /0 is success, any other status a failure; /log is acknowledged and changes nothing."""
    heartbeat = make_heartbeat()
    assert anonymous.get(f"/ping/{heartbeat.uuid}/log").content == b"OK"
    assert not HeartbeatPing.objects.exists()
    assert anonymous.get(f"/ping/{heartbeat.uuid}/0").content == b"OK"
    heartbeat.refresh_from_db()
    assert heartbeat.status == CheckStatus.UP
    assert anonymous.get(f"/ping/{heartbeat.uuid}/2").content == b"OK"
    heartbeat.refresh_from_db()
    assert heartbeat.status == CheckStatus.DOWN
    assert list(HeartbeatPing.objects.order_by("n").values_list("kind", flat=True)) == ["success", "fail"]
