"""Settings of the ingestion web service: opsgov.settings with a shorter request path.

    DJANGO_SETTINGS_MODULE=opsgov.settings_ingest gunicorn -c gunicorn.conf.py opsgov.wsgi

docker-compose.yml runs it as the `ingest` service, beside `web`; the proxy in
front sends /api/v1/ingest/ to it. It serves the ingestion endpoints and the
health checks only (opsgov.urls_ingest), through Django's own handler, with
every middleware of settings.MIDDLEWARE except those the ingestion endpoints
never use (NOT_FOR_INGESTION): they authenticate by integration token, are
CSRF-exempt and login-free, render no page and set no cookie. A middleware
added to settings.MIDDLEWARE later (CSP, request id, tracing, error reporting)
runs here too. Everything else (database, broker, logging, security settings)
is opsgov.settings's.
"""

from __future__ import annotations

from opsgov.settings import *  # noqa: F403
from opsgov.settings import MIDDLEWARE as FULL_MIDDLEWARE

#: Middleware of settings.MIDDLEWARE that the ingestion endpoints have no use for.
NOT_FOR_INGESTION = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",  # static files are served by `web`
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",  # the endpoints are csrf_exempt
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",  # JSON answers, no frames
        "django_htmx.middleware.HtmxMiddleware",
        "opsgov.middleware.AuditActorMiddleware",  # no user acts; the stored event records its integration
        "django.contrib.auth.middleware.LoginRequiredMiddleware",  # the endpoints are login_not_required
    }
)


def ingest_middleware(middleware: list[str]) -> list[str]:
    """`middleware` without NOT_FOR_INGESTION, in the same order."""
    return [entry for entry in middleware if entry not in NOT_FOR_INGESTION]


MIDDLEWARE = ingest_middleware(FULL_MIDDLEWARE)
ROOT_URLCONF = "opsgov.urls_ingest"
