"""The ping grammar, one implementation for every app whose jobs report by pinging a URL.

healthchecks.io's grammar, so existing cron wrappers work unchanged (mounted at
``/ping/`` by opsgov.urls and opsgov.urls_ingest):

==============================  =====================================================
``/ping/<uuid>``                success (the job finished well)
``/ping/<uuid>/start``          the job started
``/ping/<uuid>/fail``           the job failed
``/ping/<uuid>/log``            a message only: no change of state
``/ping/<uuid>/<0-255>``        the job's exit status: 0 is success, anything else a failure
``?rid=<uuid>``                 a run id pairing a start with its end (any of the above)
==============================  =====================================================

A trailing slash is accepted. GET, HEAD and POST are pings; other methods get 405.
Public (no login, no CSRF): the uuid in the path is the secret, a random UUID4.
At most :data:`PING_BODY_LIMIT` bytes of a POST body are read (the rest is not
read, so Django's upload limit never trips) and handed to the receiver with a
``body_truncated`` flag; a receiver may keep less.

Answers: ``200 OK`` (text/plain), ``404`` for a uuid no receiver knows (or a
malformed path, or a ``rid`` that is not a uuid: 400), ``429`` with
``Retry-After`` when the receiver that owns the uuid rate-limits it.

Receivers
---------
An app registers a :class:`PingReceiver` (in a module opsgov discovers, or in
its AppConfig.ready)::

    pings.receivers.register(PingReceiver(key="heartbeats", handle=handle_ping))

``handle(ping)`` returns None when the uuid is not its own (the next receiver is
asked, in registration order), else a :class:`PingResult`. A receiver that
limits its pings calls :func:`admit` with its own rate once it knows the uuid is
its own, and answers ``PingResult(accepted=False, retry_after=...)`` (counting
the refusal where it likes) when the verdict says no. Receivers write in their
own transaction; the view adds none.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import ratelimit

#: The most bytes of a POST body read and handed to a receiver (100 KiB, as healthchecks.io).
PING_BODY_LIMIT = 100 * 1024

PingKind = Literal["success", "start", "fail", "log"]
_KINDS: tuple[str, ...] = ("start", "fail", "log")
_EXIT_RE = re.compile(r"^(?:0|[1-9][0-9]{0,2})$")


@dataclass(frozen=True)
class Ping:
    """One parsed ping: what the job said, with the request's facts; the instant is opsgov's."""

    uuid: UUID
    #: success, start, fail or log; an exit status is success (0) or fail (anything else).
    kind: PingKind
    received_at: datetime
    #: The exit status given in the path (``/ping/<uuid>/<status>``), else None.
    exit_status: int | None = None
    #: The run id (``?rid=``) pairing a start with its end, else None.
    rid: UUID | None = None
    method: str = "GET"
    remote_addr: str | None = None
    user_agent: str = ""
    body: bytes = b""
    body_truncated: bool = False


@dataclass(frozen=True)
class PingResult:
    """A receiver's answer for a uuid it owns: accepted, or refused for its rate (429 after `retry_after` s)."""

    accepted: bool = True
    retry_after: int = 0


@dataclass(frozen=True)
class PingReceiver:
    key: str
    handle: Callable[[Ping], PingResult | None]
    description: str = ""


@dataclass
class PingReceiverRegistry:
    """The receivers, asked in registration order; a key registers once."""

    _receivers: dict[str, PingReceiver] = field(default_factory=dict)

    def register(self, receiver: PingReceiver) -> PingReceiver:
        existing = self._receivers.get(receiver.key)
        if existing is not None and existing != receiver:
            raise ValueError(f"ping receiver {receiver.key!r} is registered twice")
        self._receivers[receiver.key] = receiver
        return receiver

    def unregister(self, key: str) -> None:
        self._receivers.pop(key, None)

    def all(self) -> list[PingReceiver]:
        return list(self._receivers.values())

    def dispatch(self, ping: Ping) -> PingResult | None:
        """The first answer of a receiver that owns `ping.uuid`; None when none does."""
        for receiver in self.all():
            result = receiver.handle(ping)
            if result is not None:
                return result
        return None


receivers = PingReceiverRegistry()


def admit(receiver_key: str, uuid: UUID, rate: ratelimit.Rate) -> ratelimit.Verdict:
    """Count one ping of `uuid` against `rate`, in the receiver's own scope (fails open like opsgov.ratelimit)."""
    return ratelimit.hit(f"ping:{receiver_key}", str(uuid), rate)


class PingSyntaxError(ValueError):
    pass


def parse_action(action: str) -> tuple[PingKind, int | None]:
    """The kind and exit status of the path's last part ("", start, fail, log or 0-255); PingSyntaxError else."""
    action = action.strip("/")
    if action == "":
        return "success", None
    if action in _KINDS:
        return action, None  # type: ignore[return-value]
    if _EXIT_RE.match(action) and int(action) <= 255:
        status = int(action)
        return ("success" if status == 0 else "fail"), status
    raise PingSyntaxError(f"{action!r} is not start, fail, log or an exit status 0-255")


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
def ping_view(request: HttpRequest, uuid: UUID, action: str = "") -> HttpResponse:
    try:
        kind, exit_status = parse_action(action)
    except PingSyntaxError:
        return HttpResponseNotFound("not found", content_type="text/plain")
    rid: UUID | None = None
    if raw_rid := request.GET.get("rid"):
        try:
            rid = UUID(raw_rid)
        except ValueError:
            return HttpResponseBadRequest("rid must be a uuid", content_type="text/plain")
    body = request.read(PING_BODY_LIMIT + 1) if request.method == "POST" else b""
    ping = Ping(
        uuid=uuid,
        kind=kind,
        received_at=timezone.now(),
        exit_status=exit_status,
        rid=rid,
        method=request.method or "GET",
        remote_addr=_remote_addr(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        body=body[:PING_BODY_LIMIT],
        body_truncated=len(body) > PING_BODY_LIMIT,
    )
    result = receivers.dispatch(ping)
    if result is None:
        return HttpResponseNotFound("not found", content_type="text/plain")
    if not result.accepted:
        response = HttpResponse("rate limited", status=429, content_type="text/plain")
        response["Retry-After"] = str(max(1, result.retry_after))
        return response
    return HttpResponse("OK", content_type="text/plain")
