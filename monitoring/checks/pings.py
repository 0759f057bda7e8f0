"""Heartbeats as a receiver of opsgov's ping grammar (opsgov.pings serves /ping/<uuid>[/start|/fail|/log|/<status>]).

A ping whose uuid is a heartbeat's is applied to it (services.heartbeat_ping):
success and exit status 0 are success, /fail and any other exit status a failure,
/start notes the start. /log is acknowledged and changes nothing (heartbeats keep
no log-only entries). Heartbeats are not rate-limited: a job pinging in a loop
gets "OK" every time, never a 429. At most services.PING_BODY_LIMIT bytes of the
body are stored.
"""

from __future__ import annotations

from opsgov.pings import Ping, PingReceiver, PingResult, receivers

from ..models import Heartbeat, PingKind
from . import services


def handle_ping(ping: Ping) -> PingResult | None:
    if ping.kind == "log":
        return PingResult() if Heartbeat.objects.filter(uuid=ping.uuid).exists() else None
    request = services.PingRequest(
        kind=PingKind.START if ping.kind == "start" else PingKind.FAIL if ping.kind == "fail" else PingKind.SUCCESS,
        method=ping.method,
        remote_addr=ping.remote_addr,
        user_agent=ping.user_agent,
        body=ping.body[: services.PING_BODY_LIMIT],
        body_truncated=ping.body_truncated or len(ping.body) > services.PING_BODY_LIMIT,
    )
    if services.heartbeat_ping(uuid=ping.uuid, ping=request, now=ping.received_at) is None:
        return None
    return PingResult()


def handle_owned_ping(ping: Ping, pk: int) -> PingResult | None:
    """The heartbeat with primary key `pk` owns the ping's uuid (opsgov.pings found it in its one lookup)."""
    return handle_ping(ping)


receiver = receivers.register(
    PingReceiver(
        key="heartbeats",
        handle=handle_ping,
        description="monitoring heartbeats",
        model=Heartbeat,
        handle_owned=handle_owned_ping,
    )
)
