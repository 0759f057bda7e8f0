"""Run part of a test as the `ingest` service runs (opsgov.settings_ingest), where the proxy sends ingestion,
pings and patch reports: its middleware, its URLconf, and its database options (server-side binding and
prepared statements) on a fresh connection, restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection

from opsgov.settings_ingest import PREPARED_STATEMENT_OPTIONS, ingest_middleware


@contextmanager
def as_ingest_service(settings: Any) -> Iterator[None]:
    """Within the block, requests go through the ingest service's stack and the next query opens a connection
    with its options; the connection is closed and its options restored at the end."""
    settings.MIDDLEWARE = ingest_middleware(settings.MIDDLEWARE)
    settings.ROOT_URLCONF = "opsgov.urls_ingest"
    saved = connection.settings_dict["OPTIONS"]
    connection.settings_dict["OPTIONS"] = {**saved, **PREPARED_STATEMENT_OPTIONS}
    connection.close()
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["OPTIONS"] = saved


def prepared_inserts() -> list[str]:
    """The INSERT statements PostgreSQL holds prepared on this connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["INSERT INTO %"])
        return [row[0] for row in cursor.fetchall()]
