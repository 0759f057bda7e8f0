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
its own. The answer is kept in the Django cache (uuid -> receiver and primary
key, for :data:`OWNER_CACHE_TIMEOUT`), so the next pings of that uuid cost one
cache read instead of the query. With the read, core counts the uuid's pings of
the current minute (``Ping.counted``): on Redis the read and the count are one
round trip (GET, INCR and EXPIRE NX in a pipeline on core's own client; the
owner is then kept there as JSON text). Core forgets it when the row is deleted or is
saved with another uuid (``post_delete`` / ``post_save`` of the receiver's model,
at once and again when the transaction commits), so a deleted job's uuid answers
404 at once. A row removed behind the ORM's back (raw SQL; another process on the
embedded local-memory cache) reaches ``handle_owned`` with a primary key that is
gone: the receiver answers None (404) and may call :func:`forget`. A uuid changed
behind its back (``QuerySet.update``, raw SQL) keeps answering for its old row
until the timeout or :func:`forget`; no code of opsgov changes a uuid so. Unknown
uuids are not cached (each costs the query). A cache that is down is skipped.

Receivers without a model are then asked in registration order: ``handle(ping)``
returns None when the uuid is not its own (the next receiver is asked), else a
:class:`PingResult`. A receiver that limits its pings calls :func:`admit` with its
own rate and ``counted=ping.counted`` once it knows the uuid is its own (no
further round trip for a per-minute rate; else, on Redis, one: INCR and EXPIRE
in one pipeline), and answers ``PingResult(accepted=False,
retry_after=...)`` (counting the refusal where it likes) when the verdict says
no. Receivers write in their
own transaction; the view adds none.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, Literal
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import connection, transaction
from django.db.models import IntegerField, Model, Value
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import ratelimit

logger = logging.getLogger(__name__)

#: The most bytes of a POST body read and handed to a receiver (100 KiB, as healthchecks.io).
PING_BODY_LIMIT = 100 * 1024

#: Seconds core remembers which receiver owns a uuid: two days, so that a daily job's next start still finds
#: it (forgotten sooner when the row is deleted or changes uuid; the timeout only bounds what nothing told).
OWNER_CACHE_TIMEOUT = 2 * 86400

#: Seconds of the fixed window in which core counts each uuid's pings (see Ping.counted and admit).
COUNT_WINDOW = 60

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
    #: The pings of this uuid in core's current minute, this one included, counted by core as it read the
    #: uuid's owner (on Redis, in the same round trip); None when not counted. Hand it to :func:`admit`.
    counted: Counted | None = None


@dataclass(frozen=True)
class Counted:
    """Core's count of a uuid's pings in the fixed window of :data:`COUNT_WINDOW` seconds starting at `start`."""

    count: int
    start: int


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
        if receiver.indexed and existing is None:
            # Forget a cached owner when its row goes or takes another uuid (see the module docstring).
            uid = f"opsgov.pings:{id(self)}:{receiver.key}"
            post_delete.connect(partial(self._row_deleted, receiver.key), receiver.model, weak=False, dispatch_uid=uid)
            post_save.connect(partial(self._row_saved, receiver.key), receiver.model, weak=False, dispatch_uid=uid)
        return receiver

    def unregister(self, key: str) -> None:
        receiver = self._receivers.pop(key, None)
        if receiver is not None and receiver.indexed:
            uid = f"opsgov.pings:{id(self)}:{receiver.key}"
            post_delete.disconnect(sender=receiver.model, dispatch_uid=uid)
            post_save.disconnect(sender=receiver.model, dispatch_uid=uid)

    def all(self) -> list[PingReceiver]:
        return list(self._receivers.values())

    def owner_of(self, uuid: UUID) -> tuple[PingReceiver, Any] | None:
        """The indexed receiver whose model holds `uuid`, and the row's primary key: from the cache, else
        one query for all receivers (whose answer the cache then keeps)."""
        return self._owner(uuid, count_at=None)[0]

    def _owner(self, uuid: UUID, *, count_at: float | None) -> tuple[tuple[PingReceiver, Any] | None, Counted | None]:
        """owner_of(uuid), and core's count of the uuid's pings at the instant `count_at` (None: not counted)
        when the cache is Redis: the owner's read and the count in one round trip."""
        cached, counted = _read_owner(uuid, count_at)
        if cached is not None:
            key, pk = cached
            receiver = self._receivers.get(key)
            if receiver is not None and receiver.indexed:
                return (receiver, receiver.model._meta.pk.to_python(pk)), counted  # type: ignore[union-attr]
        found = self._lookup_owner(uuid)
        if found is not None:
            receiver, pk = found
            _write_owner(uuid, receiver.key, pk)
        return found, counted

    def _lookup_owner(self, uuid: UUID) -> tuple[PingReceiver, Any] | None:
        """The owner of `uuid` in the database: one query for every indexed receiver.

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

    def _row_deleted(self, key: str, sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
        receiver = self._receivers.get(key)
        if receiver is None:
            return
        uuid = getattr(instance, receiver.uuid_field)
        if uuid is None:
            return
        forget(uuid, receiver_key=key, pk=instance.pk)
        # Again once the deletion commits: a ping meanwhile still saw the row and may have cached it.
        transaction.on_commit(partial(forget, uuid, receiver_key=key, pk=instance.pk), using=using)

    def _row_saved(
        self,
        key: str,
        sender: type[Model],
        instance: Model,
        created: bool,
        update_fields: frozenset[str] | None,
        using: str,
        **kwargs: Any,
    ) -> None:
        receiver = self._receivers.get(key)
        if receiver is None or created or (update_fields is not None and receiver.uuid_field not in update_fields):
            return
        renamed = partial(_forget_if_renamed, key, instance.pk, getattr(instance, receiver.uuid_field))
        renamed()
        transaction.on_commit(renamed, using=using)

    def dispatch(self, ping: Ping) -> PingResult | None:
        """The answer of the receiver that owns `ping.uuid`; None when none does.

        The ping reaches the receiver with core's count of its uuid's pings (``Ping.counted``), made with the
        owner's read (on Redis, one round trip for both), for :func:`admit`."""
        owner, counted = self._owner(ping.uuid, count_at=time.time())
        if counted is not None:
            ping = replace(ping, counted=counted)
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


# --- the owner cache ---------------------------------------------------------------------------------


def _owner_key(uuid: UUID) -> str:
    return f"pings:owner:{uuid.hex}"


def _owned_key(receiver_key: str, pk: Any) -> str:
    return f"pings:owned:{receiver_key}:{pk}"


def _count_key(uuid: UUID, start: int) -> str:
    """Core's count of a uuid's pings: opsgov.ratelimit's key of scope "ping" (``ratelimit.peek`` reads it)."""
    return f"ratelimit:ping:{uuid}:{start}"


def _read_owner(uuid: UUID, count_at: float | None) -> tuple[tuple[str, Any] | None, Counted | None]:
    """The cached (receiver key, primary key) of `uuid` and, when `count_at` is given and the cache is Redis,
    the uuid's pings counted in the window of `count_at` (this one included): GET, INCR and EXPIRE NX in
    one pipeline. On another cache, the owner through Django's cache API and no count. (None, None) when the
    cache is down: the database answers and the receiver counts (failing open)."""
    client = _redis_client()
    if client is None:
        return _cache_call(cache.get, _owner_key(uuid)), None
    start = int(count_at // COUNT_WINDOW) * COUNT_WINDOW if count_at is not None else 0
    try:
        pipeline = client.pipeline(transaction=False)
        pipeline.get(cache.make_key(_owner_key(uuid)))
        if count_at is not None:
            count_key = cache.make_key(_count_key(uuid, start))
            pipeline.incr(count_key)
            pipeline.expire(count_key, COUNT_WINDOW + 1, nx=True)
        answers = pipeline.execute()
    except Exception:
        logger.warning("ping owner cache unavailable; the database answers", exc_info=True)
        return None, None
    counted = Counted(count=int(answers[1]), start=start) if count_at is not None else None
    if answers[0] is None:
        return None, counted
    try:
        key, pk = json.loads(answers[0])
    except ValueError:  # not written by _write_owner (an older format): a miss, overwritten by the lookup
        return None, counted
    return (key, pk), counted


def _write_owner(uuid: UUID, receiver_key: str, pk: Any) -> None:
    """Keep uuid -> (receiver, primary key) and (receiver, primary key) -> uuid for OWNER_CACHE_TIMEOUT.

    On Redis as JSON text through core's own client (so that the owner's read can share a pipeline with the
    count), else through Django's cache API."""
    client = _redis_client()
    if client is None:
        _cache_call(
            cache.set_many,
            {_owner_key(uuid): (receiver_key, pk), _owned_key(receiver_key, pk): uuid},
            OWNER_CACHE_TIMEOUT,
        )
        return
    try:
        pipeline = client.pipeline(transaction=False)
        owner = json.dumps([receiver_key, pk], default=str)
        pipeline.set(cache.make_key(_owner_key(uuid)), owner, ex=OWNER_CACHE_TIMEOUT)
        pipeline.set(cache.make_key(_owned_key(receiver_key, pk)), uuid.hex, ex=OWNER_CACHE_TIMEOUT)
        pipeline.execute()
    except Exception:
        logger.warning("ping owner cache unavailable; the database answers", exc_info=True)


def _read_owned(receiver_key: str, pk: Any) -> UUID | None:
    """The uuid the row `pk` had when its owner was cached (see _write_owner), else None."""
    client = _redis_client()
    if client is None:
        owned: UUID | None = _cache_call(cache.get, _owned_key(receiver_key, pk))
        return owned
    try:
        raw = client.get(cache.make_key(_owned_key(receiver_key, pk)))
    except Exception:
        logger.warning("ping owner cache unavailable; the database answers", exc_info=True)
        return None
    try:
        return None if raw is None else UUID(raw.decode())
    except ValueError:
        return None


def _cache_call(method: Callable[..., Any], *args: Any) -> Any:
    """`method(*args)` on the cache; None (and a warning) when the cache is down: a ping then asks the database."""
    try:
        return method(*args)
    except Exception:
        logger.warning("ping owner cache unavailable; the database answers", exc_info=True)
        return None


def forget(uuid: UUID, *, receiver_key: str | None = None, pk: Any = None) -> None:
    """Drop the cached owner of `uuid` (and the receiver's note of the row's uuid, when named)."""
    keys = [_owner_key(uuid)]
    if receiver_key is not None and pk is not None:
        keys.append(_owned_key(receiver_key, pk))
    _cache_call(cache.delete_many, keys)


def _forget_if_renamed(receiver_key: str, pk: Any, uuid: UUID | None) -> None:
    """The row `pk` was saved with `uuid`: forget the owner of the uuid it had when it was cached, if another."""
    cached = _read_owned(receiver_key, pk)
    if cached is not None and cached != uuid:
        forget(cached, receiver_key=receiver_key, pk=pk)


# --- the per-receiver rate ---------------------------------------------------------------------------

_REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"
_redis_clients: dict[str, Any] = {}


def _redis_client() -> Any:
    """A redis-py client on the default cache's (first) Redis server, or None when the cache is not Redis.

    Django's cache API counts in three round trips (``add``, then ``incr``: EXISTS and INCR); a ping counts
    in one, INCR and EXPIRE in a pipeline, on a client of its own built from the public CACHES setting."""
    config = settings.CACHES["default"]
    if config.get("BACKEND") != _REDIS_CACHE:
        return None
    location = config.get("LOCATION")
    if isinstance(location, str):
        location = [part.strip() for part in location.replace(";", ",").split(",") if part.strip()]
    url = location[0]  # Django's RedisCache writes to the first server
    client = _redis_clients.get(url)
    if client is None:
        import redis

        options = config.get("OPTIONS", {})
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=options.get("socket_connect_timeout", 1),
            socket_timeout=options.get("socket_timeout", 1),
        )
        _redis_clients[url] = client
    return client


def _caches_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        for client in _redis_clients.values():
            client.close()
        _redis_clients.clear()


setting_changed.connect(_caches_changed)


def admit(
    receiver_key: str,
    uuid: UUID,
    rate: ratelimit.Rate,
    *,
    now: float | None = None,
    counted: Counted | None = None,
) -> ratelimit.Verdict:
    """Count one ping of `uuid` against `rate`, in the receiver's own scope; fails open like opsgov.ratelimit.

    With `counted` (``Ping.counted``: core counted the ping as it read the owner) and a rate over
    :data:`COUNT_WINDOW` seconds, the verdict is that count's, with no cache call: the uuid's pings in
    core's scope ("ping", ``ratelimit.peek("ping", str(uuid), rate)`` reads it), the same number as in the
    receiver's own since a uuid has one owner. Else the same fixed window as :func:`opsgov.ratelimit.hit`,
    under its key in the scope ``ping:<receiver_key>`` (so ``ratelimit.peek`` reads it); on Redis, one
    round trip (INCR, then EXPIRE NX: the first ping of a window sets its expiry), else ``ratelimit.hit``
    through Django's cache API."""
    if counted is not None and rate.seconds == COUNT_WINDOW:
        now = time.time() if now is None else now
        retry_after = max(1, math.ceil(counted.start + rate.seconds - now))
        return ratelimit.Verdict(allowed=counted.count <= rate.count, count=counted.count, retry_after=retry_after)
    client = _redis_client()
    if client is None:
        return ratelimit.hit(f"ping:{receiver_key}", str(uuid), rate, now=now)
    now = time.time() if now is None else now
    start = int(now // rate.seconds) * rate.seconds
    retry_after = max(1, math.ceil(start + rate.seconds - now))
    key = cache.make_key(f"ratelimit:ping:{receiver_key}:{uuid}:{start}")
    try:
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(key)
        pipeline.expire(key, rate.seconds + 1, nx=True)
        count, _ = pipeline.execute()
    except Exception:  # Redis is down: fail open (opsgov.ratelimit's module docstring)
        logger.warning("rate limit ping:%s not checked: the cache is unavailable", receiver_key, exc_info=True)
        return ratelimit.Verdict(allowed=True, count=0, retry_after=retry_after)
    return ratelimit.Verdict(allowed=count <= rate.count, count=count, retry_after=retry_after)


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
