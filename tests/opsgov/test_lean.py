"""opsgov.wsgi serves the ingestion paths through opsgov.lean's short handler, and everything else as before."""

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
from opsgov.lean import IngestHandler, PrefixDispatcher
from opsgov.wsgi import application
from tests.incidents.test_ingest_support import alertmanager_url, make_integration, payload

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
    path: str, *, method: str = "POST", body: bytes = BODY, content_type: str = "application/json"
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
    }
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    chunks = application(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answer["status"], answer["headers"], content


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
def test_a_connection_the_server_closed_is_reopened_and_the_event_stored() -> None:
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
    request = RequestFactory().post(alertmanager_url(token), data=BODY, content_type="application/json")
    response = IngestHandler(middleware=[], urlconf="opsgov.ingest_urls").get_response(request)
    assert response.status_code == 202
    assert RawEvent.objects.count() == 1
