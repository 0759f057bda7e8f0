"""Ingestion endpoints: what is accepted (202, stored, enqueued on commit) and every way a request is refused."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents.ingest import handling
from incidents.ingest.handling import MAX_BODY_BYTES
from incidents.ingest.schemas import PagerDutyTrigger, parse_pagerduty_event
from incidents.models import Integration, IntegrationKind, RawEvent

from .test_ingest_support import (
    GROUP_KEY,
    NOW,
    PD_KEY,
    Broker,
    alertmanager_url,
    celery_broker,
    make_integration,
    pagerduty_url,
    payload,
    post,
    send,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _now() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def alertmanager() -> tuple[Integration, str]:
    return make_integration("alertmanager")


@pytest.fixture
def pagerduty() -> tuple[Integration, str]:
    return make_integration("pagerduty")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    inspectable = Broker(tmp_path)
    with celery_broker("filesystem://", inspectable.transport_options):
        yield inspectable


# --- Accepted --------------------------------------------------------------------------


def test_an_alertmanager_webhook_is_stored_and_its_processing_enqueued_on_commit(
    alertmanager: tuple[Integration, str], broker: Broker, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    integration, token = alertmanager
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(alertmanager_url(token), payload("alertmanager-v4-firing"))
    assert response.status_code == 202, response.content
    event = RawEvent.objects.get()
    assert response.json() == {"status": "success", "message": "Event accepted", "event": str(event.uuid)}
    assert (event.integration, event.action, event.dedup_key) == (integration, "trigger", GROUP_KEY)
    assert event.payload == payload("alertmanager-v4-firing")
    assert (event.received_at, event.created_at, event.updated_at) == (NOW, NOW, NOW)
    assert (event.processed_at, event.attempts, event.last_error, event.incident) == (None, 0, "", None)
    assert len(callbacks) == 1
    assert [(task.name, task.args) for task in broker.published()] == [
        ("incidents.tasks.process_raw_event", [event.pk])
    ]


def test_nothing_is_enqueued_before_the_commit(
    alertmanager: tuple[Integration, str], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(alertmanager_url(alertmanager[1]), payload("alertmanager-v4-firing"))
    assert response.status_code == 202
    assert len(callbacks) == 1


def test_a_resolved_group_is_stored_as_a_resolve(alertmanager: tuple[Integration, str]) -> None:
    response = post(alertmanager_url(alertmanager[1]), payload("alertmanager-v4-resolved"))
    assert response.status_code == 202
    assert RawEvent.objects.get().action == "resolve"


def test_the_token_may_come_in_a_bearer_header_instead_of_the_path(alertmanager: tuple[Integration, str]) -> None:
    url = reverse("ingest-alertmanager-bearer")
    response = post(url, payload("alertmanager-v4-firing"), HTTP_AUTHORIZATION=f"Bearer {alertmanager[1]}")
    assert response.status_code == 202
    assert url == "/api/v1/ingest/alertmanager/"


def test_the_url_works_without_its_trailing_slash_instead_of_redirecting_a_post(
    alertmanager: tuple[Integration, str], pagerduty: tuple[Integration, str]
) -> None:
    assert post(alertmanager_url(alertmanager[1]).rstrip("/"), payload("alertmanager-v4-firing")).status_code == 202
    assert post(pagerduty_url(pagerduty[1]) + "/", payload("pagerduty-v2-trigger")).status_code == 202


def test_newer_alertmanager_fields_are_accepted_and_kept(alertmanager: tuple[Integration, str]) -> None:
    data = payload("alertmanager-v4-firing")
    data["newTopLevelField"] = {"x": 1}
    data["alerts"][0]["silencedBy"] = []
    assert post(alertmanager_url(alertmanager[1]), data).status_code == 202
    assert RawEvent.objects.get().payload["newTopLevelField"] == {"x": 1}


def test_the_hot_path_is_one_insert_that_checks_the_token(alertmanager: tuple[Integration, str]) -> None:
    """The first request of a token looks it up before reading the body; the next ones are the insert alone."""
    for expected in (["SELECT", "INSERT"], ["INSERT"], ["INSERT"]):
        with CaptureQueriesContext(connection) as queries:
            assert post(alertmanager_url(alertmanager[1]), payload("alertmanager-v4-firing")).status_code == 202
        statements = [q["sql"].split()[0] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        assert statements == expected, queries.captured_queries
    assert {event.integration for event in RawEvent.objects.all()} == {alertmanager[0]}


def test_a_token_is_refused_before_its_body_is_read(alertmanager: tuple[Integration, str]) -> None:
    """An unknown token, or a disabled integration's, is refused with the body left unread."""
    integration, token = alertmanager
    read: list[int] = []

    def read_body(size: int) -> bytes:
        read.append(size)
        return b"{}"

    def incoming(path_token: str) -> handling.Incoming:
        return handling.Incoming(
            method="POST",
            path=f"/api/v1/ingest/alertmanager/{path_token}/",
            authorization=None,
            content_type="application/json",
            content_encoding=None,
            content_length="1000",
            read=read_body,
        )

    assert handling.answer(handling.alertmanager, incoming("x" * 43), "x" * 43).status == 403
    assert handling.answer(handling.alertmanager, incoming(token), token).status == 400  # read: "{}" is no webhook
    assert read == [handling.MAX_BODY_BYTES + 1]
    integration.enabled = False
    integration.save()  # forgets the tokens this process remembered (token_cache)
    answer = handling.answer(handling.alertmanager, incoming(token), token)
    assert (answer.status, answer.body["message"]) == (
        403,
        "This integration is disabled; enable it in opsgov to send events.",
    )
    assert read == [handling.MAX_BODY_BYTES + 1]


def test_a_remembered_token_of_an_integration_disabled_elsewhere_is_refused_by_the_insert(
    alertmanager: tuple[Integration, str],
) -> None:
    """token_cache only ever admits: the insert checks the token again, and the lookup says why it refused."""
    integration, token = alertmanager
    assert post(alertmanager_url(token), payload("alertmanager-v4-firing")).status_code == 202
    Integration.objects.filter(pk=integration.pk).update(enabled=False)  # as another process would: no signal here
    response = post(alertmanager_url(token), payload("alertmanager-v4-firing"))
    assert (response.status_code, response.json()["message"]) == (
        403,
        "This integration is disabled; enable it in opsgov to send events.",
    )
    assert RawEvent.objects.count() == 1


def test_a_bad_token_is_refused_before_a_bad_body_is(alertmanager: tuple[Integration, str]) -> None:
    integration, token = alertmanager
    assert post(alertmanager_url("x" * 43), {"version": "4"}).status_code == 403
    Integration.objects.filter(pk=integration.pk).update(enabled=False)
    response = post(alertmanager_url(token), {"version": "4"})
    assert (response.status_code, response.json()["message"]) == (
        403,
        "This integration is disabled; enable it in opsgov to send events.",
    )
    assert not RawEvent.objects.exists()


def test_a_pagerduty_trigger_answers_like_pagerduty(pagerduty: tuple[Integration, str]) -> None:
    response = post(pagerduty_url(pagerduty[1]), payload("pagerduty-v2-trigger"))
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": PD_KEY}
    event = RawEvent.objects.get()
    assert (event.action, event.dedup_key) == ("trigger", PD_KEY)
    assert pagerduty_url("x") == "/api/v1/ingest/pagerduty/x/enqueue"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_pagerduty_acknowledge_and_resolve_are_accepted(pagerduty: tuple[Integration, str], action: str) -> None:
    response = post(pagerduty_url(pagerduty[1]), payload(f"pagerduty-v2-{action}"))
    assert response.status_code == 202
    assert response.json()["dedup_key"] == PD_KEY
    assert RawEvent.objects.get().action == action


def test_a_trigger_without_dedup_key_gets_one_and_it_is_returned(pagerduty: tuple[Integration, str]) -> None:
    data = payload("pagerduty-v2-trigger")
    del data["dedup_key"]
    response = post(pagerduty_url(pagerduty[1]), data)
    assert response.status_code == 202
    key = response.json()["dedup_key"]
    assert len(key) == 32 and int(key, 16) >= 0
    assert RawEvent.objects.get().dedup_key == key
    assert "dedup_key" not in RawEvent.objects.get().payload  # stored as received


def test_generic_integrations_use_the_pagerduty_endpoint_with_a_bearer_header() -> None:
    _, token = make_integration(IntegrationKind.GENERIC)
    response = post(
        reverse("ingest-pagerduty-bearer"), payload("pagerduty-v2-trigger"), HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 202


def test_the_pagerduty_timestamp_with_an_offset_without_colon_parses() -> None:
    event = parse_pagerduty_event(payload("pagerduty-v2-trigger"))
    assert isinstance(event, PagerDutyTrigger)
    assert event.payload.timestamp == datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)
    assert event.payload.class_ == "saturation"


def test_a_utf8_byte_order_mark_is_tolerated(pagerduty: tuple[Integration, str]) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(payload("pagerduty-v2-trigger")).encode()
    assert post(pagerduty_url(pagerduty[1]), body=body).status_code == 202
    assert RawEvent.objects.get().payload == payload("pagerduty-v2-trigger")


def test_a_body_of_exactly_the_limit_is_accepted(pagerduty: tuple[Integration, str]) -> None:
    body = json.dumps(payload("pagerduty-v2-trigger")).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))
    assert post(pagerduty_url(pagerduty[1]), body=body).status_code == 202


# --- Refused: invalid events (400) -------------------------------------------------------


def _errors(response: Any) -> list[str]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == "invalid event"
    return list(body["errors"])


def test_a_trigger_without_summary_and_with_a_bad_severity_names_both_fields(
    pagerduty: tuple[Integration, str],
) -> None:
    data = payload("pagerduty-v2-trigger")
    del data["payload"]["summary"]
    data["payload"]["severity"] = "disaster"
    response = post(pagerduty_url(pagerduty[1]), data)
    assert response.json()["message"] == "Event object is invalid"
    assert _errors(response) == [
        "payload.summary: Field required",
        "payload.severity: Input should be 'critical', 'error', 'warning' or 'info'",
    ]
    assert not RawEvent.objects.exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["payload"].update(summary="x" * 1025), "payload.summary: String should have at most 1024"),
        (lambda d: d["payload"].pop("source"), "payload.source: Field required"),
        (lambda d: d.pop("payload"), "payload: Field required"),
        (lambda d: d.update(dedup_key="k" * 256), "dedup_key: String should have at most 255"),
        (lambda d: d.update(event_action="escalate"), "event_action: Input should be 'trigger', 'acknowledge'"),
        (lambda d: d.pop("event_action"), "event_action: Field required"),
        (lambda d: d["payload"].update(timestamp="yesterday"), "payload.timestamp: Input should be a valid datetime"),
        # Before 0001-01-01 in UTC: accepted, it would have failed every processing attempt and been lost.
        (
            lambda d: d["payload"].update(timestamp="0001-01-01T00:00:00+01:00"),
            "payload.timestamp: Value error, the instant is out of range",
        ),
        (
            lambda d: d["payload"].update(timestamp="9999-12-31T23:30:00-01:00"),
            "payload.timestamp: Value error, the instant is out of range",
        ),
    ],
)
def test_invalid_pagerduty_triggers_are_refused_with_the_field_path(
    pagerduty: tuple[Integration, str], change: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    data = payload("pagerduty-v2-trigger")
    change(data)
    errors = _errors(post(pagerduty_url(pagerduty[1]), data))
    assert any(error.startswith(expected) for error in errors), errors


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_need_a_dedup_key(pagerduty: tuple[Integration, str], action: str) -> None:
    data = payload(f"pagerduty-v2-{action}")
    del data["dedup_key"]
    assert _errors(post(pagerduty_url(pagerduty[1]), data)) == ["dedup_key: Field required"]


def test_a_json_value_that_is_not_an_object_is_an_invalid_event(pagerduty: tuple[Integration, str]) -> None:
    errors = _errors(post(pagerduty_url(pagerduty[1]), [1, 2]))
    assert errors and "valid dictionary" in errors[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("groupKey"), "groupKey: Field required"),
        (lambda d: d.update(version="3"), "version: Input should be '4'"),
        (lambda d: d.update(status="pending"), "status: Input should be 'firing' or 'resolved'"),
        (lambda d: d["alerts"][1].pop("fingerprint"), "alerts.1.fingerprint: Field required"),
        (lambda d: d["alerts"][0].update(startsAt="soon"), "alerts.0.startsAt: Input should be a valid datetime"),
        (
            lambda d: d["alerts"][0].update(startsAt="0001-01-01T00:00:00+01:00"),
            "alerts.0.startsAt: Value error, the instant is out of range",
        ),
        (
            lambda d: d["alerts"][0].update(endsAt="0001-01-01T00:00:00+01:00"),
            "alerts.0.endsAt: Value error, the instant is out of range",
        ),
        (lambda d: d["alerts"][0]["labels"].update(instance=3), "alerts.0.labels.instance: Input should be a valid"),
        (lambda d: d.update(alerts=[]), "alerts: List should have at least 1 item"),
    ],
)
def test_invalid_alertmanager_webhooks_are_refused_with_the_field_path(
    alertmanager: tuple[Integration, str], change: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    data = payload("alertmanager-v4-firing")
    change(data)
    errors = _errors(post(alertmanager_url(alertmanager[1]), data))
    assert any(error.startswith(expected) for error in errors), errors
    assert not RawEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"version": "4",', "Malformed JSON: Expecting property name enclosed in double quotes: line 1 column 17"),
        (b"", "Malformed JSON: the body is empty"),
        ('{"a": 1}'.encode("utf-16"), "Malformed JSON: the body is not UTF-8"),
        (b'{"a": NaN}', "Malformed JSON: NaN is not valid JSON"),
        (b'{"a": 1e999}', "Malformed JSON: number 1e999 is out of range"),
        (b'{"a": "\xff"}', "Malformed JSON: the body is not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "Malformed JSON: nested too deeply"),
        (b'{"a": "nul \\u0000 inside"}', "Event object is invalid: JSON strings must not contain NUL characters"),
        (b'{"a": "lone \\ud800 surrogate"}', "Event object is invalid: JSON strings must not contain NUL characters"),
    ],
)
def test_malformed_json_is_refused_naming_the_problem(
    alertmanager: tuple[Integration, str], body: bytes, problem: str
) -> None:
    # Django's test client leaves out the content headers of an empty body; a real client sends them.
    response = post(
        alertmanager_url(alertmanager[1]), body=body, CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body))
    )
    assert response.status_code == 400, response.content
    assert response.json()["message"].startswith(problem), response.json()


# --- Refused: content type (415) and size (413) --------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_json_is_refused_as_unsupported(
    alertmanager: tuple[Integration, str], content_type: str
) -> None:
    response = post(alertmanager_url(alertmanager[1]), payload("alertmanager-v4-firing"), content_type=content_type)
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]


def test_json_with_a_charset_is_json(alertmanager: tuple[Integration, str]) -> None:
    response = post(
        alertmanager_url(alertmanager[1]),
        payload("alertmanager-v4-firing"),
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 202


def test_a_compressed_body_is_refused_as_unsupported(alertmanager: tuple[Integration, str]) -> None:
    response = post(alertmanager_url(alertmanager[1]), payload("alertmanager-v4-firing"), HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 415
    assert "gzip" in response.json()["message"]


def test_a_declared_length_over_the_limit_is_refused_before_reading(alertmanager: tuple[Integration, str]) -> None:
    response = post(alertmanager_url(alertmanager[1]), body=b"{}", CONTENT_LENGTH=str(5 * MAX_BODY_BYTES))
    assert response.status_code == 413
    assert response.json()["message"] == f"The body is {5 * MAX_BODY_BYTES} bytes; the limit is {MAX_BODY_BYTES} bytes."


def test_a_body_over_the_limit_is_refused_with_413_not_djangos_400(alertmanager: tuple[Integration, str]) -> None:
    # 1 MiB + 1 byte is well under DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): the 413 is this view's.
    body = json.dumps({"pad": "x" * MAX_BODY_BYTES}).encode()
    response = post(alertmanager_url(alertmanager[1]), body=body)
    assert response.status_code == 413
    assert response.json()["status"] == "payload too large"
    assert not RawEvent.objects.exists()


def test_a_missing_content_length_is_refused(alertmanager: tuple[Integration, str]) -> None:
    response = post(alertmanager_url(alertmanager[1]), body=b"{}", CONTENT_LENGTH="")
    assert response.status_code == 411


# --- Refused: authentication (401, 403) -----------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Bearer short", "Bearer bad/chars*!"]
)
def test_a_missing_or_malformed_token_is_401(authorization: str | None) -> None:
    make_integration("alertmanager")
    extra: dict[str, Any] = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    response = post(reverse("ingest-alertmanager-bearer"), payload("alertmanager-v4-firing"), **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["status"] == "unauthorized"


def test_a_malformed_token_in_the_path_is_401() -> None:
    assert post(alertmanager_url("not-a-token"), payload("alertmanager-v4-firing")).status_code == 401


def test_a_token_of_no_integration_is_403(alertmanager: tuple[Integration, str]) -> None:
    token = alertmanager[1]
    other = ("A" if token[0] != "A" else "B") + token[1:]
    response = post(alertmanager_url(other), payload("alertmanager-v4-firing"))
    assert response.status_code == 403
    assert response.json()["message"] == "The token matches no integration."
    assert token not in response.content.decode()


def test_a_disabled_integration_is_403_with_a_message(alertmanager: tuple[Integration, str]) -> None:
    integration, token = alertmanager
    Integration.objects.filter(pk=integration.pk).update(enabled=False)
    response = post(alertmanager_url(token), payload("alertmanager-v4-firing"))
    assert response.status_code == 403
    assert "disabled" in response.json()["message"]
    assert not RawEvent.objects.exists()


def test_a_token_of_the_wrong_kind_is_403_naming_the_right_endpoint(
    alertmanager: tuple[Integration, str], pagerduty: tuple[Integration, str]
) -> None:
    response = post(pagerduty_url(alertmanager[1]), payload("pagerduty-v2-trigger"))
    assert response.status_code == 403
    assert "alertmanager integration" in response.json()["message"]
    assert "/api/v1/ingest/alertmanager/" in response.json()["message"]
    response = post(alertmanager_url(pagerduty[1]), payload("alertmanager-v4-firing"))
    assert response.status_code == 403
    assert "pagerduty integration" in response.json()["message"]
    assert not RawEvent.objects.exists()


def test_authentication_comes_before_reading_the_body(alertmanager: tuple[Integration, str]) -> None:
    # An unauthenticated client learns nothing about the body rules.
    response = post(reverse("ingest-alertmanager-bearer"), body=b"not json", content_type="text/plain")
    assert response.status_code == 401


def test_only_post_is_allowed(alertmanager: tuple[Integration, str]) -> None:
    response = send("GET", alertmanager_url(alertmanager[1]))
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_refusals_are_logged_without_the_token(
    alertmanager: tuple[Integration, str], caplog: pytest.LogCaptureFixture
) -> None:
    token = alertmanager[1]
    with caplog.at_level("INFO"):
        response = post(alertmanager_url(token), payload("alertmanager-v4-firing"), content_type="text/plain")
    assert response.status_code == 415
    assert token not in caplog.text
    assert f"415 /api/v1/ingest/alertmanager/{token[:8]}\u2026/" in caplog.text


def test_a_payload_that_cannot_be_stored_is_a_503_so_alertmanager_retries(
    alertmanager: tuple[Integration, str], caplog: pytest.LogCaptureFixture
) -> None:
    token = alertmanager[1]
    table = connection.ops.quote_name(RawEvent._meta.db_table)
    with connection.cursor() as cursor:  # a real storage failure, rolled back with the test's transaction
        cursor.execute(f"ALTER TABLE {table} RENAME TO {connection.ops.quote_name('rawevent_gone')}")
    with caplog.at_level("ERROR"):
        response = post(alertmanager_url(token), payload("alertmanager-v4-firing"))
    assert response.status_code == 503
    assert response.json() == {"status": "error", "message": "The event could not be stored; retry later."}
    assert "503 /api/v1/ingest/alertmanager/" in caplog.text and token not in caplog.text
