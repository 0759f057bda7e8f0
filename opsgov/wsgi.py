"""WSGI entry point (gunicorn -c gunicorn.conf.py opsgov.wsgi): Django's own handler for every route.

The settings module is DJANGO_SETTINGS_MODULE (opsgov.settings by default;
docker-compose.yml's `ingest` service runs opsgov.settings_ingest).

Under gunicorn, each request's socket gets a read timeout of REQUEST_BODY_TIMEOUT
seconds (default 10): a client whose body stops arriving holds its worker thread
that long at most. The ingestion endpoints then answer 408 (incidents.ingest.handling);
elsewhere Django reports the unreadable body. gunicorn hands the application the
connection's socket in the WSGI environ (`gunicorn.socket`); other servers
(`manage.py runserver`) do not, and keep their own behaviour.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def body_timeout_from_environment() -> float:
    """REQUEST_BODY_TIMEOUT in seconds (default 10), refused with its name when it is not a positive number."""
    raw = os.environ.get("REQUEST_BODY_TIMEOUT") or "10"
    try:
        seconds = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"REQUEST_BODY_TIMEOUT: {raw!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise ImproperlyConfigured(f"REQUEST_BODY_TIMEOUT: {raw!r} must be more than 0 and at most 3600 seconds")
    return seconds


class BodyReadTimeout:
    """Gives each request's connection a read (and write) timeout before the application reads its body."""

    def __init__(self, app: WSGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            sock.settimeout(self.seconds)
        return self.app(environ, start_response)


application = BodyReadTimeout(get_wsgi_application(), body_timeout_from_environment())

# What loading the app created lives as long as the process: moved out of the cyclic garbage
# collector's generations, it is no longer traversed by every full collection. Those collections
# made one /metrics scrape in twenty take ~115 ms instead of ~30 ms with 500 SLOs
# (bench/metrics_scrape_bench.py); frozen, the p95 was 35 ms.
gc.freeze()
