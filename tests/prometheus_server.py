"""Debian's Prometheus and promtool for the tests: started on a free loopback port, stopped in teardown.

`PrometheusServer.start` runs /usr/bin/prometheus with a generated configuration
(YAML is a superset of JSON, so no YAML writer is needed), its storage in a
temporary folder and `--web.listen-address=127.0.0.1:<free port>`.
`backfill` writes samples at chosen timestamps into that storage first, with
`promtool tsdb create-blocks-from openmetrics`, so a test can query exact,
known series in the past. A missing binary fails in CI and skips elsewhere
(tests.conftest.missing_service).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import missing_service

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(name: str, default: str) -> str:
    found = shutil.which(name) or default
    if not os.access(found, os.X_OK):
        missing_service(f"{name} (Debian's prometheus package)", "apt-get install -y prometheus")
    return found


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@dataclass(frozen=True)
class Sample:
    """One sample of a series: OpenMetrics text for promtool's backfill."""

    name: str
    labels: dict[str, str]
    value: float
    at: float  # epoch seconds

    def line(self) -> str:
        labels = ",".join(f'{key}="{value}"' for key, value in sorted(self.labels.items()))
        text = "NaN" if self.value != self.value else repr(float(self.value))
        return f"{self.name}{{{labels}}} {text} {self.at:.3f}"


def backfill(storage: Path, families: Mapping[str, tuple[str, Iterable[Sample]]], workdir: Path) -> None:
    """Write `families` ({family name: (type, samples)}) into a Prometheus storage folder with promtool."""
    lines: list[str] = []
    for family, (kind, samples) in families.items():
        lines.append(f"# TYPE {family} {kind}")
        ordered = sorted(samples, key=lambda s: (s.name, sorted(s.labels.items()), s.at))
        lines.extend(sample.line() for sample in ordered)
    lines.append("# EOF")
    source = workdir / "backfill.om"
    source.write_text("\n".join(lines) + "\n")
    storage.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [binary("promtool", PROMTOOL), "tsdb", "create-blocks-from", "openmetrics", str(source), str(storage)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(f"promtool could not backfill:\n{completed.stdout}\n{completed.stderr}", pytrace=False)


@dataclass
class PrometheusServer:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @classmethod
    def start(cls, workdir: Path, *, config: dict[str, Any], storage: Path | None = None) -> PrometheusServer:
        config_path = workdir / "prometheus.yml"
        config_path.write_text(json.dumps(config, indent=2))
        port = free_port()
        log_path = workdir / "prometheus.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    binary("prometheus", PROMETHEUS),
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={storage or workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=30d",
                    "--log.level=info",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = cls(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)

        def ready() -> bool:
            if process.poll() is not None:
                return True
            try:
                with urllib.request.urlopen(server.url + "/-/ready", timeout=2) as answer:
                    return bool(answer.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        if not wait_until(ready, START_TIMEOUT) or process.poll() is not None:
            server.stop()
            pytest.fail(f"Prometheus did not start:\n{server.log_tail()}", pytrace=False)
        return server

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read().decode())

    def instant(self, query: str) -> list[dict[str, Any]]:
        """The series of an instant query (now)."""
        body = self.api("/api/v1/query", query=query)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
