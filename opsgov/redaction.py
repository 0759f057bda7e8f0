"""Secrets out of logs: one redaction function (`redact`) and the logging filter that applies it; imports no model.

Some URLs carry a secret in their path: an ingestion URL its integration's
token (/api/v1/ingest/<kind>/<token>/...), a heartbeat ping URL its check's
uuid (/ping/<uuid>/...); and an `Authorization: Bearer <token>` header carries
one too. Every log line opsgov or its servers write goes through `redact`:

- settings.LOGGING puts `RedactSecretsFilter` on every handler it defines (the
  root's console, whose records come from django.request, celery, opsgov...;
  and django.server, the development server's access log);
- opsgov.celery adds it to the handlers Celery sets up itself (it replaces the
  root's handlers in a worker);
- gunicorn.conf.py's logger class applies `redact` to the access-log atoms and
  puts the filter on its error log (worker timeouts, "Error handling request").

A secret is cut to its first 8 characters and an ellipsis: as much as
Integration.token_prefix keeps, enough to tell which integration or check it
was. This module is imported by gunicorn.conf.py in gunicorn's master, before
Django is set up: it must import nothing of Django's models or settings.
"""

from __future__ import annotations

import logging
import re

#: Shown of a secret in logs: as much as Integration.token_prefix keeps.
SHOWN_LENGTH = 8
ELLIPSIS = "\u2026"

# The path segment after /ingest/<kind>/ is a token, except the token-less routes' "enqueue".
_INGEST_TOKEN = re.compile(r"(/ingest/[^/?#\s\"']+/)(?!(?:v2/)?enqueue(?:[/?#\s\"']|$))([^/?#\s\"']+)")
# A heartbeat ping URL: /ping/<uuid> (with or without hyphens, as the route's <uuid:> converter takes it).
_PING_UUID = re.compile(r"(/ping/)([0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12})")
_BEARER = re.compile(r"(?i)(bearer\s+)([^\s\"',]+)")


def _cut(match: re.Match[str]) -> str:
    secret = match.group(2)
    if secret.endswith(ELLIPSIS) and len(secret) <= SHOWN_LENGTH + 1:
        return match.group(0)  # already cut
    return match.group(1) + secret[:SHOWN_LENGTH] + ELLIPSIS


def redact(text: str) -> str:
    """`text` with every integration token and heartbeat uuid in it cut to its first 8 characters and an ellipsis.

    Covers ingestion paths (/ingest/<kind>/<token>, not the token-less
    .../enqueue routes), heartbeat pings (/ping/<uuid>) and Bearer
    credentials. Idempotent: a cut secret stays as it is.
    """
    if "/ingest/" in text:
        text = _INGEST_TOKEN.sub(_cut, text)
    if "/ping/" in text:
        text = _PING_UUID.sub(_cut, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(_cut, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) through `redact`; never drops a record.

    The message is formatted once here and kept with its arguments applied, so
    any handler or formatter after this one sees only the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it when the handler formats the record
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
