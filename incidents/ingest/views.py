"""The ingestion endpoints as Django views: adapters over incidents.ingest.handling.

These serve the endpoints wherever Django's handler does: the test client,
runserver, and a server running opsgov.urls alone. Under gunicorn,
opsgov.wsgi serves the same paths with opsgov.lean.IngestApplication, which
calls the same handling functions; both answer alike (tests/opsgov/test_lean.py
compares them). Plain Django views, not DRF: nothing here needs content
negotiation or DRF authentication.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import handling
from .handling import Endpoint, Incoming

View = Callable[..., JsonResponse]


def incoming(request: HttpRequest) -> Incoming:
    """What the endpoints read of a Django request."""
    return Incoming(
        method=request.method or "",
        path=request.path,
        authorization=request.headers.get("Authorization"),
        content_type=(request.content_type or "").lower(),
        content_encoding=request.headers.get("Content-Encoding"),
        content_length=request.META.get("CONTENT_LENGTH"),
        read=request.read,
    )


def django_view(endpoint: Endpoint) -> View:
    """A view answering with `endpoint` (no login, no CSRF); `.endpoint` keeps it for opsgov.lean."""

    @csrf_exempt
    @login_not_required
    def view(request: HttpRequest, token: str | None = None) -> JsonResponse:
        answer = handling.answer(endpoint, incoming(request), token)
        response = JsonResponse(answer.body, status=answer.status)
        for name, value in answer.headers:
            response[name] = value
        if answer.logged:
            # Logged with the token redacted; Django's own 4xx/5xx log line would show it.
            response._has_been_logged = True  # type: ignore[attr-defined]
        return response

    view.__name__ = view.__qualname__ = endpoint.__name__
    view.__doc__ = endpoint.__doc__
    view.endpoint = endpoint  # type: ignore[attr-defined]
    return view


alertmanager = django_view(handling.alertmanager)
pagerduty = django_view(handling.pagerduty)
