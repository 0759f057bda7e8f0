"""Helpers for the escalation and notification tests: an on-call world, a live webhook receiver.

The schedules here have an unambiguous answer (one weekly layer, one member),
so these tests do not depend on the finer points of incidents.oncall.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.contrib.auth.models import User

from incidents import services
from incidents.models import (
    ChannelKind,
    EscalationLevel,
    EscalationPolicy,
    Incident,
    LayerMember,
    NotificationChannel,
    Schedule,
    ScheduleLayer,
    ServiceEscalation,
)
from opsgov.models import Service

from ..factories import ServiceFactory, TeamFactory, UserFactory

#: A Wednesday, 10:00 UTC (the default business calendar: UTC, Monday-Friday 09:00-17:00).
T0 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
#: A Friday, 16:00 UTC: one business hour before the weekend.
FRIDAY_1600 = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)

WEBHOOK_SECRET = "s3cret-signing-key"


@dataclass
class World:
    """A service with a two-level escalation policy.

    Level 1 (at once): the on-call person of a one-member weekly schedule (alice).
    Level 2 (after `level2_delay` minutes): bob, by name.
    """

    service: Service
    policy: EscalationPolicy
    schedule: Schedule
    alice: User
    bob: User
    levels: list[EscalationLevel] = field(default_factory=list)

    def incident(self, *, severity: str = "SEV-2", at: datetime = T0, title: str = "Checkout errors") -> Incident:
        return services.incident_create(title=title, service=self.service, severity=severity, triggered_at=at)


def one_member_schedule(slug: str, user: User, *, since: datetime = T0 - timedelta(days=30)) -> Schedule:
    schedule = Schedule.objects.create(slug=slug, name=slug.replace("-", " ").title(), time_zone="UTC")
    layer = ScheduleLayer.objects.create(schedule=schedule, name="Primary", rotation_start=since)
    LayerMember.objects.create(layer=layer, user=user, position=0)
    return schedule


def make_world(*, level2_delay: int = 15, slug: str = "checkout") -> World:
    team = TeamFactory.create(slug=f"{slug}-team", name=f"{slug.title()} team")
    service = ServiceFactory.create(slug=slug, name=slug.title(), owner_team=team)
    alice = UserFactory.create(username=f"alice-{slug}", first_name="Alice", last_name="Adams")
    bob = UserFactory.create(username=f"bob-{slug}", first_name="Bob", last_name="Brown")
    schedule = one_member_schedule(f"{slug}-primary", alice)
    policy = EscalationPolicy.objects.create(slug=f"{slug}-policy", name=f"{slug.title()} policy")
    ServiceEscalation.objects.create(service=service, policy=policy)
    level1 = EscalationLevel.objects.create(policy=policy, position=1, delay_minutes=0, schedule=schedule)
    level2 = EscalationLevel.objects.create(policy=policy, position=2, delay_minutes=level2_delay)
    level2.users.set([bob])
    return World(service=service, policy=policy, schedule=schedule, alice=alice, bob=bob, levels=[level1, level2])


def webhook_channel(
    *, url: str, team: Any = None, user: Any = None, secret: str = WEBHOOK_SECRET
) -> NotificationChannel:
    return NotificationChannel.objects.create(kind=ChannelKind.WEBHOOK, url=url, secret=secret, team=team, user=user)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A live HTTP server on loopback that records POSTs and answers with `status`."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    status: int = 200

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/opsgov"


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[Receiver]:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.requests.append(Received(path=self.path, headers=dict(self.headers.items()), body=body))
            self.send_response(receiver.status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if receiver.status < 300 else b"receiver broke")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server=server, status=status)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
