"""opsgov.wsgi serves the ingestion paths with opsgov.lean.IngestApplication, and everything else as before.

That both front ends answer every ingestion request alike is checked by running
tests/incidents/test_ingest_endpoints.py against each; here: what the plain WSGI
application does besides (its fallback, headers, signals, errors, prepared statements).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, connections
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from incidents.models import RawEvent
from opsgov.lean import INGEST_URLCONF, IngestApplication, IngestHandler, PrefixDispatcher
from opsgov.prometheus import HTTP_REQUESTS
from opsgov.wsgi import application
from tests.incidents.test_ingest_support import alertmanager_url, make_integration, payload, wsgi_answer

BODY = json.dumps(payload("alertmanager-v4-firing")).encode()


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """What Django's test client does: the request signals must not close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call(
    path: str,
    *,
    method: str = "POST",
    body: bytes = BODY,
    content_type: str = "application/json",
    app: Any = None,
    **extra: str,
) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": content_type,
        **extra,
    }
    return wsgi_answer(app or application, environ)


@pytest.mark.django_db
def test_an_ingestion_post_takes_the_short_handler_and_one_statement(in_test_transaction: None) -> None:
    integration, token = make_integration()
    assert isinstance(application, PrefixDispatcher)
    with CaptureQueriesContext(connection) as queries:
        status, headers, content = call(alertmanager_url(token))
    assert status.startswith("202"), content
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["INSERT"]
    assert RawEvent.objects.get().integration == integration
    assert headers["X-Content-Type-Options"] == "nosniff", "the security middleware is in the short chain"
    assert "Set-Cookie" not in headers and "Vary" not in headers, "no session or auth middleware ran"


@pytest.mark.django_db
def test_other_paths_keep_the_whole_middleware_stack(in_test_transaction: None) -> None:
    status, headers, _ = call("/incidents/", method="GET", body=b"")
    assert status.startswith("302") and headers["Location"].startswith("/accounts/login/"), "login is still required"
    status, _, content = call("/api/v1/ingest/no-such-endpoint/")
    assert status.startswith("404"), content


@pytest.mark.django_db
def test_the_short_handler_skips_the_connection_health_check_the_normal_one_runs() -> None:
    _, token = make_integration()
    factory = RequestFactory()

    def health_checks(handler: WSGIHandler) -> int:
        request = factory.post(alertmanager_url(token), data=BODY, content_type="application/json")
        connection.ensure_connection()
        with (
            mock.patch.object(connection, "health_check_enabled", True),
            mock.patch.object(connection, "health_check_done", False),
            mock.patch.object(connection, "is_usable", wraps=connection.is_usable) as is_usable,
        ):
            assert handler.get_response(request).status_code == 202
        return is_usable.call_count

    assert health_checks(WSGIHandler()) == 1
    assert health_checks(IngestHandler(middleware=[], urlconf="opsgov.ingest_urls")) == 0
    assert RawEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("front", ["IngestHandler", "IngestApplication"])
def test_a_connection_the_server_closed_is_reopened_and_the_event_stored(front: str) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("terminating a server connection needs PostgreSQL")
    _, token = make_integration()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    finally:
        other.close()
    handler = IngestHandler(middleware=[], urlconf=INGEST_URLCONF)
    status, _, content = call(alertmanager_url(token), app=handler if front == "IngestHandler" else lean())
    assert status.startswith("202"), content
    assert RawEvent.objects.count() == 1


class Fallback:
    """A stand-in for IngestApplication's fallback that records being called."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.paths.append(environ["PATH_INFO"])
        start_response("418 I'm a teapot", [("Content-Type", "text/plain")])
        return [b"fallback"]


def lean(fallback: Any = None) -> IngestApplication:
    """An IngestApplication made under the current settings."""
    return IngestApplication(fallback=fallback or Fallback(), urlconf=INGEST_URLCONF)


@pytest.mark.django_db
def test_the_plain_application_answers_an_ingestion_post_itself(in_test_transaction: None) -> None:
    integration, token = make_integration()
    fallback = Fallback()
    status, headers, content = call(alertmanager_url(token), app=lean(fallback))
    assert status == "202 Accepted", content
    assert json.loads(content)["status"] == "success"
    assert fallback.paths == []
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(content))
    assert RawEvent.objects.get().integration == integration


@pytest.mark.django_db
def test_what_it_does_not_handle_goes_to_djangos_handler(in_test_transaction: None) -> None:
    _, token = make_integration()
    fallback = Fallback()
    app = lean(fallback)
    assert call("/api/v1/ingest/no-such-endpoint/", app=app)[0].startswith("418")  # no route
    assert call("/api/v1/ingest/alertmanager/caf\xc3\xa9/", app=app)[0].startswith("418")  # not ASCII
    assert call(alertmanager_url(token), app=app, HTTP_HOST="evil.example")[0].startswith("418")  # host not allowed
    assert RawEvent.objects.count() == 0
    assert len(fallback.paths) == 3


@pytest.mark.django_db
def test_the_fallback_gives_djangos_own_answers(in_test_transaction: None) -> None:
    _, token = make_integration()
    status, _, _ = call(alertmanager_url(token), HTTP_HOST="evil.example")
    assert status.startswith("400"), "DisallowedHost, as from Django's handler"
    status, _, content = call("/api/v1/ingest/no-such-endpoint/")
    assert status.startswith("404"), content
    assert RawEvent.objects.count() == 0


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_as_the_security_middleware_does(
    in_test_transaction: None, settings: Any
) -> None:
    _, token = make_integration()
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = False
    settings.SECURE_HSTS_PRELOAD = False
    fallback = Fallback()
    app = lean(IngestHandler(middleware=settings.INGEST_MIDDLEWARE, urlconf=INGEST_URLCONF))
    status, headers, _ = call(alertmanager_url(token), app=app)
    assert status.startswith("301")
    assert headers["Location"] == f"https://testserver{alertmanager_url(token)}"
    assert RawEvent.objects.count() == 0
    status, headers, _ = call(alertmanager_url(token), app=lean(fallback), HTTP_X_FORWARDED_PROTO="https")
    assert status.startswith("202") and fallback.paths == []
    assert headers["Strict-Transport-Security"] == "max-age=3600"


@pytest.mark.django_db
def test_security_headers_are_those_of_djangos_short_chain(in_test_transaction: None, settings: Any) -> None:
    _, token = make_integration()
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    django_handler = IngestHandler(middleware=settings.INGEST_MIDDLEWARE, urlconf=INGEST_URLCONF)
    answers = [
        call(alertmanager_url(token), app=app, HTTP_X_FORWARDED_PROTO="https")
        for app in (django_handler, lean(django_handler))
    ]
    assert [status for status, _, _ in answers] == ["202 Accepted", "202 Accepted"]
    security = ("Strict-Transport-Security", "X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy")
    from_django, from_lean = ({name: headers.get(name) for name in security} for _, headers, _ in answers)
    assert from_lean == from_django
    assert from_lean["Strict-Transport-Security"] == "max-age=600; includeSubDomains; preload"
    assert set(answers[1][1]) == set(answers[0][1]), "the same headers, no more and no fewer"


@pytest.mark.django_db
def test_an_unexpected_error_is_a_500_logged_without_the_token(
    in_test_transaction: None, caplog: pytest.LogCaptureFixture
) -> None:
    _, token = make_integration()
    with (
        mock.patch("incidents.ingest.handling._json_body", side_effect=RuntimeError("boom")),
        caplog.at_level("ERROR"),
    ):
        status, _, content = call(alertmanager_url(token), app=lean())
    assert status == "500 Internal Server Error"
    assert json.loads(content) == {"status": "error", "message": "The event could not be handled; retry later."}
    assert f"500 /api/v1/ingest/alertmanager/{token[:8]}.../" in caplog.text
    assert token not in caplog.text and "boom" in caplog.text


@pytest.mark.django_db
def test_each_request_finishes_with_the_signal_and_is_counted(in_test_transaction: None) -> None:
    _, token = make_integration()
    finished: list[object] = []

    def receiver(sender: object, **kwargs: Any) -> None:
        finished.append(sender)

    def counted(status_class: str) -> float:
        value = HTTP_REQUESTS.labels("POST", status_class)._value.get()
        return float(value)

    before = counted("2xx"), counted("4xx")
    request_finished.connect(receiver)
    try:
        app = lean()
        assert call(alertmanager_url(token), app=app)[0].startswith("202")
        assert call(alertmanager_url(token), app=app, content_type="text/plain")[0].startswith("415")
    finally:
        request_finished.disconnect(receiver)
    assert finished == [IngestApplication, IngestApplication]
    assert (counted("2xx"), counted("4xx")) == (before[0] + 1, before[1] + 1)


def _prepared_inserts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO %%'")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False])
def test_the_insert_is_a_prepared_statement_unless_turned_off(prepared: bool, settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    settings.INGEST_PREPARED_STATEMENTS = prepared
    _, token = make_integration()
    connection.close()  # a new server session: no statement prepared yet
    for _ in range(2):
        status, _, content = call(alertmanager_url(token), app=lean())
        assert status.startswith("202"), content
    statements = _prepared_inserts()
    if prepared:
        assert len(statements) == 1 and "incidents_rawevent" in statements[0]
    else:
        assert statements == []
    assert RawEvent.objects.count() == 2
