"""Awareness training (writes and reads): completions by hand or CSV, who is assigned, completion and overdue.

Assignment is by role (security.models.training): a user is assigned a course while active and
in one of its roles. At an instant ``now`` an assignment is

- *completed* when the user has a completion that still counts (within the course's
  ``recurrence`` before ``now``; any completion when the course does not recur);
- otherwise *overdue* once its due time passed: ``due_within_days`` after the later of the
  course's start and the user's joining, or, when an earlier completion lapsed, the lapse;
- otherwise *pending*.

The completion rate is completed ÷ assigned (in percent), over active courses that started by
``now``. ``completion_by_role`` answers core's opsgov.registry.training for compliance: one
TrainingCompletion per (course, role), counting each user of the role assigned the course.

CSV import (``import_records``): header ``course,user,completed_at`` (the course's slug, a
username or e-mail, an ISO 8601 date or date-time); every error names its line and one bad line
refuses the whole file; a row already recorded (same course, user and instant) is skipped, so
re-importing an export records nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from opsgov.registry import TrainingCompletion, training

from . import csv_rows
from .models import CompletionSource, Course, TrainingRecord

CSV_COLUMNS = ("course", "user", "completed_at")
MAX_CSV_ROWS = 50_000


@dataclass(frozen=True)
class Assignment:
    course: Course
    user: Any
    role: str
    due_at: datetime
    completed_at: datetime | None  # the completion that counts now, if any

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    def is_overdue(self, now: datetime) -> bool:
        return not self.completed and self.due_at < now


# --- Reads -----------------------------------------------------------------------------------


def _courses(now: datetime, audience: str = "") -> list[Course]:
    courses = Course.objects.filter(active=True, starts_at__lte=now).prefetch_related("roles").order_by("title")
    if audience:
        courses = courses.filter(audience=audience)
    return list(courses)


def assignments(*, now: datetime, audience: str = "", courses: list[Course] | None = None) -> list[Assignment]:
    """Every (course, user) assignment at `now`, with its state (a fixed number of queries)."""
    courses = _courses(now, audience) if courses is None else courses
    if not courses:
        return []
    role_ids = {group.pk for course in courses for group in course.roles.all()}
    users = list(
        get_user_model()
        .objects.filter(is_active=True, groups__pk__in=role_ids)
        .distinct()
        .prefetch_related("groups")
        .order_by("username")
    )
    latest: dict[tuple[int, int], datetime] = {
        (course_id, user_id): completed
        for course_id, user_id, completed in TrainingRecord.objects.filter(
            course__in=courses, completed_at__lte=now, user__in=users
        )
        .values("course_id", "user_id")
        .annotate(latest=Max("completed_at"))
        .values_list("course_id", "user_id", "latest")
    }
    result = []
    for course in courses:
        course_roles = {group.pk: group.name for group in course.roles.all()}
        every = course.recurrence_span()
        for user in users:
            roles = sorted(course_roles[group.pk] for group in user.groups.all() if group.pk in course_roles)
            if not roles:
                continue
            last = latest.get((course.pk, user.pk))
            start = max(course.starts_at, user.date_joined)
            due = start + timedelta(days=course.due_within_days)
            counts = last
            if last is not None and every is not None:
                lapses = every.after(last)
                if lapses <= now:
                    counts, due = None, lapses
            result.append(Assignment(course, user, roles[0], due, counts))
    return result


@dataclass(frozen=True)
class Completion:
    assigned: int
    completed: int
    overdue: int

    @property
    def percent(self) -> float | None:
        return self.completed * 100 / self.assigned if self.assigned else None


def completion(*, now: datetime, audience: str = "") -> Completion:
    rows = assignments(now=now, audience=audience)
    return Completion(
        assigned=len(rows),
        completed=sum(row.completed for row in rows),
        overdue=sum(row.is_overdue(now) for row in rows),
    )


def overdue_list(*, now: datetime, audience: str = "") -> list[Assignment]:
    return sorted(
        (row for row in assignments(now=now, audience=audience) if row.is_overdue(now)),
        key=lambda row: (row.due_at, row.course.title, row.user.get_username()),
    )


def completion_by_role(*, audience: str = "", now: datetime) -> list[TrainingCompletion]:
    """opsgov.registry.training's lookup: per (course, role), every user of the role assigned the course."""
    courses = _courses(now, audience)
    rows = assignments(now=now, courses=courses)
    tally: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        for group in row.user.groups.all():
            if any(group.pk == role.pk for role in row.course.roles.all()):
                counts = tally[(row.course.pk, group.name)]
                counts[0] += 1
                counts[1] += row.completed
                counts[2] += row.is_overdue(now)
    url = reverse("security:training")
    return [
        TrainingCompletion(
            course=course.title,
            audience=course.audience,
            role=role,
            assigned=counts[0],
            completed=counts[1],
            overdue=counts[2],
            url=f"{url}?course={course.slug}",
        )
        for course in courses
        for (course_id, role), counts in sorted(tally.items())
        if course_id == course.pk
    ]


training.provide(completion_by_role)


# --- Writes ----------------------------------------------------------------------------------


def _assigned(course: Course, user: Any) -> bool:
    return bool(user.is_active and user.groups.filter(pk__in=course.roles.all()).exists())


@transaction.atomic
def record_completion(
    *, course: Course, user: Any, completed_at: datetime, actor: Any, note: str = "", now: datetime | None = None
) -> TrainingRecord:
    """Record by hand that `user` completed `course` at `completed_at` (not in the future)."""
    now = now or timezone.now()
    if completed_at > now:
        raise ValidationError({"completed_at": ["a completion cannot be in the future"]})
    if not _assigned(course, user):
        raise ValidationError({"user": [f"{user.get_username()} is not assigned {course.slug} (none of its roles)"]})
    if TrainingRecord.objects.filter(course=course, user=user, completed_at=completed_at).exists():
        raise ValidationError({"completed_at": ["this completion is recorded already"]})
    record = TrainingRecord(
        course=course,
        user=user,
        completed_at=completed_at,
        source=CompletionSource.MANUAL,
        recorded_by=actor,
        note=note,
        created_at=now,
    )
    record.full_clean()
    record.save()
    return record


def _parse_instant(text: str) -> datetime:
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise ValueError
        moment = datetime.combine(day, time.min)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ImportResult:
    created: int
    skipped: int  # recorded already


@transaction.atomic
def import_records(*, text: str, actor: Any = None, now: datetime | None = None) -> ImportResult:
    """Completions exported by a learning system, as CSV (all or nothing; errors by line)."""
    now = now or timezone.now()
    errors: list[str] = []
    rows = csv_rows.read(text, CSV_COLUMNS, max_rows=MAX_CSV_ROWS, errors=errors)
    courses = {course.slug: course for course in Course.objects.prefetch_related("roles")}
    users: dict[str, Any] = {}
    for user in get_user_model().objects.prefetch_related("groups"):
        users[user.get_username().lower()] = user
        if user.email:
            users.setdefault(user.email.lower(), user)
    records: dict[tuple[int, int, datetime], TrainingRecord] = {}
    for line, values in rows:
        course = courses.get(values["course"])
        person = users.get(values["user"].lower()) if values["user"] else None
        problems = []
        if course is None:
            problems.append(f"course: no course {values['course']!r} (use its slug)")
        if person is None:
            problems.append(f"user: no user {values['user']!r} (a username or e-mail)")
        elif course is not None and not any(
            group.pk in {role.pk for role in course.roles.all()} for group in person.groups.all()
        ):
            problems.append(f"user: {person.get_username()} is not assigned {course.slug} (none of its roles)")
        try:
            completed_at = _parse_instant(values["completed_at"])
            if completed_at > now:
                problems.append("completed_at: in the future")
        except ValueError:
            problems.append(f"completed_at: {values['completed_at']!r} is not an ISO 8601 date or date-time")
        if problems:
            errors.extend(f"line {line}: {problem}" for problem in problems)
            continue
        assert course is not None and person is not None
        records[(course.pk, person.pk, completed_at)] = TrainingRecord(
            course=course,
            user=person,
            completed_at=completed_at,
            source=CompletionSource.CSV,
            recorded_by=actor,
            note=f"CSV line {line}",
            created_at=now,
        )
    if errors:
        raise ValidationError({"csv": errors})
    known = set(
        TrainingRecord.objects.filter(
            course_id__in={key[0] for key in records}, user_id__in={key[1] for key in records}
        ).values_list("course_id", "user_id", "completed_at")
    )
    new = [record for key, record in records.items() if key not in known]
    TrainingRecord.objects.bulk_create(new)
    return ImportResult(created=len(new), skipped=len(records) - len(new))
