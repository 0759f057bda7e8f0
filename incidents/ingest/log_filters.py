"""A logging filter for the "django.request" logger (settings.LOGGING); imports no model.

Django logs every 4xx/5xx answer with its path, and an ingestion path holds
the integration's token. The ingestion views log their refusals and errors
themselves with the token redacted (incidents.ingest.handling.answer), so
Django's line for those answers is dropped.
"""

from __future__ import annotations

import logging


class IngestAnswersLoggedFilter(logging.Filter):
    """Drops a "django.request" record about an answer of a view marked `logs_its_answers`."""

    def filter(self, record: logging.LogRecord) -> bool:
        match = getattr(getattr(record, "request", None), "resolver_match", None)
        return not getattr(getattr(match, "func", None), "logs_its_answers", False)
