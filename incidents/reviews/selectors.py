"""Reads of post-incident reviews and the improvement backlog.

Querysets for the lists (with what a row shows in the same query), the
FilterSets that drive both the API lists and the HTML pages, overdue detection,
and the database aggregation behind the action item closing rate.

Overdue
-------
* A review is overdue when it is not published and its ``due_at`` has passed.
* An action item is overdue when it is open or in progress and its
  ``due_date`` is before *today in the policy's time zone*
  (``policy.business_calendar.time_zone``): an item due today is not late
  until that day is over where the organisation works.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import BooleanField, Case, Count, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from opsgov.filters import BooleanFilter, IntegerFilter, SearchFilterSet
from opsgov.models import Service
from opsgov.policy import get_policy

from ..filters import ServiceSlugFilter
from ..models import (
    ACTION_OPEN_STATUSES,
    ActionItem,
    ActionPriority,
    ActionStatus,
    PostIncidentReview,
    ReviewEdit,
    ReviewRevision,
    ReviewStatus,
)

_OPEN = [str(status) for status in ACTION_OPEN_STATUSES]


def policy_today(now: datetime | None = None) -> date:
    """Today's date in the policy's time zone (the day action item due dates are compared with)."""
    return timezone.localtime(now or timezone.now(), get_policy().business_calendar.zone).date()


# --- Reviews ------------------------------------------------------------------------------


def review_list(*, now: datetime | None = None) -> QuerySet[PostIncidentReview]:
    """Reviews with their incident, service and people, annotated with ``overdue`` and ``action_item_count``.

    Newest first.
    """
    moment = now or timezone.now()
    return (
        PostIncidentReview.objects.select_related("incident__service", "author", "approved_by")
        .annotate(
            overdue=Case(
                When(~Q(status=ReviewStatus.PUBLISHED) & Q(due_at__lt=moment), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            action_item_count=Count("action_items"),
        )
        .order_by("-created_at", "-id")
    )


def with_action_items(
    queryset: QuerySet[PostIncidentReview], *, today: date | None = None
) -> QuerySet[PostIncidentReview]:
    """Prefetch each review's action items (owner, incident and service, ``overdue``) into ``prefetched_items``."""
    items = _with_overdue(ActionItem.objects.select_related("owner", "incident__service"), today).order_by("id")
    return queryset.prefetch_related(Prefetch("action_items", queryset=items, to_attr="prefetched_items"))


def with_revisions(queryset: QuerySet[PostIncidentReview]) -> QuerySet[PostIncidentReview]:
    """Prefetch each review's revisions (``prefetched_revisions``) and text edits (``prefetched_edits``)."""
    revisions = ReviewRevision.objects.select_related("author", "approved_by").order_by("number")
    edits = ReviewEdit.objects.select_related("editor").order_by("created_at", "id")
    return queryset.prefetch_related(
        Prefetch("revisions", queryset=revisions, to_attr="prefetched_revisions"),
        Prefetch("edits", queryset=edits, to_attr="prefetched_edits"),
    )


def review_revisions(review: PostIncidentReview) -> list[ReviewRevision]:
    """Every revision of the review, oldest first: the published history, then a correction under way."""
    cached = getattr(review, "prefetched_revisions", None)
    if cached is not None:
        return list(cached)
    return list(review.revisions.select_related("author", "approved_by").order_by("number"))


def review_published_revisions(review: PostIncidentReview) -> list[ReviewRevision]:
    """The published revisions, oldest first (the review's text is the last of them)."""
    return [revision for revision in review_revisions(review) if revision.status == ReviewStatus.PUBLISHED]


def review_correction(review: PostIncidentReview) -> ReviewRevision | None:
    """The correction under way (draft or in review), if any."""
    return next((r for r in review_revisions(review) if r.status != ReviewStatus.PUBLISHED), None)


def review_editors(review: PostIncidentReview) -> dict[int, list[str]]:
    """Usernames of the people who changed the text, per revision number, in the order of their first edit."""
    edits = getattr(review, "prefetched_edits", None)
    if edits is None:
        edits = list(review.edits.select_related("editor").order_by("created_at", "id"))
    editors: dict[int, list[str]] = {}
    for edit in edits:
        name = edit.editor.get_username() if edit.editor is not None else "(system)"
        names = editors.setdefault(edit.revision, [])
        if name not in names:
            names.append(name)
    return editors


def review_detail() -> QuerySet[PostIncidentReview]:
    """A review with its incident, service and people (action items are read with `review_action_items`)."""
    return PostIncidentReview.objects.select_related("incident__service", "author", "approved_by")


def review_action_items(review: PostIncidentReview, *, today: date | None = None) -> QuerySet[ActionItem]:
    """The review's action items, oldest first, annotated with ``overdue``."""
    return _with_overdue(review.action_items.select_related("owner"), today).order_by("id")


def overdue_reviews(*, now: datetime | None = None) -> QuerySet[PostIncidentReview]:
    """Reviews not published whose due time has passed, the most overdue first (index ``review_open_due_idx``)."""
    moment = now or timezone.now()
    return review_detail().exclude(status=ReviewStatus.PUBLISHED).filter(due_at__lt=moment).order_by("due_at", "id")


class ReviewFilterSet(SearchFilterSet):
    """Filters of the review lists: status, overdue, service (of the incident) and `q`."""

    search_fields = ("incident__title", "summary")
    status = django_filters.MultipleChoiceFilter(choices=ReviewStatus.choices, label="Status")
    overdue = BooleanFilter(method="filter_overdue", label="Overdue")
    service = ServiceSlugFilter(
        field_name="incident__service__slug",
        to_field_name="slug",
        queryset=Service.objects.order_by("name"),
        distinct=False,
        label="Service",
    )

    class Meta:
        model = PostIncidentReview
        fields = ["status", "overdue", "service"]

    def filter_overdue(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        late = ~Q(status=ReviewStatus.PUBLISHED) & Q(due_at__lt=timezone.now())
        return queryset.filter(late) if value else queryset.exclude(late)


# --- Action items ----------------------------------------------------------------------------


def _overdue_condition(today: date) -> Q:
    return Q(status__in=_OPEN, due_date__lt=today)


def _with_overdue(queryset: QuerySet[ActionItem], today: date | None) -> QuerySet[ActionItem]:
    return queryset.annotate(
        overdue=Case(
            When(_overdue_condition(today or policy_today()), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


def action_item_list(*, today: date | None = None) -> QuerySet[ActionItem]:
    """The backlog with what a row shows (owner, incident and service, review), annotated with ``overdue``.

    Ordered by due date (items without one last), then id.
    """
    queryset = ActionItem.objects.select_related("owner", "incident__service", "review", "service")
    return _with_overdue(queryset, today).order_by("due_date", "id")


def overdue_action_items(*, today: date | None = None) -> QuerySet[ActionItem]:
    """Open or in-progress items due before today (policy time zone), the most overdue first."""
    return action_item_list(today=today).filter(_overdue_condition(today or policy_today()))


@dataclass(frozen=True)
class BacklogSummary:
    """How the open backlog stands: for the continuous improvement gate and the backlog page."""

    open: int
    overdue: int

    @property
    def overdue_percent(self) -> float | None:
        return 100 * self.overdue / self.open if self.open else None


def backlog_summary(*, today: date | None = None) -> BacklogSummary:
    """Open (or in progress) items and how many of them are overdue: one query."""
    counts = ActionItem.objects.filter(status__in=_OPEN).aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_date__lt=today or policy_today()))
    )
    return BacklogSummary(open=counts["open"], overdue=counts["overdue"])


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Username(s)"})
class OwnerFilter(django_filters.ModelMultipleChoiceFilter):
    """`?owner=alice&owner=bob`; an unknown username is a 400 naming the field."""


def _users(request: Any = None) -> QuerySet:
    """Active users by username (django-filter calls this with the request)."""
    return get_user_model().objects.filter(is_active=True).order_by("username")


class ActionItemFilterSet(SearchFilterSet):
    """Filters of the backlog (API and page): status, priority, owner, overdue, service, `q`.

    `service`: the incident's service, or for an item without incident (an SLO ticket's follow-up) its own.
    """

    search_fields = ("title", "description")
    status = django_filters.MultipleChoiceFilter(choices=ActionStatus.choices, label="Status")
    priority = django_filters.MultipleChoiceFilter(choices=ActionPriority.choices, label="Priority")
    owner = OwnerFilter(
        field_name="owner__username", to_field_name="username", queryset=_users, distinct=False, label="Owner"
    )
    overdue = BooleanFilter(method="filter_overdue", label="Overdue")
    service = ServiceSlugFilter(
        to_field_name="slug",
        queryset=Service.objects.order_by("name"),
        distinct=False,
        label="Service",
        method="filter_service",
    )
    review = IntegerFilter(field_name="review_id", label="Review")
    incident = IntegerFilter(field_name="incident_id", label="Incident number")

    class Meta:
        model = ActionItem
        fields = ["status", "priority", "owner", "overdue", "service", "review", "incident"]

    def filter_overdue(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        late = _overdue_condition(policy_today())
        return queryset.filter(late) if value else queryset.exclude(late)

    def filter_service(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        if not value:  # no ?service= (an empty queryset of services)
            return queryset
        return queryset.filter(Q(incident__service__in=value) | Q(incident__isnull=True, service__in=value))


# --- Closing rate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosingCounts:
    """The three counts of the closing rate for one scope and window (see incidents.reviews.metrics)."""

    closed: int = 0
    open_at_start: int = 0
    created: int = 0

    @property
    def denominator(self) -> int:
        return self.open_at_start + self.created

    @property
    def rate(self) -> float | None:
        return self.closed / self.denominator if self.denominator else None

    def __add__(self, other: ClosingCounts) -> ClosingCounts:
        return ClosingCounts(
            closed=self.closed + other.closed,
            open_at_start=self.open_at_start + other.open_at_start,
            created=self.created + other.created,
        )


def closing_counts_by_service(*, start: datetime, end: datetime) -> dict[int | None, ClosingCounts]:
    """Closing-rate counts per service id (None: items without an incident) over (start, end]: one query.

    * closed: ``start < closed_at <= end``;
    * open at start: ``created_at <= start`` and (``closed_at`` empty or ``> start``);
    * created: ``start < created_at <= end``.

    Only the rows that can count are read (``created_at <= end`` and not closed
    by ``start``), grouped and counted by the database.
    """
    rows = (
        ActionItem.objects.filter(Q(created_at__lte=end) & (Q(closed_at__isnull=True) | Q(closed_at__gt=start)))
        .values("incident__service_id")
        .annotate(
            closed=Count("id", filter=Q(closed_at__gt=start, closed_at__lte=end)),
            open_at_start=Count("id", filter=Q(created_at__lte=start)),
            created=Count("id", filter=Q(created_at__gt=start)),
        )
        .order_by()
    )
    return {
        row["incident__service_id"]: ClosingCounts(
            closed=row["closed"], open_at_start=row["open_at_start"], created=row["created"]
        )
        for row in rows
    }


def total(counts: Iterable[ClosingCounts]) -> ClosingCounts:
    result = ClosingCounts()
    for item in counts:
        result = result + item
    return result
