"""The ingestion endpoints as Django views: adapters over incidents.ingest.handling.

Served by Django's handler like every route: opsgov.urls under the whole
MIDDLEWARE, and opsgov.urls_ingest under opsgov.settings_ingest's shorter
chain. Plain Django views, not DRF: nothing here needs content negotiation or
DRF authentication.
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
        remote_addr=request.META.get("REMOTE_ADDR") or "",
    )


def django_view(endpoint: Endpoint) -> View:
    """A view answering with `endpoint` (no login, no CSRF).

    Its refusals and errors are logged by handling.answer with the token
    redacted; `logs_its_answers` has incidents.ingest.log_filters keep Django's
    own "django.request" line, which would show the token in the path, out of the logs.
    """

    @csrf_exempt
    @login_not_required
    def view(request: HttpRequest, token: str | None = None) -> JsonResponse:
        answer = handling.answer(endpoint, incoming(request), token)
        response = JsonResponse(answer.body, status=answer.status)
        for name, value in answer.headers:
            response[name] = value
        return response

    view.__name__ = view.__qualname__ = endpoint.__name__
    view.__doc__ = endpoint.__doc__
    view.logs_its_answers = True  # type: ignore[attr-defined]
    return view


alertmanager = django_view(handling.alertmanager)
pagerduty = django_view(handling.pagerduty)
