"""Which networks each personal API token is used from; a new one is a security signal.

A request authenticated by a knox token (opsgov.api.authentication.TokenAuthentication) notes the
network of its address: the /24 of an IPv4 address, the /64 of an IPv6 one (an IPv4-mapped IPv6
address counts as IPv4). The first use of a token sets its first network and signals nothing; a
later use from a network the token was not used from before publishes a ``token_new_network``
SecuritySignal (opsgov.events), which the security app turns into an alert of its queue.
Loopback addresses are left out: a request from the host itself (a local script, or every request
behind a proxy that does not set REMOTE_ADDR) says nothing about where the token travelled.

Cheap on the hot path: a (token, network) pair seen within the last day is answered from the cache
(one cache read); otherwise two queries (the token's networks; the pair inserted or refreshed).
``last_seen_at`` is therefore refreshed at most once a day per pair.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils import timezone
from knox.models import AuthToken

from ..events import SecuritySignal, publish_security_signal
from ..models import TokenNetwork

logger = logging.getLogger(__name__)

#: How long a (token, network) pair is answered from the cache.
CACHE_FOR = timedelta(days=1)


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").strip()).is_loopback
    except ValueError:
        return False


def network_of(address: str | None) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) network of `address`; None when it is not an IP address."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _cache_key(token: AuthToken, network: str) -> str:
    return f"token-network:{token.digest[:32]}:{network}"


def note_use(*, token: AuthToken, remote_addr: str | None, now: datetime | None = None) -> bool:
    """Record that `token` was used from `remote_addr`'s network; True when that network is new to a token
    already used from another one (and the signal was published)."""
    network = network_of(remote_addr)
    if network is None or is_loopback(remote_addr):
        return False
    key = _cache_key(token, network)
    if cache.get(key):
        return False
    now = now or timezone.now()
    # Two queries, no savepoint: the token's networks, then the pair inserted (ON CONFLICT DO NOTHING)
    # or its last_seen_at refreshed.
    networks = list(TokenNetwork.objects.filter(token=token).values_list("network", flat=True))
    new = False
    known: list[str] = []
    if network in networks:
        TokenNetwork.objects.filter(token=token, network=network).update(last_seen_at=now)
    else:
        TokenNetwork.objects.bulk_create(
            [TokenNetwork(token=token, network=network, first_seen_at=now, last_seen_at=now)], ignore_conflicts=True
        )
        known = sorted(networks)[:5]
        # Two requests seeing the same new pair at once: the cache lets one of them signal.
        new = bool(known) and cache.add(f"{key}:signalled", 1, int(CACHE_FOR.total_seconds()))
    cache.set(key, 1, int(CACHE_FOR.total_seconds()))
    if new:
        publish_security_signal(
            SecuritySignal(
                kind="token_new_network",
                at=now,
                username=getattr(token.user, "username", "")[:150],
                remote_addr=remote_addr or "",
                details={"network": network, "token": token.token_key, "known_networks": known},
            )
        )
    return new
