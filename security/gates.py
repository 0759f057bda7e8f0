"""Quality gate of step 5: "Security operations running", computed from the security records.

Per active service, an evidence row per criterion, each with a stable key (so a failing one can
be waived: for that service, or organisation-wide for a row under no service) and a link to where
it is fixed:

- ``scan:<service>``: the service has an asset whose newest vulnerability scan is fresher than
  the policy's ``security.scan_fresh_within`` (7 days by default). No asset, or only stale
  scans, fails.
- ``vuln-sla:<service>``: no open finding of a ``security.gate_severities`` severity (critical
  and high by default) on the service's assets is past its SLA without a valid (approved,
  unexpired, unrevoked) risk acceptance. Findings of assets mapped to no service are one row
  under no service (waivable organisation-wide; the fix is to map the asset).

- ``alert-triage`` (no service): every security alert received in the last 30 days (and every one
  still unacknowledged) was acknowledged within ``security.alert_triage_within``.

Organisation-wide criteria (no service, like ``alert-triage``), each linking to where it is fixed:

- ``access-review``: an access review campaign was closed (every row decided, decisions applied)
  within the policy's ``security.access_review_every`` (a quarter) before now. None ever: "no
  evidence"; the last one older (or none closed while one is open): fail, or at risk while an
  open campaign is still before its deadline.
- ``training``: awareness training completion (security.training: completed / assigned over
  active courses) at or above ``security.training_target_percent``; nobody assigned: "no evidence".
- ``incident-runbook``: monitoring's runbook named by ``security.incident_runbook``
  ("security-incident"), read through opsgov.evidence_providers (``monitoring.runbook``): current
  passes; review overdue fails; missing (or monitoring not installed) is "no evidence".

The verdict: fail if any row fails; else "no evidence" if any row has none (never pass without
evidence); else at risk if any row is; else pass.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.db.models import F, Max, Q
from django.urls import reverse

from opsgov.evidence_providers import Freshness, providers
from opsgov.humanize import ago
from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateReport, GateResult, gates
from opsgov.roles import SECURITY_LEAD

from . import access_reviews, training  # training also provides opsgov.registry.training
from .models import AccessReviewCampaign, Asset, CampaignStatus, Finding, SecurityAlert
from .selectors import overdue

#: Alerts received this long ago or later count for the triage check.
ALERT_WINDOW = timedelta(days=30)


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
        report = GateReport()
        self._scans_fresh(report, services, now)
        self._no_finding_past_sla(report, services, now)
        self._alerts_triaged(report, now)
        self._access_reviewed(report, now)
        self._training_done(report, now)
        self._incident_runbook(report, now)
        return report.result(
            "Scans fresh, no finding past its SLA, alerts triaged, access reviewed, training done, "
            "incident runbook reviewed."
        )

    def _scans_fresh(self, report: GateReport, services: list[Service], now: datetime) -> None:
        fresh_within = get_policy().security.scan_fresh_within
        newest = dict(
            Asset.objects.filter(service__in=services)
            .values("service_id")
            .annotate(newest=Max("last_scanned_at"))
            .order_by()
            .values_list("service_id", "newest")
        )
        assets = reverse("security:asset-list")
        problem = "without a fresh scan"
        for service in services:
            key = f"scan:{service.slug}"
            url = f"{assets}?service={service.slug}"
            if service.pk not in newest:
                report.add(
                    Evidence(f"{service.name}: no scanned asset", GateStatus.FAIL, "No asset.", url, service.slug, key),
                    problem,
                    noun="service",
                )
            elif (last := newest[service.pk]) is None or now - last > fresh_within.as_timedelta():
                detail = "Never scanned." if last is None else f"Newest scan {ago(last, now)}."
                report.add(
                    Evidence(
                        f"{service.name}: scan stale",
                        GateStatus.FAIL,
                        f"{detail} The policy asks for a scan within {fresh_within}.",
                        url,
                        service.slug,
                        key,
                    ),
                    problem,
                    noun="service",
                )
            else:
                report.add(
                    Evidence(
                        f"{service.name}: scanned",
                        GateStatus.PASS,
                        f"Newest scan {ago(last, now)}.",
                        url,
                        service.slug,
                        key,
                    )
                )

    def _no_finding_past_sla(self, report: GateReport, services: list[Service], now: datetime) -> None:
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
                report.add(
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
                report.add(
                    Evidence(
                        f"{service.name}: no {label} finding past SLA", GateStatus.PASS, "", url, service.slug, key
                    )
                )
        unmapped = counts.get(None, 0)
        if unmapped:
            report.add(
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
        report.state(
            f"{total} {label} finding{'' if total == 1 else 's'} past SLA without acceptance" if total else None
        )

    def _alerts_triaged(self, report: GateReport, now: datetime) -> None:
        within = get_policy().security.alert_triage_within
        target = within.as_timedelta()
        recent = SecurityAlert.objects.filter(Q(received_at__gte=now - ALERT_WINDOW) | Q(acknowledged_at__isnull=True))
        late = recent.filter(
            Q(acknowledged_at__isnull=True, received_at__lt=now - target)
            | Q(acknowledged_at__gt=F("received_at") + target)
        ).count()
        url = reverse("api-security-alert-list")
        if late:
            report.add(
                Evidence(
                    f"{late} security alert{'' if late == 1 else 's'} not acknowledged within {within}",
                    GateStatus.FAIL,
                    "Acknowledge and triage the queue.",
                    f"{url}?status=new",
                    "",
                    "alert-triage",
                )
            )
            report.state(f"{late} security alert{'' if late == 1 else 's'} not acknowledged in time")
            return
        count = recent.count()
        report.add(
            Evidence(
                "Security alerts acknowledged in time",
                GateStatus.PASS,
                f"{count} alert{'' if count == 1 else 's'} in the last {ALERT_WINDOW.days} days, all within {within}.",
                url,
                "",
                "alert-triage",
            )
        )

    def _access_reviewed(self, report: GateReport, now: datetime) -> None:
        every = get_policy().security.access_review_every
        url = reverse("security:access-review-list")
        last = access_reviews.last_completed(now)
        current = AccessReviewCampaign.objects.filter(status=CampaignStatus.OPEN).order_by("due_at", "id").first()
        if last is not None and last.closed_at is not None and every.after(last.closed_at) > now:
            report.add(
                Evidence(
                    "Access review completed in its period",
                    GateStatus.PASS,
                    f"{last.title} closed {ago(last.closed_at, now)}; the next is due within {every} of it.",
                    reverse("security:access-review-detail", args=[last.pk]),
                    "",
                    "access-review",
                )
            )
            return
        if last is None and current is None:
            report.add(
                Evidence(
                    "No access review yet",
                    GateStatus.NO_EVIDENCE,
                    f"Open a campaign (the policy asks for one every {every}).",
                    url,
                    "",
                    "access-review",
                )
            )
            return
        detail = f"The last one closed {ago(last.closed_at, now)}." if last and last.closed_at else "None closed yet."
        if current is not None and current.due_at > now:
            report.add(
                Evidence(
                    "Access review in progress",
                    GateStatus.AT_RISK,
                    f"{detail} {current.title} is due {current.due_at:%Y-%m-%d}.",
                    reverse("security:access-review-detail", args=[current.pk]),
                    "",
                    "access-review",
                )
            )
            report.state(f"no access review completed within {every} ({current.title} in progress)")
            return
        report.add(
            Evidence(
                "No access review completed in its period",
                GateStatus.FAIL,
                f"{detail} The policy asks for one every {every}."
                + (f" {current.title} is past its deadline." if current is not None else ""),
                reverse("security:access-review-detail", args=[current.pk]) if current is not None else url,
                "",
                "access-review",
            )
        )
        report.state(f"no access review completed within {every}")

    def _training_done(self, report: GateReport, now: datetime) -> None:
        target = get_policy().security.training_target_percent
        done = training.completion(now=now)
        url = reverse("security:training")
        if done.percent is None:
            report.add(
                Evidence(
                    "No awareness training assigned",
                    GateStatus.NO_EVIDENCE,
                    "Add a course for the roles that must take it.",
                    url,
                    "",
                    "training",
                )
            )
            return
        detail = (
            f"{done.completed} of {done.assigned} assignments completed ({done.percent:.0f} %), {done.overdue} overdue."
        )
        if done.percent >= target:
            report.add(
                Evidence(f"Training completion at target ({target:g} %)", GateStatus.PASS, detail, url, "", "training")
            )
            return
        report.add(
            Evidence(
                f"Training completion below target ({done.percent:.0f} % < {target:g} %)",
                GateStatus.FAIL,
                detail,
                f"{url}?overdue=true",
                "",
                "training",
            )
        )
        report.state(f"training completion {done.percent:.0f} % below {target:g} %")

    def _incident_runbook(self, report: GateReport, now: datetime) -> None:
        slug = get_policy().security.incident_runbook
        reading = providers.read(key="monitoring.runbook", scope=slug, now=now)
        record = reading.record
        if reading.freshness == Freshness.MISSING or record is None:
            report.add(
                Evidence(
                    f"No security incident runbook ({slug})",
                    GateStatus.NO_EVIDENCE,
                    f"Write a runbook with the slug {slug} in monitoring (the policy's security.incident_runbook).",
                    "/monitoring/runbooks/",
                    "",
                    "incident-runbook",
                )
            )
            return
        if reading.freshness == Freshness.CURRENT:
            report.add(
                Evidence(
                    "Security incident runbook exists and is reviewed",
                    GateStatus.PASS,
                    record.label,
                    record.url,
                    "",
                    "incident-runbook",
                )
            )
            return
        report.add(
            Evidence(
                "Security incident runbook not reviewed on time",
                GateStatus.FAIL,
                record.label,
                record.url,
                "",
                "incident-runbook",
            )
        )
        report.state("the security incident runbook's review is overdue")
