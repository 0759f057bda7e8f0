"""The ingestion views' logging filter: Django's own line about an answer they log themselves is dropped.

Secrets are cut from every log line by opsgov.redaction.
"""

from __future__ import annotations

import logging


class IngestAnswersLoggedFilter(logging.Filter):
    """Drops a "django.request" record about an answer of a view marked `logs_its_answers`.

    The ingestion views log their refusals and errors themselves with the token
    redacted (incidents.ingest.handling.answer): Django's own line about the same
    answer would only repeat it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        match = getattr(getattr(record, "request", None), "resolver_match", None)
        return not getattr(getattr(match, "func", None), "logs_its_answers", False)
