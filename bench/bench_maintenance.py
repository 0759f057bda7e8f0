"""Bench-only URLconf of bench/maintenance_bench.py: the patch-report FLOOR beside the settings under test's URLconf.

``POST /bench/maintenance/floor/`` does only what any patch-report endpoint must do for a repeated report: read
the body, find the host by its token's hash (the ORM), one UPDATE of its ``last_report_at`` (committed without
waiting for the WAL flush, as the endpoint's repeats are: maintenance.services), a small JSON answer. No parsing
of the report, no hash of it, no DRF, as a hand-written view would. Its rate against
``GET /healthz`` on the same server tells what ratio is reachable at all. Served under the whole MIDDLEWARE of
the settings under test (bench_settings with BENCH_URLCONF=bench_maintenance). Not a template for production code.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from maintenance.models import Host, hash_token

_UPDATE = (
    "UPDATE maintenance_host SET last_report_at = %s"
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit WHERE id = %s"
)


@csrf_exempt
@require_POST
@login_not_required
def floor(request: HttpRequest) -> JsonResponse:
    body = request.body  # read whole, as the endpoint must
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    host = Host.objects.only("id", "name").filter(token_hash=hash_token(token.strip())).first()
    if host is None:
        return JsonResponse({"detail": "Unknown host token."}, status=401)
    received_at = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE, [received_at, host.pk])
    return JsonResponse({"host": host.name, "received_at": received_at, "bytes": len(body)}, status=202)


BASE_URLCONF = getattr(settings, "BENCH_BASE_URLCONF", "opsgov.urls")

urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/maintenance/floor/", floor),
    path("", include(BASE_URLCONF)),
]
