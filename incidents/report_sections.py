"""The incidents app's sections of the weekly operations report.

Registered with opsgov.reports' section registry when opsgov.apps discovers this module;
opsgov never imports this app.

* ``incidents`` — incidents of the week: those *triggered* in the period
  (cancelled ones, false alarms, counted apart), per severity, how many of them
  were resolved by the period's end, and the failure-severity ones listed with
  their time to acknowledge and to resolve; plus the incidents *resolved* in the
  period whatever their trigger day.
* ``overdue-reviews`` — post-incident reviews not published whose due time has
  passed, as the report is written (current state, not as of the period's end).
* ``overdue-action-items`` — open or in-progress action items due before today
  in the policy's time zone, as the report is written.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from opsgov.formatting import format_duration
from opsgov.models import ReportKind
from opsgov.policy import get_policy
from opsgov.reports.services import (
    Cell,
    ReportPeriod,
    Section,
    SectionProvider,
    Table,
    absolute_url,
    first_rows,
    pluralize,
    report_sections,
)

from .models import Incident, IncidentStatus
from .reviews.selectors import overdue_action_items, overdue_reviews, policy_today

_CANCELLED = IncidentStatus.CANCELLED.value


def _stamp(moment: datetime | None, period: ReportPeriod) -> str:
    return timezone.localtime(moment, period.zone).strftime("%a %-d %b %H:%M") if moment else "—"


def _since(start: datetime, moment: datetime | None) -> str:
    return format_duration(moment - start) if moment else "—"


def incidents_section(*, period: ReportPeriod, now: datetime) -> Section:
    """Incidents triggered (and resolved) in the period; failure severities listed. Four queries at most."""
    policy = get_policy().incidents
    in_period = Incident.objects.filter(triggered_at__gte=period.start, triggered_at__lt=period.end)
    grouped = (
        in_period.values("severity")
        .annotate(
            triggered=Count("id", filter=~Q(status=_CANCELLED)),
            cancelled=Count("id", filter=Q(status=_CANCELLED)),
            resolved=Count("id", filter=Q(resolved_at__lt=period.end) & ~Q(status=_CANCELLED)),
        )
        .order_by()
    )
    counts = {row["severity"]: row for row in grouped}
    severities = policy.severity_keys() + sorted(set(counts) - set(policy.severities))
    triggered = sum(row["triggered"] for row in counts.values())
    cancelled = sum(row["cancelled"] for row in counts.values())
    resolved_in_period = (
        Incident.objects.filter(resolved_at__gte=period.start, resolved_at__lt=period.end)
        .exclude(status=_CANCELLED)
        .count()
    )
    by_severity = Table(
        columns=["Severity", "Triggered", "Resolved by the end of the period", "Cancelled (false alarms)"],
        rows=[
            [
                Cell(key, tone="danger" if key in policy.failure_severities and counts.get(key) else ""),
                Cell(str(counts[key]["triggered"] if key in counts else 0)),
                Cell(str(counts[key]["resolved"] if key in counts else 0)),
                Cell(str(counts[key]["cancelled"] if key in counts else 0)),
            ]
            for key in severities
        ],
        caption="Triggered in the period, by severity",
    )
    failures, more = first_rows(
        in_period.filter(severity__in=list(policy.failure_severities))
        .exclude(status=_CANCELLED)
        .select_related("service")
        .order_by("triggered_at", "id")
    )
    failure_table = Table(
        columns=["Incident", "Service", "Severity", "Status", "Triggered", "Acknowledged after", "Resolved after"],
        rows=[
            [
                Cell(f"{incident.public_id} {incident.title}", incident.get_absolute_url()),
                Cell(incident.service.name),
                Cell(incident.severity, tone="danger"),
                Cell(incident.get_status_display()),
                Cell(_stamp(incident.triggered_at, period)),
                Cell(_since(incident.triggered_at, incident.acknowledged_at)),
                Cell(_since(incident.triggered_at, incident.resolved_at)),
            ]
            for incident in failures
        ],
        caption=f"Failures ({', '.join(policy.failure_severities)})",
        more=more,
    )
    week = (
        reverse("incident-list")
        + "?"
        + urlencode({"triggered_after": period.start.isoformat(), "triggered_before": period.end.isoformat()})
    )
    per_severity = ", ".join(
        f"{key}: {counts[key]['triggered']}" for key in severities if key in counts and counts[key]["triggered"]
    )
    return Section(
        key="incidents",
        title="Incidents of the week" if period.kind == ReportKind.WEEKLY else "Incidents of the period",
        summary=(
            f"{pluralize(triggered, 'incident')} triggered{f' ({per_severity})' if per_severity else ''}, "
            f"{pluralize(cancelled, 'false alarm')} cancelled; "
            f"{pluralize(resolved_in_period, 'incident')} resolved in the period."
        ),
        tables=[by_severity, failure_table],
        notes=[f"Every incident of the period: {absolute_url(week)}"],
    )


def overdue_reviews_section(*, period: ReportPeriod, now: datetime) -> Section:
    """Reviews past their due time and not published, as the report is written (two queries at most)."""
    reviews, more = first_rows(overdue_reviews(now=now))
    rows = [
        [
            Cell(f"Review of {review.incident.public_id} {review.incident.title}", review.get_absolute_url()),
            Cell(review.incident.service.name),
            Cell(review.get_status_display()),
            Cell(_stamp(review.due_at, period)),
            Cell(_since(review.due_at, now) if review.due_at else "—", tone="danger"),
        ]
        for review in reviews
    ]
    total = len(rows) + more
    return Section(
        key="overdue-reviews",
        title="Overdue post-incident reviews",
        summary=f"{pluralize(total, 'review')} past {'its' if total == 1 else 'their'} due time and not published."
        if total
        else "No post-incident review is overdue.",
        tables=[Table(columns=["Review", "Service", "Status", "Due", "Overdue by"], rows=rows, more=more)]
        if rows
        else [],
        notes=[
            f"As of {_stamp(now, period)}. All overdue reviews: {absolute_url(reverse('review-list'))}?overdue=true"
        ],
    )


def overdue_action_items_section(*, period: ReportPeriod, now: datetime) -> Section:
    """Open action items due before today (policy time zone), as the report is written (two queries at most)."""
    today = policy_today(now)
    items, more = first_rows(overdue_action_items(today=today))
    rows = [
        [
            Cell(item.title, item.get_absolute_url()),
            Cell(item.owner.get_full_name() or item.owner.get_username() if item.owner else "nobody"),
            Cell(item.due_date.isoformat() if item.due_date else "—"),
            Cell(pluralize((today - item.due_date).days, "day") if item.due_date else "—", tone="danger"),
            Cell(item.get_priority_display()),
            Cell(
                item.incident.public_id if item.incident else "—",
                item.incident.get_absolute_url() if item.incident else "",
            ),
        ]
        for item in items
    ]
    total = len(rows) + more
    return Section(
        key="overdue-action-items",
        title="Overdue action items",
        summary=f"{pluralize(total, 'action item')} open past {'its' if total == 1 else 'their'} due date."
        if total
        else "No action item is overdue.",
        tables=[
            Table(columns=["Action item", "Owner", "Due", "Overdue by", "Priority", "Incident"], rows=rows, more=more)
        ]
        if rows
        else [],
        notes=[
            f"As of {today.isoformat()}. All overdue items: {absolute_url(reverse('action-item-list'))}?overdue=true"
        ],
    )


INCIDENTS = SectionProvider("incidents", (ReportKind.WEEKLY,), "Incidents of the week", incidents_section, order=30)
OVERDUE_REVIEWS = SectionProvider(
    "overdue-reviews", (ReportKind.WEEKLY,), "Overdue post-incident reviews", overdue_reviews_section, order=50
)
OVERDUE_ACTION_ITEMS = SectionProvider(
    "overdue-action-items", (ReportKind.WEEKLY,), "Overdue action items", overdue_action_items_section, order=60
)


# Contributed to the weekly report once opsgov discovers this module (opsgov.apps).
for _provider in (INCIDENTS, OVERDUE_REVIEWS, OVERDUE_ACTION_ITEMS):
    report_sections.register(_provider)
