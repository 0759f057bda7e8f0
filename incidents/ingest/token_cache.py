"""Tokens recently seen to belong to an enabled integration, per process: the ingestion token check before the body.

The endpoints check a request's token before they read its body
(incidents.ingest.handling), so a sender without a valid token never gets to
upload one. That check must not undo the hot path's single statement (the
insert that finds the integration by token hash, bench/ingest_bench.py):
a token found to belong to an enabled integration is remembered here for
TTL_SECONDS, and a request with it reads its body at once.

The cache only ever says yes, never no, and the insert stays the authority: it
still finds the integration by token hash, enabled and of the endpoint's kind,
so an integration disabled a moment ago is refused by the insert (403, with
the reason) even while its token is remembered. What this cache can get wrong
is therefore only when the refusal comes (after the body instead of before it),
for at most TTL_SECONDS after a change made in another process; a change saved
in this process forgets every token at once (post_save, post_delete).
An unknown or refused token is never remembered: each costs its lookup (the
bad-token limits per address keep those few).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db.models.signals import post_delete, post_save

from incidents.models import hash_token

#: How long a token stays remembered (seconds).
TTL_SECONDS = 10.0
#: Tokens remembered at most, per process (the oldest go first).
MAX_ENTRIES = 4096

# token hash -> (kind, monotonic time it expires). Keyed by hash: the process keeps no token itself.
_entries: dict[str, tuple[str, float]] = {}
_lock = threading.Lock()


def admits(token: str, kinds: tuple[str, ...]) -> bool:
    """True if `token` was recently found to be an enabled integration's, of one of `kinds`."""
    entry = _entries.get(hash_token(token))
    return entry is not None and entry[0] in kinds and entry[1] > time.monotonic()


def remember(token: str, kind: str) -> None:
    """Remember that `token` belongs to an enabled integration of `kind` (just looked up)."""
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            now = time.monotonic()
            for key in [key for key, (_, expires) in _entries.items() if expires <= now] or list(_entries)[:1]:
                del _entries[key]
        _entries[hash_token(token)] = (kind, time.monotonic() + TTL_SECONDS)


def forget_all(**kwargs: Any) -> None:
    """Forget every token (an integration was saved or deleted in this process)."""
    with _lock:
        _entries.clear()


post_save.connect(forget_all, sender="incidents.Integration", dispatch_uid="incidents.ingest.token_cache.save")
post_delete.connect(forget_all, sender="incidents.Integration", dispatch_uid="incidents.ingest.token_cache.delete")
