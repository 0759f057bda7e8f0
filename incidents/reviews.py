"""Post-incident reviews and the improvement backlog: the only code that changes them.

One transaction per call; keyword-only arguments; the rows are locked
(``select_for_update``) before a status change, so two concurrent calls cannot
both submit or approve.

Review workflow
---------------
``draft`` → ``in_review`` → ``published``.

* A review is **required** for the policy's review severities
  (``policy.incidents.review_severities``): :func:`require_review`, called when
  an incident is resolved, creates it as a draft due
  ``policy.incidents.review_due`` (5 business days by default) after the
  resolution, on the policy's business calendar. Anyone with the permission may
  also start one by hand for any incident (:func:`review_start`).
* The timeline section is pre-filled from the incident's timeline entries, one
  line each: UTC time, kind, message.
* :func:`review_submit` moves a draft to review once summary, impact and root
  causes are written and at least one action item exists; otherwise it raises a
  ``ValidationError`` naming each missing field (``action_items`` for the list).
* :func:`review_approve` is for Tech Leads (group membership) and superusers,
  never the review's author: it records who approved and when and publishes.
  Published is final: every later change to the review is refused (its action
  items stay in the backlog and are still worked on, closed and reopened).

The author is whoever started the review by hand, or, for a review the system
required, the first person to edit or submit it.

Action items
------------
Open or in progress until closed as done or won't do (``closed_at`` set), and
back to open by :func:`action_item_reopen` (``closed_at`` cleared). An item of a
review belongs to the review's incident. Items cannot be added to, or deleted
from, a published review.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from opsgov.errors import DomainError
from opsgov.policy import get_policy
from opsgov.roles import TECH_LEAD
from opsgov.sla import due_at, policy_calendar

from .models import (
    ACTION_OPEN_STATUSES,
    ActionItem,
    ActionPriority,
    ActionStatus,
    Incident,
    PostIncidentReview,
    ReviewStatus,
    TimelineEvent,
)

Actor = AbstractBaseUser | AnonymousUser | None

# The post-mortem sections, in the order of the seed's structure: (field, heading).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("impact", "Impact"),
    ("timeline", "Timeline"),
    ("root_causes", "Root causes"),
    ("contributing_factors", "Contributing factors"),
    ("what_went_well", "What went well"),
    ("what_went_wrong", "What went wrong"),
)
EDITABLE_FIELDS: tuple[str, ...] = tuple(field for field, _ in SECTIONS)
# What a review needs before it can be submitted (and approved).
REQUIRED_FOR_SUBMIT: tuple[str, ...] = ("summary", "impact", "root_causes")

ACTION_ITEM_FIELDS: tuple[str, ...] = ("title", "description", "owner", "due_date", "priority", "status")
CLOSED_STATUSES: tuple[str, ...] = (ActionStatus.DONE, ActionStatus.WONT_DO)


class ReviewFinalError(DomainError):
    """A change to a published review: publishing is final (reported on the `status` field)."""

    def __init__(self, review: PostIncidentReview) -> None:
        message = f"The review of {review.incident.public_id} is published; it can no longer change."
        super().__init__(message, field="status")


def _user(actor: Actor) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def is_tech_lead(user: Actor) -> bool:
    """Whether `user` may approve reviews: a member of the Tech Lead group, or a superuser."""
    if user is None or not user.is_authenticated:
        return False
    if getattr(user, "is_superuser", False):
        return True
    return bool(user.groups.filter(name=TECH_LEAD).exists())  # type: ignore[attr-defined]


def timeline_text(incident: Incident) -> str:
    """The incident's timeline as review text: one line per entry, "YYYY-MM-DD HH:MM:SS UTC — Kind — message"."""
    lines = []
    for event in TimelineEvent.objects.filter(incident=incident).order_by("at", "id"):
        message = " ".join(event.message.split()) or "—"
        lines.append(f"{event.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC — {event.get_kind_display()} — {message}")
    return "\n".join(lines)


def review_due_at(resolved_at: datetime) -> datetime:
    """When a review of an incident resolved at `resolved_at` is due (policy review_due, business calendar)."""
    return due_at(resolved_at, get_policy().incidents.review_due, calendar=policy_calendar())


def _locked(review: PostIncidentReview) -> PostIncidentReview:
    return PostIncidentReview.objects.select_for_update(of=("self",)).select_related("incident").get(pk=review.pk)


def _not_published(review: PostIncidentReview) -> None:
    if review.status == ReviewStatus.PUBLISHED:
        raise ReviewFinalError(review)


def _claim_authorship(review: PostIncidentReview, actor: Actor, update_fields: list[str]) -> None:
    if review.author_id is None and _user(actor) is not None:
        review.author = _user(actor)
        update_fields.append("author")


# --- Reviews ---------------------------------------------------------------------------


@transaction.atomic
def require_review(*, incident: Incident) -> PostIncidentReview | None:
    """Make sure a resolved incident of a review severity has its review; idempotent.

    Creates a draft due ``review_due`` after ``resolved_at`` with the timeline
    pre-filled. An existing review is kept as it is, except that one started
    by hand before the resolution receives its due date now. Returns the
    review, or None when the incident needs none (not resolved, or a severity
    the policy does not review).
    """
    if incident.resolved_at is None:
        return None
    existing = PostIncidentReview.objects.select_for_update().filter(incident=incident).first()
    if existing is not None:
        if existing.due_at is None and existing.status != ReviewStatus.PUBLISHED:
            existing.due_at = review_due_at(incident.resolved_at)
            existing.save(update_fields=["due_at", "updated_at"])
        return existing
    if incident.severity not in get_policy().incidents.review_severities:
        return None
    review, _ = PostIncidentReview.objects.get_or_create(
        incident=incident,
        defaults={"due_at": review_due_at(incident.resolved_at), "timeline": timeline_text(incident)},
    )
    return review


@transaction.atomic
def review_start(*, incident: Incident, actor: Actor = None) -> PostIncidentReview:
    """Start a review by hand, for any incident; the actor becomes its author.

    Due ``review_due`` after the resolution when the incident is resolved (else
    when it is). An incident has at most one review: a second is refused.
    """
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if PostIncidentReview.objects.filter(incident=incident).exists():
        raise DomainError(f"{incident.public_id} already has a review.", field="incident")
    review = PostIncidentReview(
        incident=incident,
        author=_user(actor),
        due_at=review_due_at(incident.resolved_at) if incident.resolved_at else None,
        timeline=timeline_text(incident),
    )
    review.full_clean()
    review.save()
    return review


@transaction.atomic
def review_update(*, review: PostIncidentReview, data: dict[str, Any], actor: Actor = None) -> PostIncidentReview:
    """Change the written sections of a draft or in-review review; refused once published."""
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    review = _locked(review)
    _not_published(review)
    update_fields = ["updated_at"]
    for field, value in data.items():
        if getattr(review, field) != value:
            setattr(review, field, value or "")
            update_fields.append(field)
    _claim_authorship(review, actor, update_fields)
    if len(update_fields) > 1:
        review.full_clean()
        review.save(update_fields=update_fields)
    return review


def _check_complete(review: PostIncidentReview) -> None:
    errors: dict[str, str] = {}
    labels = dict(SECTIONS)
    for field in REQUIRED_FOR_SUBMIT:
        if not str(getattr(review, field)).strip():
            errors[field] = f"{labels[field]} is required before the review is submitted."
    if not review.action_items.exists():
        errors["action_items"] = "Add at least one action item before the review is submitted."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def review_submit(*, review: PostIncidentReview, actor: Actor = None) -> PostIncidentReview:
    """Send a draft to review. Raises ValidationError naming each missing field."""
    review = _locked(review)
    _not_published(review)
    if review.status != ReviewStatus.DRAFT:
        raise DomainError("Only a draft can be submitted; this review is already in review.", field="status")
    _check_complete(review)
    update_fields = ["status", "submitted_at", "updated_at"]
    review.status = ReviewStatus.IN_REVIEW
    review.submitted_at = timezone.now()
    _claim_authorship(review, actor, update_fields)
    review.save(update_fields=update_fields)
    return review


@transaction.atomic
def review_return_to_draft(*, review: PostIncidentReview, actor: Actor = None) -> PostIncidentReview:
    """Send a review in review back to its author as a draft (a Tech Lead asks for changes)."""
    if not is_tech_lead(actor):
        raise PermissionDenied("Only a Tech Lead can send a review back.")
    review = _locked(review)
    _not_published(review)
    if review.status != ReviewStatus.IN_REVIEW:
        raise DomainError("Only a review in review can be sent back.", field="status")
    review.status = ReviewStatus.DRAFT
    review.submitted_at = None
    review.save(update_fields=["status", "submitted_at", "updated_at"])
    return review


@transaction.atomic
def review_approve(*, review: PostIncidentReview, actor: Actor) -> PostIncidentReview:
    """Approve a review in review and publish it: records who approved and when.

    Raises PermissionDenied (403) unless `actor` is a Tech Lead or a superuser,
    or when `actor` wrote the review; DomainError unless it is in review.
    """
    if not is_tech_lead(actor):
        raise PermissionDenied("Only a Tech Lead can approve a post-incident review.")
    review = _locked(review)
    _not_published(review)
    if review.status != ReviewStatus.IN_REVIEW:
        raise DomainError("Submit the review before it is approved.", field="status")
    if review.author_id is not None and review.author_id == getattr(actor, "pk", None):
        raise PermissionDenied("The author of a review cannot approve it; ask another Tech Lead.")
    _check_complete(review)
    return _publish(review, approver=actor)


def _publish(review: PostIncidentReview, *, approver: Actor) -> PostIncidentReview:
    now = timezone.now()
    review.approved_by = _user(approver)
    review.approved_at = now
    review.published_at = now
    review.status = ReviewStatus.PUBLISHED
    review.save(update_fields=["approved_by", "approved_at", "published_at", "status", "updated_at"])
    return review


# --- Markdown export ---------------------------------------------------------------------


def _cell(value: object) -> str:
    """Text safe for one Markdown table cell: pipes escaped, line breaks folded."""
    return " ".join(str(value).split()).replace("|", "\\|") or "—"


def _who(user: Any) -> str:
    if user is None:
        return "—"
    return str(user.get_full_name() or user.get_username())


def _utc(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "—"


def review_markdown(review: PostIncidentReview) -> str:
    """The review as a Markdown document, after the seed's post-mortem structure.

    A header of facts (incident, service, severity, times in UTC, author,
    approval), one section per part of the review ("_Not written._" when
    empty), and the action items as a table.
    """
    incident = review.incident
    facts = [
        ("Incident", f"{incident.public_id} — {incident.title}"),
        ("Service", incident.service.name),
        ("Severity", incident.severity),
        ("Status", ReviewStatus(review.status).label),
        ("Triggered", _utc(incident.triggered_at)),
        ("Resolved", _utc(incident.resolved_at)),
        ("Review due", _utc(review.due_at)),
        ("Author", _who(review.author)),
    ]
    if review.approved_at:
        facts.append(("Approved by", f"{_who(review.approved_by)} on {_utc(review.approved_at)}"))
    lines = [f"# Post-incident review: {incident.public_id} {incident.title}", ""]
    lines += [f"- **{label}:** {value}" for label, value in facts]
    for field, heading in SECTIONS:
        text = str(getattr(review, field)).strip()
        lines += ["", f"## {heading}", "", text or "_Not written._"]
    lines += ["", "## Action items", ""]
    items = list(review.action_items.select_related("owner").order_by("id"))
    if items:
        lines += ["| # | Action | Owner | Priority | Due | Status |", "| --- | --- | --- | --- | --- | --- |"]
        for number, item in enumerate(items, start=1):
            row = [
                str(number),
                _cell(item.title),
                _cell(_who(item.owner)),
                _cell(item.get_priority_display()),
                _cell(item.due_date.isoformat() if item.due_date else "—"),
                _cell(item.get_status_display()),
            ]
            lines.append("| " + " | ".join(row) + " |")
    else:
        lines.append("_None._")
    return "\n".join(lines) + "\n"


# --- Action items ------------------------------------------------------------------------


def _check_open_status(status: str) -> None:
    if status not in ACTION_OPEN_STATUSES:
        raise DomainError("Close an item with the close action (done or won't do).", field="status")


@transaction.atomic
def action_item_create(
    *,
    title: str,
    review: PostIncidentReview | None = None,
    incident: Incident | None = None,
    description: str = "",
    owner: Any = None,
    due_date: date | None = None,
    priority: str = ActionPriority.MEDIUM,
    status: str = ActionStatus.OPEN,
) -> ActionItem:
    """Add an improvement to the backlog, from a review (then of its incident), an incident, or on its own."""
    _check_open_status(status)
    if review is not None:
        review = _locked(review)
        _not_published(review)
        if incident is not None and incident.pk != review.incident_id:
            raise DomainError("The item's incident must be the review's incident.", field="incident")
        incident = review.incident
    item = ActionItem(
        review=review,
        incident=incident,
        title=title,
        description=description,
        owner=owner,
        due_date=due_date,
        priority=priority,
        status=status,
    )
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def action_item_update(*, item: ActionItem, data: dict[str, Any]) -> ActionItem:
    """Change an item's title, description, owner, due date, priority, or open ↔ in progress."""
    unknown = set(data) - set(ACTION_ITEM_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    if "status" in data and data["status"] != item.status:
        if item.status in CLOSED_STATUSES:
            raise DomainError("The item is closed; reopen it first.", field="status")
        _check_open_status(data["status"])
    for field, value in data.items():
        setattr(item, field, value)
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def action_item_close(*, item: ActionItem, resolution: str = ActionStatus.DONE) -> ActionItem:
    """Close an open or in-progress item as done or won't do; sets closed_at."""
    if resolution not in CLOSED_STATUSES:
        raise DomainError("Close an item as done or won't do.", field="resolution")
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    if item.status in CLOSED_STATUSES:
        raise DomainError(f"The item is already closed ({item.get_status_display().lower()}).", field="status")
    item.status = resolution
    item.closed_at = timezone.now()
    item.save(update_fields=["status", "closed_at", "updated_at"])
    return item


@transaction.atomic
def action_item_reopen(*, item: ActionItem) -> ActionItem:
    """Bring a closed item back to open; clears closed_at (the audit log keeps the earlier closing)."""
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    if item.status not in CLOSED_STATUSES:
        raise DomainError("The item is not closed.", field="status")
    item.status = ActionStatus.OPEN
    item.closed_at = None
    item.save(update_fields=["status", "closed_at", "updated_at"])
    return item
