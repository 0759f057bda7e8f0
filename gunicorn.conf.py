"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py opsgov.wsgi`.

Environment:
  WEB_CONCURRENCY           worker processes (default: 2 x cores + 1)
  GUNICORN_THREADS          threads per worker (default 1)
  GUNICORN_TIMEOUT          seconds before a silent worker is restarted (default 30)
  PORT                      port to bind on 0.0.0.0 (default 8000)
  PROMETHEUS_MULTIPROC_DIR  folder where workers share Prometheus counters (default: a
                            folder under the temporary directory); emptied at start
  FORWARDED_ALLOW_IPS       proxies trusted for X-Forwarded-* (gunicorn reads it itself)
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

bind = f"0.0.0.0:{int(os.environ.get('PORT') or 8000)}"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
threads = int(os.environ.get("GUNICORN_THREADS") or 1)
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so a slow leak never takes a worker down under load.
max_requests = 2000
max_requests_jitter = 200
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
