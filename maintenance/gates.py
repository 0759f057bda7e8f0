"""Quality gate of step 3: "Maintenance schedule defined and followed", computed from the maintenance records.

Evidence rows (keys are stable, so a failing one can be waived for its service):

- ``windows:<service>``: every active service has an approved maintenance window (fail without).
- ``cadence:<service>:<activity>``: each activity of the policy with a cadence done within one period
  (fail when overdue).
- ``patch-compliance:<service>``: the service's patch compliance over 30 days above the target
  (at risk at or below it); ``patch-compliance:global`` for the organisation (no service).
- ``critical-patch:<asset>:<package>``: an open security-critical obligation past its deadline (fail).
- ``change-conflict:<CHG-n>``: a change outside its windows or in a freeze, in the last 90 days,
  without its conflict approval (fail); ``emergency-approval:<CHG-n>``: an emergency change not
  approved within the policy period (fail).
- ``eol:<service>:<product>``: a component whose release reaches its end of life within
  ``maintenance.eol_plan_within`` has an upgrade plan (without one: at risk, fail once reached).

One method per criterion adds its rows to a GateReport (opsgov.registry). Without active services
the gate has no evidence.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateReport, GateResult, gates
from opsgov.roles import DEVOPS_LEAD, PRODUCT_OWNER

from . import selectors
from .models import ApprovalReason, ChangeApproval, ChangeKind, ChangeRecord, ChangeState, MaintenanceWindow

LOOKBACK = timedelta(days=90)


@gates.register
class MaintenanceGate(Gate):
    key = "maintenance"
    step = 3
    title = "Maintenance schedule defined and followed"
    owner_roles = (DEVOPS_LEAD,)
    approver_roles = (DEVOPS_LEAD, PRODUCT_OWNER)
    description = (
        "Every active service has approved windows and its cadences done on time; patch compliance on target, "
        "no critical patch overdue; changes outside windows approved."
    )

    def evaluate(self, *, now: datetime) -> GateResult:
        services = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("name"))
        if not services:
            return GateResult(status=GateStatus.NO_EVIDENCE, reason="No evidence: there are no active services.")
        report = GateReport()
        self._approved_windows(report, services)
        self._cadences_on_time(report, services, now)
        self._patch_compliance_on_target(report, services, now)
        self._no_critical_patch_overdue(report, now)
        self._conflicts_approved(report, now)
        self._emergencies_approved(report, now)
        self._end_of_life_planned(report, now)
        return report.result(
            f"All {len(services)} active services have approved windows and their maintenance done on time."
        )

    def _approved_windows(self, report: GateReport, services: list[Service]) -> None:
        """``windows:<service>``: an approved maintenance window for every active service."""
        calendar = reverse("maintenance:calendar")
        approved = set(
            MaintenanceWindow.objects.active().filter(services__in=services).values_list("services__id", flat=True)
        )
        for service in services:
            ok = service.pk in approved
            report.add(
                Evidence(
                    label=f"{service.name}: approved maintenance window",
                    status=GateStatus.PASS if ok else GateStatus.FAIL,
                    detail="" if ok else "No approved window: define one and have a Product Owner approve it.",
                    url=calendar,
                    service=service.slug,
                    key=f"windows:{service.slug}",
                ),
                "without an approved window",
                noun="service",
            )

    def _cadences_on_time(self, report: GateReport, services: list[Service], now: datetime) -> None:
        """``cadence:<service>:<activity>``: each activity of the policy done within its period."""
        for row in selectors.cadence_status(now=now, services=services):
            report.add(
                Evidence(
                    label=f"{row.service.name}: {row.title} every {row.every}",
                    status=GateStatus.FAIL if row.overdue else GateStatus.PASS,
                    detail=(
                        f"Overdue since {row.due_by:%Y-%m-%d}" if row.overdue else f"Next due {row.due_by:%Y-%m-%d}"
                    )
                    + (f"; last done {row.last_done:%Y-%m-%d}" if row.last_done else "; never logged"),
                    url=reverse("maintenance:log-list"),
                    service=row.service.slug,
                    key=f"cadence:{row.service.slug}:{row.activity}",
                ),
                "overdue",
                noun="maintenance activity|maintenance activities",
            )

    def _patch_compliance_on_target(self, report: GateReport, services: list[Service], now: datetime) -> None:
        """``patch-compliance:<service>`` and ``patch-compliance:global``: 30-day patch compliance on target."""
        target = get_policy().targets.patch_compliance_percent
        slugs = {s.slug for s in services}
        for figure in selectors.patch_compliance(start=now - timedelta(days=30), end=now):
            if figure.scope != "global" and not figure.scope.startswith("service:"):
                continue
            slug = figure.scope.removeprefix("service:") if figure.scope != "global" else ""
            if slug and slug not in slugs:
                continue
            percent = figure.percent
            if percent is None:
                continue
            report.add(
                Evidence(
                    label=f"Patch compliance {'of ' + slug if slug else '(organisation)'}: {percent:.1f} %",
                    status=GateStatus.PASS if percent > target else GateStatus.AT_RISK,
                    detail=f"{figure.met} of {figure.counted} obligations met in time (target > {target:g} %)",
                    url=reverse("maintenance:host-list"),
                    service=slug,
                    key=f"patch-compliance:{slug or 'global'}",
                ),
                "below target",
                noun="patch compliance figure",
            )

    def _no_critical_patch_overdue(self, report: GateReport, now: datetime) -> None:
        """``critical-patch:<asset>:<package>``: no open security-critical obligation past its deadline."""
        for obligation in selectors.overdue_critical(now=now):
            report.add(
                Evidence(
                    label=f"{obligation.asset}: critical security patch {obligation.package} {obligation.version}",
                    status=GateStatus.FAIL,
                    detail=f"Due {obligation.due_at:%Y-%m-%d %H:%M} UTC, still open",
                    url=obligation.host.get_absolute_url() if obligation.host else reverse("maintenance:host-list"),
                    service=obligation.service.slug if obligation.service else "",
                    key=f"critical-patch:{obligation.asset}:{obligation.package}",
                ),
                "past 48 h",
                noun="critical security patch|critical security patches",
            )

    def _conflicts_approved(self, report: GateReport, now: datetime) -> None:
        """``change-conflict:<CHG-n>``: every change outside its windows or in a freeze (90 days) approved so."""
        conflict_approved = Exists(ChangeApproval.objects.filter(change=OuterRef("pk"), reason=ApprovalReason.CONFLICT))
        conflicted = (
            ChangeRecord.objects.filter(Q(outside_window=True) | Q(in_freeze=True), created_at__gte=now - LOOKBACK)
            .exclude(state=ChangeState.CANCELLED)
            .annotate(approved=conflict_approved)
            .filter(approved=False)
            .prefetch_related("services")
        )
        for change in conflicted:
            first = next(iter(change.services.all()), None)
            report.add(
                Evidence(
                    label=f"{change.number}: {'inside a freeze' if change.in_freeze else 'outside its windows'}",
                    status=GateStatus.FAIL,
                    detail=f"{change.title[:120]}: no conflict approval (Product Owner)",
                    url=change.get_absolute_url(),
                    service=first.slug if first else "",
                    key=f"change-conflict:{change.number}",
                ),
                "outside windows without the extra approval",
                noun="change",
            )

    def _emergencies_approved(self, report: GateReport, now: datetime) -> None:
        """``emergency-approval:<CHG-n>``: every emergency change (90 days) approved within the policy period."""
        within = get_policy().maintenance.emergency_approval_within.as_timedelta()
        technical = Exists(
            ChangeApproval.objects.filter(
                change=OuterRef("pk"), reason__in=[ApprovalReason.TECHNICAL, ApprovalReason.SECURITY]
            )
        )
        late = (
            ChangeRecord.objects.filter(
                kind=ChangeKind.EMERGENCY, actual_start__lt=now - within, actual_start__gte=now - LOOKBACK
            )
            .annotate(approved=technical)
            .filter(approved=False)
            .prefetch_related("services")
        )
        for change in late:
            first = next(iter(change.services.all()), None)
            report.add(
                Evidence(
                    label=f"{change.number}: emergency change not approved afterwards",
                    status=GateStatus.FAIL,
                    detail=f"Implemented {change.actual_start:%Y-%m-%d %H:%M} UTC; approval was due within {within}",
                    url=change.get_absolute_url(),
                    service=first.slug if first else "",
                    key=f"emergency-approval:{change.number}",
                ),
                "not approved in time",
                noun="emergency change",
            )

    def _end_of_life_planned(self, report: GateReport, now: datetime) -> None:
        """``eol:<service>:<product>``: a component near or past its end of life has an upgrade plan."""
        for eol in selectors.components_near_eol(now=now):
            verdict = GateStatus.PASS if eol.planned else GateStatus.FAIL if eol.reached else GateStatus.AT_RISK
            when = "reached" if eol.reached else f"on {eol.eol_date:%Y-%m-%d}" if eol.eol_date else "near"
            report.add(
                Evidence(
                    label=f"{eol.component.service.name}: {eol.label} end of life {when}",
                    status=verdict,
                    detail="An upgrade plan exists" if eol.planned else "No upgrade plan: add one (target, owner, due)",
                    url=reverse("api-upgrade-plan-list"),
                    service=eol.component.service.slug,
                    key=f"eol:{eol.component.service.slug}:{eol.component.product}",
                ),
                "near end of life without an upgrade plan",
                noun="component",
            )
