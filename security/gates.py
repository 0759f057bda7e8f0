"""Quality gate of step 5: "Security operations running", computed from the security records.

Per active service, an evidence row per criterion, each with a stable key (so a failing one can
be waived for that service) and a link to where it is fixed:

- ``scan:<service>``: the service has an asset whose newest vulnerability scan is fresher than
  the policy's ``security.scan_fresh_within`` (7 days by default). No asset, or only stale
  scans, fails.
- ``vuln-sla:<service>``: no open finding of a ``security.gate_severities`` severity (critical
  and high by default) on the service's assets is past its SLA without a valid (approved,
  unexpired, unrevoked) risk acceptance. Findings of assets mapped to no service are one row
  under no service (not waivable: map the asset).

- ``alert-triage`` (no service): every security alert received in the last 30 days (and every one
  still unacknowledged) was acknowledged within ``security.alert_triage_within``.

Criteria opsgov does not track yet in this app (an access
review completed in its period, training completion, a reviewed security incident runbook) are
rows with status "no evidence" and no service: while any is untracked the gate never passes
(it reports "no evidence" when nothing fails).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.db.models import F, Max, Q
from django.urls import reverse

from opsgov.humanize import ago
from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateResult, gates
from opsgov.roles import SECURITY_LEAD

from .models import Asset, Finding, SecurityAlert
from .selectors import overdue

#: Alerts received this long ago or later count for the triage check.
ALERT_WINDOW = timedelta(days=30)

#: Criteria of the seed's step 5 that this app does not record yet (see the module docstring).
UNTRACKED = (
    ("access-review", "Access review completed in its period"),
    ("training", "Awareness training completion at target"),
    ("incident-runbook", "Security incident runbook exists and is reviewed"),
)


@gates.register
class SecurityOperationsGate(Gate):
    key = "security_operations"
    step = 5
    title = "Security operations running"
    owner_roles = (SECURITY_LEAD,)
    description = (
        "Every active service has a freshly scanned asset; no critical or high finding is past its SLA "
        "without a valid risk acceptance; alerts triaged, access reviewed and training done on time."
    )

    def evaluate(self, *, now: datetime) -> GateResult:
        services = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("name"))
        if not services:
            return GateResult(status=GateStatus.NO_EVIDENCE, reason="No evidence: there are no active services.")
        rows: list[Evidence] = []
        problems: list[str] = []
        problems += self._scans_fresh(services, now, rows)
        problems += self._no_finding_past_sla(services, now, rows)
        problems += self._alerts_triaged(now, rows)
        for key, label in UNTRACKED:
            rows.append(Evidence(label, GateStatus.NO_EVIDENCE, "Not tracked in opsgov yet.", "", "", key))
        if any(row.status == GateStatus.FAIL for row in rows):
            return GateResult(status=GateStatus.FAIL, reason="; ".join(problems) + ".", evidence=rows)
        untracked = ", ".join(label.lower() for _, label in UNTRACKED)
        return GateResult(
            status=GateStatus.NO_EVIDENCE,
            reason=f"Scans fresh and no finding past its SLA; no evidence yet for: {untracked}.",
            evidence=rows,
        )

    def _scans_fresh(self, services: list[Service], now: datetime, rows: list[Evidence]) -> list[str]:
        fresh_within = get_policy().security.scan_fresh_within
        newest = dict(
            Asset.objects.filter(service__in=services)
            .values("service_id")
            .annotate(newest=Max("last_scanned_at"))
            .order_by()
            .values_list("service_id", "newest")
        )
        assets = reverse("security:asset-list")
        failing = 0
        for service in services:
            key = f"scan:{service.slug}"
            url = f"{assets}?service={service.slug}"
            if service.pk not in newest:
                failing += 1
                rows.append(
                    Evidence(f"{service.name}: no scanned asset", GateStatus.FAIL, "No asset.", url, service.slug, key)
                )
            elif (last := newest[service.pk]) is None or now - last > fresh_within.as_timedelta():
                failing += 1
                detail = "Never scanned." if last is None else f"Newest scan {ago(last, now)}."
                rows.append(
                    Evidence(
                        f"{service.name}: scan stale",
                        GateStatus.FAIL,
                        f"{detail} The policy asks for a scan within {fresh_within}.",
                        url,
                        service.slug,
                        key,
                    )
                )
            else:
                rows.append(
                    Evidence(
                        f"{service.name}: scanned",
                        GateStatus.PASS,
                        f"Newest scan {ago(last, now)}.",
                        url,
                        service.slug,
                        key,
                    )
                )
        return [f"{failing} service{'' if failing == 1 else 's'} without a fresh scan"] if failing else []

    def _no_finding_past_sla(self, services: list[Service], now: datetime, rows: list[Evidence]) -> list[str]:
        severities = get_policy().security.gate_severities
        late = overdue(Finding.objects.filter(severity__in=severities), now)
        counts: Counter[int | None] = Counter(late.values_list("asset__service_id", flat=True))
        findings = reverse("security:finding-list")
        label = "/".join(severities)
        for service in services:
            key = f"vuln-sla:{service.slug}"
            url = f"{findings}?service={service.slug}&overdue=true"
            count = counts.get(service.pk, 0)
            if count:
                rows.append(
                    Evidence(
                        f"{service.name}: {count} {label} finding{'' if count == 1 else 's'} past SLA",
                        GateStatus.FAIL,
                        "Fix them (a rescan without them closes them) or have a Security Lead accept the risk.",
                        url,
                        service.slug,
                        key,
                    )
                )
            else:
                rows.append(
                    Evidence(
                        f"{service.name}: no {label} finding past SLA", GateStatus.PASS, "", url, service.slug, key
                    )
                )
        unmapped = counts.get(None, 0)
        if unmapped:
            rows.append(
                Evidence(
                    f"{unmapped} {label} finding{'' if unmapped == 1 else 's'} past SLA on assets of no service",
                    GateStatus.FAIL,
                    "Map the assets to services and fix or accept the findings.",
                    f"{findings}?overdue=true",
                    "",
                    "vuln-sla:unmapped",
                )
            )
        total = sum(counts.values())
        return [f"{total} {label} finding{'' if total == 1 else 's'} past SLA without acceptance"] if total else []

    def _alerts_triaged(self, now: datetime, rows: list[Evidence]) -> list[str]:
        within = get_policy().security.alert_triage_within
        target = within.as_timedelta()
        recent = SecurityAlert.objects.filter(Q(received_at__gte=now - ALERT_WINDOW) | Q(acknowledged_at__isnull=True))
        late = recent.filter(
            Q(acknowledged_at__isnull=True, received_at__lt=now - target)
            | Q(acknowledged_at__gt=F("received_at") + target)
        ).count()
        url = reverse("api-security-alert-list")
        if late:
            rows.append(
                Evidence(
                    f"{late} security alert{'' if late == 1 else 's'} not acknowledged within {within}",
                    GateStatus.FAIL,
                    "Acknowledge and triage the queue.",
                    f"{url}?status=new",
                    "",
                    "alert-triage",
                )
            )
            return [f"{late} security alert{'' if late == 1 else 's'} not acknowledged in time"]
        count = recent.count()
        rows.append(
            Evidence(
                "Security alerts acknowledged in time",
                GateStatus.PASS,
                f"{count} alert{'' if count == 1 else 's'} in the last {ALERT_WINDOW.days} days, all within {within}.",
                url,
                "",
                "alert-triage",
            )
        )
        return []
