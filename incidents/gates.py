"""Quality gates of steps 2 and 4: incident management and continuous improvement.

Each gate's `evaluate` lists its criteria, one method each. A criterion adds
to the evaluation's GateReport (opsgov.registry) evidence rows that link to the
record behind them, and states the problem when it is not met. The gate's status
is the worst of its rows (fail > at risk > pass), its reason the problems found,
and with nothing to judge it reports "no evidence", never pass. Every row has a
stable key ("<check>:<service slug or record>"), by which a waiver names it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateReport, GateResult, gates
from opsgov.roles import SRE_LEAD, TECH_LEAD

from .ingest import dead_letters
from .models import (
    ActionItem,
    ActionStatus,
    Incident,
    IncidentStatus,
    PostIncidentReview,
    ReviewStatus,
    Schedule,
    ServiceEscalation,
)
from .oncall.selectors import Interval, gaps, schedule_queryset
from .reviews.selectors import BacklogSummary, backlog_summary, overdue_action_items, overdue_reviews, policy_today

GAP_HORIZON = timedelta(days=7)
WINDOW = timedelta(days=30)
# At most this many offending records are listed per check; the reason gives the full count.
MAX_ROWS = 25


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _level_schedules(services: list[Service]) -> dict[int, set[int]]:
    """By escalation policy of `services`: the schedules its levels page (none: it notifies named people only)."""
    level_schedules: dict[int, set[int]] = {}
    for policy_id, schedule_id in (
        ServiceEscalation.objects.filter(service__in=services)
        .values_list("policy_id", "policy__levels__schedule_id")
        .distinct()
    ):
        level_schedules.setdefault(policy_id, set())
        if schedule_id is not None:
            level_schedules[policy_id].add(schedule_id)
    return level_schedules


def _schedule_holes(schedule_ids: set[int], now: datetime) -> dict[int, list[tuple[Schedule, Interval]]]:
    """By schedule id: the schedule's gaps with nobody on call in the next GAP_HORIZON, in order."""
    schedules = schedule_queryset(overrides_after=now, overrides_before=now + GAP_HORIZON).filter(pk__in=schedule_ids)
    return {
        schedule.pk: [(schedule, hole) for hole in gaps(schedule, now, now + GAP_HORIZON)] for schedule in schedules
    }


def _escalation_evidence(
    service: Service, link: ServiceEscalation | None, holes: list[tuple[Schedule, Interval]], *, pages_schedules: bool
) -> Evidence:
    """The row of one service's escalation path: none (fail), a gap (fail), or covered (pass)."""
    key = f"escalation:{service.slug}"
    if link is None:
        return Evidence(
            label=f"{service.name}: no escalation policy",
            status=GateStatus.FAIL,
            detail="New incidents notify nobody.",
            url=service.get_absolute_url(),
            service=service.slug,
            key=key,
        )
    if holes:
        schedule, (start, end) = holes[0]
        return Evidence(
            label=f"{service.name}: nobody on call in {schedule.name}",
            status=GateStatus.FAIL,
            detail=f"First gap {_when(start)} to {_when(end)}"
            + (f" ({len(holes)} gaps in 7 days)" if len(holes) > 1 else ""),
            url=schedule.get_absolute_url(),
            service=service.slug,
            key=key,
        )
    if not pages_schedules:
        return Evidence(
            label=f"{service.name}: {link.policy.name} notifies named people only",
            status=GateStatus.PASS,
            detail="No rotation to leave gaps.",
            url=link.policy.get_absolute_url(),
            service=service.slug,
            key=key,
        )
    return Evidence(
        label=f"{service.name}: {link.policy.name}, covered for 7 days",
        status=GateStatus.PASS,
        url=link.policy.get_absolute_url(),
        service=service.slug,
        key=key,
    )


@gates.register
class IncidentManagementGate(Gate):
    key = "incident_management"
    step = 2
    title = "Incident management process active"
    owner_roles = (SRE_LEAD,)
    description = (
        "Every active service has an escalation policy whose schedules leave no on-call gap in the next "
        "7 days; response targets met for the policy's share of incidents in 30 days; reviews done on time; "
        "no accepted alert event dead-lettered (processing failed and nobody replayed it yet)."
    )

    def evaluate(self, *, now: datetime) -> GateResult:
        services = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("slug"))
        if not services:
            return GateResult(status=GateStatus.NO_EVIDENCE, reason="No evidence: there are no active services.")
        report = GateReport()
        self.escalation_paths_covered(report, services, now=now)
        self.response_targets_met(report, now=now)
        self.reviews_on_time(report, now=now)
        self.no_dead_letters(report)
        return report.result(
            "Every active service has a covered escalation path; responses and reviews on time.", end=""
        )

    def escalation_paths_covered(self, report: GateReport, services: list[Service], *, now: datetime) -> None:
        """An escalation path for every service, with nobody-on-call gaps nowhere in the next 7 days."""
        links = {
            link.service_id: link
            for link in ServiceEscalation.objects.filter(service__in=services).select_related("policy")
        }
        level_schedules = _level_schedules(services)
        holes_by_schedule = _schedule_holes(set().union(*level_schedules.values()), now)
        rows = []
        for service in services:
            link = links.get(service.pk)
            paged = sorted(level_schedules.get(link.policy_id, ())) if link is not None else []
            holes = [hole for pk in paged for hole in holes_by_schedule.get(pk, [])]
            rows.append(_escalation_evidence(service, link, holes, pages_schedules=bool(paged)))
        report.extend(rows)
        uncovered = sum(1 for row in rows if row.status == GateStatus.FAIL)
        if uncovered:
            report.state(f"{uncovered} of {len(services)} active services lack a complete escalation path")

    def response_targets_met(self, report: GateReport, *, now: datetime) -> None:
        """Response targets met for at least the policy's share of incidents in the last 30 days."""
        judged = Incident.objects.filter(triggered_at__gte=now - WINDOW, response_met__isnull=False).exclude(
            status=IncidentStatus.CANCELLED
        )
        counts = judged.aggregate(total=Count("id"), met=Count("id", filter=Q(response_met=True)))
        if not counts["total"]:
            return
        share = 100 * counts["met"] / counts["total"]
        target = get_policy().incidents.min_response_attainment_percent
        ok = share >= target
        report.add(
            Evidence(
                label=f"Response targets met for {share:.1f} % of {counts['total']} incidents (target {target:g} %)",
                status=GateStatus.PASS if ok else GateStatus.AT_RISK,
                detail="Last 30 days.",
                url=reverse("incident-list"),
                key="response_targets",
            )
        )
        if ok:
            return
        report.extend(
            Evidence(
                label=f"{incident.public_id} missed its response target",
                status=GateStatus.AT_RISK,
                detail=f"{incident.severity}: {incident.title}",
                url=incident.get_absolute_url(),
                service=incident.service.slug,
                key=f"response_missed:{incident.public_id}",
            )
            for incident in judged.filter(response_met=False).select_related("service")[:MAX_ROWS]
        )
        report.state(f"response targets met for {share:.1f} % of incidents, below {target:g} %")

    def reviews_on_time(self, report: GateReport, *, now: datetime) -> None:
        """Reviews done on time."""
        overdue = overdue_reviews(now=now)
        late = list(overdue[: MAX_ROWS + 1])
        report.extend(
            Evidence(
                label=f"Review of {review.incident.public_id} overdue",
                status=GateStatus.AT_RISK,
                detail=f"Due {_when(review.due_at)}; {review.get_status_display().lower()}."
                if review.due_at
                else review.get_status_display(),
                url=review.get_absolute_url(),
                service=review.incident.service.slug,
                key=f"review_overdue:{review.incident.public_id}",
            )
            for review in late[:MAX_ROWS]
        )
        if late:
            report.state(f"{overdue.count()} post-incident review(s) overdue")

    def no_dead_letters(self, report: GateReport) -> None:
        """Ingestion health: no accepted alert event left dead-lettered (incidents.ingest.dead_letters)."""
        rows, problem = dead_letters.gate_evidence()
        report.extend(rows)
        report.state(problem)


@gates.register
class ContinuousImprovementGate(Gate):
    key = "continuous_improvement"
    step = 4
    title = "Continuous improvement process active"
    owner_roles = (SRE_LEAD, TECH_LEAD)
    description = "Reviews produce action items, few are overdue, items are being closed."

    def evaluate(self, *, now: datetime) -> GateResult:
        reviews = PostIncidentReview.objects.exclude(status=ReviewStatus.DRAFT)
        items = ActionItem.objects.all()
        if not reviews.exists() and not items.exists():
            return GateResult(
                status=GateStatus.NO_EVIDENCE,
                reason="No evidence: no submitted post-incident review and no action item yet.",
            )
        today = policy_today(now)
        backlog = backlog_summary(today=today)
        report = GateReport()
        self.reviews_produce_action_items(report, reviews)
        self.few_action_items_overdue(report, backlog, today=today)
        self.action_items_being_closed(report, items, backlog, now=now)
        return report.result("Reviews produce action items, which are closed on time.", end="")

    def reviews_produce_action_items(self, report: GateReport, reviews: QuerySet[PostIncidentReview]) -> None:
        """Every submitted review produced action items."""
        empty = list(
            reviews.annotate(items=Count("action_items"))
            .filter(items=0)
            .select_related("incident__service")
            .order_by("-created_at")[:MAX_ROWS]
        )
        if empty:
            report.extend(
                Evidence(
                    label=f"Review of {review.incident.public_id} has no action items",
                    status=GateStatus.FAIL,
                    detail="A review that changes nothing repeats the incident.",
                    url=review.get_absolute_url(),
                    service=review.incident.service.slug,
                    key=f"review_without_items:{review.incident.public_id}",
                )
                for review in empty
            )
            report.state(f"{len(empty)} review(s) without action items")
            return
        if not reviews.exists():
            return
        report.add(
            Evidence(
                label=f"All {reviews.count()} submitted reviews have action items",
                status=GateStatus.PASS,
                url=reverse("review-list"),
                key="reviews_with_items",
            )
        )

    def few_action_items_overdue(self, report: GateReport, backlog: BacklogSummary, *, today: date) -> None:
        """Few open action items overdue: at most the policy's share."""
        if backlog.overdue_percent is None:
            return
        limit = get_policy().incidents.max_overdue_action_items_percent
        share = backlog.overdue_percent
        ok = share <= limit
        report.add(
            Evidence(
                label=f"{backlog.overdue} of {backlog.open} open action items overdue "
                f"({share:.0f} %, limit {limit:g} %)",
                status=GateStatus.PASS if ok else GateStatus.AT_RISK,
                url=reverse("action-item-list") + "?overdue=true",
                key="overdue_action_items",
            )
        )
        if ok:
            return
        report.extend(
            Evidence(
                label=f"Overdue: {item.title}",
                status=GateStatus.AT_RISK,
                detail=f"Due {item.due_date:%Y-%m-%d}",
                url=item.get_absolute_url(),
                service=item.incident.service.slug if item.incident else "",
                key=f"action_item_overdue:{item.pk}",
            )
            for item in overdue_action_items(today=today).select_related("incident__service")[:MAX_ROWS]
        )
        report.state(f"{share:.0f} % of open action items overdue (limit {limit:g} %)")

    def action_items_being_closed(
        self, report: GateReport, items: QuerySet[ActionItem], backlog: BacklogSummary, *, now: datetime
    ) -> None:
        """Items are being closed: at least one done in the last 30 days while any is open."""
        closed = items.filter(status=ActionStatus.DONE, closed_at__gte=now - WINDOW).count()
        if closed:
            report.add(
                Evidence(
                    label=f"{closed} action item(s) done in the last 30 days",
                    status=GateStatus.PASS,
                    url=reverse("action-item-list") + "?status=done",
                    key="items_closed",
                )
            )
            return
        if not backlog.open:
            return
        report.add(
            Evidence(
                label="No action item done in the last 30 days",
                status=GateStatus.AT_RISK,
                detail=f"{backlog.open} open.",
                url=reverse("action-item-list"),
                key="items_closed",
            )
        )
        report.state("no action item done in the last 30 days")
