"""opsgov.redaction: one redaction for every log line, and the filter that applies it."""

from __future__ import annotations

import io
import logging

import pytest
from celery import signals

from opsgov.redaction import RedactSecretsFilter, redact

TOKEN = "AbCdEfGh1234567890_-ijklmnopqrstuvwxyzABCDE"
UUID = "0b7c5e7e-1d2f-4a3b-9c8d-7e6f5a4b3c2d"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"POST /api/v1/ingest/alertmanager/{TOKEN}/ 202", "POST /api/v1/ingest/alertmanager/AbCdEfGh\u2026/ 202"),
        (f"/api/v1/ingest/pagerduty/{TOKEN}/enqueue?x=1", "/api/v1/ingest/pagerduty/AbCdEfGh\u2026/enqueue?x=1"),
        (f"Not Found: /api/v1/ingest/alertmanagr/{TOKEN}", "Not Found: /api/v1/ingest/alertmanagr/AbCdEfGh\u2026"),
        (f'"GET /ping/{UUID}/start HTTP/1.1" 404', '"GET /ping/0b7c5e7e\u2026/start HTTP/1.1" 404'),
        (f"/ping/{UUID.replace('-', '')}", "/ping/0b7c5e7e\u2026"),
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer AbCdEfGh\u2026"),
        ("/api/v1/ingest/pagerduty/enqueue", "/api/v1/ingest/pagerduty/enqueue"),
        ("/api/v1/ingest/v2/enqueue", "/api/v1/ingest/v2/enqueue"),
        ("/api/v1/ingest/alertmanager/AbCdEfGh\u2026/", "/api/v1/ingest/alertmanager/AbCdEfGh\u2026/"),  # idempotent
        ("GET /healthz 200", "GET /healthz 200"),
    ],
)
def test_redact_cuts_tokens_and_ping_uuids_to_8_characters(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_celery_handlers_get_the_filter() -> None:
    """A worker replaces the root's handlers with its own (after_setup_logger): those redact too."""
    stream = io.StringIO()
    logger = logging.getLogger("opsgov-test-celery-setup")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        signals.after_setup_logger.send(sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="")
        signals.after_setup_logger.send(sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="")
        assert sum(isinstance(existing, RedactSecretsFilter) for existing in handler.filters) == 1
        logger.warning("Task failed for /api/v1/ingest/alertmanager/%s/", TOKEN)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "Task failed for /api/v1/ingest/alertmanager/AbCdEfGh\u2026/\n"
