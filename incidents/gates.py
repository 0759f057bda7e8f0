"""Quality gates of steps 2 and 4: incident management and continuous improvement.

Each check yields evidence rows that link to the record behind them; the gate's
status is the worst of its rows (fail > at risk > pass), and with nothing to
judge it reports "no evidence", never pass. Every row has a stable key
("<check>:<service slug or record>"), by which a waiver names it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.urls import reverse

from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateResult
from opsgov.roles import SRE_LEAD, TECH_LEAD

from .ingest import dead_letters
from .models import (
    ActionItem,
    ActionStatus,
    Incident,
    IncidentStatus,
    PostIncidentReview,
    ReviewStatus,
    ServiceEscalation,
)
from .oncall.selectors import gaps, schedule_queryset
from .reviews.selectors import backlog_summary, overdue_action_items, overdue_reviews, policy_today

GAP_HORIZON = timedelta(days=7)
WINDOW = timedelta(days=30)
# At most this many offending records are listed per check; the reason gives the full count.
MAX_ROWS = 25

_SEVERITY_ORDER = {GateStatus.FAIL: 2, GateStatus.AT_RISK: 1, GateStatus.PASS: 0}


def _worst(rows: Iterable[Evidence]) -> GateStatus:
    return max((row.status for row in rows), key=lambda status: _SEVERITY_ORDER.get(status, 0), default=GateStatus.PASS)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _result(rows: list[Evidence], problems: list[str], passed: str) -> GateResult:
    status = _worst(rows)
    reason = passed if status == GateStatus.PASS else "; ".join(problems)
    return GateResult(status=status, reason=reason, evidence=rows)


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
        policy = get_policy().incidents
        services = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("slug"))
        if not services:
            return GateResult(status=GateStatus.NO_EVIDENCE, reason="No evidence: there are no active services.")
        rows: list[Evidence] = []
        problems: list[str] = []

        # 1. An escalation path for every service, with nobody-on-call gaps nowhere in the next 7 days.
        links = {
            link.service_id: link
            for link in ServiceEscalation.objects.filter(service__in=services).select_related("policy")
        }
        level_schedules: dict[int, set[int]] = {}
        for policy_id, schedule_id in (
            ServiceEscalation.objects.filter(service__in=services)
            .values_list("policy_id", "policy__levels__schedule_id")
            .distinct()
        ):
            level_schedules.setdefault(policy_id, set())
            if schedule_id is not None:
                level_schedules[policy_id].add(schedule_id)
        wanted = set().union(*level_schedules.values()) if level_schedules else set()
        schedules = {
            schedule.pk: schedule
            for schedule in schedule_queryset(overrides_after=now, overrides_before=now + GAP_HORIZON).filter(
                pk__in=wanted
            )
        }
        schedule_gaps = {pk: gaps(schedule, now, now + GAP_HORIZON) for pk, schedule in schedules.items()}
        uncovered = 0
        for service in services:
            link = links.get(service.pk)
            if link is None:
                uncovered += 1
                rows.append(
                    Evidence(
                        label=f"{service.name}: no escalation policy",
                        status=GateStatus.FAIL,
                        detail="New incidents notify nobody.",
                        url=service.get_absolute_url(),
                        service=service.slug,
                        key=f"escalation:{service.slug}",
                    )
                )
                continue
            holes = [
                (schedules[pk], hole)
                for pk in sorted(level_schedules.get(link.policy_id, ()))
                for hole in schedule_gaps.get(pk, [])
            ]
            if holes:
                uncovered += 1
                schedule, (start, end) = holes[0]
                rows.append(
                    Evidence(
                        label=f"{service.name}: nobody on call in {schedule.name}",
                        status=GateStatus.FAIL,
                        detail=f"First gap {_when(start)} to {_when(end)}"
                        + (f" ({len(holes)} gaps in 7 days)" if len(holes) > 1 else ""),
                        url=schedule.get_absolute_url(),
                        service=service.slug,
                        key=f"escalation:{service.slug}",
                    )
                )
            elif not level_schedules.get(link.policy_id):
                rows.append(
                    Evidence(
                        label=f"{service.name}: {link.policy.name} notifies named people only",
                        status=GateStatus.PASS,
                        detail="No rotation to leave gaps.",
                        url=link.policy.get_absolute_url(),
                        service=service.slug,
                        key=f"escalation:{service.slug}",
                    )
                )
            else:
                rows.append(
                    Evidence(
                        label=f"{service.name}: {link.policy.name}, covered for 7 days",
                        status=GateStatus.PASS,
                        url=link.policy.get_absolute_url(),
                        service=service.slug,
                        key=f"escalation:{service.slug}",
                    )
                )
        if uncovered:
            problems.append(f"{uncovered} of {len(services)} active services lack a complete escalation path")

        # 2. Response targets met for at least the policy's share of incidents in the last 30 days.
        judged = Incident.objects.filter(triggered_at__gte=now - WINDOW, response_met__isnull=False).exclude(
            status=IncidentStatus.CANCELLED
        )
        counts = judged.aggregate(total=Count("id"), met=Count("id", filter=Q(response_met=True)))
        if counts["total"]:
            share = 100 * counts["met"] / counts["total"]
            target = policy.min_response_attainment_percent
            ok = share >= target
            rows.append(
                Evidence(
                    label=f"Response targets met for {share:.1f} % of {counts['total']} incidents "
                    f"(target {target:g} %)",
                    status=GateStatus.PASS if ok else GateStatus.AT_RISK,
                    detail="Last 30 days.",
                    url=reverse("incident-list"),
                    key="response_targets",
                )
            )
            if not ok:
                problems.append(f"response targets met for {share:.1f} % of incidents, below {target:g} %")
                for incident in judged.filter(response_met=False).select_related("service")[:MAX_ROWS]:
                    rows.append(
                        Evidence(
                            label=f"{incident.public_id} missed its response target",
                            status=GateStatus.AT_RISK,
                            detail=f"{incident.severity}: {incident.title}",
                            url=incident.get_absolute_url(),
                            service=incident.service.slug,
                            key=f"response_missed:{incident.public_id}",
                        )
                    )

        # 3. Reviews done on time.
        overdue = overdue_reviews(now=now)
        late = list(overdue[: MAX_ROWS + 1])
        for review in late[:MAX_ROWS]:
            rows.append(
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
            )
        if late:
            problems.append(f"{overdue.count()} post-incident review(s) overdue")

        # 4. Ingestion health: no accepted alert event left dead-lettered (incidents.dead_letters).
        dead_rows, dead_problem = dead_letters.gate_evidence()
        rows.extend(dead_rows)
        if dead_problem:
            problems.append(dead_problem)
        return _result(
            rows, problems, "Every active service has a covered escalation path; responses and reviews on time."
        )


class ContinuousImprovementGate(Gate):
    key = "continuous_improvement"
    step = 4
    title = "Continuous improvement process active"
    owner_roles = (SRE_LEAD, TECH_LEAD)
    description = "Reviews produce action items, few are overdue, items are being closed."

    def evaluate(self, *, now: datetime) -> GateResult:
        limit = get_policy().incidents.max_overdue_action_items_percent
        reviews = PostIncidentReview.objects.exclude(status=ReviewStatus.DRAFT)
        items = ActionItem.objects.all()
        if not reviews.exists() and not items.exists():
            return GateResult(
                status=GateStatus.NO_EVIDENCE,
                reason="No evidence: no submitted post-incident review and no action item yet.",
            )
        rows: list[Evidence] = []
        problems: list[str] = []

        # 1. Every submitted review produced action items.
        empty = list(
            reviews.annotate(items=Count("action_items"))
            .filter(items=0)
            .select_related("incident__service")
            .order_by("-created_at")[:MAX_ROWS]
        )
        for review in empty:
            rows.append(
                Evidence(
                    label=f"Review of {review.incident.public_id} has no action items",
                    status=GateStatus.FAIL,
                    detail="A review that changes nothing repeats the incident.",
                    url=review.get_absolute_url(),
                    service=review.incident.service.slug,
                    key=f"review_without_items:{review.incident.public_id}",
                )
            )
        if empty:
            problems.append(f"{len(empty)} review(s) without action items")
        elif reviews.exists():
            rows.append(
                Evidence(
                    label=f"All {reviews.count()} submitted reviews have action items",
                    status=GateStatus.PASS,
                    url=reverse("review-list"),
                    key="reviews_with_items",
                )
            )

        # 2. Few open action items overdue.
        today = policy_today(now)
        backlog = backlog_summary(today=today)
        if backlog.overdue_percent is not None:
            share = backlog.overdue_percent
            ok = share <= limit
            rows.append(
                Evidence(
                    label=f"{backlog.overdue} of {backlog.open} open action items overdue "
                    f"({share:.0f} %, limit {limit:g} %)",
                    status=GateStatus.PASS if ok else GateStatus.AT_RISK,
                    url=reverse("action-item-list") + "?overdue=true",
                    key="overdue_action_items",
                )
            )
            if not ok:
                problems.append(f"{share:.0f} % of open action items overdue (limit {limit:g} %)")
                for item in overdue_action_items(today=today).select_related("incident__service")[:MAX_ROWS]:
                    rows.append(
                        Evidence(
                            label=f"Overdue: {item.title}",
                            status=GateStatus.AT_RISK,
                            detail=f"Due {item.due_date:%Y-%m-%d}",
                            url=item.get_absolute_url(),
                            service=item.incident.service.slug if item.incident else "",
                            key=f"action_item_overdue:{item.pk}",
                        )
                    )

        # 3. Items are being closed.
        closed = items.filter(status=ActionStatus.DONE, closed_at__gte=now - WINDOW).count()
        if closed:
            rows.append(
                Evidence(
                    label=f"{closed} action item(s) done in the last 30 days",
                    status=GateStatus.PASS,
                    url=reverse("action-item-list") + "?status=done",
                    key="items_closed",
                )
            )
        elif backlog.open:
            rows.append(
                Evidence(
                    label="No action item done in the last 30 days",
                    status=GateStatus.AT_RISK,
                    detail=f"{backlog.open} open.",
                    url=reverse("action-item-list"),
                    key="items_closed",
                )
            )
            problems.append("no action item done in the last 30 days")
        return _result(rows, problems, "Reviews produce action items, which are closed on time.")
