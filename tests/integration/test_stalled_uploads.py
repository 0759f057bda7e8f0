"""Stalled uploads do not freeze the app: a real gunicorn (gunicorn.conf.py), alone and behind Debian's nginx.

The report: four connections that sent `Content-Length: 1000` to an ingestion
URL and then nothing held all three sync workers for 30 s; /healthz took 33.7 s.
Here gunicorn runs as production runs it (gunicorn.conf.py, opsgov.wsgi, three
gthread workers) on loopback against the test database, and six such connections, with
a valid token, stall while /healthz is asked and a normal ingestion is sent.
Then the same through nginx with deploy/nginx/opsgov.conf (only the lines marked
"# deployment:" replaced by loopback addresses and temporary paths), which
holds the stalled bodies itself and never passes them on.

Every server is started in a session of its own and stopped (its whole process
group) at teardown, whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection as database

from incidents.models import RawEvent

from ..conftest import free_port, missing_service, spawn
from ..incidents.test_ingest_support import alertmanager_url, make_integration, payload
from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NGINX_CONF = Path(settings.BASE_DIR) / "deploy" / "nginx" / "opsgov.conf"
STALLED = 6
#: REQUEST_BODY_TIMEOUT for these servers: how long a body may stall before its request is ended (opsgov.wsgi).
BODY_TIMEOUT = 5
#: The issue's bar: /healthz answers within a second while uploads stall.
HEALTHZ_WITHIN = 1.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the whole process group (master and workers), SIGKILL if it lingers."""
        for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            if self.process.poll() is not None:
                return
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)


def status_of(url: str, *, data: bytes | None = None, timeout: float = 10.0) -> int:
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wait_for_healthz(server: Server, timeout: float = 60.0) -> None:
    def up() -> bool:
        if server.process.poll() is not None:
            return True
        try:
            return status_of(f"http://127.0.0.1:{server.port}/healthz", timeout=2) == 200
        except OSError:
            return False

    if not wait_until(up, timeout) or server.process.poll() is not None:
        pytest.fail(f"{server.log_path.name} did not start:\n{server.log()[-3000:]}", pytrace=False)


@pytest.fixture
def gunicorn(test_database_url: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start gunicorn as production does (gunicorn.conf.py, opsgov.wsgi) on loopback; stopped at teardown."""
    started: list[Server] = []

    def start(*, workers: int = 3) -> Server:
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "opsgov.settings",
            "DATABASE_URL": test_database_url,
            "OPSGOV_VAR_DIR": str(tmp_path / "var"),  # the filesystem broker of the settings' default, in here
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"prometheus-{port}"),
            "WEB_CONCURRENCY": str(workers),
            "REQUEST_BODY_TIMEOUT": str(BODY_TIMEOUT),
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
        }
        env.pop("CELERY_BROKER_URL", None)
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
        process = spawn([*command, "opsgov.wsgi"], env, tmp_path / f"gunicorn-{port}.log")
        server = Server(process, port, tmp_path / f"gunicorn-{port}.log")
        started.append(server)
        wait_for_healthz(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def stall(port: int, path: str, count: int = STALLED) -> list[socket.socket]:
    """`count` connections that announce a 1000-byte JSON body to `path`, send 10 bytes of it, and stop."""
    sockets = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n".encode()
            + b'{"version"'
        )
        sockets.append(connection)
    return sockets


def answer_of(connection: socket.socket, timeout: float) -> bytes:
    """What the server sends on a stalled connection until it closes it (b"" if it closes without a word)."""
    connection.settimeout(timeout)
    received = b""
    with suppress(ConnectionResetError):
        while chunk := connection.recv(4096):
            received += chunk
    return received


def head_of(port: int, path: str, length_header: str) -> bytes:
    """The answer to a POST that announces its body (`length_header`) and sends none of it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{length_header}\r\n".encode()
        )
        return answer_of(connection, 5)


def timed_healthz(port: int) -> list[float]:
    times = []
    for _ in range(5):
        started = time.monotonic()
        assert status_of(f"http://127.0.0.1:{port}/healthz", timeout=35) == 200
        times.append(time.monotonic() - started)
    return times


def ingest(port: int, token: str, key: str) -> int:
    body = payload("alertmanager-v4-firing")
    body["groupKey"] = key
    return status_of(f"http://127.0.0.1:{port}{alertmanager_url(token)}", data=json.dumps(body).encode(), timeout=30)


def test_stalled_uploads_leave_gunicorn_answering(gunicorn: Callable[..., Server]) -> None:
    _, token = make_integration("alertmanager")
    server = gunicorn(workers=3)
    with ExitStack() as stack:
        stalled = stall(server.port, alertmanager_url(token))
        for connection in stalled:
            stack.callback(connection.close)
        time.sleep(0.5)  # they have reached the workers
        times = timed_healthz(server.port)
        assert max(times) < HEALTHZ_WITHIN, (times, server.log()[-2000:])
        assert ingest(server.port, token, "while-stalled") == 202
        # After BODY_TIMEOUT without a byte, each stalled request is ended with a 408 and closed.
        answers = [answer_of(connection, BODY_TIMEOUT + 15) for connection in stalled]
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers
    assert list(RawEvent.objects.values_list("dedup_key", flat=True)) == ["while-stalled"]
    # A connection per worker thread (4 threads a worker by gunicorn.conf.py) and at most one more per
    # worker (its main thread's), however many requests: 64 requests left no 64 connections open.
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda n: ingest(server.port, token, f"after-{n}"), range(64)))
    assert statuses == [202] * 64
    if database.vendor == "postgresql":
        with database.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (opened,) = cursor.fetchone()
        assert opened <= 3 * (4 + 1), opened
    # A body over the limit, or of no stated length, is refused on its headers, before a byte of it is read.
    assert head_of(server.port, alertmanager_url(token), "Content-Length: 2000000\r\n").startswith(b"HTTP/1.1 413 ")
    assert head_of(server.port, alertmanager_url(token), "Transfer-Encoding: chunked\r\n").startswith(b"HTTP/1.1 411 ")
    assert wait_until(lambda: server.log().count(' HTTP/1.1" 408 ') == STALLED, 10), server.log()[-3000:]
    log = server.log()
    assert "WORKER TIMEOUT" not in log and token not in log


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Debian's nginx with deploy/nginx/opsgov.conf in front of loopback upstreams; stopped at teardown."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(binary, os.X_OK):
        missing_service("nginx (Debian's package)", "apt-get install -y nginx-light")
    started: list[Server] = []

    def start(*, web: int, ingest: int) -> Server:
        port = free_port()
        folder = tmp_path / f"nginx-{port}"
        folder.mkdir()
        conf = generated_conf(folder, port=port, web=web, ingest=ingest)
        check = subprocess.run(
            [binary, "-t", "-c", str(conf), "-e", str(folder / "error.log")],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")  # workers reach tmp_path
        command = [binary, "-c", str(conf), "-e", str(folder / "error.log"), "-g", directives]
        server = Server(spawn(command, dict(os.environ), folder / "nginx.out"), port, folder / "access.log")
        started.append(server)
        wait_for_healthz(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def generated_conf(folder: Path, *, port: int, web: int, ingest: int) -> Path:
    """deploy/nginx/opsgov.conf with its "# deployment:" lines pointed at loopback and `folder`."""
    replacements = {
        "pid /tmp/opsgov-nginx.pid;": f"pid {folder / 'nginx.pid'};",
        "error_log /dev/stderr crit;": f"error_log {folder / 'error.log'} info;",
        "client_body_temp_path /tmp/opsgov-nginx-body;": f"client_body_temp_path {folder / 'body'};",
        "proxy_temp_path /tmp/opsgov-nginx-proxy;": f"proxy_temp_path {folder / 'proxy'};",
        "access_log /dev/stdout opsgov;": f"access_log {folder / 'access.log'} opsgov;",
        "server web:8000;": f"server 127.0.0.1:{web};",
        "server ingest:8000;": f"server 127.0.0.1:{ingest};",
        "listen 8080;": f"listen 127.0.0.1:{port};",
    }
    text = NGINX_CONF.read_text()
    assert text.count("# deployment:") == len(replacements)
    for old, new in replacements.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    conf = folder / "nginx.conf"
    conf.write_text(text)
    return conf


def test_nginx_holds_stalled_uploads_and_routes_ingestion(
    gunicorn: Callable[..., Server], nginx: Callable[..., Server]
) -> None:
    _, token = make_integration("alertmanager")
    web, ingest_service = gunicorn(workers=2), gunicorn(workers=1)
    proxy = nginx(web=web.port, ingest=ingest_service.port)
    with ExitStack() as stack:
        stalled = stall(proxy.port, alertmanager_url(token))
        for connection in stalled:
            stack.callback(connection.close)
        time.sleep(0.5)
        times = timed_healthz(proxy.port)
        assert max(times) < HEALTHZ_WITHIN, times
        assert ingest(proxy.port, token, "through-nginx") == 202
        # nginx reads bodies before passing requests on: the ingest service saw the whole one, none of the stalled.
        logged = wait_until(lambda: ingest_service.log().count("POST /api/v1/ingest/") == 1, 10)
        assert logged, ingest_service.log()[-2000:]
        assert "POST /api/v1/ingest/" not in web.log()
        # client_body_timeout (10 s): nginx gives up on each stalled body and closes the connection.
        answers = [answer_of(connection, 30) for connection in stalled]
    assert all(answer in (b"", b"HTTP/1.1 408 Request Time-out") or b" 408 " in answer for answer in answers), answers
    assert ingest_service.log().count("POST /api/v1/ingest/") == 1
    assert list(RawEvent.objects.values_list("dedup_key", flat=True)) == ["through-nginx"]

    # A body over the endpoints' limit is refused by nginx, in the endpoints' JSON, before it is read.
    too_large = json.dumps({"x": "a" * (1024 * 1024)}).encode()
    assert ingest_status_raw(proxy.port, alertmanager_url(token), too_large) == 413
    # Heartbeat pings go to the ingest service too; other pages to web.
    assert status_of(f"http://127.0.0.1:{proxy.port}/ping/0b7c5e7e-1d2f-4a3b-9c8d-7e6f5a4b3c2d") == 404
    assert wait_until(lambda: "/ping/0b7c5e7e" in ingest_service.log(), 10)  # logged just after the answer
    assert status_of(f"http://127.0.0.1:{proxy.port}/accounts/login/") == 200
    assert wait_until(lambda: "/accounts/login/" in web.log(), 10)

    assert wait_until(lambda: "/accounts/login/" in proxy.log(), 10)
    access_log = proxy.log()
    assert f"/api/v1/ingest/alertmanager/{token[:8]}.../" in access_log, access_log
    assert "/ping/0b7c5e7e..." in access_log
    for text in (access_log, web.log(), ingest_service.log()):
        assert token not in text
        assert "0b7c5e7e-1d2f-4a3b-9c8d-7e6f5a4b3c2d" not in text


def ingest_status_raw(port: int, path: str, body: bytes) -> int:
    """The status of a POST whose body nginx may refuse before reading (the client stops sending at the answer)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        )
        head = connection.recv(4096)
        parts: list[Any] = head.split(b" ", 2)
        assert b'"status": "payload too large"' in head or b"\r\n\r\n" in head, head
        return int(parts[1])
    finally:
        connection.close()
