"""Demo SLOs for `manage.py seed_demo`: an availability and a latency SLO per tier-1/2 demo service.

Each SLO gets 30 days of SLI data ending at the current minute: diurnal traffic
(busiest mid-afternoon UTC), small noise, and one or two past error spikes; the
last 24 hours in 1-minute buckets, older days in 5-minute buckets (what a
Prometheus pull at a coarser step would store), so seeding stays quick on SQLite.
Checkout availability burns its budget now: a 4-hour outage two days ago and an
elevated error rate for the last two hours leave its budget overspent, so its
page (and ticket) burn-rate alerts fire and open incidents through the normal
path (opsgov.events -> incidents' raw events, processed by the worker). No other
SLO fires: their spikes are older than the longest short window (6 h).

Data go in through monitoring.slos.sli.record_sli, then one engine cycle rebuilds the
rollups and fills SLOStatus. Deterministic (seeded random generator, instants
relative to now) and idempotent: nothing is done once the checkout availability
SLO exists.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TextIO

from django.db import transaction
from django.utils import timezone

from opsgov.models import Service, ServiceTier

from ..models import SLO, SLIKind
from . import engine, services
from .sli import SLIReading, record_sli

SEED = 20261128
DAYS = 30
MARKER_SERVICE, MARKER_NAME = "checkout", "Checkout availability"
#: 1-minute buckets for this long before now; 5-minute ones before that.
FINE_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class Spike:
    ago: timedelta  # start, before now
    lasts: timedelta
    bad_share: float  # share of bad events meanwhile


@dataclass(frozen=True)
class DemoSLO:
    service: str
    name: str
    kind: str
    objective: str
    per_minute: int  # mean events a minute
    bad_share: float  # usual share of bad events
    spikes: tuple[Spike, ...] = ()
    threshold_ms: int | None = None


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


SLOS = (
    DemoSLO("api-gateway", "API gateway availability", SLIKind.RATIO, "99.9", 1200, 0.0002,
            (Spike(timedelta(days=17, hours=3), _h(0.75), 0.04),)),
    DemoSLO("api-gateway", "API gateway latency p99 < 250 ms", SLIKind.LATENCY, "99", 1200, 0.003,
            (Spike(timedelta(days=9, hours=5), _h(1.5), 0.08),), 250),
    DemoSLO(MARKER_SERVICE, MARKER_NAME, SLIKind.RATIO, "99.9", 300, 0.0002,
            (Spike(timedelta(days=2, hours=6), _h(4), 0.15), Spike(_h(2), _h(2), 0.06))),
    DemoSLO("checkout", "Checkout latency p95 < 800 ms", SLIKind.LATENCY, "99", 300, 0.004,
            (Spike(timedelta(days=21), _h(1), 0.05),), 800),
    DemoSLO("payments-ledger", "Payments ledger availability", SLIKind.RATIO, "99.9", 150, 0.0003,
            (Spike(timedelta(days=11, hours=2), _h(0.5), 0.05),)),
    DemoSLO("payments-ledger", "Ledger write latency p99 < 400 ms", SLIKind.LATENCY, "99", 150, 0.0075,
            (Spike(timedelta(days=6, hours=4), _h(3), 0.06),), 400),
    DemoSLO("auth", "Authentication availability", SLIKind.RATIO, "99.9", 600, 0.00015,
            (Spike(timedelta(days=13, hours=1), _h(1), 0.06), Spike(timedelta(days=4, hours=8), _h(0.3), 0.03))),
    DemoSLO("auth", "Token issue latency p99 < 300 ms", SLIKind.LATENCY, "99", 600, 0.002, (), 300),
    DemoSLO("web-frontend", "Web frontend availability", SLIKind.RATIO, "99.9", 800, 0.0002,
            (Spike(timedelta(days=25, hours=9), _h(1), 0.03),)),
    DemoSLO("web-frontend", "Page load p95 < 2 s", SLIKind.LATENCY, "99", 800, 0.004, (), 2000),
)  # fmt: skip


def _traffic(spec: DemoSLO, at: datetime, minutes: int, rng: random.Random) -> int:
    """Events in `minutes` from `at`: diurnal (peak 15:00 UTC, trough at 3:00 about a fifth of it), 3 % noise."""
    hour = at.hour + at.minute / 60
    diurnal = 0.6 + 0.4 * math.sin(2 * math.pi * (hour - 9) / 24)
    return max(1, round(spec.per_minute * minutes * diurnal * (1 + rng.gauss(0, 0.03))))


def _bad_share(spec: DemoSLO, at: datetime, now: datetime, rng: random.Random) -> float:
    for spike in spec.spikes:
        if now - spike.ago <= at < now - spike.ago + spike.lasts:
            return spike.bad_share * (0.9 + 0.2 * rng.random())
    return spec.bad_share * (0.5 + rng.random())


def readings(spec: DemoSLO, *, end: datetime, rng: random.Random) -> list[SLIReading]:
    """30 days of buckets ending at `end` (exclusive): 5-minute ones, then 1-minute ones for the last day."""
    fine_from = engine.floor_hour(end - FINE_FOR)
    start = fine_from - timedelta(days=DAYS) + FINE_FOR
    result = []
    at = start
    while at < end:
        seconds = 300 if at < fine_from else 60
        total = _traffic(spec, at, seconds // 60, rng)
        expected = total * _bad_share(spec, at, end, rng)
        bad = min(total, int(expected) + (1 if rng.random() < expected - int(expected) else 0))
        result.append(SLIReading(start=at, good=total - bad, total=total, seconds=seconds))
        at += timedelta(seconds=seconds)
    return result


def seed(*, stdout: TextIO) -> None:
    if SLO.objects.filter(service__slug=MARKER_SERVICE, name=MARKER_NAME).exists():
        stdout.write("Demo SLOs: already there.\n")
        return
    demo_services = {
        service.slug: service for service in Service.objects.filter(tier__in=[ServiceTier.TIER_1, ServiceTier.TIER_2])
    }
    now = timezone.now()
    end = engine.floor_minute(now)
    rng = random.Random(SEED)  # noqa: S311 - demo data, deterministic on purpose
    created = 0
    with transaction.atomic():
        for spec in SLOS:
            service = demo_services.get(spec.service)
            if service is None or SLO.objects.filter(service=service, name=spec.name).exists():
                continue
            slo = services.slo_create(
                service=service,
                name=spec.name,
                description="Demo data: 30 days of synthetic SLI with diurnal traffic.",
                sli_kind=spec.kind,
                latency_threshold_ms=spec.threshold_ms,
                objective_percent=Decimal(spec.objective),
                window_days=DAYS,
                is_availability=spec.kind == SLIKind.RATIO
                and not SLO.objects.filter(service=service, is_availability=True).exists(),
            )
            data = readings(spec, end=end, rng=rng)
            for offset in range(0, len(data), 10_000):
                record_sli(slo=slo, readings=data[offset : offset + 10_000], now=now)
            created += 1
    # One cycle: rebuild the rollups from the buckets (cheaper than refreshing ~750 marked hours per SLO).
    result = engine.evaluate_slos(now=now, rebuild=True)
    stdout.write(
        f"Demo SLOs: {created} SLOs with {DAYS} days of SLI data; {result.evaluated} evaluated, "
        f"{len(result.fired)} burn-rate alert(s) firing.\n"
    )
