"""Liveness and readiness probes (no login: load balancers and orchestrators call them)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .celery import app as celery_app


@require_GET
@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process lives; touches nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:  # any transport error means "not ready"
        return f"{type(exc).__name__}: {exc}"
    return None


@require_GET
@never_cache
@login_not_required
def readyz(request: HttpRequest) -> JsonResponse:
    """200 only when the database and the broker answer; else 503 naming what failed."""
    failures = {name: error for name, error in (("database", _check_database()), ("broker", _check_broker())) if error}
    checks = {name: failures.get(name, "ok") for name in ("database", "broker")}
    if failures:
        return JsonResponse({"status": "unavailable", "failed": sorted(failures), "checks": checks}, status=503)
    return JsonResponse({"status": "ok", "checks": checks})
