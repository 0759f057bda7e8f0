"""Fixed-window request counters in the cache: the one rate limiter behind the API throttles and ingestion.

A counter per (scope, identity, window) is created with `cache.add` and
counted with `cache.incr`, both atomic on Redis and on the local-memory cache,
so every worker of every process sharing the cache counts together (with the
embedded local-memory cache, each process counts on its own). One small key
per window, whatever the rate: unlike DRF's SimpleRateThrottle, which keeps a
list of every request's timestamp, a limit of thousands of requests a minute
costs two cache calls per request.

Fail open: when the cache cannot be reached (Redis restarting), requests are
allowed and a warning is logged; a limiter must not turn a cache outage into
an outage of the API or of alert ingestion.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)

_RATE_RE = re.compile(r"^\s*(?P<count>\d+)\s*/\s*(?P<period>s|sec|second|m|min|minute|h|hour|d|day)\s*$")
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` requests per `seconds`."""

    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


def parse_rate(text: str) -> Rate:
    """A rate written as DRF writes them, e.g. "600/minute", "10/s", "5000/hour"; ValueError otherwise."""
    match = _RATE_RE.match(text)
    if not match or int(match["count"]) <= 0:
        raise ValueError(f"{text!r} is not a rate; write e.g. '600/minute', '20/second' or '5000/hour' (count > 0)")
    return Rate(int(match["count"]), _PERIOD_SECONDS[match["period"][0]])


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request is within its rate, how many the window has seen, and when the window ends."""

    allowed: bool
    count: int
    #: Whole seconds until the window ends and the count starts again (at least 1).
    retry_after: int


def _window(rate: Rate, now: float) -> tuple[int, int]:
    start = int(now // rate.seconds) * rate.seconds
    return start, max(1, math.ceil(start + rate.seconds - now))


def hit(scope: str, identity: str, rate: Rate, *, now: float | None = None) -> Verdict:
    """Count one request of `identity` in `scope` and say whether it is within `rate`."""
    now = time.time() if now is None else now
    start, retry_after = _window(rate, now)
    key = f"ratelimit:{scope}:{identity}:{start}"
    try:
        cache.add(key, 0, timeout=rate.seconds + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: this request opens a new count
            cache.add(key, 1, timeout=rate.seconds + 1)
            count = 1
    except Exception:  # the cache is down: fail open (see the module docstring)
        logger.warning("rate limit %s not checked: the cache is unavailable", scope, exc_info=True)
        return Verdict(allowed=True, count=0, retry_after=retry_after)
    return Verdict(allowed=count <= rate.count, count=count, retry_after=retry_after)


def peek(scope: str, identity: str, rate: Rate, *, now: float | None = None) -> Verdict:
    """Like `hit`, without counting: whether the next request of `identity` would be within `rate`."""
    now = time.time() if now is None else now
    start, retry_after = _window(rate, now)
    try:
        count = int(cache.get(f"ratelimit:{scope}:{identity}:{start}", 0))
    except Exception:
        logger.warning("rate limit %s not checked: the cache is unavailable", scope, exc_info=True)
        return Verdict(allowed=True, count=0, retry_after=retry_after)
    return Verdict(allowed=count < rate.count, count=count, retry_after=retry_after)
