"""What the benchmark scripts share: their own PostgreSQL databases beside DATABASE_URL's.

Every benchmark creates, migrates and drops databases of its own on the server
that DATABASE_URL names, and never touches DATABASE_URL's own database.
Imported by the scripts as `_support` (Python puts a script's folder first on sys.path).
"""

from __future__ import annotations

import os
import sys
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
