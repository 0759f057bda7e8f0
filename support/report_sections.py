"""The support app's section of the weekly operations report.

Registered with opsgov.reports' section registry when opsgov.apps discovers this module;
opsgov never imports this app.

* ``support`` — tickets of the period: opened (per priority), resolved, SLA breaches recorded in the
  period (listed, first response or resolution, with whether the team lead was notified), and the
  CSAT answers of the period (mean and count; under the policy's minimum sample it says so).
  Four queries, five when the breaches are more than the rows shown.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Avg, Count, Q
from django.urls import reverse
from django.utils import timezone

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

from .models import CsatSurvey, SlaBreach, SlaClock, Ticket


def _stamp(moment: datetime | None, period: ReportPeriod) -> str:
    return timezone.localtime(moment, period.zone).strftime("%a %-d %b %H:%M") if moment else "—"


def support_section(*, period: ReportPeriod, now: datetime) -> Section:
    """Tickets opened and resolved in the period, its SLA breaches, and its CSAT answers."""
    policy = get_policy().support
    priorities = list(policy.tiers)
    grouped = {
        row["priority"]: row["opened"]
        for row in Ticket.objects.filter(opened_at__gte=period.start, opened_at__lt=period.end)
        .values("priority")
        .annotate(opened=Count("id"))
        .order_by()
    }
    resolved = Ticket.objects.filter(resolved_at__gte=period.start, resolved_at__lt=period.end).count()
    breaches, more = first_rows(
        SlaBreach.objects.filter(breached_at__gte=period.start, breached_at__lt=period.end)
        .select_related("ticket")
        .order_by("breached_at", "id")
    )
    csat = CsatSurvey.objects.filter(
        answered_at__gte=period.start, answered_at__lt=period.end, rating__isnull=False
    ).aggregate(mean=Avg("rating"), answers=Count("id"), low=Count("id", filter=Q(rating__lte=2)))
    opened = sum(grouped.values())
    by_priority = Table(
        columns=["Priority", "Opened"],
        rows=[
            [Cell(key), Cell(str(grouped.get(key, 0)))] for key in priorities + sorted(set(grouped) - set(priorities))
        ],
        caption="Opened in the period, by priority",
    )
    breach_table = Table(
        columns=["Ticket", "Priority", "Target missed", "Due", "Team lead notified"],
        rows=[
            [
                Cell(f"{breach.ticket.public_id} {breach.ticket.subject}", breach.ticket.get_absolute_url()),
                Cell(breach.ticket.priority),
                Cell(str(SlaClock(breach.clock).label), tone="danger"),
                Cell(_stamp(breach.due_at, period)),
                Cell(breach.notified_to or "no", tone="" if breach.notified_to else "warning"),
            ]
            for breach in breaches
        ],
        caption="SLA breaches recorded in the period",
        more=more,
    )
    answers = csat["answers"]
    if answers:
        satisfaction = f"CSAT {csat['mean']:.2f} / 5 over {pluralize(answers, 'answer')}"
        if answers < policy.csat_min_sample:
            satisfaction += f" (too few answers to judge: the policy asks for {policy.csat_min_sample})"
        if csat["low"]:
            satisfaction += f", {csat['low']} rated 1 or 2"
    else:
        satisfaction = "no CSAT answer"
    total_breaches = len(breaches) + more
    return Section(
        key="support",
        title="Support of the week" if period.kind == ReportKind.WEEKLY else "Support of the period",
        summary=(
            f"{pluralize(opened, 'ticket')} opened, {pluralize(resolved, 'ticket')} resolved, "
            f"{pluralize(total_breaches, 'SLA breach', 'SLA breaches')}; {satisfaction}."
        ),
        tables=[by_priority, breach_table],
        notes=[f"The support queues: {absolute_url(reverse('support-queue'))}"],
    )


SUPPORT = SectionProvider("support", (ReportKind.WEEKLY,), "Support of the week", support_section, order=70)


# Contributed to the weekly report once opsgov discovers this module (opsgov.apps).
report_sections.register(SUPPORT)
