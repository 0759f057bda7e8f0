"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py opsgov.wsgi`.

The same for both web services of docker-compose.yml: `web` (opsgov.settings) and
`ingest` (DJANGO_SETTINGS_MODULE=opsgov.settings_ingest), behind the buffering
nginx of deploy/nginx/.

Workers are gunicorn's `gthread` class, so that a slow client cannot starve
them. With sync workers, four connections that sent `Content-Length: 1000` and
then nothing held three workers for 30 s: /healthz waited 33.7 s and worker
timeouts dropped queued work. Here each worker serves GUNICORN_THREADS requests
at once; its main thread waits (without a thread) for a connection's request to
start arriving, and opsgov.wsgi gives each request's socket a read timeout
(REQUEST_BODY_TIMEOUT): a body that stops arriving holds one thread for that
long at most, then its request is answered 408 and closed. The ingestion
endpoints check their token before they read a body, so a sender without a
valid token never gets that far.

Why not gunicorn's `asgi` worker, which reads bodies in an event loop: serving
Django's ASGI handler (a thread per request for the sync code, connections
from a pool) cost about three times the CPU per request of the sync worker, on
every page, and took alert ingestion below its targets (docs/benchmarks.md,
"Alert ingestion").

Environment:
  WEB_CONCURRENCY           worker processes (default: 2 x cores + 1)
  GUNICORN_THREADS          requests a worker serves at once (default 4)
  GUNICORN_TIMEOUT          seconds a worker may go silent before it is restarted (default 30)
  REQUEST_BODY_TIMEOUT      seconds a request may wait for more of its body (or a response write
                            for its client) before it is ended (default 10; opsgov.wsgi)
  GUNICORN_MAX_REQUESTS     requests after which a worker is replaced, against slow leaks
                            (default 20000, with up to 10 % jitter; 0 never replaces one)
  PORT                      port to bind on 0.0.0.0 (default 8000)
  PROMETHEUS_MULTIPROC_DIR  folder where workers share Prometheus counters (default: a
                            folder under the temporary directory); emptied at start
  FORWARDED_ALLOW_IPS       proxies trusted for X-Forwarded-* (gunicorn reads it itself)
  INGEST_ENQUEUE            "batched" (default): each worker publishes the processing of
                            ingested events in batches from a background thread;
                            "immediate": one task per event, in the request
                            (incidents.ingest.enqueue)

No log line shows an integration token or a heartbeat uuid: ingestion URLs
carry one in their path (/api/v1/ingest/<kind>/<token>/...), ping URLs the
other (/ping/<uuid>), and TokenRedactingLogger cuts both to their first 8
characters (opsgov.redaction.redact, as in every log line of opsgov).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

bind = f"0.0.0.0:{int(os.environ.get('PORT') or 8000)}"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
# A worker takes no more connections than it has threads: one whose threads are all busy (with slow
# bodies, say) leaves new connections to the other workers instead of queueing them behind its own.
worker_connections = threads
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so a slow leak never takes a worker down under load. Not
# too often: a new worker costs about a second of CPU to import the app, so at a few
# thousand requests a second a limit of 2,000 spent more CPU on restarts than on requests
# to /healthz, and each restart left one worker fewer for a second. bench/ingest_bench.py
# sets GUNICORN_MAX_REQUESTS=0: a restart inside a measured phase skews that phase.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 20000)
max_requests_jitter = max_requests // 10
# A heartbeat file on disk can stall a worker on slow container storage; memory cannot.
if Path("/dev/shm").is_dir():  # noqa: S108 - gunicorn makes private mkstemp files there
    worker_tmp_dir = "/dev/shm"  # noqa: S108
# No runtime control socket (gunicorn 25.1+ writes one under $HOME by default); containers are
# managed by signals and the orchestrator.
control_socket_disable = True

# Logs go to the container's stdout/stderr.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'

# The project's folder on sys.path: the `gunicorn` script's own folder is there, not the working directory.
_PROJECT = str(Path(__file__).resolve().parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)

from opsgov import worker_hooks  # noqa: E402 - needs the project on sys.path
from opsgov.redaction import RedactSecretsFilter, redact  # noqa: E402

#: One redaction for every log line (opsgov.redaction.redact); the name older callers know.
redact_tokens = redact


class TokenRedactingLogger(Logger):
    """gunicorn's logger, with integration tokens and heartbeat uuids cut from every line it writes.

    Access log: whatever access_log_format asks for (%(r)s, %(U)s,
    %({raw_uri}e)s, the Referer, the Authorization header...), no atom holds a
    whole secret. Error log: a filter rewrites every record the same way (a
    worker's "Error handling request /api/v1/ingest/...", a timeout's traceback).
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(existing, RedactSecretsFilter) for existing in self.error_log.filters):
            self.error_log.addFilter(RedactSecretsFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = redact(value)
        return atoms


logger_class = TokenRedactingLogger

INGEST_ENQUEUE = os.environ.get("INGEST_ENQUEUE") or "batched"
if INGEST_ENQUEUE not in ("batched", "immediate"):
    raise RuntimeError(f"INGEST_ENQUEUE must be 'batched' or 'immediate', not {INGEST_ENQUEUE!r}")


def post_worker_init(worker: Any) -> None:
    """In each worker, once the app is loaded: start what the apps run beside requests (opsgov.worker_hooks),
    such as publishing ingestion tasks in batches (unless INGEST_ENQUEUE=immediate)."""
    worker_hooks.worker_started(worker_hooks.WorkerOptions(batched_publishing=INGEST_ENQUEUE == "batched"))


def worker_exit(server: Any, worker: Any) -> None:
    """In a worker that stops (max_requests, reload, shutdown): the apps finish, e.g. publish what the
    ingestion buffer still holds (opsgov.worker_hooks).

    gunicorn also calls this in the master for a worker already gone, where the
    app was never loaded: no app registered anything there, so nothing runs.
    """
    worker_hooks.worker_exiting()


# Prometheus multiprocess mode: every worker writes its counters to files in one
# folder and /metrics merges them (opsgov.prometheus switches on this variable).
# Set here, before any worker imports prometheus_client, so it is always on.
PROMETHEUS_MULTIPROC_DIR = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "opsgov-prometheus")
)


def on_starting(server: Any) -> None:
    """In the master, before any worker starts: an empty folder (stale files would count old processes)."""
    folder = Path(PROMETHEUS_MULTIPROC_DIR)
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    folder.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker has gone: drop its live gauges from the merged /metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
