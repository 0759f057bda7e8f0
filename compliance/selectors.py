"""Reads of the compliance area: live and manual evidence of controls, coverage, the status report."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.urls import reverse

from opsgov.evidence_providers import EvidenceReading, providers
from opsgov.policy import get_policy
from opsgov.registry import TrainingCompletion
from opsgov.registry import training as registry_training

from .models import (
    OPEN_FINDING_STATUSES,
    Audit,
    ComplianceException,
    Control,
    ControlStatus,
    EvidenceBinding,
    EvidenceFile,
    Finding,
    Framework,
    Requirement,
    ReviewState,
    TestFrequency,
    TestOutcome,
    TestResult,
)


def policy_today(now: datetime) -> date:
    return now.astimezone(get_policy().business_calendar.zone).date()


def current_files_queryset(control_ids: Iterable[int] | QuerySet[Any], *, now: datetime) -> QuerySet[EvidenceFile]:
    """Approved evidence files of the controls, not superseded by an approved revision and not expired.

    `control_ids`: ids, or a query of control ids (a subquery: no list of a thousand parameters to send)."""
    today = policy_today(now)
    valid_for = get_policy().compliance.evidence_valid_for.approximate(business_day_hours=24)
    newer_approved = EvidenceFile.objects.filter(previous=OuterRef("pk"), state=ReviewState.APPROVED)
    ids = control_ids if isinstance(control_ids, QuerySet) else list(control_ids)
    return (
        EvidenceFile.objects.filter(control_id__in=ids, state=ReviewState.APPROVED, effective_date__lte=today)
        .filter(
            Q(expires_on__gt=today)
            | Q(expires_on__isnull=True, effective_date__gt=today - timedelta(days=valid_for.days))
        )
        .exclude(Exists(newer_approved))
        .order_by("control_id", "-effective_date", "-pk")
    )


def current_files(controls: Iterable[Control] | QuerySet[Control], *, now: datetime) -> dict[int, list[EvidenceFile]]:
    """By control id: its current evidence files (current_files_queryset)."""
    ids = [control.pk for control in controls]
    result: dict[int, list[EvidenceFile]] = {pk: [] for pk in ids}
    for row in current_files_queryset(ids, now=now):
        result[row.control_id].append(row)
    return result


_SENTINEL = 987654321


def _control_url_pattern() -> str:
    """The admin change URL of a control, with a sentinel id to replace."""
    return reverse("admin:compliance_control_change", args=[_SENTINEL])


def control_links() -> Callable[[int], str]:
    """A control's admin page by its id: the URL reversed once, the id filled in per control."""
    pattern, sentinel = _control_url_pattern(), str(_SENTINEL)
    return lambda pk: pattern.replace(sentinel, str(pk))


@dataclass
class ControlEvidence:
    control: Control
    readings: list[tuple[EvidenceBinding, EvidenceReading]] = field(default_factory=list)
    files: list[EvidenceFile] = field(default_factory=list)
    file_count: int = 0

    #: The control's admin page (one URL pattern filled in per row, not a reversal per row of a long report).
    url: str = ""

    @property
    def is_current(self) -> bool:
        """Current when some evidence counts and no live evidence fails or went stale."""
        if not self.readings:
            return self.file_count > 0
        return all(reading.is_current for _binding, reading in self.readings)


def control_evidence(
    controls: Iterable[Control] | QuerySet[Control],
    *,
    now: datetime,
    with_files: bool = True,
    readings: dict[tuple[str, str], EvidenceReading] | None = None,
) -> list[ControlEvidence]:
    """Live readings and current files of each control (bindings must be prefetched or are read per control).

    Each (provider, scope) is read once per call, however many controls are bound to it; `readings`, a
    dict kept by the caller across calls (one entry per evidence source, not per control), makes that
    once across calls: the evidence package reads its controls in batches, each source once. Without
    `with_files`, `files` is left empty and only `file_count` is read (one aggregate query): the status
    report and the evidence package (which streams the files from the database) need no more.
    """
    bindings_of: dict[int, list[EvidenceBinding]] | None = None
    scope: QuerySet[Any] | list[int]
    if isinstance(controls, QuerySet):
        # A query: its bindings and file counts are read with it as a subquery (three queries in all, and
        # no IN list of every id for the driver to bind, which cost more than the queries at 1,000 controls).
        scope = controls.order_by().values("pk")
        controls = list(controls.prefetch_related(None))
        bindings_of = {control.pk: [] for control in controls}
        for binding in EvidenceBinding.objects.filter(control_id__in=scope).order_by("pk"):
            bindings_of.setdefault(binding.control_id, []).append(binding)
    else:
        controls = list(controls)
        scope = [control.pk for control in controls]
    files = current_files(controls, now=now) if with_files else {}
    counts = (
        {pk: len(rows) for pk, rows in files.items()}
        if with_files
        else dict(
            current_files_queryset(scope, now=now)
            .order_by()
            .values("control_id")
            .annotate(n=Count("pk"))
            .values_list("control_id", "n")
        )
    )
    readings_of = readings if readings is not None else {}
    pattern = _control_url_pattern()
    out: list[ControlEvidence] = []
    for control in controls:
        pairs = []
        bound = bindings_of[control.pk] if bindings_of is not None else control.bindings.all()
        for binding in bound:
            key = (binding.provider, binding.scope)
            if key not in readings_of:
                readings_of[key] = providers.read(key=binding.provider, scope=binding.scope, now=now)
            pairs.append((binding, readings_of[key]))
        out.append(
            ControlEvidence(
                control=control,
                readings=pairs,
                files=files.get(control.pk, []),
                file_count=counts.get(control.pk, 0),
                url=pattern.replace(str(_SENTINEL), str(control.pk)),
            )
        )
    return out


def active_controls() -> QuerySet[Control]:
    return (
        Control.objects.exclude(status=ControlStatus.RETIRED)
        .prefetch_related(Prefetch("bindings", queryset=EvidenceBinding.objects.order_by("pk")))
        .order_by("ref_id")
    )


def active_frameworks() -> QuerySet[Framework]:
    return Framework.objects.filter(is_active=True).order_by("slug", "-created_at")


@dataclass(frozen=True)
class Coverage:
    assessable: int
    covered: int

    @property
    def percent(self) -> float | None:
        return None if not self.assessable else 100 * self.covered / self.assessable


def coverage(framework: Framework) -> Coverage:
    live = Control.objects.exclude(status=ControlStatus.RETIRED).filter(requirements=OuterRef("pk"))
    counts = Requirement.objects.filter(framework=framework, assessable=True).aggregate(
        assessable=Count("pk"), covered=Count("pk", filter=Q(Exists(live)))
    )
    return Coverage(assessable=counts["assessable"], covered=counts["covered"])


def framework_controls(framework: Framework) -> QuerySet[Control]:
    return active_controls().filter(requirements__framework=framework).distinct()


def open_findings() -> QuerySet[Finding]:
    return Finding.objects.filter(status__in=OPEN_FINDING_STATUSES).select_related("control", "owner", "audit")


def overdue_findings(now: datetime) -> QuerySet[Finding]:
    return open_findings().filter(due_at__lte=now)


def active_exceptions(now: datetime) -> QuerySet[ComplianceException]:
    return ComplianceException.objects.filter(revoked_at__isnull=True, approved_at__isnull=False, expires_at__gt=now)


def expiring_exceptions(now: datetime) -> QuerySet[ComplianceException]:
    within = get_policy().compliance.exception_expiring_within.approximate(business_day_hours=24)
    return active_exceptions(now).filter(expires_at__lte=now + within)


def expired_exceptions_relied_on(now: datetime) -> list[ComplianceException]:
    """Approved exceptions that expired unrevoked while their control still lacks current evidence and no
    newer active exception covers the same scope: the organisation still relies on an exception that ended."""
    expired = list(
        ComplianceException.objects.filter(revoked_at__isnull=True, approved_at__isnull=False, expires_at__lte=now)
        .select_related("control", "requirement", "service")
        .order_by("expires_at", "pk")
    )
    if not expired:
        return []
    active = list(active_exceptions(now).values_list("control_id", "requirement_id", "service_id"))
    controls = [item.control for item in expired if item.control is not None]
    current = {
        item.control.pk
        for item in control_evidence(Control.objects.filter(pk__in=[c.pk for c in controls]), now=now)
        if item.is_current
    }
    relied: list[ComplianceException] = []
    for item in expired:
        if (item.control_id, item.requirement_id, item.service_id) in active:
            continue
        if item.control_id is not None and item.control_id in current:
            continue
        relied.append(item)
    return relied


def external_audits(user: Any, *, now: datetime) -> QuerySet[Audit]:
    """The audits `user` is an external auditor of, while their access lasts."""
    return Audit.objects.filter(external_auditors=user, access_expires_at__gt=now)


def audit_controls(audits: QuerySet[Audit]) -> QuerySet[Control]:
    """Controls in the scope of any of `audits`: mapped to their framework (to their requirement subset if set)."""
    scoped = Q()
    for audit in audits.prefetch_related("requirements"):
        chosen = [requirement.pk for requirement in audit.requirements.all()]
        scoped |= Q(requirements__in=chosen) if chosen else Q(requirements__framework_id=audit.framework_id)
    if not scoped:
        return Control.objects.none()
    return Control.objects.filter(scoped).distinct()


def next_test_due(control: Control, last: TestResult | None) -> date:
    """The audit calendar: the control is next tested its frequency after its last test (or its creation)."""
    start = (last.tested_at if last is not None else control.created_at).date()
    return start + relativedelta(months=TestFrequency(control.test_frequency).months)


def audit_calendar(controls: Iterable[Control]) -> list[tuple[Control, TestResult | None, date]]:
    controls = list(controls)
    latest = _latest_tests([control.pk for control in controls])
    rows = [(control, latest.get(control.pk), next_test_due(control, latest.get(control.pk))) for control in controls]
    return sorted(rows, key=lambda row: (row[2], row[0].ref_id))


def _latest_tests(control_ids: list[int]) -> dict[int, TestResult]:
    """Each control's latest test result, in one query (a correlated subquery, on SQLite too)."""
    newest = TestResult.objects.filter(control_id=OuterRef("control_id")).order_by("-tested_at", "-pk").values("pk")
    rows = TestResult.objects.filter(control_id__in=control_ids, pk=Subquery(newest[:1])).select_related("audit")
    return {row.control_id: row for row in rows}


@dataclass(frozen=True)
class CalendarEntry:
    """One control in the audit calendar: its last test, the next due dates within the horizon, the state."""

    control: Control
    last: TestResult | None
    due: list[date]  # the next due test first, then each one its frequency later, within the horizon
    today: date

    @property
    def next_due(self) -> date:
        return self.due[0]

    @property
    def days(self) -> int:
        """Days until the next test is due (negative: overdue)."""
        return (self.next_due - self.today).days

    @property
    def state(self) -> str:
        """ "overdue", "due_soon" (within 30 days) or "scheduled"; the page colours and words it."""
        if self.days < 0:
            return "overdue"
        return "due_soon" if self.days <= 30 else "scheduled"

    @property
    def words(self) -> str:
        if self.days < 0:
            return f"Overdue by {-self.days} day{'s' if self.days != -1 else ''}"
        if self.days == 0:
            return "Due today"
        return f"Due in {self.days} day{'s' if self.days != 1 else ''}"


def calendar(
    controls: Iterable[Control] | None = None, *, now: datetime, horizon_months: int = 12
) -> list[CalendarEntry]:
    """The audit calendar: each implemented control's next due tests from its test frequency (its last test,
    else its creation, plus the frequency; then every frequency after, up to `horizon_months` ahead),
    overdue ones first. Two queries whatever the number of controls."""
    if controls is None:
        controls = Control.objects.exclude(status=ControlStatus.RETIRED).select_related("owner")
    controls = list(controls)
    latest = _latest_tests([control.pk for control in controls])
    today = policy_today(now)
    horizon = today + relativedelta(months=horizon_months)
    entries = []
    for control in controls:
        last = latest.get(control.pk)
        step = relativedelta(months=TestFrequency(control.test_frequency).months)
        due = [next_test_due(control, last)]
        while due[-1] + step <= horizon:
            due.append(due[-1] + step)
        entries.append(CalendarEntry(control=control, last=last, due=due, today=today))
    return sorted(entries, key=lambda entry: (entry.next_due, entry.control.ref_id))


# --- The status report of a framework ----------------------------------------------------


@dataclass(frozen=True)
class ControlRow:
    """A control in the status report, as its evidence snapshot has it (compliance.ControlEvidenceSnapshot)."""

    control: Control
    is_current: bool
    file_count: int
    readings: list[tuple[str, str]]  # (provider, freshness) in binding order
    url: str


def control_rows(controls: Iterable[Control]) -> list[ControlRow]:
    """Rows of `controls` read with their snapshot (select_related("evidence_snapshot")); none: not current."""
    pattern = _control_url_pattern()
    rows = []
    for control in controls:
        snapshot = getattr(control, "evidence_snapshot", None)
        rows.append(
            ControlRow(
                control=control,
                is_current=snapshot.is_current if snapshot is not None else False,
                file_count=snapshot.file_count if snapshot is not None else 0,
                readings=[(provider, freshness) for provider, freshness in snapshot.readings] if snapshot else [],
                url=pattern.replace(str(_SENTINEL), str(control.pk)),
            )
        )
    return rows


@dataclass
class StatusReport:
    """The status report of a framework. Requirements, tests, findings, exceptions and training are read as
    of `generated_at`; the controls' evidence as of their snapshots (`evidence_as_of`: the oldest)."""

    framework: Framework
    generated_at: datetime
    coverage: Coverage
    #: The framework's controls (a query, with their snapshots): the page lists a page of them, CSV and PDF all.
    controls: QuerySet[Control]
    control_count: int
    current_controls: int
    evidence_as_of: datetime | None
    #: Controls without a snapshot yet (created by a bulk load): compliance.reports refreshes them first.
    missing_snapshots: int
    failed_tests: list[TestResult]
    open_findings: list[Finding]
    overdue_findings: list[Finding]
    active_exceptions: list[ComplianceException]
    expiring_exceptions: list[ComplianceException]
    #: Completion of the compliance courses by role, from the area that keeps training records (registry).
    training: list[TrainingCompletion] = field(default_factory=list)


#: The audience of the courses the compliance report counts (opsgov.registry.training).
TRAINING_AUDIENCE = "compliance"


def training_completion(*, now: datetime) -> list[TrainingCompletion]:
    """Completion of the compliance courses by course and role, as the training records' app answers it
    through core's registry (opsgov.registry.training); [] when no app keeps training records."""
    rows = registry_training.completion(audience=TRAINING_AUDIENCE, now=now)
    return sorted(rows, key=lambda row: (row.course, row.role))


def status_report(framework: Framework, *, now: datetime) -> StatusReport:
    """The status report of `framework`: a fixed number of queries, whatever its number of controls (the
    controls' evidence is read from their snapshots, counted by the database)."""
    control_ids = (  # a subquery
        Control.objects.exclude(status=ControlStatus.RETIRED).filter(requirements__framework=framework).values("pk")
    )
    evidence = Control.objects.filter(pk__in=control_ids).aggregate(
        total=Count("pk"),
        current=Count("pk", filter=Q(evidence_snapshot__is_current=True)),
        missing=Count("pk", filter=Q(evidence_snapshot__isnull=True)),
        as_of=Min("evidence_snapshot__computed_at"),
    )
    findings = list(open_findings().filter(Q(control_id__in=control_ids) | Q(audit__framework=framework)))
    exceptions = list(
        active_exceptions(now)
        .filter(Q(control_id__in=control_ids) | Q(requirement__framework=framework))
        .select_related("control", "requirement", "approver")
    )
    within = get_policy().compliance.exception_expiring_within.approximate(business_day_hours=24)
    return StatusReport(
        framework=framework,
        generated_at=now,
        coverage=coverage(framework),
        controls=Control.objects.filter(pk__in=control_ids).select_related("evidence_snapshot").order_by("ref_id"),
        control_count=evidence["total"],
        current_controls=evidence["current"],
        evidence_as_of=evidence["as_of"],
        missing_snapshots=evidence["missing"],
        failed_tests=list(
            TestResult.objects.filter(audit__framework=framework, result=TestOutcome.FAILED).select_related(
                "control", "audit"
            )
        ),
        open_findings=findings,
        overdue_findings=[item for item in findings if item.due_at <= now],
        active_exceptions=exceptions,
        expiring_exceptions=[item for item in exceptions if item.expires_at <= now + within],
        training=training_completion(now=now),
    )
