"""gunicorn.conf.py: the access log never shows an integration token; worker settings from the environment."""

from __future__ import annotations

import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from gunicorn.config import Config

TOKEN = "AbCdEfGh1234567890_-ijklmnopqrstuvwxyzABCDE"  # shaped like secrets.token_urlsafe(32)
CUT = "AbCdEfGh\u2026"


@pytest.fixture
def conf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """gunicorn.conf.py's namespace, read as gunicorn reads it (with the process environment restored after)."""
    # The file sets PROMETHEUS_MULTIPROC_DIR with setdefault: keep it away from this process's environment.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))
    for name in ("GUNICORN_MAX_REQUESTS", "INGEST_ENQUEUE"):
        monkeypatch.delenv(name, raising=False)
    return runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))


def access_line(conf: dict[str, Any], tmp_path: Path, *, uri: str, headers: tuple[tuple[str, str], ...] = ()) -> str:
    """One access-log line written by the configured logger class for a request to `uri`."""
    log_file = tmp_path / "access.log"
    cfg = Config()
    cfg.set("accesslog", str(log_file))
    cfg.set("access_log_format", conf["access_log_format"])
    logger = conf["logger_class"](cfg)
    path, _, query = uri.partition("?")
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_USER_AGENT": "Alertmanager/0.25.0",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers},
    }
    request = SimpleNamespace(headers=list(headers))
    response = SimpleNamespace(status="202 Accepted", sent=99, headers=[("Content-Type", "application/json")])
    logger.access(response, request, environ, timedelta(milliseconds=3))
    for handler in logger.access_log.handlers:
        handler.flush()
    return log_file.read_text()


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (f"/api/v1/ingest/alertmanager/{TOKEN}/", f"/api/v1/ingest/alertmanager/{CUT}/"),
        (f"/api/v1/ingest/alertmanager/{TOKEN}", f"/api/v1/ingest/alertmanager/{CUT}"),
        (f"/api/v1/ingest/pagerduty/{TOKEN}/enqueue", f"/api/v1/ingest/pagerduty/{CUT}/enqueue"),
        (f"/api/v1/ingest/pagerduty/{TOKEN}/enqueue?x=1", f"/api/v1/ingest/pagerduty/{CUT}/enqueue?x=1"),
        ("/api/v1/ingest/alertmanager/short/", "/api/v1/ingest/alertmanager/short\u2026/"),  # malformed: cut anyway
    ],
)
def test_the_access_log_shows_only_the_first_8_characters_of_a_token(
    conf: dict[str, Any], tmp_path: Path, uri: str, shown: str
) -> None:
    line = access_line(conf, tmp_path, uri=uri)
    assert f'"POST {shown} HTTP/1.1" 202 99 3ms' in line
    assert TOKEN not in line
    assert TOKEN[:9] not in line


@pytest.mark.parametrize(
    "uri",
    [
        "/api/v1/ingest/pagerduty/enqueue",
        "/api/v1/ingest/pagerduty/v2/enqueue",
        "/api/v1/ingest/v2/enqueue",
        "/api/v1/ingest/alertmanager/",
        "/healthz",
    ],
)
def test_paths_without_a_token_are_logged_as_they_are(conf: dict[str, Any], tmp_path: Path, uri: str) -> None:
    assert f'"POST {uri} HTTP/1.1"' in access_line(conf, tmp_path, uri=uri)


def test_no_atom_holds_a_token_whatever_the_format_asks_for(conf: dict[str, Any], tmp_path: Path) -> None:
    conf["access_log_format"] = "%(U)s %({raw_uri}e)s %({path_info}e)s %({authorization}i)s %({http_authorization}e)s"
    uri = f"/api/v1/ingest/alertmanager/{TOKEN}/"
    line = access_line(conf, tmp_path, uri=uri, headers=(("AUTHORIZATION", f"Bearer {TOKEN}"),))
    assert TOKEN not in line
    assert f"/api/v1/ingest/alertmanager/{CUT}/" in line
    assert line.count(f"Bearer {CUT}") == 2


def test_the_logger_class_is_the_redacting_one(conf: dict[str, Any]) -> None:
    from gunicorn.glogging import Logger

    assert issubclass(conf["logger_class"], Logger)
    assert conf["logger_class"].__name__ == "TokenRedactingLogger"
    assert conf["redact_tokens"](f"POST /api/v1/ingest/generic/{TOKEN}/x") == f"POST /api/v1/ingest/generic/{CUT}/x"


def test_workers_are_recycled_rarely_enough_for_a_busy_ingestion_endpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.delenv("GUNICORN_MAX_REQUESTS", raising=False)
    default = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))
    assert (default["max_requests"], default["max_requests_jitter"]) == (20000, 2000)
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "0")
    assert runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))["max_requests"] == 0  # never


def test_an_unknown_ingest_enqueue_mode_stops_gunicorn_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("INGEST_ENQUEUE", "sometimes")
    with pytest.raises(RuntimeError, match="INGEST_ENQUEUE must be 'batched' or 'immediate'"):
        runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))


def test_worker_exit_in_the_master_does_not_import_the_app(
    conf: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn calls worker_exit in the master for a worker already gone: the app is not loaded there."""
    import sys

    monkeypatch.delitem(sys.modules, "incidents.ingest.enqueue", raising=False)
    conf["worker_exit"](None, None)
    assert "incidents.ingest.enqueue" not in sys.modules


def test_the_error_log_cuts_tokens_and_ping_uuids_from_messages_and_tracebacks(
    conf: dict[str, Any], tmp_path: Path
) -> None:
    """gunicorn's error lines (a worker's "Error handling request <uri>", a timeout's traceback) go through
    the same redaction as every other log line."""
    log_file = tmp_path / "error.log"
    cfg = Config()
    cfg.set("errorlog", str(log_file))
    logger = conf["logger_class"](cfg)
    uuid = "0b7c5e7e-1d2f-4a3b-9c8d-7e6f5a4b3c2d"
    logger.error("Error handling request %s", f"/api/v1/ingest/alertmanager/{TOKEN}/")
    logger.critical("WORKER TIMEOUT (pid:%s) on /ping/%s/start", 42, uuid)
    try:
        raise RuntimeError(f"while reading /api/v1/ingest/pagerduty/{TOKEN}/enqueue")
    except RuntimeError:
        logger.exception("Error handling request")
    logger.reopen_files()  # as on SIGUSR1: the filter stays
    logger.warning("Bearer %s", TOKEN)
    for handler in logger.error_log.handlers:
        handler.flush()
    text = log_file.read_text()
    assert TOKEN not in text and uuid not in text, text
    assert f"/api/v1/ingest/alertmanager/{CUT}/" in text
    assert f"/ping/{uuid[:8]}\u2026/start" in text
    assert f"/api/v1/ingest/pagerduty/{CUT}/enqueue" in text  # in the traceback
    assert f"Bearer {CUT}" in text


def test_workers_are_threaded_and_every_launcher_serves_opsgov_wsgi(
    conf: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """gthread workers, four threads each unless told otherwise (gunicorn.conf.py says why)."""
    import yaml

    assert (conf["worker_class"], conf["threads"]) == ("gthread", 4)
    monkeypatch.setenv("GUNICORN_THREADS", "8")
    assert runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))["threads"] == 8
    root = Path(settings.BASE_DIR)
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("web", "ingest"):
        assert services[name]["command"] == ["gunicorn", "--config", "gunicorn.conf.py", "opsgov.wsgi"]
        assert "ports" not in services[name], f"{name} is reached through the proxy only"
        assert services[name]["environment"]["FORWARDED_ALLOW_IPS"] == "*"
    assert services["proxy"]["build"]["dockerfile"] == "deploy/nginx/Dockerfile"
    assert services["proxy"]["ports"] == ["${OPSGOV_BIND:-127.0.0.1:8000}:8080"]
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py", "opsgov.wsgi"]' in (root / "Dockerfile").read_text()


@pytest.mark.parametrize(("raw", "error"), [("ten", "is not a number of seconds"), ("0", "must be more than 0")])
def test_a_bad_request_body_timeout_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, raw: str, error: str
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from opsgov.wsgi import body_timeout_from_environment

    monkeypatch.setenv("REQUEST_BODY_TIMEOUT", raw)
    with pytest.raises(ImproperlyConfigured, match=f"REQUEST_BODY_TIMEOUT: '{raw}' {error}"):
        body_timeout_from_environment()
    monkeypatch.setenv("REQUEST_BODY_TIMEOUT", "2.5")
    assert body_timeout_from_environment() == 2.5
