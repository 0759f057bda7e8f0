"""A shorter request path for the token-authenticated ingestion endpoints (opsgov.wsgi).

Every request through Django's handler builds a request object, sends the
request signals, runs the whole MIDDLEWARE list (static files, sessions, CSRF,
authentication, messages, htmx, the audit actor, the login requirement),
resolves the URL past the API's other routes and builds a response object.
The ingestion endpoints use none of that: the integration token in the path or
header is their only authentication, they are CSRF-exempt and login-free, and
they read nothing but a few headers and the body. On the hot path that
machinery cost more CPU than validating and storing the event
(bench/ingest_bench.py; DESIGN.md, "Targets": ingestion at half the request
rate of a bare view).

So opsgov.wsgi hands paths under INGEST_PATH_PREFIX to an IngestApplication, a
plain WSGI application that reads the environ directly and answers with
incidents.ingest.handling, the same functions behind the Django views. What
it keeps of Django's handling:

- the routes: opsgov.ingest_urls, resolved by Django's resolver once per path;
- the request_finished signal (database connections are closed when unusable or too old);
- what the short middleware chain did: the Host header checked against
  ALLOWED_HOSTS, the HTTPS redirect (SECURE_SSL_REDIRECT), the security headers
  (HSTS, nosniff, Referrer-Policy, Cross-Origin-Opener-Policy) and the request counter.

Anything off that path goes to `fallback`, an IngestHandler: Django's
WSGIHandler with settings.INGEST_MIDDLEWARE and the ingest-only URLconf. That
is where a Host that is not allowed, a plain-HTTP request to be redirected, a
path no route matches or a path that is not ASCII get Django's own answers.
Everything else goes to the normal handler. The Django test client and
runserver use the normal handler, which serves the same endpoints at the same
URLs through incidents.ingest.views; tests/opsgov/test_lean.py checks that both
answer alike.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.core.signals import request_finished
from django.db import connections
from django.http import HttpResponseBase
from django.urls import Resolver404, get_resolver, set_urlconf
from django.utils.module_loading import import_string

from incidents.ingest import handling
from opsgov.prometheus import HTTP_REQUESTS

INGEST_PATH_PREFIX = "/api/v1/ingest/"
INGEST_URLCONF = "opsgov.ingest_urls"

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
#: Distinct Host headers remembered as allowed (beyond this, each is checked per request).
_KNOWN_HOSTS_LIMIT = 64


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
        _skip_health_checks()
        try:
            return super().get_response(request)
        finally:
            set_urlconf(None)  # as request_finished would: later code in this thread reverses opsgov.urls


def _skip_health_checks() -> None:
    """No CONN_HEALTH_CHECKS query (SELECT 1) before the request's first statement.

    The ingestion endpoints reconnect and retry once when their statement finds
    the connection broken (incidents.ingest.handling._store): the same outcome
    without a round trip per request.
    """
    for conn in connections.all(initialized_only=True):
        conn.health_check_done = True  # type: ignore[attr-defined]


class IngestApplication:
    """A WSGI application answering the ingestion endpoints without Django's request/response cycle.

    What it does not handle itself it passes to `fallback` (the module's docstring says what).
    """

    def __init__(self, *, fallback: Callable[[Environ, StartResponse], Iterable[bytes]], urlconf: str) -> None:
        self.fallback = fallback
        self.resolver = get_resolver(urlconf)
        self._known_hosts: set[tuple[str | None, str | None]] = set()
        # What SecurityMiddleware and CommonMiddleware (settings.INGEST_MIDDLEWARE) would do, read once.
        self.proxy_ssl_header: tuple[str, str] | None = settings.SECURE_PROXY_SSL_HEADER
        self.ssl_redirect = bool(settings.SECURE_SSL_REDIRECT) and not any(
            re.search(pattern, INGEST_PATH_PREFIX.lstrip("/")) for pattern in settings.SECURE_REDIRECT_EXEMPT
        )
        # Rarely set; requests are then all checked by Django's middleware.
        self.always_fallback = bool(settings.DISALLOWED_USER_AGENTS or settings.PREPEND_WWW)
        headers: list[tuple[str, str]] = []
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            headers.append(("X-Content-Type-Options", "nosniff"))
        policy = settings.SECURE_REFERRER_POLICY
        if policy:
            values = [value.strip() for value in policy.split(",")] if isinstance(policy, str) else policy
            headers.append(("Referrer-Policy", ",".join(values)))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
        self.security_headers = tuple(headers)
        hsts = ""
        if settings.SECURE_HSTS_SECONDS:
            hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            hsts += "; includeSubDomains" if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS else ""
            hsts += "; preload" if settings.SECURE_HSTS_PRELOAD else ""
        self.hsts_header = (("Strict-Transport-Security", hsts),) if hsts else ()
        self.route = functools.lru_cache(maxsize=1024)(self._route)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        secure = self._is_secure(environ)
        route = None
        if not self.always_fallback and (secure or not self.ssl_redirect) and self._host_allowed(environ):
            route = self.route(path)
        if route is None:
            return self.fallback(environ, start_response)
        endpoint, token = route
        # No request_started signal: its receivers reset the DEBUG query log and close connections
        # that are unusable or past CONN_MAX_AGE, which request_finished did at the end of the
        # previous request (a connection broken since is reopened by the endpoint's retry).
        _skip_health_checks()
        try:
            answer = handling.answer(endpoint, _incoming(environ), token)
        finally:
            request_finished.send(sender=self.__class__)
        HTTP_REQUESTS.labels(environ.get("REQUEST_METHOD", ""), f"{answer.status // 100}xx").inc()
        body = json.dumps(answer.body).encode()
        headers = [
            ("Content-Type", "application/json"),
            *answer.headers,
            ("Content-Length", str(len(body))),
            *(self.hsts_header if secure else ()),
            *self.security_headers,
        ]
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", headers)
        return [body]

    def _route(self, path: str) -> tuple[handling.Endpoint, str | None] | None:
        """The endpoint and token of an ingestion path; None when no route matches (or the path is not ASCII)."""
        if not path.isascii():
            return None  # Django's handler decodes it (WSGI passes paths as latin-1)
        try:
            match = self.resolver.resolve(path)
        except Resolver404:
            return None
        endpoint = getattr(match.func, "endpoint", None)
        if endpoint is None:
            return None
        return endpoint, match.kwargs.get("token")

    def _is_secure(self, environ: Environ) -> bool:
        """HttpRequest.is_secure() on the environ."""
        if self.proxy_ssl_header:
            header, secure_value = self.proxy_ssl_header
            value = environ.get(header)
            if value is not None:
                return bool(value.split(",", 1)[0].strip() == secure_value)
        return bool(environ.get("wsgi.url_scheme") == "https")

    def _host_allowed(self, environ: Environ) -> bool:
        """Whether HttpRequest.get_host() accepts the request's host, as CommonMiddleware would ask."""
        key = (environ.get("HTTP_HOST"), environ.get("HTTP_X_FORWARDED_HOST"))
        if key in self._known_hosts:
            return True
        try:
            WSGIRequest(environ).get_host()  # reads headers only, not the body
        except DisallowedHost:
            return False  # the fallback answers 400 and logs it as Django does
        if len(self._known_hosts) < _KNOWN_HOSTS_LIMIT:
            self._known_hosts.add(key)
        return True


def _incoming(environ: Environ) -> handling.Incoming:
    """What the endpoints read of a WSGI request."""
    raw_length = environ.get("CONTENT_LENGTH") or None
    stream = environ["wsgi.input"]
    try:
        limit = max(int(raw_length), 0) if raw_length else 0
    except ValueError:
        limit = 0

    def read(size: int) -> bytes:
        data: bytes = stream.read(min(size, limit))
        return data

    content_type = environ.get("CONTENT_TYPE", "")
    return handling.Incoming(
        method=environ.get("REQUEST_METHOD", ""),
        path=environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
        authorization=environ.get("HTTP_AUTHORIZATION"),
        content_type=content_type.partition(";")[0].strip().lower(),
        content_encoding=environ.get("HTTP_CONTENT_ENCODING"),
        content_length=raw_length,
        read=read,
    )


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
    """`application` with the ingestion paths served by an IngestApplication."""
    ingest = IngestApplication(
        fallback=IngestHandler(middleware=settings.INGEST_MIDDLEWARE, urlconf=INGEST_URLCONF), urlconf=INGEST_URLCONF
    )
    return PrefixDispatcher(default=application, special=ingest, prefix=INGEST_PATH_PREFIX)
