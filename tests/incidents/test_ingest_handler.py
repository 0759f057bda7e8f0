"""The ingestion endpoints are served by Django's own handler: middleware, host check, HTTPS, headers, health checks.

Requests go through a WSGIHandler made for the test (as gunicorn's opsgov.wsgi
makes one at start-up, after the settings the test sets), under
opsgov.settings's MIDDLEWARE and under opsgov.settings_ingest's shorter one.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, connections
from django.http import HttpRequest, HttpResponse

from incidents.models import RawEvent
from opsgov.settings_ingest import NOT_FOR_INGESTION, PREPARED_STATEMENT_OPTIONS, ingest_databases, ingest_middleware

from ..ingest_service import as_ingest_service, prepared_inserts
from .test_ingest_support import alertmanager_url, make_integration, payload, wsgi_answer

ROOT = Path(__file__).resolve().parents[2]
BODY = json.dumps(payload("alertmanager-v4-firing")).encode()
STAMP = f"{__name__}.StampMiddleware"


class StampMiddleware:
    """A middleware as a project adds one later (request id, CSP, tracing): it marks every answer it sees."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response["X-Stamp"] = "seen"
        return response


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """As Django's test client does: the request signals must not close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call(path: str, *, body: bytes = BODY, **extra: str) -> tuple[int, dict[str, str], bytes]:
    """POST `body` through a new WSGIHandler (the middleware and URLconf of the current settings)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        **extra,
    }
    status, headers, content = wsgi_answer(WSGIHandler(), environ)
    return int(status.split()[0]), headers, content


@pytest.fixture(params=["opsgov.settings", "opsgov.settings_ingest"])
def served_by(request: pytest.FixtureRequest, settings: Any) -> str:
    """Each test under the web service's MIDDLEWARE and URLconf, then under the ingest service's."""
    if request.param == "opsgov.settings_ingest":
        settings.MIDDLEWARE = ingest_middleware(settings.MIDDLEWARE)
        settings.ROOT_URLCONF = "opsgov.urls_ingest"
    return str(request.param)


@pytest.mark.django_db
def test_a_middleware_added_to_settings_runs_on_the_ingestion_route(
    in_test_transaction: None, settings: Any, served_by: str
) -> None:
    integration, token = make_integration()
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, STAMP]
    status, headers, content = call(alertmanager_url(token))
    assert status == 202, content
    assert headers["X-Stamp"] == "seen"
    assert RawEvent.objects.get().integration == integration


def test_the_ingest_service_keeps_every_middleware_it_does_not_know_to_be_useless() -> None:
    full = ["django.middleware.security.SecurityMiddleware", *sorted(NOT_FOR_INGESTION), STAMP]
    assert ingest_middleware(full) == ["django.middleware.security.SecurityMiddleware", STAMP]


def test_the_ingest_settings_module_loads_with_its_own_chain_and_routes() -> None:
    script = (
        "import django; django.setup();"
        "from django.core.management import call_command; call_command('check');"
        "from django.conf import settings; from django.urls import resolve, Resolver404;"
        "print(settings.MIDDLEWARE); print(settings.ROOT_URLCONF);"
        "print(resolve('/api/v1/ingest/alertmanager/x/').url_name);"
        "print(resolve('/healthz').url_name);"
        "print(settings.DATABASES['default']['OPTIONS'].get('server_side_binding'))\n"
        "try:\n    resolve('/incidents/')\nexcept Resolver404:\n    print('404')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "opsgov.settings_ingest"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The admin's 3, axes' middleware check, and the web settings' axes.W006.
    assert lines[0] == "System check identified no issues (5 silenced)."
    assert lines[1] == str(
        [
            "django.middleware.security.SecurityMiddleware",
            "opsgov.csp.ContentSecurityPolicyMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
            "opsgov.prometheus.RequestCounterMiddleware",
            "opsgov.middleware.RefuseNullCharactersMiddleware",
        ]
    )
    prepared = str(True if connection.vendor == "postgresql" else None)
    assert lines[2:] == ["opsgov.urls_ingest", "ingest-alertmanager", "healthz", prepared, "404"]


@pytest.mark.django_db
def test_a_host_that_is_not_allowed_gets_djangos_400(in_test_transaction: None, served_by: str) -> None:
    _, token = make_integration()
    status, _, _ = call(alertmanager_url(token), HTTP_HOST="evil.example")
    assert status == 400
    assert not RawEvent.objects.exists()


@pytest.mark.django_db
def test_plain_http_is_served_not_redirected_and_https_gets_hsts(
    in_test_transaction: None, settings: Any, served_by: str
) -> None:
    """A redirected POST comes back as a GET (and the alert is lost): ingestion is exempt from SECURE_SSL_REDIRECT."""
    _, token = make_integration()
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = False
    settings.SECURE_HSTS_PRELOAD = False
    status, headers, content = call(alertmanager_url(token))
    assert status == 202, content
    assert "Location" not in headers and "Strict-Transport-Security" not in headers
    assert RawEvent.objects.count() == 1
    status, headers, content = call(alertmanager_url(token), HTTP_X_FORWARDED_PROTO="https")
    assert status == 202, content
    assert headers["Strict-Transport-Security"] == "max-age=3600"
    assert RawEvent.objects.count() == 2


@pytest.mark.django_db
def test_answers_carry_the_security_headers_and_no_cookie(in_test_transaction: None, served_by: str) -> None:
    _, token = make_integration()
    status, headers, _ = call(alertmanager_url(token))
    assert status == 202
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Content-Type"] == "application/json"
    assert "Set-Cookie" not in headers


@pytest.mark.django_db
def test_only_the_ingestion_routes_and_health_checks_are_on_the_ingest_service(
    in_test_transaction: None, settings: Any
) -> None:
    settings.ROOT_URLCONF = "opsgov.urls_ingest"
    settings.MIDDLEWARE = ingest_middleware(settings.MIDDLEWARE)
    assert call("/incidents/")[0] == 404
    assert call("/api/v1/incidents/")[0] == 404


@pytest.mark.django_db
def test_an_unexpected_error_is_a_json_500_logged_without_the_token(
    in_test_transaction: None, caplog: pytest.LogCaptureFixture, served_by: str
) -> None:
    _, token = make_integration()
    with (
        mock.patch("incidents.ingest.handling._json_body", side_effect=RuntimeError("boom")),
        caplog.at_level("INFO"),
    ):
        status, headers, content = call(alertmanager_url(token))
    assert status == 500
    assert headers["Content-Type"] == "application/json"
    assert json.loads(content) == {"status": "error", "message": "The event could not be handled; retry later."}
    assert f"500 /api/v1/ingest/alertmanager/{token[:8]}\u2026/" in caplog.text and "boom" in caplog.text
    assert token not in caplog.text, "Django's own django.request line is left out (it shows the path)"


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_closed_is_replaced_by_the_health_check(served_by: str) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("terminating a server connection needs PostgreSQL")
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
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
    status, _, content = call(alertmanager_url(token))
    assert status == 202, content
    assert RawEvent.objects.count() == 1

    databases: dict[str, dict[str, Any]] = {
        "default": {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"sslmode": "require"}},
        "other": {"ENGINE": "django.db.backends.sqlite3"},
    }
    prepared = ingest_databases(databases, prepared=True)
    assert prepared["default"]["OPTIONS"] == {"sslmode": "require", **PREPARED_STATEMENT_OPTIONS}
    assert prepared["other"]["OPTIONS"] == {}
    assert ingest_databases(databases, prepared=False)["default"]["OPTIONS"] == {"sslmode": "require"}
    assert databases["default"]["OPTIONS"] == {"sslmode": "require"}, "the web service's settings are left alone"


@pytest.mark.django_db(transaction=True)
def test_under_the_ingest_services_options_the_insert_is_prepared_once_per_connection(settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    _, token = make_integration()
    with as_ingest_service(settings):
        for _ in range(3):
            status, _, content = call(alertmanager_url(token))
            assert status == 202, content
        statements = prepared_inserts()
    assert len(statements) == 1 and "incidents_rawevent" in statements[0], statements
    assert RawEvent.objects.count() == 3
