"""Demo on-call, escalation, reviews and backlog, on top of the demo incidents (incidents.demo).

Built so the two gates of this area show a realistic mix: most services have
a covered escalation path, one has none and one schedule leaves nights
uncovered; older reviews are published with their action items mostly done,
recent ones are in progress, one is overdue, and a few action items are late.
Idempotent: skipped when the demo schedules exist. Deterministic.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from opsgov.models import Service, Team
from opsgov.policy import get_policy

from .models import (
    ActionItem,
    ActionPriority,
    ActionStatus,
    EscalationLevel,
    EscalationPolicy,
    Incident,
    IncidentStatus,
    PostIncidentReview,
    ReviewRevision,
    ReviewStatus,
    ServiceEscalation,
)
from .oncall import escalation
from .oncall import services as oncall_services
from .reviews.services import EDITABLE_FIELDS, review_due_at, timeline_text

SEED = 20261127
PRIORITIES = [ActionPriority.HIGH, ActionPriority.MEDIUM, ActionPriority.MEDIUM, ActionPriority.LOW]
ZONE = ZoneInfo("Europe/Berlin")
# (team slug, rotation members, business hours only?)
ROTATIONS = {
    "platform": (["sre-lead", "devops-lead", "tech-lead"], False),
    "payments": (["tech-lead", "sre-lead", "devops-lead"], False),
    # Covers office hours only: nights and weekends are gaps the gate reports.
    "identity": (["security-lead", "tech-lead"], True),
}
# A tier-3 service left without an escalation policy, as happens.
WITHOUT_POLICY = "reporting"
ACTIONS = [
    "Alert on connection-pool saturation before it is exhausted",
    "Add a runbook step for failing over the primary",
    "Load-test the new checkout flow at twice peak",
    "Rate-limit retries from the mobile client",
    "Automate certificate renewal checks",
    "Add a canary stage to the deployment pipeline",
    "Cap query time on the reporting replica",
    "Document the rollback procedure for schema changes",
]


def _last_monday_nine(now: datetime, weeks_back: int) -> datetime:
    local = now.astimezone(ZONE)
    monday = local.date() - timedelta(days=local.weekday() + 7 * weeks_back)
    return datetime.combine(monday, time(9), tzinfo=ZONE)


def _seed_oncall(people: dict[str, Any], now: datetime) -> int:
    teams = {team.slug: team for team in Team.objects.filter(slug__in=ROTATIONS)}
    linked = 0
    for slug, (members, office_hours) in ROTATIONS.items():
        team = teams.get(slug)
        if team is None:
            continue
        schedule = oncall_services.schedule_create(
            slug=f"{slug}-primary", name=f"{team.name} primary", time_zone=str(ZONE), team=team
        )
        oncall_services.layer_create(
            schedule=schedule,
            name="Weekly rotation",
            rotation_start=_last_monday_nine(now, weeks_back=4),
            members=[people[name] for name in members if name in people],
            restrict_weekdays=[0, 1, 2, 3, 4] if office_hours else [],
            restrict_start=time(9) if office_hours else None,
            restrict_end=time(17) if office_hours else None,
        )
        if slug == "platform":
            start = (now + timedelta(days=1)).astimezone(ZONE).replace(hour=18, minute=0, second=0, microsecond=0)
            oncall_services.override_create(
                schedule=schedule,
                user=people["tech-lead"],
                starts_at=start,
                ends_at=start + timedelta(hours=4),
                reason="Covering a dentist appointment",
            )
        policy = EscalationPolicy.objects.create(
            slug=f"{slug}-default", name=f"{team.name} default", description=f"Page {schedule.name}, then the SRE lead."
        )
        EscalationLevel.objects.create(policy=policy, position=1, delay_minutes=0, schedule=schedule)
        second = EscalationLevel.objects.create(policy=policy, position=2, delay_minutes=15)
        second.users.add(people["sre-lead"])
        for service in Service.objects.filter(owner_team=team, lifecycle="active").exclude(slug=WITHOUT_POLICY):
            ServiceEscalation.objects.create(service=service, policy=policy)
            linked += 1
    return linked


def _set_response_targets(now: datetime) -> None:
    """The demo incidents were bulk-created: give them the response bookkeeping escalation keeps."""
    changed = []
    for incident in Incident.objects.filter(dedup_key__startswith="demo:", response_due_at__isnull=True):
        incident.response_due_at = escalation.response_due(incident)
        if incident.response_due_at is not None and incident.status != IncidentStatus.CANCELLED:
            if incident.acknowledged_at is not None:
                incident.response_met = incident.acknowledged_at <= incident.response_due_at
            elif incident.response_due_at < now and incident.is_open:
                incident.response_met = False
        changed.append(incident)
    Incident.objects.bulk_update(changed, ["response_due_at", "response_met"], batch_size=500)


def _seed_reviews(people: dict[str, Any], rng: random.Random, now: datetime) -> tuple[int, int]:
    severities = get_policy().incidents.review_severities
    resolved = list(
        Incident.objects.filter(
            dedup_key__startswith="demo:", status=IncidentStatus.RESOLVED, severity__in=severities
        ).order_by("resolved_at")
    )
    authors = [people[name] for name in ("sre-lead", "devops-lead") if name in people]
    approver = people.get("tech-lead")
    owners = [person for person in people.values()]
    reviews, items = [], []
    for index, incident in enumerate(resolved):
        assert incident.resolved_at is not None
        due = review_due_at(incident.resolved_at)
        age = now - incident.resolved_at
        review = PostIncidentReview(
            incident=incident,
            due_at=due,
            author=rng.choice(authors),
            summary=f"{incident.title} on {incident.service.name}.",
            impact="Customers saw errors for part of the incident." if incident.customer_impact else "Internal only.",
            timeline=timeline_text(incident),
            root_causes="A configuration change reduced capacity below peak demand.",
            contributing_factors="The alert fired late; the runbook was out of date.",
            what_went_well="Fast acknowledgement; clear incident command.",
            what_went_wrong="Mitigation waited on a manual failover.",
            created_at=incident.resolved_at,
        )
        if age > timedelta(days=21):
            published_at = min(due - timedelta(hours=rng.randint(1, 30)), now)
            review.status = ReviewStatus.PUBLISHED
            review.submitted_at = review.approved_at = review.published_at = max(published_at, incident.resolved_at)
            review.approved_by = approver
        elif index == len(resolved) - 1:
            review.status = ReviewStatus.DRAFT  # the newest: still being written
            review.root_causes = ""
        elif age > timedelta(days=9):
            review.status = ReviewStatus.IN_REVIEW  # late: past its due date, waiting for approval
            review.submitted_at = due - timedelta(hours=2)
        else:
            review.status = ReviewStatus.IN_REVIEW
            review.submitted_at = incident.resolved_at + timedelta(days=1)
        reviews.append(review)
    PostIncidentReview.objects.bulk_create(reviews)
    created_reviews = list(PostIncidentReview.objects.filter(incident__in=resolved).select_related("incident"))
    # A published review has its revision 1 on record, as incidents.reviews.services._publish keeps it.
    ReviewRevision.objects.bulk_create(
        ReviewRevision(
            review=review,
            number=1,
            status=ReviewStatus.PUBLISHED,
            author=review.author,
            submitted_at=review.submitted_at,
            approved_by=review.approved_by,
            approved_at=review.approved_at,
            published_at=review.published_at,
            created_at=review.published_at or now,
            **{field: getattr(review, field) for field in EDITABLE_FIELDS},
        )
        for review in created_reviews
        if review.status == ReviewStatus.PUBLISHED
    )
    for review in created_reviews:
        if review.status == ReviewStatus.DRAFT:
            continue
        assert review.incident.resolved_at is not None
        for _ in range(rng.randint(1, 3)):
            created = review.incident.resolved_at + timedelta(days=1)
            due_date = (created + timedelta(days=rng.choice([14, 21, 30]))).date()
            item = ActionItem(
                review=review,
                incident=review.incident,
                title=rng.choice(ACTIONS),
                owner=rng.choice(owners),
                due_date=due_date,
                priority=rng.choice(
                    [ActionPriority.HIGH, ActionPriority.MEDIUM, ActionPriority.MEDIUM, ActionPriority.LOW]
                ),
                created_at=created,
            )
            closing = datetime.combine(due_date, time(15), tzinfo=ZONE) - timedelta(days=rng.randint(0, 10))
            if closing < now and rng.random() < 0.94:  # most items are closed by their due date; a few slip
                item.status = ActionStatus.DONE if rng.random() < 0.9 else ActionStatus.WONT_DO
                item.closed_at = max(closing, created)
            elif rng.random() < 0.4:
                item.status = ActionStatus.IN_PROGRESS
            items.append(item)
    ActionItem.objects.bulk_create(items)
    return len(reviews), len(items)


def seed(*, stdout: TextIO) -> None:
    if EscalationPolicy.objects.filter(slug__endswith="-default").exists():
        stdout.write("Demo on-call, escalation and reviews already present; skipped.\n")
        return
    User = get_user_model()
    people = {user.username: user for user in User.objects.filter(username__endswith="-lead")}
    if "sre-lead" not in people:
        stdout.write("No demo users; no on-call demo created.\n")
        return
    now = timezone.now()
    rng = random.Random(SEED)  # noqa: S311 - demo data, deterministic on purpose
    with transaction.atomic():
        linked = _seed_oncall(people, now)
        _set_response_targets(now)
        reviews, items = _seed_reviews(people, rng, now)
    stdout.write(
        f"Demo on-call: {len(ROTATIONS)} schedules, escalation policies on {linked} services; "
        f"{reviews} post-incident reviews with {items} action items.\n"
    )
