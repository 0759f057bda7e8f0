"""What the benchmark scripts share: their own PostgreSQL databases beside DATABASE_URL's.

Every benchmark creates, migrates and drops databases of its own on the server
that DATABASE_URL names, and never touches DATABASE_URL's own database.
Imported by the scripts as `_support` (Python puts a script's folder first on sys.path).
"""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def database_urls(*databases: str, default: str = "") -> tuple[str, dict[str, str]]:
    """(maintenance URL, {database: URL}) on the server DATABASE_URL names; exits with a message on a bad one.

    `default` is used when DATABASE_URL is unset. A DATABASE_URL naming one of
    `databases` is refused: the benchmark drops those.
    """
    parts = urlsplit(os.environ.get("DATABASE_URL", default))
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("DATABASE_URL must name a PostgreSQL server, e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    named = parts.path.lstrip("/")
    if named in databases:
        sys.exit(f"DATABASE_URL already names {named!r}; the benchmark creates and drops that database itself.")

    def url(database: str) -> str:
        return urlunsplit(("postgresql", parts.netloc, f"/{database}", parts.query, ""))

    return url("postgres"), {database: url(database) for database in databases}


def server_urls(database: str, *, default: str = "") -> tuple[str, str]:
    """(maintenance URL, bench URL) on the server DATABASE_URL names (see database_urls)."""
    maintenance, urls = database_urls(database, default=default)
    return maintenance, urls[database]


def recreate(maintenance_url: str, database: str, *, drop_only: bool = False) -> None:
    """Drop `database` (closing its connections) and, unless `drop_only`, create it empty."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


# --- gunicorn and wrk, for the benchmarks that measure through HTTP (backup_bench) ----------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], env: dict[str, str], log: Any, cwd: Any) -> Any:
    """Start `command` in a session of its own (stop it with :func:`stop`), its output to the file `log`."""
    import subprocess

    with open(log, "wb") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(process: Any) -> None:
    """SIGTERM to the process's own group (it leads one), SIGKILL if it lingers."""
    import signal
    import subprocess

    if process is None or process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_http(url: str, process: Any, log: Any, timeout: float = 60) -> None:
    """Wait until `url` answers 200; exits with the log's tail if the process dies or it never answers."""
    import time
    import urllib.request
    from pathlib import Path

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode}:\n{Path(log).read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"server did not answer {url} within {timeout:g} s:\n{Path(log).read_text(errors='replace')[-3000:]}")


def production_env(database_url: str, tmp: Any, port: int, **extra: str) -> dict[str, str]:
    """The environment of a production-like gunicorn on loopback: DEBUG off, a random key, CONN_MAX_AGE."""
    import secrets
    from pathlib import Path

    tmp = Path(tmp)
    env = {key: value for key, value in os.environ.items() if key not in ("CONN_MAX_AGE", "OPSGOV_POLICY")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "opsgov.settings",
            "GUNICORN_MAX_REQUESTS": "0",  # no worker replaced in the middle of a phase
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url,
            "CONN_MAX_AGE": "600",
            "USE_X_FORWARDED_PROTO": "true",
            "OPSGOV_VAR_DIR": str(tmp / "var"),
            "STATIC_ROOT": str(tmp / "static"),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    (tmp / "static").mkdir(parents=True, exist_ok=True)
    return env


def run_wrk(lua: Any, base_url: str, args: list[str], *, connections: int, seconds: int, out: Any) -> dict[str, Any]:
    """One wrk run with a script whose done() writes JSON figures to `out` (its first line); returns them."""
    import json
    import subprocess
    from pathlib import Path

    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(lua), base_url,
        "--", *args, str(out),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0 or not Path(out).exists():
        sys.exit(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    figures: dict[str, Any] = json.loads(Path(out).read_text().splitlines()[0])
    return figures
