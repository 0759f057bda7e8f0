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

Per service, each data type's rows (job and checks, restore test), then the drill and the plan; one method per
criterion adds them to a GateReport (opsgov.registry). Without active services the gate has no evidence.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, QuerySet
from django.urls import reverse

from opsgov.humanize import ago
from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateReport, GateResult, gates
from opsgov.roles import COMPLIANCE_OFFICER, DEVOPS_LEAD, SECURITY_LEAD, SRE_LEAD

from .models import ApprovalKind, BackupJob, DRDrill, DRDrillApproval, DRPlan, RestoreTest, ServiceBackupScope
from .selectors import JobFacts, job_checks, job_facts


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
        records = _Records.load(services)
        report = GateReport()
        for service in services:
            for data_type in records.required[service.pk]:
                self._backed_up(report, records, service, data_type, now)
                self._restore_tested(report, records, service, data_type, now)
            self._drilled(report, records, service, now)
            self._plan_reviewed(report, records, service, now)
        return report.result(
            f"All {len(services)} active services are backed up, restore tested and drilled in period."
        )

    def _backed_up(
        self, report: GateReport, records: _Records, service: Service, data_type: str, now: datetime
    ) -> None:
        """``job:<service>:<type>``: a backup job covers the data type; ``<check>:<service>:<type>:<job>``: each
        job's computed checks (backups.selectors.job_checks)."""
        jobs = records.jobs_of(service, data_type)
        subject = f"{service.slug}:{data_type}"
        if not jobs:
            report.add(
                Evidence(
                    f"{service.name} · {data_type}: no backup job",
                    GateStatus.FAIL,
                    "The policy requires this data type to be backed up; no job covers it.",
                    f"{reverse('backups:job-list')}?service={service.slug}",
                    service.slug,
                    f"job:{subject}",
                ),
                "missing",
                noun="backup job",
            )
        for job in jobs:
            for check in job_checks(job, now=now, facts=records.facts[job.pk]):
                report.add(
                    Evidence(
                        f"{service.name} · {job.name}: {check.title.lower()}",
                        check.status,
                        check.detail,
                        job.get_absolute_url(),
                        service.slug,
                        f"{check.key}:{subject}:{job.pk}",
                    ),
                    "failing",
                    noun=f"{check.key} check",
                )

    def _restore_tested(
        self, report: GateReport, records: _Records, service: Service, data_type: str, now: datetime
    ) -> None:
        """``restore:<service>:<type>``: the newest restore test of the data type's jobs (none without a job) is
        within the policy's period, passed and met its RTO/RPO targets."""
        jobs = records.jobs_of(service, data_type)
        if not jobs:
            return
        period = get_policy().backups.restore_test_every
        tests = [records.restores[job.pk] for job in jobs if job.pk in records.restores]
        key = f"restore:{service.slug}:{data_type}"
        url = reverse("backups:restore-list") + f"?service={service.slug}"
        label = f"{service.name} · {data_type}: restore test"
        problem = {"problem": "missing or missed", "noun": "restore test"}
        if not tests:
            report.add(Evidence(label, GateStatus.FAIL, "No restore test recorded.", url, service.slug, key), **problem)
            return
        test = max(tests, key=lambda t: t.verified_at)
        if period.after(test.verified_at) < now:
            detail = f"Last restore test {ago(test.verified_at, now)}; the policy asks every {period}."
            report.add(Evidence(label, GateStatus.FAIL, detail, url, service.slug, key), **problem)
            return
        rto = f"RTO {test.rto_seconds / 60:.0f} min (target {test.rto_target_seconds / 60:.0f} min)"
        if not test.met_targets:
            detail = f"{test.get_result_display()} {ago(test.verified_at, now)}; {rto}" + (
                "" if test.met_rpo else "; RPO missed"
            )
            report.add(Evidence(label, GateStatus.FAIL, detail, url, service.slug, key), **problem)
            return
        detail = f"Passed {ago(test.verified_at, now)}; {rto}."
        report.add(Evidence(label, GateStatus.PASS, detail, url, service.slug, key))

    def _drilled(self, report: GateReport, records: _Records, service: Service, now: datetime) -> None:
        """``drill:<service>``: a validated DR drill within the policy's period. A drill counts only once the
        Security Lead validated its data protection and the Compliance Officer its compliance; the text says
        so, and names a newer drill still waiting for them."""
        last_validated = records.validated.get(service.pk)
        last_held = records.drills.get(service.pk)
        period = get_policy().backups.dr_drill_every
        key = f"drill:{service.slug}"
        url = reverse("backups:drill-list") + f"?service={service.slug}"
        label = f"{service.name}: DR drill"
        problem = {"problem": "overdue or not validated", "noun": "DR drill"}
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
            report.add(Evidence(label, GateStatus.FAIL, "No DR drill recorded.", url, service.slug, key), **problem)
        elif last_validated is None:
            detail = f"No validated DR drill ({rule}).{waiting}"
            report.add(Evidence(label, GateStatus.FAIL, detail, url, service.slug, key), **problem)
        elif period.after(last_validated) < now:
            detail = f"Last validated drill {ago(last_validated, now)}; the policy asks every {period}.{waiting}"
            report.add(Evidence(label, GateStatus.FAIL, detail, url, service.slug, key), **problem)
        else:
            detail = f"Drilled {ago(last_validated, now)}; data protection and compliance validated.{waiting}"
            report.add(Evidence(label, GateStatus.PASS, detail, url, service.slug, key))

    def _plan_reviewed(self, report: GateReport, records: _Records, service: Service, now: datetime) -> None:
        """``dr-plan:<service>``: a DR plan reviewed within the policy's period (overdue: at risk)."""
        plan = records.plans.get(service.pk)
        period = get_policy().backups.dr_plan_review_every
        key = f"dr-plan:{service.slug}"
        url = reverse("backups:plan-list") + f"?service={service.slug}"
        label = f"{service.name}: DR plan"
        problem = {"problem": "unreviewed", "noun": "DR plan"}
        if plan is None:
            report.add(Evidence(label, GateStatus.FAIL, "No DR plan.", url, service.slug, key), **problem)
        elif plan.reviewed_at is None or period.after(plan.reviewed_at) < now:
            detail = "Never reviewed." if plan.reviewed_at is None else f"Reviewed {ago(plan.reviewed_at, now)}."
            detail = f"{detail} The policy asks every {period}."
            report.add(Evidence(label, GateStatus.AT_RISK, detail, url, service.slug, key), **problem)
        else:
            detail = f"Reviewed {ago(plan.reviewed_at, now)}."
            report.add(Evidence(label, GateStatus.PASS, detail, url, service.slug, key))


@dataclass(frozen=True)
class _Records:
    """What the gate reads of the active services' backups, in a fixed number of queries."""

    required: dict[int, list[str]]  # service id -> the data types the policy requires of it
    jobs: dict[tuple[int, str], list[BackupJob]]  # (service id, data type) -> its active jobs, by name
    facts: dict[int, JobFacts]  # job id -> what its runs and reports tell (backups.selectors.job_facts)
    restores: dict[int, RestoreTest]  # job id -> its newest restore test
    drills: dict[int, datetime]  # service id -> when its newest drill was held
    validated: dict[int, datetime]  # service id -> when its newest validated drill was held
    plans: dict[int, DRPlan]  # service id -> its DR plan

    @classmethod
    def load(cls, services: list[Service]) -> _Records:
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
        return cls(required, dict(by_pair), facts, restores, drills, validated, plans)

    def jobs_of(self, service: Service, data_type: str) -> list[BackupJob]:
        return self.jobs.get((service.pk, data_type), [])
