"""Standard Events v2 senders: the integration key in the body's `routing_key`, as PagerDuty's endpoint takes it.

A sender such as Alertmanager's pagerduty_configs posts to one fixed URL
(`/api/v1/ingest/v2/enqueue` here, `https://events.pagerduty.com/v2/enqueue`
there) and sets nothing but `routing_key`. A URL or `Authorization: Bearer`
token wins over it. A refused routing_key is PagerDuty's own 400 answer, never
a 401/403 or a 5xx. Requests go through Django's test client (Django's handler).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import services, tasks
from incidents.ingest.handling import MAX_BODY_BYTES
from incidents.models import Incident, IncidentStatus, Integration, RawEvent

from ..factories import ServiceFactory
from .test_ingest_support import PD_KEY, payload

pytestmark = pytest.mark.django_db

EVENTS_V2_URLS = [
    "/api/v1/ingest/v2/enqueue",
    "/api/v1/ingest/pagerduty/v2/enqueue",
    "/api/v1/ingest/pagerduty/enqueue",
]
V2_URL = EVENTS_V2_URLS[0]
INVALID_ROUTING_KEY = {
    "status": "invalid event",
    "message": "Event object is invalid",
    "errors": ["Invalid routing key"],
}


def integration(kind: str = "pagerduty", *, slug: str = "checkout", **extra: Any) -> tuple[Integration, str]:
    service = ServiceFactory.create(slug=slug, name=slug.title())
    return services.integration_create(name=f"{kind} for {slug}", kind=kind, service=service, **extra)


def post(url: str, data: Any = None, *, body: bytes | None = None, **extra: Any) -> Any:
    """POST `data` as JSON (or `body` verbatim) as a client enforcing CSRF checks would; `extra` as WSGI environ."""
    raw = body if body is not None else json.dumps(data).encode()
    extra.setdefault("content_type", "application/json")
    return Client(enforce_csrf_checks=True).post(url, data=raw, **extra)


def event(name: str, routing_key: Any) -> dict[str, Any]:
    """Fixture `name` with its routing_key set (removed when `routing_key` is ...)."""
    data = payload(name)
    if routing_key is ...:
        del data["routing_key"]
    else:
        data["routing_key"] = routing_key
    return data


def other_token(token: str) -> str:
    """A token of the same shape that is not `token`."""
    return ("A" if token[0] != "A" else "B") + token[1:]


# --- Accepted ---------------------------------------------------------------------------------


def test_the_events_v2_urls_are_where_pagerduty_has_its_own() -> None:
    assert reverse("ingest-events-v2") == "/api/v1/ingest/v2/enqueue"
    assert reverse("ingest-pagerduty-v2") == "/api/v1/ingest/pagerduty/v2/enqueue"
    assert reverse("ingest-pagerduty-bearer") == "/api/v1/ingest/pagerduty/enqueue"


@pytest.mark.parametrize("url", EVENTS_V2_URLS)
def test_a_trigger_with_only_a_routing_key_is_stored_for_its_integration(url: str) -> None:
    checkout, token = integration()
    response = post(url, event("pagerduty-v2-trigger", token))
    assert response.status_code == 202, response.content
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": PD_KEY}
    stored = RawEvent.objects.get()
    assert (stored.integration, stored.action, stored.dedup_key) == (checkout, "trigger", PD_KEY)


@pytest.mark.parametrize("url", [f"{url}/" for url in EVENTS_V2_URLS])
def test_the_urls_work_with_a_trailing_slash_instead_of_redirecting_a_post(url: str) -> None:
    _, token = integration()
    assert post(url, event("pagerduty-v2-trigger", token)).status_code == 202


def test_the_stored_event_keeps_only_the_routing_keys_prefix_the_token_being_a_secret() -> None:
    _, token = integration()
    sent = event("pagerduty-v2-trigger", token)
    assert post(V2_URL, sent).status_code == 202
    stored = RawEvent.objects.get().payload
    assert stored["routing_key"] == token[:8] + "..."
    assert {**stored, "routing_key": token} == sent  # everything else as received
    assert token not in json.dumps(stored)


def test_a_routing_key_written_with_unicode_escapes_is_cut_too() -> None:
    _, token = integration()
    text = json.dumps(event("pagerduty-v2-trigger", "TOKEN")).replace(
        '"TOKEN"', '"\\u' + f"{ord(token[0]):04x}" + token[1:] + '"'
    )
    assert post(V2_URL, body=text.encode()).status_code == 202
    stored = RawEvent.objects.get().payload
    assert stored["routing_key"] == token[:8] + "..."
    assert stored["payload"] == payload("pagerduty-v2-trigger")["payload"]


def test_accepting_an_event_by_routing_key_is_one_insert_that_checks_it() -> None:
    checkout, token = integration()
    with CaptureQueriesContext(connection) as queries:
        assert post(V2_URL, event("pagerduty-v2-trigger", token)).status_code == 202
    statements = [q["sql"].split()[0] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert statements == ["INSERT"], queries.captured_queries
    assert RawEvent.objects.get().integration == checkout


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_take_the_routing_key_too(action: str) -> None:
    _, token = integration()
    response = post(V2_URL, event(f"pagerduty-v2-{action}", token))
    assert response.status_code == 202
    assert response.json()["dedup_key"] == PD_KEY
    assert RawEvent.objects.get().action == action


def test_a_generic_integration_takes_a_routing_key() -> None:
    generic, token = integration("generic")
    assert post(V2_URL, event("pagerduty-v2-trigger", token)).status_code == 202
    assert RawEvent.objects.get().integration == generic


def test_a_trigger_without_dedup_key_gets_one_as_pagerduty_gives() -> None:
    _, token = integration()
    data = event("pagerduty-v2-trigger", token)
    del data["dedup_key"]
    response = post(V2_URL, data)
    assert response.status_code == 202
    key = response.json()["dedup_key"]
    assert len(key) == 32 and int(key, 16) >= 0
    assert RawEvent.objects.get().dedup_key == key


# --- Which token wins -----------------------------------------------------------------------------


def test_the_token_in_the_url_wins_over_the_routing_key() -> None:
    checkout, token = integration()
    _, auth_token = integration(slug="auth")
    url = reverse("ingest-pagerduty", kwargs={"token": token})
    assert post(url, event("pagerduty-v2-trigger", auth_token)).status_code == 202
    assert RawEvent.objects.get().integration == checkout
    # Not the token used: kept as received.
    assert RawEvent.objects.get().payload["routing_key"] == auth_token


def test_the_token_in_the_url_wins_even_over_a_routing_key_of_no_integration() -> None:
    _, token = integration()
    url = reverse("ingest-pagerduty", kwargs={"token": token})
    assert post(url, event("pagerduty-v2-trigger", "not a key")).status_code == 202


@pytest.mark.parametrize("url", EVENTS_V2_URLS)
def test_a_bearer_header_wins_over_the_routing_key(url: str) -> None:
    checkout, token = integration()
    _, auth_token = integration(slug="auth")
    response = post(url, event("pagerduty-v2-trigger", auth_token), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 202
    assert RawEvent.objects.get().integration == checkout


def test_a_bearer_header_equal_to_the_routing_key_is_cut_in_the_stored_event_too() -> None:
    _, token = integration()
    assert post(V2_URL, event("pagerduty-v2-trigger", token), HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 202
    assert RawEvent.objects.get().payload["routing_key"] == token[:8] + "..."


def test_a_malformed_bearer_header_is_401_whatever_the_routing_key() -> None:
    _, token = integration()
    response = post(V2_URL, event("pagerduty-v2-trigger", token), HTTP_AUTHORIZATION="Bearer short")
    assert response.status_code == 401
    assert response.json()["status"] == "unauthorized"
    assert not RawEvent.objects.exists()


def test_a_bearer_header_of_no_integration_is_403_as_before() -> None:
    _, token = integration()
    response = post(V2_URL, event("pagerduty-v2-trigger", token), HTTP_AUTHORIZATION=f"Bearer {other_token(token)}")
    assert response.status_code == 403
    assert not RawEvent.objects.exists()


def test_an_authorization_header_of_another_scheme_leaves_the_routing_key_in_charge() -> None:
    # A proxy's basic auth (Alertmanager's http_config.basic_auth) is not an integration token.
    checkout, token = integration()
    response = post(V2_URL, event("pagerduty-v2-trigger", token), HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert response.status_code == 202
    assert RawEvent.objects.get().integration == checkout


# --- Refused routing keys: PagerDuty's 400, never 401/403/5xx --------------------------------------


@pytest.mark.parametrize("url", EVENTS_V2_URLS)
def test_a_routing_key_of_no_integration_is_pagerdutys_invalid_event(url: str) -> None:
    _, token = integration()
    response = post(url, event("pagerduty-v2-trigger", other_token(token)))
    assert response.status_code == 400
    assert response.json() == INVALID_ROUTING_KEY
    assert "WWW-Authenticate" not in response
    assert not RawEvent.objects.exists()


@pytest.mark.parametrize(
    "routing_key", ["", "short", "R0UT1NG KEY with spaces 0000000", "k" * 129, "x" * 100_000, "ключ" * 8]
)
def test_a_malformed_routing_key_is_pagerdutys_invalid_event_without_a_query(routing_key: str) -> None:
    integration()
    with CaptureQueriesContext(connection) as queries:
        response = post(V2_URL, event("pagerduty-v2-trigger", routing_key))
    assert (response.status_code, response.json()) == (400, INVALID_ROUTING_KEY)
    assert queries.captured_queries == []


@pytest.mark.parametrize("routing_key", [..., None])
def test_a_missing_routing_key_without_other_token_is_a_400_naming_the_field(routing_key: Any) -> None:
    integration()
    response = post(V2_URL, event("pagerduty-v2-trigger", routing_key))
    assert response.status_code == 400
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["routing_key: Field required"],
    }


def test_a_missing_routing_key_is_listed_with_the_events_other_errors() -> None:
    data = event("pagerduty-v2-trigger", ...)
    del data["payload"]["summary"]
    response = post(V2_URL, data)
    assert response.status_code == 400
    assert response.json()["errors"] == ["routing_key: Field required", "payload.summary: Field required"]


@pytest.mark.parametrize("routing_key", [12345, ["key"], {"key": "value"}])
def test_a_routing_key_that_is_not_a_string_is_a_400_naming_the_field(routing_key: Any) -> None:
    response = post(V2_URL, event("pagerduty-v2-trigger", routing_key))
    assert response.status_code == 400
    assert response.json()["errors"] == ["routing_key: Input should be a valid string"]


def test_a_body_that_is_not_an_object_is_a_400() -> None:
    response = post(V2_URL, [1, 2])
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert "valid dictionary" in error


def test_a_routing_key_of_a_disabled_integration_is_a_400_saying_so() -> None:
    _, token = integration(enabled=False)
    response = post(V2_URL, event("pagerduty-v2-trigger", token))
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert body["errors"] == [
        "Invalid routing key",
        "This integration is disabled; enable it in opsgov to send events.",
    ]
    assert not RawEvent.objects.exists()


def test_the_key_of_an_alertmanager_integration_is_a_400_naming_its_endpoint() -> None:
    _, token = integration("alertmanager")
    response = post(V2_URL, event("pagerduty-v2-trigger", token))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0] == "Invalid routing key"
    assert "alertmanager integration" in errors[1] and "/api/v1/ingest/alertmanager/" in errors[1]
    assert token not in response.content.decode()


def test_a_refused_routing_key_wins_over_an_invalid_event() -> None:
    _, token = integration()
    data = event("pagerduty-v2-trigger", other_token(token))
    del data["payload"]["summary"]
    assert post(V2_URL, data).json() == INVALID_ROUTING_KEY


def test_an_invalid_event_with_a_good_routing_key_names_its_fields() -> None:
    _, token = integration()
    data = event("pagerduty-v2-trigger", token)
    data["payload"]["severity"] = "disaster"
    response = post(V2_URL, data)
    assert response.status_code == 400
    assert response.json()["errors"] == ["payload.severity: Input should be 'critical', 'error', 'warning' or 'info'"]


def test_refusals_and_acceptances_never_log_the_routing_key(caplog: pytest.LogCaptureFixture) -> None:
    _, token = integration("alertmanager")
    _, pd_token = integration(slug="auth")
    with caplog.at_level("DEBUG"):
        assert post(V2_URL, event("pagerduty-v2-trigger", token)).status_code == 400
        assert post(V2_URL, event("pagerduty-v2-trigger", pd_token)).status_code == 202
    assert "400 /api/v1/ingest/v2/enqueue" in caplog.text
    assert token not in caplog.text and pd_token not in caplog.text


# --- The body's own refusals come first (no token to check before reading it) ------------------------


def test_a_body_that_is_not_json_is_415() -> None:
    _, token = integration()
    response = post(V2_URL, event("pagerduty-v2-trigger", token), content_type="text/plain")
    assert response.status_code == 415


def test_a_body_over_the_limit_is_413() -> None:
    _, token = integration()
    data = event("pagerduty-v2-trigger", token)
    data["payload"]["custom_details"] = {"pad": "x" * MAX_BODY_BYTES}
    assert post(V2_URL, data).status_code == 413


def test_a_missing_content_length_is_411() -> None:
    assert post(V2_URL, body=b"{}", CONTENT_LENGTH="").status_code == 411


def test_malformed_json_is_400() -> None:
    response = post(V2_URL, body=b'{"routing_key": ')
    assert response.status_code == 400
    assert response.json()["message"].startswith("Malformed JSON")


def test_only_post_is_allowed() -> None:
    response = Client().get(V2_URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


# --- The dedup key, as Events v2 documents it ------------------------------------------------------


def process_pending() -> None:
    for event_id in RawEvent.objects.filter(processed_at__isnull=True).order_by("id").values_list("id", flat=True):
        tasks.process_raw_event(event_id)


def test_one_dedup_key_is_one_incident_from_trigger_to_resolve_and_a_later_trigger_opens_another(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    checkout, token = integration()

    def send(name: str) -> None:
        with django_capture_on_commit_callbacks(execute=False):
            assert post(V2_URL, event(name, token)).status_code == 202
        process_pending()

    send("pagerduty-v2-trigger")
    send("pagerduty-v2-trigger")  # a repeat: the same incident
    (incident,) = Incident.objects.filter(integration=checkout)
    assert (incident.dedup_key, incident.status) == (PD_KEY, IncidentStatus.TRIGGERED)
    send("pagerduty-v2-acknowledge")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    send("pagerduty-v2-resolve")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    # "Subsequent events with the same dedup_key" after a resolve open a new incident.
    send("pagerduty-v2-trigger")
    incidents = list(Incident.objects.filter(integration=checkout).order_by("id"))
    assert [item.status for item in incidents] == [IncidentStatus.RESOLVED, IncidentStatus.TRIGGERED]
    assert {item.dedup_key for item in incidents} == {PD_KEY}
    assert not RawEvent.objects.exclude(last_error="").exists()


def test_the_same_dedup_key_under_two_routing_keys_is_two_incidents() -> None:
    checkout, token = integration()
    auth, auth_token = integration(slug="auth")
    assert post(V2_URL, event("pagerduty-v2-trigger", token)).status_code == 202
    assert post(V2_URL, event("pagerduty-v2-trigger", auth_token)).status_code == 202
    process_pending()
    assert Incident.objects.filter(integration=checkout).count() == 1
    assert Incident.objects.filter(integration=auth).count() == 1
