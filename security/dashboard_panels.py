"""The security app's boxes on the dashboard: open findings by severity and age with SLA compliance, and the
security alert queue.

Registered with opsgov.dashboard's panel registry when opsgov.apps discovers this module. Current state
only, in a fixed number of queries whatever the history:

* findings: one grouped count of open findings by severity and age bucket, one grouped count of those
  past their SLA without a valid acceptance, and one aggregate for SLA compliance over the last 30 days
  (findings fixed in the window, or open with their due time in it and passed: the share fixed by
  their due time, as the ``vuln_sla_compliance`` metric counts it);
* alert queue: one grouped count of the alerts not closed by status and severity, and the oldest
  unacknowledged ones (at most ``SHOWN``).

Attention: open critical findings past SLA without a valid acceptance, and new alerts older than the
policy's ``security.alert_triage_within``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Case, Count, F, Q, Value, When
from django.urls import reverse

from opsgov.dashboard import Attention, DashboardPanel, panels
from opsgov.policy import get_policy

from .models import SEVERITY_ORDER, AlertStatus, Finding, FindingStatus, SecurityAlert
from .selectors import overdue

SHOWN = 5
COMPLIANCE_WINDOW = timedelta(days=30)
AGES = (("lt7", "< 7 days", timedelta(days=7)), ("lt30", "7-30 days", timedelta(days=30)))
OLDER = ("ge30", "> 30 days")


def findings_url(**filters: Any) -> str:
    return f"{reverse('security:finding-list')}?{urlencode(filters, doseq=True)}"


def findings_context(*, now: datetime) -> dict[str, Any]:
    age = Case(
        *(When(first_seen_at__gt=now - limit, then=Value(key)) for key, _, limit in AGES),
        default=Value(OLDER[0]),
    )
    counts: dict[tuple[str, str], int] = {}
    for severity, bucket, n in (
        Finding.objects.filter(status=FindingStatus.OPEN)
        .annotate(age=age)
        .values_list("severity", "age")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[(severity, bucket)] = n
    late = dict(overdue(Finding.objects.all(), now).values_list("severity").annotate(n=Count("id")).order_by())
    buckets = [(key, label) for key, label, _ in AGES] + [OLDER]
    rows = [
        {
            "severity": str(severity),
            "label": severity.label,
            "ages": [counts.get((severity, key), 0) for key, _ in buckets],
            "open": sum(counts.get((severity, key), 0) for key, _ in buckets),
            "overdue": late.get(severity, 0),
            "url": findings_url(severity=str(severity), status="open"),
            "overdue_url": findings_url(severity=str(severity), overdue="true"),
        }
        for severity in SEVERITY_ORDER
    ]
    start = now - COMPLIANCE_WINDOW
    fixed_in_window = Q(status=FindingStatus.FIXED, fixed_at__gte=start, fixed_at__lt=now)
    tally = Finding.objects.filter(due_at__isnull=False).aggregate(
        met=Count("id", filter=fixed_in_window & Q(fixed_at__lte=F("due_at"))),
        fixed=Count("id", filter=fixed_in_window),
        missed_open=Count("id", filter=Q(status=FindingStatus.OPEN, due_at__gte=start, due_at__lt=now)),
    )
    total = tally["fixed"] + tally["missed_open"]
    return {
        "rows": rows,
        "ages": [label for _, label in buckets],
        "total": sum(row["open"] for row in rows),
        "overdue": sum(row["overdue"] for row in rows),
        "compliance": None if total == 0 else round(tally["met"] * 100 / total, 1),
        "met": tally["met"],
        "measured": total,
        "target": get_policy().targets.patch_compliance_percent,
        "all_url": findings_url(status="open"),
        "overdue_url": findings_url(overdue="true"),
    }


def findings_attention(*, now: datetime) -> list[Attention]:
    criticals = overdue(Finding.objects.filter(severity="critical"), now).count()
    if not criticals:
        return []
    return [
        Attention(
            label="Critical past SLA",
            text=f"{criticals} critical security finding{'s' if criticals != 1 else ''} past SLA, not accepted",
            url=findings_url(severity="critical", overdue="true"),
            detail=str(criticals),
        )
    ]


def _alerts_url(**filters: Any) -> str:
    return f"{reverse('security:alert-list')}?{urlencode(filters, doseq=True)}"


def alert_queue_context(*, now: datetime) -> dict[str, Any]:
    grouped = dict(
        SecurityAlert.objects.exclude(status=AlertStatus.CLOSED)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    statuses = [
        {
            "status": str(status),
            "label": status.label,
            "count": grouped.get(status, 0),
            "url": _alerts_url(status=str(status)),
        }
        for status in (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, AlertStatus.TRIAGED)
    ]
    within = get_policy().security.alert_triage_within.as_timedelta()
    oldest = list(
        SecurityAlert.objects.filter(status=AlertStatus.NEW)
        .select_related("service")
        .order_by("received_at", "id")[:SHOWN]
    )
    return {
        "statuses": statuses,
        "total": sum(grouped.values()),
        "oldest": [{"alert": alert, "late": now - alert.received_at > within} for alert in oldest],
        "within": get_policy().security.alert_triage_within,
        "all_url": reverse("security:alert-list"),
    }


def alert_queue_attention(*, now: datetime) -> list[Attention]:
    within = get_policy().security.alert_triage_within.as_timedelta()
    late = SecurityAlert.objects.filter(status=AlertStatus.NEW, received_at__lt=now - within).count()
    if not late:
        return []
    return [
        Attention(
            label="Security alerts not acknowledged",
            text=f"{late} security alert{'s' if late != 1 else ''} new for longer than "
            f"{get_policy().security.alert_triage_within}",
            url=_alerts_url(status="new"),
            detail=str(late),
            tone="warning",
        )
    ]


SECURITY_FINDINGS = DashboardPanel(
    key="security-findings",
    title="Security findings",
    template="security/dashboard/_findings.html",
    context=findings_context,
    order=50,
    attention=findings_attention,
)
SECURITY_ALERTS = DashboardPanel(
    key="security-alerts",
    title="Security alert queue",
    template="security/dashboard/_alert_queue.html",
    context=alert_queue_context,
    order=55,
    attention=alert_queue_attention,
)

# Shown on the dashboard once opsgov discovers this module (opsgov.apps).
panels.register(SECURITY_FINDINGS)
panels.register(SECURITY_ALERTS)
