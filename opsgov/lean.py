"""A shorter request path for the token-authenticated ingestion endpoints (opsgov.wsgi).

Every request through Django's handler runs the whole MIDDLEWARE list:
static files, sessions, CSRF, authentication, messages, htmx, the audit actor
and the login requirement. The ingestion endpoints use none of them (the
integration token in the path or header is their only authentication, they
are CSRF-exempt and login-free), yet on the hot path the chain and resolving
the URL past the API's other routes cost about as much CPU as storing the event
(bench/ingest_bench.py; DESIGN.md, "Targets": ingestion at half the request
rate of a bare view).

So opsgov.wsgi hands paths under INGEST_PATH_PREFIX to an IngestHandler: a
Django WSGIHandler (same settings, request signals, database connection
handling and error responses) whose middleware chain is settings.INGEST_MIDDLEWARE
and whose URLconf holds the ingestion routes only. Everything else goes to
the normal handler. The Django test client and runserver use the normal
handler, which serves the same views at the same URLs.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.db import connections
from django.http import HttpResponseBase
from django.urls import set_urlconf
from django.utils.module_loading import import_string

INGEST_PATH_PREFIX = "/api/v1/ingest/"
INGEST_URLCONF = "opsgov.ingest_urls"

StartResponse = Any


class IngestHandler(WSGIHandler):
    """WSGIHandler with its own middleware list and URLconf."""

    def __init__(self, *, middleware: list[str], urlconf: str) -> None:
        self.middleware_paths = list(middleware)
        self.urlconf = urlconf
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        """Django's BaseHandler.load_middleware for `middleware_paths` (synchronous middleware only)."""
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        for path in reversed(self.middleware_paths):
            instance = import_string(path)(handler)
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    def get_response(self, request: WSGIRequest) -> HttpResponseBase:  # type: ignore[override]
        request.urlconf = self.urlconf  # type: ignore[attr-defined]
        # No CONN_HEALTH_CHECKS query (SELECT 1) before the first statement: the ingestion views
        # reconnect and retry once when their statement finds the connection broken
        # (incidents.ingest.views._store), which is the same outcome without a round trip per request.
        for conn in connections.all(initialized_only=True):
            conn.health_check_done = True  # type: ignore[attr-defined]
        try:
            return super().get_response(request)
        finally:
            set_urlconf(None)  # as request_finished would: later code in this thread reverses opsgov.urls


class PrefixDispatcher:
    """A WSGI application sending paths under `prefix` to `special` and all others to `default`."""

    def __init__(self, *, default: Any, special: Any, prefix: str) -> None:
        self.default = default
        self.special = special
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        target = self.special if environ.get("PATH_INFO", "").startswith(self.prefix) else self.default
        return target(environ, start_response)


def with_ingest_handler(application: Any) -> PrefixDispatcher:
    """`application` with the ingestion paths served through an IngestHandler."""
    ingest = IngestHandler(middleware=settings.INGEST_MIDDLEWARE, urlconf=INGEST_URLCONF)
    return PrefixDispatcher(default=application, special=ingest, prefix=INGEST_PATH_PREFIX)
