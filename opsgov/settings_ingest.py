"""Settings of the ingestion web service: opsgov.settings with a shorter request path.

    DJANGO_SETTINGS_MODULE=opsgov.settings_ingest gunicorn -c gunicorn.conf.py opsgov.wsgi

docker-compose.yml runs it as the `ingest` service, beside `web`; the proxy in
front sends /api/v1/ingest/ to it. It serves the ingestion endpoints and the
health checks only (opsgov.urls_ingest), through Django's own handler, with
every middleware of settings.MIDDLEWARE except those the ingestion endpoints
never use (NOT_FOR_INGESTION): they authenticate by integration token, are
login-free, render no page and set no cookie. (The CSRF and X-Frame-Options
middleware stay: they cost little, and `check --deploy` asks for them.) A middleware
added to settings.MIDDLEWARE later (CSP, request id, tracing, error reporting)
runs here too.

On PostgreSQL it also binds parameters on the server and prepares the
statements it runs repeatedly (psycopg's `server_side_binding` and
`prepare_threshold`, through DATABASES OPTIONS), unless
INGEST_PREPARED_STATEMENTS=false: the ingestion insert is then parsed and
planned once per connection, and its ~1 KB payload travels as a parameter
instead of being escaped into the statement's text (docs/benchmarks.md,
"Alert ingestion"). Turn it off behind a connection pooler in transaction mode
that cannot carry prepared statements (PgBouncer before 1.21, or without
max_prepared_statements). Only this service does it: its few statements are
the ones the ingestion tests run under these options.

Everything else (broker, logging, security settings) is opsgov.settings's.
"""

from __future__ import annotations

from typing import Any

from opsgov.settings import *  # noqa: F403
from opsgov.settings import DATABASES as WEB_DATABASES
from opsgov.settings import MIDDLEWARE as FULL_MIDDLEWARE
from opsgov.settings import SILENCED_SYSTEM_CHECKS as WEB_SILENCED_CHECKS
from opsgov.settings import _read, env

#: Middleware of settings.MIDDLEWARE that the ingestion endpoints have no use for.
NOT_FOR_INGESTION = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",  # static files are served by `web`
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django_htmx.middleware.HtmxMiddleware",
        "opsgov.middleware.AuditActorMiddleware",  # no user acts; the stored event records its integration
        "django.contrib.auth.middleware.LoginRequiredMiddleware",  # the endpoints are login_not_required
        "axes.middleware.AxesMiddleware",  # turns a locked-out login into a page: no logins here
    }
)


def ingest_middleware(middleware: list[str]) -> list[str]:
    """`middleware` without NOT_FOR_INGESTION, in the same order."""
    return [entry for entry in middleware if entry not in NOT_FOR_INGESTION]


MIDDLEWARE = ingest_middleware(FULL_MIDDLEWARE)
ROOT_URLCONF = "opsgov.urls_ingest"
# The admin site needs sessions, authentication and messages, but it is not routed here (opsgov.urls_ingest):
# its checks for that middleware do not apply to this service; nor does django-axes' for its middleware
# (nobody logs in here).
SILENCED_SYSTEM_CHECKS = [*WEB_SILENCED_CHECKS, "admin.E408", "admin.E409", "admin.E410", "axes.W002"]

#: DATABASES OPTIONS that make psycopg bind on the server and prepare a statement on its second execution.
PREPARED_STATEMENT_OPTIONS: dict[str, Any] = {"server_side_binding": True, "prepare_threshold": 2}


def ingest_databases(databases: dict[str, dict[str, Any]], *, prepared: bool) -> dict[str, dict[str, Any]]:
    """A copy of `databases` with PREPARED_STATEMENT_OPTIONS on its PostgreSQL databases when `prepared`."""
    copied = {alias: {**config, "OPTIONS": dict(config.get("OPTIONS", {}))} for alias, config in databases.items()}
    if prepared:
        for config in copied.values():
            if config["ENGINE"] == "django.db.backends.postgresql":
                config["OPTIONS"].update(PREPARED_STATEMENT_OPTIONS)
    return copied


DATABASES = ingest_databases(WEB_DATABASES, prepared=_read(env.bool, "INGEST_PREPARED_STATEMENTS", default=True))
