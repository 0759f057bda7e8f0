"""Fixtures that start real processes: a Celery worker subprocess on loopback services.

The worker runs `python -m celery -A opsgov worker --pool solo` (or prefork) with
the environment of this test run, except that DATABASE_URL points at the
pytest-django TEST database (so rows it writes are visible here, given
`django_db(transaction=True)`) and the broker is whatever the test chooses.
Every worker listens on a queue of its own (`opsgov-it-<hex>`), so a worker
from `make run` or from another test run on the same broker never takes our
messages, and ours never takes theirs. Workers are always stopped in teardown.

`celery_producer` points this process's publishing (the views' on-commit
enqueue, the sweeper) at a worker's broker and queue, or at a dead broker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import kombu.pools
import pytest
from django.conf import settings
from django.db import connection

from opsgov.celery import app as celery_app

from ..conftest import free_port, missing_service, spawn

# Redis for the worker tests: a database number of its own, away from the
# broker (15) and cache (14) that CI gives the rest of the suite.
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/13"
WORKER_START_TIMEOUT = 60.0
TASK_TIMEOUT = 60.0
#: A broker nobody answers on (connection refused at once): a broker outage, without stopping a shared one.
DEAD_BROKER_URL = "redis://127.0.0.1:1/0"


def unique_queue() -> str:
    return f"opsgov-it-{uuid.uuid4().hex[:12]}"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture
def redis_url() -> str:
    """The Redis URL for worker tests; Redis missing fails in CI (see missing_service)."""
    import redis

    url = os.environ.get("OPSGOV_TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing_service(
            f"Redis at {url} ({type(exc).__name__}: {exc})",
            "start a Redis server on 127.0.0.1:6379 or set OPSGOV_TEST_REDIS_URL",
        )
    finally:
        client.close()
    return url


@pytest.fixture
def test_database_url(transactional_db: None) -> str:
    """A DATABASE_URL for the pytest-django test database, for another process to open."""
    db = connection.settings_dict
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.fail("The SQLite test database is in memory; a worker process cannot open it.", pytrace=False)
        return f"sqlite:///{Path(name).resolve()}"  # an absolute path gives sqlite:////abs/path
    if engine == "django.db.backends.postgresql":
        user = quote(str(db.get("USER") or ""), safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = str(db.get("HOST") or "")
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgresql://{auth}{host}{port}/{quote(str(db['NAME']), safe='')}"
    pytest.fail(f"No worker test support for database engine {engine}", pytrace=False)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    queue: str
    log_path: Path
    env: dict[str, str] = field(repr=False)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def setting(self, name: str) -> Any:
        """A Django setting as the worker's environment makes it (read in a separate process)."""
        code = "\n".join(
            [
                "import json, django",
                "django.setup()",
                "from django.conf import settings",
                f"print(json.dumps(settings.{name}))",
            ]
        )
        completed = subprocess.run(
            [sys.executable, "-c", code],
            cwd=settings.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(completed.stdout.strip().splitlines()[-1])

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def pool_processes(self) -> list[int]:
        """Pids of the prefork pool's child processes (none with the solo pool)."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool) at once, as an OOM killer or a lost machine would."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # The worker leads a session of its own: signal the whole group.
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture
def start_worker(tmp_path: Path, test_database_url: str) -> Iterator[Callable[..., Worker]]:
    """Start a real Celery worker against the test database; stopped at teardown, whatever happens."""
    workers: list[Worker] = []

    def start(
        *,
        broker_url: str | None,
        var_dir: Path | None = None,
        queue: str | None = None,
        pool: str = "solo",
        concurrency: int = 1,
    ) -> Worker:
        queue = queue or unique_queue()
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "opsgov.settings",
                "DATABASE_URL": test_database_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if broker_url is None:
            env.pop("CELERY_BROKER_URL", None)  # the settings' default: filesystem:// under OPSGOV_VAR_DIR
        else:
            env["CELERY_BROKER_URL"] = broker_url
        if var_dir is not None:
            env["OPSGOV_VAR_DIR"] = str(var_dir)
        log_path = tmp_path / f"worker-{queue}-{len(workers)}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "opsgov",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "info",
            "--queues",
            queue,
            "--hostname",
            f"{queue}@%h",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
        process = spawn(command, env, log_path)
        worker = Worker(process=process, queue=queue, log_path=log_path, env=env)
        workers.append(worker)
        ready = wait_until(lambda: process.poll() is not None or " ready." in worker.log(), WORKER_START_TIMEOUT)
        if process.poll() is not None:
            pytest.fail(f"The Celery worker exited with {process.returncode}:\n{worker.log_tail()}", pytrace=False)
        if not ready:
            pytest.fail(f"The Celery worker was not ready in {WORKER_START_TIMEOUT:g} s:\n{worker.log_tail()}")
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()


@dataclass
class CeleryProducer:
    """Where this process publishes tasks: set by `point()`, restored by the fixture's teardown."""

    saved: tuple[Any, Any, Any]
    saved_env: str | None

    @staticmethod
    def _reset_connections() -> None:
        """Close the app's broker connections and forget them (kombu keeps pools per URL, process-wide)."""
        kombu.pools.reset()
        celery_app._pool = None  # type: ignore[attr-defined]
        celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]

    def point(self, broker_url: str, *, queue: str | None = None) -> None:
        """Publish to `broker_url`, the incidents tasks to `queue` (a test worker's) when given."""
        self._reset_connections()
        routes = {"incidents.tasks.*": {"queue": queue}} if queue else self.saved[2]
        # update() with task_routes also rebuilds the app's router (AMQP._handle_conf_update).
        celery_app.conf.update(broker_url=broker_url, broker_transport_options={}, task_routes=routes)

    def restore(self) -> None:
        self._reset_connections()
        broker_url, transport_options, routes = self.saved
        celery_app.conf.update(broker_url=broker_url, broker_transport_options=transport_options, task_routes=routes)
        if self.saved_env is not None:
            os.environ["CELERY_BROKER_URL"] = self.saved_env


@pytest.fixture
def celery_producer() -> Iterator[CeleryProducer]:
    """This process's Celery publishing, to point at a test worker's broker and queue (restored afterwards).

    The live server thread and on-commit callbacks publish through it too.
    """
    conf = celery_app.conf
    producer = CeleryProducer(
        saved=(conf.broker_url, conf.broker_transport_options, conf.task_routes),
        # Celery prefers the CELERY_BROKER_URL variable (set in CI) over its configuration.
        saved_env=os.environ.pop("CELERY_BROKER_URL", None),
    )
    try:
        yield producer
    finally:
        producer.restore()


def purge_queue(broker_url: str, queue: str) -> None:
    """Drop a test queue from a Redis broker: its messages, its binding, and its unacknowledged messages.

    A worker killed with SIGKILL leaves the message it was running in kombu's
    "unacked" hash, restored to the queue only after the visibility timeout (an
    hour): remove those too, so nothing of ours is left on a shared Redis.
    """
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.delete(queue)
        client.delete(f"_kombu.binding.{queue}")
        for tag, raw in client.hgetall("unacked").items():
            with suppress(ValueError, TypeError, IndexError):
                _message, _exchange, routing_key = json.loads(raw)
                if routing_key == queue:
                    client.hdel("unacked", tag)
                    client.zrem("unacked_index", tag)
    finally:
        client.close()


# --- Debian's prometheus-alertmanager ------------------------------------------------------------

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
ALERTMANAGER_START_TIMEOUT = 30.0


@dataclass
class Alertmanager:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read().decode()
        return json.loads(text) if text.strip() else None

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        self.api("POST", "/api/v2/alerts", alerts)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def run_alertmanager(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Alertmanager]]:
    """Start Debian's Alertmanager with a configuration (a dict, written as YAML's JSON subset) on a free
    loopback port, clustering off, storage in tmp_path; every one started is stopped at teardown."""
    binary = shutil.which("prometheus-alertmanager") or ALERTMANAGER
    if not os.access(binary, os.X_OK):
        missing_service("Alertmanager (Debian's prometheus-alertmanager)", "apt-get install -y prometheus-alertmanager")
    started: list[Alertmanager] = []

    def start(config: dict[str, Any]) -> Alertmanager:
        config_path = tmp_path / "alertmanager.yml"
        config_path.write_text(json.dumps(config, indent=2))  # YAML is a superset of JSON
        port = free_port()
        log_path = tmp_path / "alertmanager.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.path={tmp_path / 'alertmanager-data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",  # empty: no clustering, no gossip port
                    "--log.level=debug",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        alertmanager = Alertmanager(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)
        started.append(alertmanager)

        def ready() -> bool:
            if process.poll() is not None:
                return True
            try:
                with urllib.request.urlopen(alertmanager.url + "/-/ready", timeout=2) as answer:
                    return bool(answer.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        if not wait_until(ready, ALERTMANAGER_START_TIMEOUT) or process.poll() is not None:
            pytest.fail(f"Alertmanager did not start:\n{alertmanager.log_tail()}", pytrace=False)
        return alertmanager

    try:
        yield start
    finally:
        for alertmanager in started:
            alertmanager.stop()
