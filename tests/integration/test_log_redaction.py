"""Secrets stay out of logs: what the development server (`make run`'s Procfile) writes, read from its stderr.

The report: integration tokens in full in Django's "Not Found" warning for a
mistyped ingestion URL and in runserver's access log (58 times in one run),
heartbeat ping uuids too. Here `manage.py runserver` runs on loopback against
the test database with the project's LOGGING, is asked a mistyped ingestion
URL, a refused one and heartbeat pings, and its output is searched for the
secrets. (gunicorn: tests/integration/test_stalled_uploads.py reads its logs,
tests/opsgov/test_gunicorn_conf.py its error-log path.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

import pytest

from monitoring.models import HeartbeatPing

from ..conftest import free_port, spawn
from ..incidents.test_ingest_support import make_integration
from ..monitoring.check_support import make_heartbeat
from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def status_of(url: str, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_runserver_logs_show_no_token_and_no_ping_uuid(test_database_url: str, tmp_path: Path) -> None:
    _, token = make_integration("alertmanager")
    heartbeat = make_heartbeat()
    unknown_uuid = "0b7c5e7e-1d2f-4a3b-9c8d-7e6f5a4b3c2d"
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "opsgov.settings",
        "DATABASE_URL": test_database_url,
        "OPSGOV_VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "true",  # as `make run` runs it
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_BROKER_URL", None)
    log_path = tmp_path / "runserver.log"
    process = spawn(
        [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"], env, log_path
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return status_of(base + "/healthz") == 200 or process.poll() is not None
            except OSError:
                return process.poll() is not None

        assert wait_until(up, 60) and process.poll() is None, log_path.read_text(errors="replace")
        mistyped = f"/api/v1/ingest/alertmanagr/{token}/"
        assert status_of(base + mistyped, data=b"{}") == 404
        assert status_of(base + f"/api/v1/ingest/alertmanager/{token}/extra", data=b"{}") == 404
        assert status_of(base + f"/api/v1/ingest/alertmanager/{token}/", data=b"not json") == 400
        assert status_of(base + f"/ping/{heartbeat.uuid}") == 200
        assert status_of(base + f"/ping/{heartbeat.uuid}/fail") == 200
        assert status_of(base + f"/ping/{unknown_uuid}/start") == 404
        assert HeartbeatPing.objects.filter(heartbeat=heartbeat).count() == 2
        # The access line of the last request is written just after its answer.
        last_line = f'"GET /ping/{unknown_uuid[:8]}\u2026/start HTTP/1.1" 404'
        assert wait_until(lambda: last_line in log_path.read_text(errors="replace"), 10)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    text = log_path.read_text(errors="replace")
    for secret in (token, str(heartbeat.uuid), heartbeat.uuid.hex, unknown_uuid):
        assert secret not in text, text
    # The lines are there, with the secrets cut to their first 8 characters.
    assert f"Not Found: /api/v1/ingest/alertmanagr/{token[:8]}\u2026/" in text, text
    assert f'"POST /api/v1/ingest/alertmanagr/{token[:8]}\u2026/ HTTP/1.1" 404' in text, text
    assert f'"POST /api/v1/ingest/alertmanager/{token[:8]}\u2026/ HTTP/1.1" 400' in text, text
    assert f'"GET /ping/{str(heartbeat.uuid)[:8]}\u2026 HTTP/1.1" 200' in text, text
    assert f'"GET /ping/{unknown_uuid[:8]}\u2026/start HTTP/1.1" 404' in text, text
