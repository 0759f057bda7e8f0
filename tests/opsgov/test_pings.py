"""Core's ping lookup (opsgov.pings): the cached owner of a uuid, forgotten when its row goes, and the
per-receiver rate counted in one Redis round trip, on both cache backends, failing open without a cache."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsgov import pings, ratelimit
from tests.monitoring.check_support import make_heartbeat

from ..cache_support import CACHE_BACKENDS, use_cache

pytestmark = pytest.mark.django_db

RATE = ratelimit.Rate(3, 60)
#: 10 s into a minute window (1_800_000_000 is a multiple of 60: a window starts there).
IN_WINDOW = 1_800_000_000.0 + 10


@CACHE_BACKENDS
def test_admit_counts_a_uuid_up_to_its_rate_in_the_receivers_scope(settings: Any, cache_backend: str) -> None:
    use_cache(settings, cache_backend)
    job, other = uuid.uuid4(), uuid.uuid4()
    verdicts = [pings.admit("bench", job, RATE, now=IN_WINDOW + i) for i in range(4)]
    assert [(v.allowed, v.count) for v in verdicts] == [(True, 1), (True, 2), (True, 3), (False, 4)]
    # The window ends 50 s after IN_WINDOW.
    assert [v.retry_after for v in verdicts] == [50, 49, 48, 47]
    # The same count opsgov.ratelimit reads; another uuid and another receiver count on their own.
    assert ratelimit.peek("ping:bench", str(job), RATE, now=IN_WINDOW).count == 4
    assert pings.admit("bench", other, RATE, now=IN_WINDOW).count == 1
    assert pings.admit("elsewhere", job, RATE, now=IN_WINDOW).count == 1
    # The next window starts again.
    assert pings.admit("bench", job, RATE, now=IN_WINDOW + 50).count == 1


def test_on_redis_the_count_expires_with_its_window(settings: Any) -> None:
    use_cache(settings, "redis")
    import redis
    from django.core.cache import cache

    job = uuid.uuid4()
    key = f"ratelimit:ping:bench:{job}:{int(IN_WINDOW) - 10}"
    pings.admit("bench", job, RATE, now=IN_WINDOW)
    pings.admit("bench", job, RATE, now=IN_WINDOW + 1)
    # Counted in the cache key opsgov.ratelimit uses, with an expiry (not a key that lives for ever).
    assert cache.get(key) == 2
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        assert 0 < client.ttl(cache.make_key(key)) <= RATE.seconds + 1
    finally:
        client.close()


def test_without_a_reachable_cache_a_ping_is_admitted_and_its_owner_comes_from_the_database(
    settings: Any,
) -> None:
    heartbeat = make_heartbeat()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # discard: nothing listens
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    assert pings.admit("bench", uuid.uuid4(), RATE).allowed
    owner = pings.receivers.owner_of(heartbeat.uuid)
    assert owner is not None and (owner[0].key, owner[1]) == ("heartbeats", heartbeat.pk)
    assert Client().get(f"/ping/{heartbeat.uuid}").status_code == 200
    heartbeat.refresh_from_db()
    assert heartbeat.n_pings == 1


def assert_looked_up_once_then_cached(heartbeat: Any) -> None:
    """The heartbeat's uuid is found by one query (every receiver at once), then read from the cache."""
    with CaptureQueriesContext(connection) as first:
        owner = pings.receivers.owner_of(heartbeat.uuid)
    assert owner is not None and (owner[0].key, owner[1]) == ("heartbeats", heartbeat.pk)
    assert len(first) == 1 and "UNION ALL" in first[0]["sql"]
    with CaptureQueriesContext(connection) as second:
        assert pings.receivers.owner_of(heartbeat.uuid) == owner
    assert len(second) == 0


@CACHE_BACKENDS
def test_the_owner_of_a_uuid_is_looked_up_once_then_read_from_the_cache(settings: Any, cache_backend: str) -> None:
    use_cache(settings, cache_backend)
    heartbeat = make_heartbeat()
    assert_looked_up_once_then_cached(heartbeat)
    # An unknown uuid is not cached: each lookup asks the database.
    unknown = uuid.uuid4()
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert pings.receivers.owner_of(unknown) is None
        assert len(queries) == 1


@CACHE_BACKENDS
def test_a_deleted_heartbeats_uuid_answers_404_at_once(settings: Any, cache_backend: str) -> None:
    use_cache(settings, cache_backend)
    heartbeat = make_heartbeat()
    client = Client()
    assert client.get(f"/ping/{heartbeat.uuid}").status_code == 200  # its owner is cached
    assert pings.receivers.owner_of(heartbeat.uuid) is not None
    heartbeat.delete()
    assert pings.receivers.owner_of(heartbeat.uuid) is None
    assert client.get(f"/ping/{heartbeat.uuid}").status_code == 404


def test_a_registry_stops_watching_a_receivers_rows_when_it_is_unregistered() -> None:
    from monitoring.models import Heartbeat

    registry = pings.PingReceiverRegistry()
    seen: list[Any] = []
    receiver = pings.PingReceiver(
        "beats", handle=lambda ping: None, model=Heartbeat, handle_owned=lambda ping, pk: seen.append(pk)
    )
    registry.register(receiver)
    heartbeat = make_heartbeat()
    assert registry.owner_of(heartbeat.uuid) == (receiver, heartbeat.pk)
    registry.unregister("beats")
    assert registry.owner_of(heartbeat.uuid) is None  # a cached owner of an unknown receiver is not used
    assert registry.dispatch(pings.Ping(uuid=heartbeat.uuid, kind="success", received_at=timezone.now())) is None
    assert seen == []


def test_on_redis_an_owner_cached_in_another_format_is_a_miss_and_is_rewritten(settings: Any) -> None:
    """Core keeps owners on Redis as JSON text (its pipeline reads them raw): an entry written through Django's
    cache API (pickled, as before) is looked up again and replaced, never misread."""
    from django.core.cache import cache

    use_cache(settings, "redis")
    heartbeat = make_heartbeat()
    cache.set(pings._owner_key(heartbeat.uuid), ("heartbeats", heartbeat.pk))
    assert_looked_up_once_then_cached(heartbeat)


@CACHE_BACKENDS
def test_a_dispatched_ping_carries_cores_count_on_redis_and_admit_takes_it(settings: Any, cache_backend: str) -> None:
    use_cache(settings, cache_backend)
    heartbeat = make_heartbeat()
    seen: list[pings.Ping] = []

    def handle_owned(ping: pings.Ping, pk: Any) -> pings.PingResult:
        seen.append(ping)
        return pings.PingResult()

    registry = pings.PingReceiverRegistry()
    registry.register(
        pings.PingReceiver("beats2", handle=lambda ping: None, model=type(heartbeat), handle_owned=handle_owned)
    )
    try:
        for _ in range(2):
            registry.dispatch(pings.Ping(uuid=heartbeat.uuid, kind="success", received_at=timezone.now()))
    finally:
        registry.unregister("beats2")
    counts = [ping.counted.count if ping.counted else None for ping in seen]
    assert counts == ([1, 2] if cache_backend == "redis" else [None, None])
    if cache_backend == "redis":
        counted = seen[1].counted
        assert counted is not None
        verdict = pings.admit("beats2", heartbeat.uuid, ratelimit.Rate(1, 60), counted=counted)
        assert (verdict.allowed, verdict.count) == (False, 2)
        # A rate over another window is counted by the receiver itself, in its own scope.
        assert pings.admit("beats2", heartbeat.uuid, ratelimit.Rate(1, 3600), counted=counted).count == 1
