"""Security operational metrics (DESIGN.md, "Metric definitions"), over each window of opsgov.registry.WINDOWS.

- ``vuln_sla_compliance`` (percent, target ``targets.patch_compliance_percent``, met when above):
  of the findings with an SLA that were *fixed in the window* or are *still open with their due
  time in the window and passed*, the share fixed by their due time. Not-applicable findings and
  findings without an SLA (info) are left out. Scopes: ``global`` and ``service:<slug>``.
  details: met, missed.
- ``vuln_mttr`` (seconds, target: the policy's critical SLA, met when below): mean of
  (fixed_at - first_seen_at) over findings fixed in the window; scopes ``global`` and
  ``severity:<key>`` (every severity gets a row; None when nothing was fixed).
- ``criticals_past_due`` (score = a count, target 0, met when at most it): open critical
  findings past their SLA that no valid risk acceptance covers, now (the same figure in every
  window). Scopes ``global`` and ``service:<slug>`` for services that have any.

- ``security_alert_mtta`` (seconds, target ``security.alert_triage_within``, met when below): mean of
  (acknowledged_at - received_at) over security alerts received in the window and acknowledged;
  details: unacknowledged (received in the window, not acknowledged yet). Scope ``global``.

Figures use opsgov's instants (first detection and fix are import times, never a scanner's clock).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db.models import Count, Q

from opsgov.models import Service
from opsgov.policy import get_policy
from opsgov.registry import WINDOWS, MetricDefinition, MetricValue, metrics

from .models import (
    SEVERITY_ORDER,
    AccessReviewCampaign,
    CampaignStatus,
    Finding,
    FindingStatus,
    ReviewedAccount,
    SecurityAlert,
    Severity,
)
from .selectors import overdue
from .training import assignments


def compute_sla_compliance(*, window: str, now: datetime) -> list[MetricValue]:
    start = now - WINDOWS[window]
    rows = (
        Finding.objects.filter(due_at__isnull=False)
        .filter(
            Q(status=FindingStatus.FIXED, fixed_at__gte=start, fixed_at__lt=now)
            | Q(status=FindingStatus.OPEN, due_at__gte=start, due_at__lt=now)
        )
        .values_list("asset__service__slug", "status", "fixed_at", "due_at")
    )
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # scope -> [met, missed]
    for slug, status, fixed_at, due_at in rows:
        met = status == FindingStatus.FIXED and fixed_at is not None and due_at is not None and fixed_at <= due_at
        for scope in ("global", f"service:{slug}" if slug else None):
            if scope is not None:
                tally[scope][0 if met else 1] += 1
    tally.setdefault("global", [0, 0])
    return [
        MetricValue(
            scope=scope,
            value=None if met + missed == 0 else met * 100 / (met + missed),
            sample_size=met + missed,
            details={"met": met, "missed": missed},
        )
        for scope, (met, missed) in sorted(tally.items())
    ]


def compute_mttr(*, window: str, now: datetime) -> list[MetricValue]:
    start = now - WINDOWS[window]
    durations: dict[str, list[float]] = defaultdict(list)
    for severity, first_seen, fixed_at in Finding.objects.filter(
        status=FindingStatus.FIXED, fixed_at__gte=start, fixed_at__lt=now
    ).values_list("severity", "first_seen_at", "fixed_at"):
        if fixed_at is None:
            continue
        seconds = (fixed_at - first_seen).total_seconds()
        durations["global"].append(seconds)
        durations[f"severity:{severity}"].append(seconds)
    scopes = ["global", *(f"severity:{severity}" for severity in SEVERITY_ORDER)]
    return [
        MetricValue(
            scope=scope,
            value=sum(durations[scope]) / len(durations[scope]) if durations[scope] else None,
            sample_size=len(durations[scope]),
        )
        for scope in scopes
    ]


def compute_criticals_past_due(*, window: str, now: datetime) -> list[MetricValue]:
    late = overdue(Finding.objects.filter(severity=Severity.CRITICAL), now)
    per_service: dict[str, int] = defaultdict(int)
    total = 0
    for slug in late.values_list("asset__service__slug", flat=True):
        total += 1
        if slug:
            per_service[slug] += 1
    values = [MetricValue(scope="global", value=float(total), sample_size=total)]
    known = set(Service.objects.filter(slug__in=per_service).values_list("slug", flat=True))
    values += [
        MetricValue(scope=f"service:{slug}", value=float(count), sample_size=count)
        for slug, count in sorted(per_service.items())
        if slug in known
    ]
    return values


def compute_alert_mtta(*, window: str, now: datetime) -> list[MetricValue]:
    start = now - WINDOWS[window]
    durations: list[float] = []
    unacknowledged = 0
    for received, acknowledged in SecurityAlert.objects.filter(received_at__gte=start, received_at__lt=now).values_list(
        "received_at", "acknowledged_at"
    ):
        if acknowledged is None:
            unacknowledged += 1
        else:
            durations.append((acknowledged - received).total_seconds())
    return [
        MetricValue(
            scope="global",
            value=sum(durations) / len(durations) if durations else None,
            sample_size=len(durations),
            details={"unacknowledged": unacknowledged},
        )
    ]


def _critical_sla_seconds() -> float:
    target = get_policy().security.vulnerability_sla.get("critical")
    return target.as_timedelta().total_seconds() if target is not None else 0.0


SLA_COMPLIANCE = MetricDefinition(
    key="vuln_sla_compliance",
    title="Vulnerability SLA compliance",
    unit="percent",
    comparison=">",
    target=lambda: float(get_policy().targets.patch_compliance_percent),
    compute=compute_sla_compliance,
    description="Share of findings fixed by their SLA due time, over findings fixed in the window and open ones "
    "whose due time passed in it.",
)
MTTR = MetricDefinition(
    key="vuln_mttr",
    title="Mean time to remediate vulnerabilities",
    unit="seconds",
    comparison="<",
    target=_critical_sla_seconds,
    compute=compute_mttr,
    description="Mean of (fixed - first detected) over findings fixed in the window, globally and by severity.",
)
CRITICALS_PAST_DUE = MetricDefinition(
    key="criticals_past_due",
    title="Critical vulnerabilities past due",
    unit="score",
    comparison="<=",
    target=lambda: 0.0,
    compute=compute_criticals_past_due,
    description="Open critical findings past their SLA without a valid risk acceptance, now.",
)

ALERT_MTTA = MetricDefinition(
    key="security_alert_mtta",
    title="Security alert MTTA",
    unit="seconds",
    comparison="<",
    target=lambda: get_policy().security.alert_triage_within.as_timedelta().total_seconds(),
    compute=compute_alert_mtta,
    description="Mean of (acknowledged - received by opsgov) over security alerts received in the window.",
)

# Registered when opsgov discovers this module (opsgov.apps).
metrics.register(SLA_COMPLIANCE)
metrics.register(MTTR)
metrics.register(CRITICALS_PAST_DUE)
metrics.register(ALERT_MTTA)


# --- Training and access reviews (security.training, security.access_reviews) --------------------
#
# - ``training_completion`` (percent, target ``security.training_target_percent``, met at or above):
#   completed ÷ assigned awareness-training assignments at the window's end (now), over active
#   courses; scopes ``global`` and ``audience:<audience>``; details: assigned, completed, overdue.
#   The same figure in every window (a state, not a flow).
# - ``access_review_completion`` (percent, target 100, met at or above): of the rows of access
#   review campaigns due in the window (or still open), the share decided; scope ``global``;
#   details: rows, decided, campaigns.


def compute_training_completion(*, window: str, now: datetime) -> list[MetricValue]:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in assignments(now=now):
        for scope in ("global", f"audience:{row.course.audience}"):
            tally[scope][0] += 1
            tally[scope][1] += row.completed
            tally[scope][2] += row.is_overdue(now)
    tally.setdefault("global", [0, 0, 0])
    return [
        MetricValue(
            scope=scope,
            value=completed * 100 / assigned if assigned else None,
            sample_size=assigned,
            details={"assigned": assigned, "completed": completed, "overdue": overdue_count},
        )
        for scope, (assigned, completed, overdue_count) in sorted(tally.items())
    ]


def compute_access_review_completion(*, window: str, now: datetime) -> list[MetricValue]:
    start = now - WINDOWS[window]
    campaigns = AccessReviewCampaign.objects.filter(
        Q(due_at__gte=start, due_at__lt=now) | Q(status=CampaignStatus.OPEN, opened_at__lt=now)
    )
    counts = ReviewedAccount.objects.filter(campaign__in=campaigns).aggregate(
        rows=Count("id"), decided=Count("id", filter=~Q(decision=""))
    )
    rows, decided = counts["rows"], counts["decided"]
    return [
        MetricValue(
            scope="global",
            value=decided * 100 / rows if rows else None,
            sample_size=rows,
            details={"rows": rows, "decided": decided, "campaigns": campaigns.count()},
        )
    ]


TRAINING_COMPLETION = MetricDefinition(
    key="training_completion",
    title="Awareness training completion",
    unit="percent",
    comparison=">=",
    target=lambda: float(get_policy().security.training_target_percent),
    compute=compute_training_completion,
    description="Completed ÷ assigned awareness-training assignments now (assignment by role; a completion "
    "counts for the course's recurrence).",
)
ACCESS_REVIEW_COMPLETION = MetricDefinition(
    key="access_review_completion",
    title="Access review completion",
    unit="percent",
    comparison=">=",
    target=lambda: 100.0,
    compute=compute_access_review_completion,
    description="Decided ÷ listed rows of the access review campaigns due in the window or still open.",
)
metrics.register(TRAINING_COMPLETION)
metrics.register(ACCESS_REVIEW_COMPLETION)
