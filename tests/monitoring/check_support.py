"""Helpers shared by the synthetic check tests (no tests here): records, a loopback HTTP server, alert reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from incidents import tasks as incident_tasks
from incidents.models import Incident, RawEvent
from monitoring.checks import services as checks
from monitoring.models import SLO, Heartbeat, HttpCheck, SLISource
from opsgov.models import Service
from tests.factories import ServiceFactory


def make_http_check(url: str, *, service: Service | None = None, **extra: Any) -> HttpCheck:
    values: dict[str, Any] = {"name": "Public API health", "timeout_ms": 1000, "interval_seconds": 60}
    values.update(extra)
    return checks.http_check_create(service=service or ServiceFactory.create(), url=url, **values)


def make_heartbeat(*, service: Service | None = None, **extra: Any) -> Heartbeat:
    values: dict[str, Any] = {"name": "Nightly backup", "period": timedelta(days=1), "grace": timedelta(hours=1)}
    values.update(extra)
    return checks.heartbeat_create(service=service or ServiceFactory.create(), **values)


def make_check_slo(service: Service, **extra: Any) -> SLO:
    values: dict[str, Any] = {
        "name": "Synthetic availability",
        "objective_percent": Decimal("99.5"),
        "source": SLISource.CHECK,
    }
    values.update(extra)
    return SLO.objects.create(service=service, **values)


def alert_actions(key: str) -> list[str]:
    """The alert events raised for `key`, oldest first, as the incidents' raw events store them."""
    return list(RawEvent.objects.filter(dedup_key=key).order_by("id").values_list("action", flat=True))


def process_alerts() -> int:
    """Run incidents' processing task (as a function) for every unprocessed raw event, oldest first."""
    applied = 0
    for event_id in RawEvent.objects.filter(processed_at__isnull=True).order_by("id").values_list("id", flat=True):
        applied += incident_tasks.process_raw_event(event_id)
    return applied


def incidents_for(key: str) -> list[Incident]:
    return list(Incident.objects.filter(dedup_key=key).order_by("id"))


# --- A loopback HTTP server -------------------------------------------------------------------


@dataclass
class LoopbackServer:
    """A real HTTP server on 127.0.0.1 for the checks to request: /ok, /error, /slow, /status/<code>."""

    host: str
    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


#: How long /slow waits before answering (longer than the tests' timeouts).
SLOW_SECONDS = 2.0


def _handler(server_state: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _answer(self) -> None:
            server_state.requests.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path.startswith("/slow"):
                time.sleep(SLOW_SECONDS)
                code = 200
            elif self.path.startswith("/error"):
                code = 500
            elif self.path.startswith("/status/"):
                code = int(self.path.rsplit("/", 1)[1])
            elif self.path.startswith("/ok"):
                code = 200
            else:
                code = 404
            body = b"hello from the loopback server\n"
            self.send_response(code)
            if code in (301, 302):
                self.send_header("Location", "/ok")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _answer

    return Handler


@contextmanager
def loopback_server() -> Iterator[LoopbackServer]:
    state = LoopbackServer(host="127.0.0.1", port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="loopback-http", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
