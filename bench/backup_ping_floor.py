"""Bench-only: the floor of a stored ping (bench/backup_bench.py), the unavoidable work and nothing else.

``GET /bench/ping-floor/<job_id>/0`` stores the row a ``GET /ping/<uuid>/0`` of that job stores (the same
statement, ``backups.services._ASYNC_INSERT``: one INSERT with asynchronous commit, in its own
transaction) and answers ``200 OK`` like the ping view (the same decorators, so the same headers): no
uuid lookup, no rate limit, no ping parsing, no apply-task debounce. Its rate against the bare view
(``/healthz``) in the same run says how fast a ping could be while it is stored before the answer.
Served by the same gunicorn as everything else, under the MIDDLEWARE of the settings under test, with
bench_settings (BENCH_URLCONF = "backup_ping_floor": this module's route, then the URLconf of the
settings under test). Not a template for production code.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from backups.services import _ASYNC_INSERT


@csrf_exempt
@never_cache
@login_not_required
@require_http_methods(["GET", "HEAD", "POST"])
def ping_floor(request: HttpRequest, job_id: int) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(_ASYNC_INSERT, (job_id, "success", 0, None, timezone.now(), "", False))
    return HttpResponse("OK", content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/ping-floor/<int:job_id>/0", ping_floor),
    path("", include(getattr(settings, "BENCH_BASE_URLCONF", "opsgov.urls"))),
]
