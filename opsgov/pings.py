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

    pings.receivers.register(
        PingReceiver(key="heartbeats", handle=handle_ping, model=Heartbeat, handle_owned=handle_owned_ping)
    )

One uuid lookup: the receivers that name the ``model`` holding their uuids (in
``uuid_field``, unique) are asked together, in one query (a UNION ALL of one
indexed lookup per model), and only the owner's ``handle_owned(ping, pk)`` runs,
with the primary key of its row: no receiver queries to learn that a uuid is not
its own. Receivers without a model are then asked in registration order:
``handle(ping)`` returns None when the uuid is not its own (the next receiver is
asked), else a :class:`PingResult`. A receiver that
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
from typing import Any, Literal
from uuid import UUID

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import IntegerField, Model, Value
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
    #: Asked with a ping whose owner is not known: None when the uuid is not the receiver's.
    handle: Callable[[Ping], PingResult | None]
    description: str = ""
    #: The model whose ``uuid_field`` (unique) holds the receiver's uuids: core finds the owner of a uuid
    #: in one query across every such receiver and calls its ``handle_owned(ping, pk)``.
    model: type[Model] | None = None
    uuid_field: str = "uuid"
    #: Called with the ping and the primary key of the row that owns its uuid (None: gone meanwhile, 404).
    handle_owned: Callable[[Ping, Any], PingResult | None] | None = None

    @property
    def indexed(self) -> bool:
        return self.model is not None and self.handle_owned is not None


@dataclass
class PingReceiverRegistry:
    """The receivers, asked in registration order; a key registers once."""

    _receivers: dict[str, PingReceiver] = field(default_factory=dict)
    #: The compiled owner lookup: (the indexed receivers' keys, SQL, parameters with the uuid's place).
    _lookup: tuple[tuple[str, ...], str, list[Any]] | None = field(default=None, repr=False)

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

    def owner_of(self, uuid: UUID) -> tuple[PingReceiver, Any] | None:
        """The indexed receiver whose model holds `uuid`, and the row's primary key: one query for all.

        The query (a UNION ALL of each model's lookup through its default manager) is compiled once per
        set of receivers and run with the uuid bound, so a ping costs no ORM query building."""
        indexed = [receiver for receiver in self.all() if receiver.indexed]
        if not indexed:
            return None
        key = tuple(receiver.key for receiver in indexed)
        if self._lookup is None or self._lookup[0] != key:
            self._lookup = (key, *self._compile(indexed))
        _, sql, template = self._lookup
        prepared = _uuid_field(indexed[0]).get_db_prep_value(uuid, connection)
        params = [prepared if param is _PLACEHOLDER else param for param in template]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchone()
        if found is None:
            return None
        index, pk = found
        return indexed[index], pk

    @staticmethod
    def _compile(indexed: list[PingReceiver]) -> tuple[str, list[Any]]:
        lookups = [
            receiver.model._default_manager.filter(**{receiver.uuid_field: _PLACEHOLDER_UUID})  # type: ignore[union-attr]
            .annotate(_ping_receiver=Value(index, output_field=IntegerField()))
            .values_list("_ping_receiver", "pk")
            .order_by()  # a model's default ordering is not allowed in a compound statement (SQLite)
            for index, receiver in enumerate(indexed)
        ]
        combined = lookups[0] if len(lookups) == 1 else lookups[0].union(*lookups[1:], all=True)
        sql, params = combined[:1].query.sql_with_params()
        placeholder = _uuid_field(indexed[0]).get_db_prep_value(_PLACEHOLDER_UUID, connection)
        template = [_PLACEHOLDER if param == placeholder else param for param in params]
        return sql, template

    def dispatch(self, ping: Ping) -> PingResult | None:
        """The answer of the receiver that owns `ping.uuid`; None when none does."""
        owner = self.owner_of(ping.uuid)
        if owner is not None:
            receiver, pk = owner
            assert receiver.handle_owned is not None
            return receiver.handle_owned(ping, pk)
        for receiver in self.all():
            if receiver.indexed:
                continue
            result = receiver.handle(ping)
            if result is not None:
                return result
        return None


def _uuid_field(receiver: PingReceiver) -> Any:
    return receiver.model._meta.get_field(receiver.uuid_field)  # type: ignore[union-attr]


#: A uuid no job has, put in the compiled lookup where the ping's uuid goes.
_PLACEHOLDER_UUID = UUID("00000000-0000-4000-8000-00000000c0de")
_PLACEHOLDER = object()

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
