"""The heartbeat ping endpoints: /ping/<uuid>, /ping/<uuid>/start, /ping/<uuid>/fail.

Public (no login, no CSRF): the uuid in the path is the secret, a random UUID4
that cannot be guessed or enumerated; an unknown one answers 404 like any
missing page. Jobs call these from cron and CI with curl or wget, so the answer
is a short "OK" and never a redirect, a login page or a 429. At most
PING_BODY_LIMIT bytes of a POST body are read and stored (e.g. a job's log
tail); the rest is not read.
"""

from __future__ import annotations

import ipaddress
from uuid import UUID

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..models import PingKind
from . import services


def _remote_addr(request: HttpRequest) -> str | None:
    address = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


@csrf_exempt
@never_cache
@login_not_required
@require_http_methods(["GET", "HEAD", "POST"])
def ping_view(request: HttpRequest, uuid: UUID, kind: str = PingKind.SUCCESS) -> HttpResponse:
    body = request.read(services.PING_BODY_LIMIT + 1) if request.method == "POST" else b""
    ping = services.PingRequest(
        kind=kind,
        method=request.method or "GET",
        remote_addr=_remote_addr(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        body=body[: services.PING_BODY_LIMIT],
        body_truncated=len(body) > services.PING_BODY_LIMIT,
    )
    if services.heartbeat_ping(uuid=uuid, ping=ping) is None:
        return HttpResponseNotFound("not found", content_type="text/plain")
    return HttpResponse("OK", content_type="text/plain")
