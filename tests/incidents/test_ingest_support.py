"""Helpers shared by the ingestion tests (no tests here): payloads, integrations, a broker to inspect.

Payload fixtures are copies of shared/fixtures (the shapes real clients send),
kept here so that changes there do not silently change these tests.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kombu.pools
from django.test import Client
from django.urls import reverse

from incidents import services, tasks
from incidents.models import Incident, Integration, RawEvent
from opsgov.celery import app as celery_app

from ..factories import ServiceFactory

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

FIXTURES = Path(__file__).parent / "fixtures"

# The fixtures' alerts start at 10:15:30 UTC and end by 10:42:00; "now" is after both.
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
GROUP_KEY = '{}/{severity="critical"}:{alertname="HighErrorRate"}'
PD_KEY = "checkout/db-connection-pool"
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


def payload(name: str) -> dict[str, Any]:
    """A fresh copy of fixture `name` (without .json)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return copy.deepcopy(data)


def make_integration(kind: str = "alertmanager", **extra: Any) -> tuple[Integration, str]:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    return services.integration_create(name=f"{kind} for checkout", kind=kind, service=service, **extra)


def alertmanager_url(token: str) -> str:
    return reverse("ingest-alertmanager", kwargs={"token": token})


def pagerduty_url(token: str) -> str:
    return reverse("ingest-pagerduty", kwargs={"token": token})


def wsgi_answer(app: Any, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    """Call WSGI application `app` with `environ`: its status line, headers and whole body."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    chunks = app(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answer["status"], answer["headers"], content


def send(method: str, url: str, body: bytes = b"", content_type: str = "application/json", **extra: Any) -> Any:
    """A request through Django's test client, as a client that enforces CSRF checks would send it."""
    return Client(enforce_csrf_checks=True).generic(method, url, data=body, content_type=content_type, **extra)


def post(
    url: str,
    data: Any = None,
    *,
    body: bytes | None = None,
    content_type: str = "application/json",
    client: Client | None = None,
    **extra: Any,
) -> TestResponse:
    """POST `data` as JSON (or `body` verbatim), as a client that enforces CSRF checks would."""
    raw = body if body is not None else json.dumps(data).encode()
    if client is None:
        response: TestResponse = send("POST", url, raw, content_type, **extra)
        return response
    return client.post(url, data=raw, content_type=content_type, **extra)


def process_pending() -> int:
    """Run process_raw_event (as a function) for every unprocessed event, oldest first."""
    applied = 0
    for event_id in RawEvent.objects.filter(processed_at__isnull=True).order_by("id").values_list("id", flat=True):
        applied += tasks.process_raw_event(event_id)
    return applied


def open_incidents(integration: Integration) -> list[Incident]:
    return list(Incident.objects.filter(integration=integration, status__in=["triggered", "acknowledged", "mitigated"]))


@dataclass
class PublishedTask:
    name: str
    args: list[Any]


class Broker:
    """A kombu filesystem broker in a temporary folder, to see what was published."""

    def __init__(self, folder: Path) -> None:
        self.queue = folder / "queue"
        self.processed = folder / "processed"
        self.control = folder / "control"
        for path in (self.queue, self.processed, self.control):
            path.mkdir(parents=True, exist_ok=True)

    @property
    def transport_options(self) -> dict[str, Any]:
        return {
            "data_folder_in": str(self.queue),
            "data_folder_out": str(self.queue),
            "processed_folder": str(self.processed),
            "control_folder": str(self.control),
            "store_processed": False,
        }

    def published(self) -> list[PublishedTask]:
        tasks_seen = []
        for path in sorted(self.queue.glob("*.msg")):
            message = json.loads(path.read_text())
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            tasks_seen.append(PublishedTask(name=message["headers"]["task"], args=args))
        return tasks_seen


def _reset_connections() -> None:
    """Close the app's broker connections and forget them (kombu keeps pools per URL, process-wide)."""
    kombu.pools.reset()
    celery_app._pool = None  # type: ignore[attr-defined]
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


@contextmanager
def celery_broker(url: str, transport_options: dict[str, Any] | None = None) -> Iterator[None]:
    """Point the Celery app at another broker for the block, then restore it (connections included)."""
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    # Celery prefers the CELERY_BROKER_URL variable (set in CI) over its configuration.
    saved_env = os.environ.pop("CELERY_BROKER_URL", None)
    _reset_connections()
    celery_app.conf.update(broker_url=url, broker_transport_options=transport_options or {})
    try:
        yield
    finally:
        _reset_connections()
        celery_app.conf.update(broker_url=saved[0], broker_transport_options=saved[1])
        if saved_env is not None:
            os.environ["CELERY_BROKER_URL"] = saved_env
