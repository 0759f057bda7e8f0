"""Demo incidents for `manage.py seed_demo`: six months of history across the demo services.

Deterministic (a seeded random generator; instants relative to now) and
idempotent: demo incidents carry a dedup key starting with ``demo:``, and
nothing is added once one exists. Rows are bulk-created for speed, with the
timeline entries the lifecycle services would have written (trigger, status
changes with their from/to, a few notes), so pages and metrics read them like
any other incident.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from opsgov.models import MetricTrendPoint, Service
from opsgov.services import compute_metrics

from . import demo_governance
from .models import Incident, IncidentStatus, TimelineEvent, TimelineKind

DEDUP_PREFIX = "demo:"
SEED = 20261120
HISTORY = timedelta(days=182)

# slug -> (incidents over six months, relative weight of SEV-1..SEV-4)
SERVICE_PROFILES: dict[str, tuple[int, tuple[int, int, int, int]]] = {
    "api-gateway": (78, (4, 12, 40, 44)),
    "checkout": (62, (5, 14, 38, 43)),
    "payments-ledger": (34, (3, 10, 37, 50)),
    "auth": (40, (2, 8, 40, 50)),
    "web-frontend": (56, (1, 7, 42, 50)),
    "reporting": (24, (0, 4, 36, 60)),
    "legacy-search": (14, (0, 6, 44, 50)),
}
SEVERITIES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
# Median minutes to acknowledge and to resolve, per severity (log-normally spread around them).
ACK_MEDIAN_MINUTES = {"SEV-1": 3, "SEV-2": 5, "SEV-3": 9, "SEV-4": 16}
RESOLVE_MEDIAN_MINUTES = {"SEV-1": 60, "SEV-2": 90, "SEV-3": 120, "SEV-4": 180}

TITLES: dict[str, list[str]] = {
    "api-gateway": [
        "Elevated 5xx rate on the public API",
        "API latency p99 above 2 s",
        "TLS certificate renewal failed on edge nodes",
        "Rate limiter rejecting valid traffic",
        "Upstream connection pool exhausted",
    ],
    "checkout": [
        "Checkout conversion dropped sharply",
        "Payment step timing out for card payments",
        "Basket service returning stale prices",
        "Promo codes rejected at checkout",
    ],
    "payments-ledger": [
        "Ledger reconciliation job failed",
        "Double-entry imbalance detected",
        "Settlement file import delayed",
        "Ledger write latency above target",
    ],
    "auth": [
        "Login failures spike (OIDC)",
        "Token refresh returning 401",
        "MFA SMS provider degraded",
        "Session store failover",
    ],
    "web-frontend": [
        "Static assets 404 after deploy",
        "JavaScript error rate above threshold",
        "Search page blank in Safari",
        "CDN cache hit ratio dropped",
    ],
    "reporting": [
        "Nightly finance report late",
        "Report export stuck in queue",
        "Warehouse sync lagging",
    ],
    "legacy-search": [
        "Legacy search index stale",
        "Legacy search cluster out of disk",
    ],
}
NOTES = [
    "Rolled back the last deploy.",
    "Scaled out the affected pool; error rate falling.",
    "Status page updated.",
    "Vendor confirmed an incident on their side.",
    "Root cause identified; fix being reviewed.",
]
CANCEL_REASONS = ["Flapping alert during a planned failover.", "Synthetic check misconfigured.", "Duplicate page."]


@dataclass
class _Plan:
    """One demo incident and its timeline, before the rows are written."""

    incident: Incident
    events: list[dict[str, Any]] = field(default_factory=list)


def _minutes(rng: random.Random, median: float, spread: float = 0.8) -> timedelta:
    return timedelta(minutes=max(0.5, rng.lognormvariate(math.log(median), spread)))


def _trigger_times(rng: random.Random, count: int, now: datetime) -> list[datetime]:
    """Spread over the history, more often in working hours (deploys, traffic), never in the last day."""
    times = []
    for _ in range(count):
        moment = now - HISTORY + timedelta(seconds=rng.uniform(0, (HISTORY - timedelta(days=1)).total_seconds()))
        if rng.random() < 0.6:  # pull most of them into 08:00-18:00 UTC
            moment = moment.replace(hour=rng.randint(8, 17))
        times.append(moment.replace(microsecond=0))
    return sorted(times)


def _plan_incident(
    rng: random.Random, *, number: int, service: Service, severity: str, triggered_at: datetime, people: list[Any]
) -> _Plan:
    title = rng.choice(TITLES.get(service.slug, ["Service degraded"]))
    commander = rng.choice(people) if people else None
    incident = Incident(
        title=title,
        summary=f"Demo incident on {service.name}.",
        service=service,
        severity=severity,
        triggered_at=triggered_at,
        customer_impact=severity == "SEV-1" or (severity == "SEV-2" and rng.random() < 0.7) or rng.random() < 0.08,
        dedup_key=f"{DEDUP_PREFIX}{number:04d}",
        created_at=triggered_at,
    )
    plan = _Plan(incident)
    plan.events.append({"kind": TimelineKind.TRIGGERED, "at": triggered_at, "message": "Triggered"})

    def step(target: IncidentStatus, at: datetime, message: str = "") -> None:
        plan.events.append(
            {
                "kind": TimelineKind.STATUS,
                "at": at,
                "actor": commander,
                "message": message or target.label,
                "data": {"from": incident.status, "to": target.value},
            }
        )
        incident.status = target

    if rng.random() < 0.04:  # a false alarm, cancelled after a few minutes
        at = triggered_at + _minutes(rng, 12)
        incident.cancelled_at = at
        step(IncidentStatus.CANCELLED, at, f"Cancelled: {rng.choice(CANCEL_REASONS)}")
        return plan
    last = triggered_at
    if rng.random() > 0.03:  # a few resolve before anyone acknowledged them (self-healing alerts)
        last = incident.acknowledged_at = triggered_at + _minutes(rng, ACK_MEDIAN_MINUTES[severity])
        incident.commander = commander
        step(IncidentStatus.ACKNOWLEDGED, last)
    # Minutes to hours; capped below a day so every historical incident is closed before now.
    resolve_after = min(_minutes(rng, RESOLVE_MEDIAN_MINUTES[severity], spread=0.9), timedelta(hours=20))
    resolved_at = max(triggered_at + resolve_after, last + _minutes(rng, 10))
    if severity in ("SEV-1", "SEV-2") and incident.acknowledged_at:
        mitigated_at = last + (resolved_at - last) * rng.uniform(0.3, 0.7)
        plan.events.append(
            {
                "kind": TimelineKind.NOTE,
                "at": last + (mitigated_at - last) / 2,
                "actor": commander,
                "message": rng.choice(NOTES),
            }
        )
        last = incident.mitigated_at = mitigated_at
        step(IncidentStatus.MITIGATED, last, "Mitigated: impact stopped, cleaning up.")
    incident.resolved_at = resolved_at
    step(IncidentStatus.RESOLVED, resolved_at)
    return plan


def _open_incidents(services: dict[str, Service], people: list[Any], now: datetime, start: int) -> list[_Plan]:
    """Three incidents still open right now: triggered, acknowledged and mitigated."""
    plans = []
    specs = [
        ("checkout", "SEV-2", "Payment step timing out for card payments", timedelta(minutes=7), None),
        ("api-gateway", "SEV-3", "API latency p99 above 2 s", timedelta(minutes=48), IncidentStatus.ACKNOWLEDGED),
        ("auth", "SEV-1", "Login failures spike (OIDC)", timedelta(hours=2, minutes=10), IncidentStatus.MITIGATED),
    ]
    for offset, (slug, severity, title, age, reached) in enumerate(specs):
        service = services.get(slug)
        if service is None:
            continue
        triggered_at = (now - age).replace(microsecond=0)
        commander = people[offset % len(people)] if people else None
        incident = Incident(
            title=title,
            summary=f"Demo incident on {service.name}, still open.",
            service=service,
            severity=severity,
            triggered_at=triggered_at,
            customer_impact=severity in ("SEV-1", "SEV-2"),
            dedup_key=f"{DEDUP_PREFIX}{start + offset:04d}",
            created_at=triggered_at,
        )
        plan = _Plan(incident)
        plan.events.append({"kind": TimelineKind.TRIGGERED, "at": triggered_at, "message": "Triggered"})
        if reached is not None:
            incident.commander = commander
            incident.acknowledged_at = triggered_at + timedelta(minutes=4)
            incident.status = IncidentStatus.ACKNOWLEDGED
            plan.events.append(
                {
                    "kind": TimelineKind.STATUS,
                    "at": incident.acknowledged_at,
                    "actor": commander,
                    "message": "Acknowledged",
                    "data": {"from": "triggered", "to": "acknowledged"},
                }
            )
        if reached == IncidentStatus.MITIGATED:
            incident.mitigated_at = triggered_at + timedelta(minutes=55)
            incident.status = IncidentStatus.MITIGATED
            plan.events.append(
                {
                    "kind": TimelineKind.NOTE,
                    "at": triggered_at + timedelta(minutes=30),
                    "actor": commander,
                    "message": "Identity provider failing over to the secondary region.",
                }
            )
            plan.events.append(
                {
                    "kind": TimelineKind.STATUS,
                    "at": incident.mitigated_at,
                    "actor": commander,
                    "message": "Mitigated: traffic moved to the secondary region.",
                    "data": {"from": "acknowledged", "to": "mitigated"},
                }
            )
        plans.append(plan)
    return plans


def seed(*, stdout: TextIO) -> None:
    """Demo incidents, then on-call, escalation, reviews and backlog on top of them (each idempotent)."""
    _seed_incidents(stdout=stdout)
    demo_governance.seed(stdout=stdout)
    _seed_metric_history(stdout=stdout)


#: Past computations of the incident metrics the demo makes, a week apart, for the dashboard's trend.
HISTORY_WEEKS = 12
DEMO_METRICS = ("mtta", "mttr", "mtbf")


def _seed_metric_history(*, stdout: TextIO) -> None:
    """MTTA, MTTR and MTBF as the beat task would have computed them weekly over the last quarter (once)."""
    now = timezone.now()
    if MetricTrendPoint.objects.filter(metric="mtta", day__lt=(now - timedelta(days=1)).date()).exists():
        return
    for weeks in range(HISTORY_WEEKS, 0, -1):
        compute_metrics(now=now - timedelta(weeks=weeks), keys=list(DEMO_METRICS))
    stdout.write(f"Demo metric history: {HISTORY_WEEKS} weekly computations of {', '.join(DEMO_METRICS)}.\n")


def _seed_incidents(*, stdout: TextIO) -> None:
    """Add six months of demo incidents (a few hundred) unless demo incidents exist already."""
    if Incident.objects.filter(dedup_key__startswith=DEDUP_PREFIX).exists():
        stdout.write("Demo incidents already present; skipped.\n")
        return
    services = {service.slug: service for service in Service.objects.filter(slug__in=SERVICE_PROFILES)}
    if not services:
        stdout.write("No demo services; no demo incidents created.\n")
        return
    User = get_user_model()
    people = list(User.objects.filter(username__in=["sre-lead", "tech-lead", "devops-lead"]).order_by("username"))
    rng = random.Random(SEED)  # noqa: S311 - demo data, deterministic on purpose
    now = timezone.now()

    plans: list[_Plan] = []
    number = 1
    for slug, (count, weights) in SERVICE_PROFILES.items():
        service = services.get(slug)
        if service is None:
            continue
        for triggered_at in _trigger_times(rng, count, now):
            severity = rng.choices(SEVERITIES, weights=weights)[0]
            plans.append(
                _plan_incident(
                    rng, number=number, service=service, severity=severity, triggered_at=triggered_at, people=people
                )
            )
            number += 1
    plans.extend(_open_incidents(services, people, now, start=number))
    plans.sort(key=lambda plan: plan.incident.triggered_at)  # ids in trigger order, as if recorded live

    with transaction.atomic():
        incidents = Incident.objects.bulk_create([plan.incident for plan in plans], batch_size=500)
        TimelineEvent.objects.bulk_create(
            [
                TimelineEvent(incident=incident, created_at=event["at"], **event)
                for plan, incident in zip(plans, incidents, strict=True)
                for event in plan.events
            ],
            batch_size=1000,
        )
    open_count = sum(1 for plan in plans if plan.incident.is_open)
    stdout.write(f"Demo incidents: {len(plans)} over six months ({open_count} still open).\n")
