"""Demo synthetic checks for `manage.py seed_demo`: HTTP checks of opsgov itself and heartbeats of nightly jobs.

The HTTP checks request URLs that answer without any network: opsgov's own
/healthz, /readyz and sign-in page at OPSGOV_BASE_URL (the `make run` server,
followed again at each start by `follow_base_url`, whatever port it serves on),
so once the worker and beat run they stay up for real; the last hour of runs
is seeded so the pages are not empty before the first run. /healthz feeds a
demo SLO fed by checks. Heartbeats stand for nightly and hourly jobs with
their recent pings (a week; a day for the hourly one); the nightly finance
export stopped pinging two days ago, so it is late: it goes down through
the same path as in production (its incident is opened once the worker
processes the alert). One weekly job is paused.

Deterministic (a seeded random generator; instants relative to now) and
idempotent: nothing is added once the demo /healthz check exists. Written
through monitoring.checks.services, so statuses, flips, SLI buckets and alerts are
the ones the services produce.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TextIO
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from opsgov.models import Service

from ..models import SLO, Heartbeat, HttpCheck, HttpMethod, SLISource
from . import services

SEED = 20261127
MARKER = "opsgov /healthz"
DEMO_SLO = "Synthetic /healthz availability"


@dataclass(frozen=True)
class DemoHttpCheck:
    service: str
    name: str
    path: str
    method: str = HttpMethod.GET
    interval_seconds: int = 60
    failures_at: tuple[int, ...] = ()  # minutes ago at which a seeded run failed
    feeds_slo: bool = False


HTTP_CHECKS = (
    DemoHttpCheck("api-gateway", MARKER, "/healthz", feeds_slo=True),
    DemoHttpCheck("api-gateway", "opsgov /readyz", "/readyz", failures_at=(37,)),
    DemoHttpCheck("web-frontend", "Sign-in page", "/accounts/login/", method=HttpMethod.HEAD, interval_seconds=120),
)


@dataclass(frozen=True)
class DemoHeartbeat:
    service: str
    name: str
    description: str
    period: timedelta
    grace: timedelta
    # When the job runs, relative to each period's start; how long it takes (None: no /start ping).
    runs_at: timedelta
    takes: timedelta | None
    # Pinged up to this long ago (periods after it have no ping: the job stopped).
    stopped: timedelta = timedelta(0)
    paused: bool = False
    history: timedelta = timedelta(days=7)
    log: str = ""  # the body of its success pings (a log tail)


HEARTBEATS = (
    DemoHeartbeat(
        "payments-ledger",
        "Nightly ledger backup",
        "pg_dump of the ledger database to off-site storage, 02:00 UTC.",
        period=timedelta(days=1),
        grace=timedelta(hours=1),
        runs_at=timedelta(hours=2),
        takes=timedelta(minutes=25),
        log="pg_dump: ledger dumped (412 MB), uploaded to offsite://backups/ledger/, checksum verified\n",
    ),
    DemoHeartbeat(
        "reporting",
        "Hourly report cache refresh",
        "Rebuilds the reporting cache at five past every hour.",
        period=timedelta(hours=1),
        grace=timedelta(minutes=15),
        runs_at=timedelta(minutes=5),
        takes=None,
        history=timedelta(days=1),
    ),
    DemoHeartbeat(
        "reporting",
        "Nightly finance export",
        "Exports the day's settlements to the finance team's SFTP drop, 01:30 UTC.",
        period=timedelta(days=1),
        grace=timedelta(hours=1),
        runs_at=timedelta(hours=1, minutes=30),
        takes=timedelta(minutes=12),
        stopped=timedelta(days=2),
    ),
    DemoHeartbeat(
        "legacy-search",
        "Weekly index rebuild",
        "Rebuilds the legacy search index on Sundays; paused while the service is retired.",
        period=timedelta(days=7),
        grace=timedelta(hours=6),
        runs_at=timedelta(hours=3),
        takes=timedelta(hours=1),
        paused=True,
    ),
)

#: How much run history the HTTP checks get.
RUN_HISTORY_MINUTES = 60


def seed(*, stdout: TextIO) -> None:
    if HttpCheck.objects.filter(name=MARKER).exists():
        stdout.write("Demo checks already present; skipped.\n")
        follow_base_url(stdout=stdout)
        return
    by_slug = {service.slug: service for service in Service.objects.all()}
    if "api-gateway" not in by_slug:
        stdout.write("No demo services; no demo checks created.\n")
        return
    now = timezone.now()
    rng = random.Random(SEED)  # noqa: S311 - demo data, deterministic on purpose
    with transaction.atomic():
        created_checks = [
            _seed_http_check(spec, by_slug[spec.service], now, rng) for spec in HTTP_CHECKS if spec.service in by_slug
        ]
        beats = [_seed_heartbeat(spec, by_slug[spec.service], now) for spec in HEARTBEATS if spec.service in by_slug]
        late = services.detect_late_heartbeats(now=now)
    stdout.write(
        f"Demo checks: {len(created_checks)} HTTP checks with the last hour of runs, "
        f"{len(beats)} heartbeats with their recent pings ({late} late, now down).\n"
    )


# Hosts that are this machine: a demo check on one of them is opsgov probing itself.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def follow_base_url(*, stdout: TextIO | None = None) -> int:
    """Point the demo HTTP checks at this instance (OPSGOV_BASE_URL) again; returns how many moved.

    The demo is seeded once, but `make run PORT=N` may serve on another port
    later: without this, its checks would keep probing the first port, which may
    be somebody else's server by then. `make run` calls it on every start. Only
    the demo's own checks (by name and path) still aimed at a loopback host move:
    a check someone pointed elsewhere is left alone.
    """
    base = settings.OPSGOV_BASE_URL.rstrip("/")
    moved = 0
    for spec in HTTP_CHECKS:
        target = f"{base}{spec.path}"
        for check in HttpCheck.objects.filter(name=spec.name).exclude(url=target):
            parts = urlsplit(check.url)
            if parts.hostname in LOOPBACK_HOSTS and parts.path == spec.path:
                services.http_check_update(check=check, data={"url": target})
                moved += 1
    if moved and stdout is not None:
        stdout.write(f"Demo checks now probe {base} ({moved} moved).\n")
    return moved


def _demo_slo(service: Service) -> SLO:
    slo = SLO.objects.filter(service=service, name=DEMO_SLO).first()
    if slo is None:
        slo = SLO(
            service=service,
            name=DEMO_SLO,
            description="Share of opsgov's own /healthz checks that succeed (demo data).",
            objective_percent=Decimal("99.5"),
            source=SLISource.CHECK,
        )
        slo.full_clean()
        slo.save()
    return slo


def _seed_http_check(spec: DemoHttpCheck, service: Service, now: datetime, rng: random.Random) -> HttpCheck:
    base = settings.OPSGOV_BASE_URL.rstrip("/")
    first_run = now - timedelta(minutes=RUN_HISTORY_MINUTES)
    check = services.http_check_create(
        service=service,
        name=spec.name,
        url=f"{base}{spec.path}",
        method=spec.method,
        interval_seconds=spec.interval_seconds,
        timeout_ms=3000,
        slo=_demo_slo(service) if spec.feeds_slo else None,
        now=first_run,
    )
    step = max(1, spec.interval_seconds // 60)
    for minutes_ago in range(RUN_HISTORY_MINUTES, 0, -step):
        at = now - timedelta(minutes=minutes_ago, seconds=rng.randint(0, 20))
        failed = minutes_ago in spec.failures_at
        probe = services.Probe(
            at=at,
            ok=not failed,
            status_code=503 if failed else 200,
            latency_ms=rng.randint(900, 1400) if failed else rng.randint(4, 35),
            error="Answered 503; expected 200\u2013299." if failed else "",
        )
        services.record_http_result(check=check, scheduled_for=at, probe=probe)
    # Due now: the beat runs it for real as soon as it starts.
    HttpCheck.objects.filter(pk=check.pk).update(next_run_at=now)
    return check


def _seed_heartbeat(spec: DemoHeartbeat, service: Service, now: datetime) -> Heartbeat:
    heartbeat = services.heartbeat_create(
        service=service, name=spec.name, description=spec.description, period=spec.period, grace=spec.grace
    )
    anchor = now.replace(minute=0, second=0, microsecond=0)
    if spec.period >= timedelta(days=1):
        anchor = anchor.replace(hour=0)
    period_start = anchor - spec.history
    while period_start <= now:
        start = period_start + spec.runs_at
        end = start + (spec.takes or timedelta(0))
        if end <= now - spec.stopped:
            if spec.takes is not None:
                _ping(heartbeat, "start", start)
            _ping(heartbeat, "success", end, body=spec.log.encode())
        period_start += spec.period
    if spec.paused:
        heartbeat = services.heartbeat_pause(heartbeat=heartbeat, now=now)
    return heartbeat


def _ping(heartbeat: Heartbeat, kind: str, at: datetime, body: bytes = b"") -> None:
    services.heartbeat_ping(
        uuid=heartbeat.uuid,
        ping=services.PingRequest(
            kind=kind, method="POST", remote_addr="10.0.4.17", user_agent="curl/8.5.0", body=body
        ),
        now=at,
    )
