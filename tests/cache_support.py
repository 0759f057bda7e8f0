"""A fixture-maker for tests that must hold with both cache backends opsgov runs on: local memory and Redis."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from .conftest import missing_service

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/13"


def use_cache(settings: Any, backend: str) -> None:
    """Point the default cache at `backend` ("locmem" or "redis"), with a key prefix of its own (no flush needed)."""
    prefix = f"test-{uuid.uuid4().hex}"
    if backend == "locmem":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix}}
        return
    import redis

    url = os.environ.get("OPSGOV_TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing_service(f"Redis at {url} ({type(exc).__name__}: {exc})", "start Redis or set OPSGOV_TEST_REDIS_URL")
    finally:
        client.close()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix}
    }


def early_in_a_rate_window() -> time_machine.travel:
    """A ticking clock started 5 s into a minute (and an hour) window, for tests that count up to a rate.

    opsgov.ratelimit counts in fixed windows: a test whose requests straddle the
    end of a window would see its count start again and the last request allowed.
    """
    return time_machine.travel(datetime(2026, 12, 1, 9, 0, 5, tzinfo=UTC), tick=True)


CACHE_BACKENDS = pytest.mark.parametrize("cache_backend", ["locmem", "redis"])
