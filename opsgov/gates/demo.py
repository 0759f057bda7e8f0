"""Demo waivers for `manage.py seed_demo` (idempotent): one approved and one awaiting approval.

Run after the demo gates are evaluated: each waives a failing check of the
incident management gate that the demo data leaves without an escalation path,
so the gate page shows a waived row, an approval waiting for the SRE Lead, and
the status recomputed around them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from django.contrib.auth import get_user_model
from django.core.management.base import OutputWrapper
from django.utils import timezone

from ..models import GateWaiver, Service
from ..registry import gates
from . import waivers
from .services import previous_evaluation

GATE = "incident_management"
REASON_PREFIX = "Demo: "


def seed(*, stdout: TextIO | OutputWrapper) -> None:
    if GateWaiver.objects.filter(reason__startswith=REASON_PREFIX).exists():
        stdout.write("Demo waivers already present; skipped.\n")
        return
    if GATE not in gates:
        return
    users = {user.username: user for user in get_user_model().objects.filter(username__in=["sre-lead", "tech-lead"])}
    if set(users) != {"sre-lead", "tech-lead"}:
        stdout.write("No demo users; no demo waivers created.\n")
        return
    latest = previous_evaluation(GATE)
    rows = [row for row in waivers.waivable_rows(latest) if str(row["key"]).startswith("escalation:")]
    services = {service.slug: service for service in Service.objects.filter(slug__in=[row["service"] for row in rows])}
    now = timezone.now()
    plans = [
        (
            "Rota for this service starts with the new hires next month.",
            "Platform on-call is paged for it meanwhile.",
            True,
        ),
        ("Service is being retired this quarter.", "Incidents on it are raised by the API gateway's alerts.", False),
    ]
    created = []
    for row, (reason, control, approve) in zip(rows, plans, strict=False):
        waiver = waivers.waiver_request(
            gate=GATE,
            evidence_key=row["key"],
            service=services[row["service"]],
            reason=REASON_PREFIX + reason,
            compensating_control=control,
            approver=users["sre-lead"],
            expires_at=now + timedelta(days=30 if approve else 60),
            requested_by=users["tech-lead"],
        )
        if approve:
            waivers.waiver_approve(waiver=waiver, actor=users["sre-lead"])
        created.append(f"{row['key']} ({'approved' if approve else 'awaiting approval'})")
    stdout.write(f"Demo waivers: {', '.join(created) or 'none (no failing escalation check)'}.\n")
