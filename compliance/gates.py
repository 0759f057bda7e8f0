"""Quality gate of step 6: "Compliance monitoring active", computed from the compliance records.

One method per criterion; each adds evidence rows with a stable key and a link to the fix to a GateReport
(opsgov.registry):

- ``coverage:<framework>``: each active framework has at least the policy's
  ``compliance.min_coverage_percent`` of its assessable requirements mapped to controls;
- ``evidence:<control>``: each key control has current evidence (live evidence fresh and
  supporting, or an approved, unexpired file); rows carry the control's first service, so a
  control bound to a service can be waived for it;
- ``internal-audit``: an internal audit whose period ended within ``compliance.internal_audit_every``;
- ``finding-overdue:<id>``: no critical finding past its due date (other overdue findings are at risk);
- ``exception-expired:<id>``: no expired exception still relied on (opsgov's reading in
  compliance.selectors.expired_exceptions_relied_on);
- ``monthly-report``: the monthly governance report (which carries the compliance section) was
  sent within ``compliance.monthly_report_within``.

Without an active framework the gate has no evidence, never pass.

Each evaluation also refreshes every control's evidence snapshot, which the status report reads
(compliance.services.evidence_snapshots_refresh): it reads the same providers anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.urls import reverse

from opsgov.humanize import ago
from opsgov.models import DeliveryStatus, GateStatus, ReportDelivery, ReportKind
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateReport, GateResult, gates
from opsgov.roles import COMPLIANCE_OFFICER

from .models import Audit, AuditKind, Severity
from .selectors import (
    active_controls,
    active_frameworks,
    control_evidence,
    coverage,
    expired_exceptions_relied_on,
    overdue_findings,
)
from .services import evidence_snapshots_refresh

MAX_ROWS = 25


def _admin(name: str) -> str:
    return reverse(f"admin:compliance_{name}_changelist")


@gates.register
class ComplianceGate(Gate):
    key = "compliance"
    step = 6
    title = "Compliance monitoring active"
    owner_roles = (COMPLIANCE_OFFICER,)
    description = (
        "An active framework with the policy's share of assessable requirements covered by controls; every key "
        "control with current evidence; an internal audit within its period; no critical finding overdue; no "
        "expired exception still relied on; the monthly report sent."
    )

    def evaluate(self, *, now: datetime) -> GateResult:
        # The evaluation reads every provider anyway: it refreshes the controls' evidence snapshots that the
        # status report reads (every five minutes with the beat schedule), as of the evaluation's instant.
        evidence_snapshots_refresh(now=now)
        frameworks = list(active_frameworks())
        if not frameworks:
            return GateResult(
                status=GateStatus.NO_EVIDENCE,
                reason="No evidence: no active compliance framework. Import one or install the built-in framework.",
            )
        report = GateReport()
        self._coverage(report, frameworks)
        self._key_controls_current(report, now)
        self._internal_audit(report, now)
        self._no_overdue_findings(report, now)
        self._no_expired_exceptions(report, now)
        self._monthly_report(report, now)
        return report.result(
            "Compliance is monitored: coverage, evidence, audit, findings and exceptions in order.", end=""
        )

    def _coverage(self, report: GateReport, frameworks: Iterable[object]) -> None:
        minimum = get_policy().compliance.min_coverage_percent
        short: list[str] = []
        for framework in frameworks:
            figures = coverage(framework)  # type: ignore[arg-type]
            percent = figures.percent or 0.0
            ok = figures.assessable > 0 and percent >= minimum
            report.add(
                Evidence(
                    label=f"{framework}: {figures.covered} of {figures.assessable} requirements covered",
                    status=GateStatus.PASS if ok else GateStatus.FAIL,
                    detail=f"{percent:.0f} % (at least {minimum:g} % needed)",
                    url=framework.get_absolute_url(),  # type: ignore[attr-defined]
                    key=f"coverage:{framework.slug}-{framework.version}",  # type: ignore[attr-defined]
                )
            )
            if not ok:
                short.append(str(framework))
        report.state(f"requirement coverage below {minimum:g} % in {', '.join(short)}" if short else None)

    def _key_controls_current(self, report: GateReport, now: datetime) -> None:
        controls = active_controls().filter(is_key=True).prefetch_related("services")
        rows: list[Evidence] = []
        stale: list[str] = []
        for item in control_evidence(controls, now=now):
            control = item.control
            services = list(control.services.all())
            service = services[0].slug if services else ""
            if item.is_current:
                newest = max(
                    [reading.record.recorded_at for _b, reading in item.readings if reading.record]
                    + [row.created_at for row in item.files],
                    default=None,
                )
                detail = f"newest evidence {ago(newest, now=now)}" if newest else ""
                status = GateStatus.PASS
            else:
                states = [f"{binding.provider}: {reading.freshness}" for binding, reading in item.readings]
                detail = ", ".join(states) or "no live evidence bound and no approved, unexpired file"
                status = GateStatus.FAIL
                stale.append(control.ref_id)
            rows.append(
                Evidence(
                    label=f"Key control {control.ref_id}: "
                    + ("current evidence" if item.is_current else "no current evidence"),
                    status=status,
                    detail=detail,
                    url=control.get_absolute_url(),
                    service=service,
                    key=f"evidence:{control.ref_id}",
                )
            )
        if not rows:
            report.add(
                Evidence(
                    label="No key control is marked",
                    status=GateStatus.FAIL,
                    detail="Mark the controls the gate must see evidence for as key controls.",
                    url=_admin("control"),
                    key="evidence:none",
                )
            )
            report.state("no key control")
            return
        report.extend(rows[:MAX_ROWS])
        report.state(f"{len(stale)} key control(s) without current evidence" if stale else None)

    def _internal_audit(self, report: GateReport, now: datetime) -> None:
        every = get_policy().compliance.internal_audit_every
        today = now.date()
        latest = Audit.objects.filter(kind=AuditKind.INTERNAL, period_end__lte=today).order_by("-period_end").first()
        if (
            latest is not None
            and every.after(datetime.combine(latest.period_end, datetime.min.time(), tzinfo=now.tzinfo)) > now
        ):
            report.add(
                Evidence(
                    label=f"Internal audit {latest.title}",
                    status=GateStatus.PASS,
                    detail=f"period ended {latest.period_end}",
                    url=latest.get_absolute_url(),
                    key="internal-audit",
                )
            )
            return
        report.add(
            Evidence(
                label="No internal audit in its period",
                status=GateStatus.FAIL,
                detail=f"The last internal audit period must have ended within {every}."
                + (f" Last: {latest.title}, ended {latest.period_end}." if latest else ""),
                url=_admin("audit"),
                key="internal-audit",
            )
        )
        report.state(f"no internal audit within {every}")

    def _no_overdue_findings(self, report: GateReport, now: datetime) -> None:
        overdue = list(overdue_findings(now).prefetch_related("control__services").order_by("due_at", "pk"))
        critical = 0
        for finding in overdue[:MAX_ROWS]:
            is_critical = finding.severity == Severity.CRITICAL
            critical += is_critical
            services = list(finding.control.services.all()) if finding.control else []
            report.add(
                Evidence(
                    label=f"{finding.get_severity_display()} finding overdue: {finding.title}",
                    status=GateStatus.FAIL if is_critical else GateStatus.AT_RISK,
                    detail=f"due {ago(finding.due_at, now=now)}",
                    url=finding.get_absolute_url(),
                    service=services[0].slug if services else "",
                    key=f"finding-overdue:{finding.pk}",
                )
            )
        if not overdue:
            report.add(
                Evidence(label="No finding overdue", status=GateStatus.PASS, url=_admin("finding"), key="findings")
            )
            return
        report.state(f"{critical} critical finding(s) overdue" if critical else f"{len(overdue)} finding(s) overdue")

    def _no_expired_exceptions(self, report: GateReport, now: datetime) -> None:
        relied = expired_exceptions_relied_on(now)
        if not relied:
            report.add(
                Evidence(
                    label="No expired exception relied on",
                    status=GateStatus.PASS,
                    url=_admin("complianceexception"),
                    key="exceptions",
                )
            )
            return
        report.extend(
            Evidence(
                label=f"Exception expired but still relied on: {item.title}",
                status=GateStatus.FAIL,
                detail=f"expired {ago(item.expires_at, now=now)}; renew it (approved again) or meet the control",
                url=item.get_absolute_url(),
                service=item.service.slug if item.service else "",
                key=f"exception-expired:{item.pk}",
            )
            for item in relied[:MAX_ROWS]
        )
        report.state(f"{len(relied)} expired exception(s) still relied on")

    def _monthly_report(self, report: GateReport, now: datetime) -> None:
        within = get_policy().compliance.monthly_report_within.approximate(business_day_hours=24)
        sent = (
            ReportDelivery.objects.filter(kind=ReportKind.MONTHLY, status=DeliveryStatus.SENT, sent_at__isnull=False)
            .order_by("-sent_at")
            .first()
        )
        if sent is not None and sent.sent_at is not None and sent.sent_at > now - within:
            report.add(
                Evidence(
                    label="Monthly compliance report sent",
                    status=GateStatus.PASS,
                    detail=f"to {sent.email} {ago(sent.sent_at, now=now)}",
                    url=reverse("admin:opsgov_reportdelivery_changelist"),
                    key="monthly-report",
                )
            )
            return
        report.add(
            Evidence(
                label="Monthly compliance report not sent",
                status=GateStatus.AT_RISK,
                detail=f"No monthly report delivered in the last {within.days} days.",
                url=reverse("admin:opsgov_reportdelivery_changelist"),
                key="monthly-report",
            )
        )
        report.state("the monthly report was not sent")
