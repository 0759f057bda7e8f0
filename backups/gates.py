"""Quality gate of step 8: "Backup and DR validated", computed from the backups records.

For each active service and each data type the policy requires of it (all of the policy's data types,
or those its ServiceBackupScope lists), evidence rows with stable keys (waivable per service):

- ``job:<service>:<type>``: a backup job exists;
- ``<check>:<service>:<type>:<job>``: each job's computed checks (backups.selectors: freshness,
  retention, location, integrity, encryption);
- ``restore:<service>:<type>``: a restore test within ``backups.restore_test_every`` that passed and
  met its RTO/RPO targets (one that passed but missed a target: fail);
- ``drill:<service>``: a DR drill within ``backups.dr_drill_every`` whose data protection the Security Lead
  and whose compliance the Compliance Officer validated (overdue, or not validated: fail);
- ``dr-plan:<service>``: a DR plan reviewed within ``backups.dr_plan_review_every`` (overdue: at risk).

Without active services the gate has no evidence.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, QuerySet
from django.urls import reverse

from opsgov.humanize import ago
from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateResult, gates
from opsgov.roles import COMPLIANCE_OFFICER, DEVOPS_LEAD, SECURITY_LEAD, SRE_LEAD

from .models import ApprovalKind, BackupJob, DRDrill, DRDrillApproval, DRPlan, RestoreTest, ServiceBackupScope
from .selectors import job_checks, job_facts

_ORDER = {GateStatus.FAIL: 2, GateStatus.AT_RISK: 1, GateStatus.PASS: 0}


def validated_drills() -> QuerySet[DRDrillApproval, dict[str, Any]]:
    """The ids of drills with both validations recorded (data protection and compliance), as a subquery."""
    return (
        DRDrillApproval.objects.values("drill_id")
        .annotate(kinds=Count("kind", distinct=True))
        .filter(kinds__gte=len(ApprovalKind.values))
        .values("drill_id")
    )


def required_data_types(services: list[Service]) -> dict[int, list[str]]:
    """Per service, the data types the policy requires of it (its declared scope, else all)."""
    known = list(get_policy().backups.data_types)
    scopes = dict(ServiceBackupScope.objects.filter(service__in=services).values_list("service_id", "data_types"))
    return {
        service.pk: [key for key in known if key in scopes[service.pk]] if service.pk in scopes else known
        for service in services
    }


@gates.register
class BackupDrGate(Gate):
    key = "backup_dr"
    step = 8
    title = "Backup and DR validated"
    owner_roles = (SRE_LEAD, DEVOPS_LEAD)
    approver_roles = (SRE_LEAD, SECURITY_LEAD, COMPLIANCE_OFFICER)
    description = "Each policy backed up on time, restore tested, DR drill within the quarter with RTO/RPO met."

    def evaluate(self, *, now: datetime) -> GateResult:
        services = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("name"))
        if not services:
            return GateResult(status=GateStatus.NO_EVIDENCE, reason="No evidence: there are no active services.")
        required = required_data_types(services)
        jobs = list(BackupJob.objects.filter(service__in=services, active=True).order_by("name"))
        facts = job_facts(jobs)
        by_pair: dict[tuple[int, str], list[BackupJob]] = defaultdict(list)
        for job in jobs:
            by_pair[(job.service_id, job.data_type)].append(job)
        restores: dict[int, RestoreTest] = {}
        for test in RestoreTest.objects.filter(job__in=jobs).order_by("-verified_at", "-pk"):
            restores.setdefault(test.job_id, test)
        drills = dict(
            DRDrill.objects.filter(service__in=services)
            .values("service_id")
            .annotate(last=Max("held_at"))
            .order_by()
            .values_list("service_id", "last")
        )
        # A drill counts only once both validations are recorded (data protection and compliance).
        validated = dict(
            DRDrill.objects.filter(service__in=services, pk__in=validated_drills())
            .values("service_id")
            .annotate(last=Max("held_at"))
            .order_by()
            .values_list("service_id", "last")
        )
        plans = {plan.service_id: plan for plan in DRPlan.objects.filter(service__in=services)}
        rows: list[Evidence] = []
        problems: dict[str, int] = defaultdict(int)

        def add(row: Evidence, problem: str = "") -> None:
            rows.append(row)
            if problem and row.status != GateStatus.PASS:
                problems[problem] += 1

        job_list = reverse("backups:job-list")
        for service in services:
            for data_type in required[service.pk]:
                pair_jobs = by_pair.get((service.pk, data_type), [])
                subject = f"{service.slug}:{data_type}"
                if not pair_jobs:
                    add(
                        Evidence(
                            f"{service.name} · {data_type}: no backup job",
                            GateStatus.FAIL,
                            "The policy requires this data type to be backed up; no job covers it.",
                            f"{job_list}?service={service.slug}",
                            service.slug,
                            f"job:{subject}",
                        ),
                        "missing backup jobs",
                    )
                    continue
                for job in pair_jobs:
                    for check in job_checks(job, now=now, facts=facts[job.pk]):
                        add(
                            Evidence(
                                f"{service.name} · {job.name}: {check.title.lower()}",
                                check.status,
                                check.detail,
                                job.get_absolute_url(),
                                service.slug,
                                f"{check.key}:{subject}:{job.pk}",
                            ),
                            f"failing {check.key} checks",
                        )
                add(self._restore_row(service, data_type, pair_jobs, restores, now), "restore tests missing or missed")
            add(
                self._drill_row(service, validated.get(service.pk), drills.get(service.pk), now),
                "DR drills overdue or not validated",
            )
            add(self._plan_row(service, plans.get(service.pk), now), "DR plans unreviewed")
        status = max((GateStatus(row.status) for row in rows), key=lambda status: _ORDER[status])
        if status == GateStatus.PASS:
            reason = f"All {len(services)} active services are backed up, restore tested and drilled in period."
        else:
            reason = "; ".join(f"{count} {what}" for what, count in problems.items()) + "."
        return GateResult(status=status, reason=reason, evidence=rows)

    def _restore_row(
        self, service: Service, data_type: str, jobs: list[BackupJob], restores: dict[int, RestoreTest], now: datetime
    ) -> Evidence:
        period = get_policy().backups.restore_test_every
        tests = [restores[job.pk] for job in jobs if job.pk in restores]
        key = f"restore:{service.slug}:{data_type}"
        url = reverse("backups:restore-list") + f"?service={service.slug}"
        label = f"{service.name} · {data_type}: restore test"
        if not tests:
            return Evidence(label, GateStatus.FAIL, "No restore test recorded.", url, service.slug, key)
        test = max(tests, key=lambda t: t.verified_at)
        if period.after(test.verified_at) < now:
            detail = f"Last restore test {ago(test.verified_at, now)}; the policy asks every {period}."
            return Evidence(label, GateStatus.FAIL, detail, url, service.slug, key)
        rto = f"RTO {test.rto_seconds / 60:.0f} min (target {test.rto_target_seconds / 60:.0f} min)"
        if not test.met_targets:
            detail = f"{test.get_result_display()} {ago(test.verified_at, now)}; {rto}" + (
                "" if test.met_rpo else "; RPO missed"
            )
            return Evidence(label, GateStatus.FAIL, detail, url, service.slug, key)
        return Evidence(label, GateStatus.PASS, f"Passed {ago(test.verified_at, now)}; {rto}.", url, service.slug, key)

    def _drill_row(
        self, service: Service, last_validated: datetime | None, last_held: datetime | None, now: datetime
    ) -> Evidence:
        """A drill counts only once the Security Lead validated its data protection and the Compliance Officer
        its compliance; the text says so, and names a newer drill still waiting for them."""
        period = get_policy().backups.dr_drill_every
        key = f"drill:{service.slug}"
        url = reverse("backups:drill-list") + f"?service={service.slug}"
        label = f"{service.name}: DR drill"
        rule = (
            "a drill counts once the Security Lead (data protection) and the Compliance Officer (compliance) "
            "validated it"
        )
        waiting = (
            f" The drill of {last_held:%Y-%m-%d} awaits validation."
            if last_held is not None and (last_validated is None or last_held > last_validated)
            else ""
        )
        if last_held is None:
            return Evidence(label, GateStatus.FAIL, "No DR drill recorded.", url, service.slug, key)
        if last_validated is None:
            detail = f"No validated DR drill ({rule}).{waiting}"
            return Evidence(label, GateStatus.FAIL, detail, url, service.slug, key)
        if period.after(last_validated) < now:
            detail = f"Last validated drill {ago(last_validated, now)}; the policy asks every {period}.{waiting}"
            return Evidence(label, GateStatus.FAIL, detail, url, service.slug, key)
        detail = f"Drilled {ago(last_validated, now)}; data protection and compliance validated.{waiting}"
        return Evidence(label, GateStatus.PASS, detail, url, service.slug, key)

    def _plan_row(self, service: Service, plan: DRPlan | None, now: datetime) -> Evidence:
        period = get_policy().backups.dr_plan_review_every
        key = f"dr-plan:{service.slug}"
        url = reverse("backups:plan-list") + f"?service={service.slug}"
        label = f"{service.name}: DR plan"
        if plan is None:
            return Evidence(label, GateStatus.FAIL, "No DR plan.", url, service.slug, key)
        if plan.reviewed_at is None or period.after(plan.reviewed_at) < now:
            detail = "Never reviewed." if plan.reviewed_at is None else f"Reviewed {ago(plan.reviewed_at, now)}."
            return Evidence(
                label, GateStatus.AT_RISK, f"{detail} The policy asks every {period}.", url, service.slug, key
            )
        return Evidence(label, GateStatus.PASS, f"Reviewed {ago(plan.reviewed_at, now)}.", url, service.slug, key)
