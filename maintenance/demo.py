"""Demo maintenance records for `manage.py seed_demo` (idempotent: skipped when the demo windows exist).

- A weekly window (Sundays 02:00-06:00 Europe/Berlin) per active service, approved by the demo Product
  Owner; one more, for reporting, still waiting for approval.
- One freeze: the fixture's weekend deploy freeze (Friday 18:00 to Monday 06:00, Europe/Berlin) of the
  customer-facing checkout and web frontend.
- Three months of changes: weekly CI deploys per tier-1 service through a change integration, monthly
  database changes inside the windows with the Tech Lead's approval, one change outside its window
  (no conflict approval: the gate shows it), and one failed deploy an hour ago followed by an incident,
  raised through opsgov.events so incidents opens it and links it to the change.
- Maintenance logs for every cadence of every active service, except the payments ledger's database
  maintenance, last done 12 days ago (overdue).
- Patch reports from 20 hosts, four of which installed their security updates late: 92 of 100
  obligations met in time (patch compliance 92 %).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from opsgov.events import ServiceAlert, raise_alert
from opsgov.models import Lifecycle, Service, ServiceTier

from . import services
from .models import ChangeRecord, MaintenanceWindow

WINDOW_PREFIX = "Sunday window"
BERLIN = "Europe/Berlin"
SECURITY = "Debian-Security:12/stable-security"
UPDATES = "Debian:12.10/stable-updates"
PACKAGES = [
    ("libssl3", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", SECURITY),
    ("openssl", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", SECURITY),
    ("tzdata", "2024a-0+deb12u1", "2025a-0+deb12u1", UPDATES),
    ("curl", "7.88.1-10+deb12u5", "7.88.1-10+deb12u8", UPDATES),
    ("bash", "5.2.15-2+b2", "5.2.15-2+b7", UPDATES),
]


def _apt(packages: list[tuple[str, str, str, str]]) -> str:
    lines = ["Reading package lists...", "Building dependency tree...", "Reading state information..."]
    lines += [f"Inst {p} [{old}] ({new} {origin} [amd64])" for p, old, new, origin in packages]
    return "\n".join(lines) + "\n"


def _user(username: str) -> User | None:
    return User.objects.filter(username=username).first()


def seed(*, stdout: TextIO) -> None:
    if MaintenanceWindow.objects.filter(name__startswith=WINDOW_PREFIX).exists():
        stdout.write("Demo maintenance records already present; skipped.\n")
        return
    active = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("slug"))
    if not active:
        stdout.write("No demo services; no maintenance records created.\n")
        return
    with transaction.atomic():
        _seed(active, stdout)


def _seed(active: list[Service], stdout: TextIO) -> None:
    now = timezone.now().replace(microsecond=0)
    owner, tech = _user("product-owner"), _user("tech-lead")
    by_slug = {service.slug: service for service in active}
    first = (now - timedelta(days=120)).replace(hour=0, minute=0, second=0)
    first = first - timedelta(days=(first.weekday() + 1) % 7)  # a Sunday
    for service in active:
        created = services.create_window(
            name=f"{WINDOW_PREFIX}: {service.name}",
            services=[service],
            first_start=first + timedelta(hours=1),  # 02:00 or 03:00 Berlin; the wall time repeats
            duration=timedelta(hours=4),
            timezone_name=BERLIN,
            rrule="FREQ=WEEKLY;BYDAY=SU",
        )
        if owner is not None and service.slug != "reporting":
            services.approve_window(window=created, user=owner, now=first - timedelta(days=7))
    services.create_freeze(
        name="Weekend deploy freeze",
        services=[s for s in active if s.slug in ("checkout", "web-frontend")],
        freeze_start="0 18 * * 5",
        freeze_end="0 6 * * 1",
        timezone_name=BERLIN,
        reason="No deploys over the weekend: fewer people around to fix them.",
    )

    # Weekly deploys from CI (Tuesdays 14:00 UTC, outside the freeze), thirteen weeks back.
    tier1 = [s for s in active if s.tier == ServiceTier.TIER_1]
    integrations = {s.slug: services.create_change_integration(name=f"CI ({s.slug})", service=s)[0] for s in tier1}
    deploys = 0
    for weeks in range(13, 0, -1):
        day = (now - timedelta(weeks=weeks)).replace(hour=14, minute=0, second=0)
        day -= timedelta(days=(day.weekday() - 1) % 7)  # Tuesday
        for slug, integration in integrations.items():
            services.record_change_event(
                integration=integration,
                summary=f"Deploy {slug} 1.{20 - weeks}.0 to production",
                source=f"gitlab-ci/{slug}",
                sender_timestamp=day - timedelta(minutes=1),
                details={"change_id": f"DEMO-{slug}-{weeks}"},
                received_at=day,
            )
            deploys += 1

    # Monthly database changes inside the ledger's window, approved by the Tech Lead.
    ledger = by_slug.get("payments-ledger", active[0])
    window = MaintenanceWindow.objects.filter(services=ledger).first()
    for months in (3, 2, 1):
        occurrences = window.occurrences(now - timedelta(days=30 * months), now) if window else []
        if not occurrences or tech is None:
            continue
        start, _ = occurrences[0]
        change = services.create_change(
            title="Reindex the ledger tables",
            services=[ledger],
            category="database",
            risk="medium",
            backout_plan="Stop the reindex; the old indexes stay valid.",
            planned_start=start + timedelta(minutes=15),
            planned_end=start + timedelta(hours=2),
            user=tech,
            now=start - timedelta(days=3),
        )
        services.approve_change(change=change, reason="technical", user=tech, now=start - timedelta(days=2))
        for state in ("assess", "authorise", "scheduled"):
            services.advance_change(change=change, to_state=state, now=start - timedelta(days=1))
        services.advance_change(change=change, to_state="implement", now=start + timedelta(minutes=15))
        services.advance_change(change=change, to_state="review", now=start + timedelta(hours=1, minutes=40))
        services.advance_change(change=change, to_state="closed", outcome="successful", now=start + timedelta(hours=2))
        services.record_log(
            service=ledger,
            activity="database_maintenance",
            performed_at=start + timedelta(minutes=15),
            duration=timedelta(hours=1, minutes=25),
            change=change,
            user=tech,
        )

    # One change outside its window: a Tuesday-morning gateway change, technically approved, no conflict approval.
    gateway = by_slug.get("api-gateway", active[0])
    tuesday = (now - timedelta(days=9)).replace(hour=10, minute=0, second=0)
    outside = services.create_change(
        title="Raise the gateway's connection limit",
        services=[gateway],
        risk="low",
        planned_start=tuesday,
        planned_end=tuesday + timedelta(minutes=30),
        now=tuesday - timedelta(days=2),
    )
    if tech is not None:
        services.approve_change(change=outside, reason="technical", user=tech, now=tuesday - timedelta(days=1))

    # A failed deploy an hour ago, then the incident it caused (raised through core; incidents links it).
    checkout = by_slug.get("checkout", active[0])
    failed = services.create_change(
        title="Deploy checkout 1.20.1 (new payment form)",
        services=[checkout],
        kind="emergency",
        now=now - timedelta(hours=1),
    )
    services.advance_change(change=failed, to_state="implement", now=now - timedelta(hours=1))
    services.advance_change(change=failed, to_state="review", now=now - timedelta(minutes=50))
    services.advance_change(change=failed, to_state="closed", outcome="failed", now=now - timedelta(minutes=45))
    raise_alert(
        ServiceAlert(
            service_id=checkout.pk,
            key="maintenance-demo:failed-deploy",
            status="firing",
            severity="SEV-2",
            title="Checkout payment errors after the 1.20.1 deploy",
            at=now - timedelta(minutes=40),
            source="maintenance-demo",
            summary="Card payments fail with HTTP 500 since the deploy.",
        )
    )

    # Maintenance logs: every cadence kept, except the ledger's database maintenance (last done 12 days ago).
    logs = 0
    for service in active:
        plan = [
            ("dependency_updates", timedelta(days=30), timedelta(hours=3)),
            ("os_patches", timedelta(days=30), timedelta(hours=3)),
            ("infrastructure_updates", timedelta(days=90), timedelta(hours=5)),
            ("major_upgrades", timedelta(days=365), timedelta(hours=6)),
        ]
        if service != ledger:
            plan.append(("database_maintenance", timedelta(days=7), timedelta(hours=1, minutes=20)))
        for activity, every, duration in plan:
            at = now - min(every - timedelta(days=2), timedelta(days=58))
            while at > now - timedelta(days=95):
                services.record_log(
                    service=service,
                    activity=activity,
                    performed_at=at,
                    duration=duration,
                    source="automation" if activity == "database_maintenance" else "manual",
                )
                logs += 1
                at -= every
    services.record_log(
        service=ledger,
        activity="database_maintenance",
        performed_at=now - timedelta(days=12),
        duration=timedelta(hours=1, minutes=30),
        notes="VACUUM ANALYZE; then the job stopped reporting.",
    )

    # Patch reports from 20 hosts: 100 obligations, 92 met in time.
    hosts = []
    for index in range(20):
        service = active[index % len(active)]
        host, _ = services.create_host(name=f"demo-host-{index + 1:02d}", service=service, timezone_name=BERLIN)
        hosts.append(host)
    os_only = [p for p in PACKAGES if p[3] != SECURITY]
    for index, host in enumerate(hosts):
        late = index < 4
        services.record_patch_report(host=host, apt_simulate=_apt(PACKAGES), received_at=now - timedelta(days=25))
        services.record_patch_report(
            host=host, apt_simulate=_apt(PACKAGES if late else os_only), received_at=now - timedelta(days=24)
        )
        if late:
            services.record_patch_report(host=host, apt_simulate=_apt(os_only), received_at=now - timedelta(days=20))
        services.record_patch_report(
            host=host,
            apt_simulate=_apt([]),
            received_at=now - timedelta(days=10),
            reboot_required=index % 7 == 0,
            needrestart="NEEDRESTART-KSTA: 3\nNEEDRESTART-SVC: nginx.service\n" if index % 7 == 0 else "",
        )
    changes = deploys + ChangeRecord.objects.filter(source="manual").count()
    stdout.write(
        f"Demo maintenance: {len(active)} windows, 1 freeze, {changes} changes, {logs + 1} maintenance logs, "
        f"{len(hosts)} hosts with patch reports.\n"
    )
