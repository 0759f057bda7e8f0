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
  never the review's author nor anyone who changed the text of the submitted
  revision (four eyes): it records who approved and when and publishes.
  Published is final: every later change to the review is refused, here and so
  in every caller (API, pages, admin, shell); its action items stay in the
  backlog and are still worked on, closed and reopened.

The author is whoever started the review by hand, or, for a review the system
required, the first person to edit or submit it.

Four eyes
---------
Every change of a section is recorded in the same transaction as a
``ReviewEdit`` (editor, revision number, sections); so is adding, deleting or
rewording an action item of a review not yet published (``action_items``;
progress on an item — in progress, closed, reopened — is work, not text).
Approval of a revision is
refused (``PermissionDenied``, the API's 403) to its author and to everyone with
an edit of that revision, before or after its submission. A change made while
the revision is in review keeps it in review with the editor recorded, so the
editor can no longer approve it; another Tech Lead can.

Corrections
-----------
A published review is corrected with a new revision, never in place:
:func:`review_correction_start` copies the published text into a
``ReviewRevision`` (draft, the starter its author), which
:func:`review_correction_update`, :func:`review_correction_submit`,
:func:`review_correction_return_to_draft` and :func:`review_correction_approve`
take through the same workflow and four-eyes rule. Meanwhile the review stays
published with its text, so gates and reports keep counting the incident as
reviewed. Approval makes the correction the review's text (``revision`` and
``approved_by``/``approved_at`` follow it, ``published_at`` keeps the first
publication) and keeps it, published, in the history with every earlier revision.

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

from ..models import (
    ACTION_OPEN_STATUSES,
    ActionItem,
    ActionPriority,
    ActionStatus,
    Incident,
    PostIncidentReview,
    ReviewEdit,
    ReviewRevision,
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
# What an action item says (part of its review's text for four eyes); its status is progress.
ACTION_ITEM_CONTENT: tuple[str, ...] = ("title", "description", "owner", "due_date", "priority")
CLOSED_STATUSES: tuple[str, ...] = (ActionStatus.DONE, ActionStatus.WONT_DO)


class ReviewFinalError(DomainError):
    """A change to a published review: publishing is final (reported on the `status` field)."""

    def __init__(self, review: PostIncidentReview) -> None:
        message = f"The review of {review.incident.public_id} is published; it can no longer change."
        super().__init__(message, field="status")


class NoCorrectionError(DomainError):
    """A correction action on a review that has none under way (reported on the `correction` field)."""

    def __init__(self, review: PostIncidentReview) -> None:
        super().__init__(
            f"The review of {review.incident.public_id} has no correction under way; start one first.",
            field="correction",
        )


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
    changed = _apply_sections(review, data)
    update_fields = ["updated_at", *changed]
    _claim_authorship(review, actor, update_fields)
    if len(update_fields) > 1:
        review.full_clean()
        review.save(update_fields=update_fields)
    if changed:
        _record_edit(review, revision=review.revision, actor=actor, fields=changed)
    return review


def _apply_sections(target: PostIncidentReview | ReviewRevision, data: dict[str, Any]) -> list[str]:
    """Set the sections of `data` that differ on `target`; the names of those that changed."""
    changed = []
    for field, value in data.items():
        if getattr(target, field) != (value or ""):
            setattr(target, field, value or "")
            changed.append(field)
    return changed


def _record_edit(review: PostIncidentReview, *, revision: int, actor: Actor, fields: list[str]) -> None:
    """The four-eyes record of a change of text, in the caller's transaction."""
    edit = ReviewEdit(review=review, revision=revision, editor=_user(actor), fields=fields)
    edit.full_clean()
    edit.save()


def _contributors(review: PostIncidentReview, *, revision: int, author_id: int | None) -> set[int]:
    """Ids of the people who wrote or changed revision `revision`: none of them may approve it."""
    editors = ReviewEdit.objects.filter(review=review, revision=revision, editor__isnull=False)
    ids = set(editors.values_list("editor_id", flat=True))
    if author_id is not None:
        ids.add(author_id)
    return ids


def _check_four_eyes(review: PostIncidentReview, *, revision: int, author_id: int | None, actor: Actor) -> None:
    actor_id = getattr(actor, "pk", None)
    if actor_id is None:
        raise PermissionDenied("An approval needs a signed-in Tech Lead.")
    if actor_id == author_id:
        raise PermissionDenied(
            f"You are the author of revision {revision} of this review, so you cannot approve it; "
            "ask another Tech Lead."
        )
    if actor_id in _contributors(review, revision=revision, author_id=author_id):
        raise PermissionDenied(
            f"You changed the text of revision {revision} of this review, so you cannot approve it "
            "(four eyes); ask a Tech Lead who did not edit it."
        )


def _check_complete(review: PostIncidentReview, text: PostIncidentReview | ReviewRevision | None = None) -> None:
    """Raise ValidationError naming what the review (or the revision `text`) lacks before submission."""
    errors: dict[str, str] = {}
    labels = dict(SECTIONS)
    for field in REQUIRED_FOR_SUBMIT:
        if not str(getattr(text or review, field)).strip():
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
    _check_four_eyes(review, revision=review.revision, author_id=review.author_id, actor=actor)
    _check_complete(review)
    return _publish(review, approver=actor)


def _publish(review: PostIncidentReview, *, approver: Actor) -> PostIncidentReview:
    now = timezone.now()
    review.approved_by = _user(approver)
    review.approved_at = now
    review.published_at = now
    review.status = ReviewStatus.PUBLISHED
    review.save(update_fields=["approved_by", "approved_at", "published_at", "status", "updated_at"])
    record = ReviewRevision(
        review=review,
        number=review.revision,
        status=ReviewStatus.PUBLISHED,
        author=review.author,
        submitted_at=review.submitted_at,
        approved_by=review.approved_by,
        approved_at=now,
        published_at=now,
        **{field: getattr(review, field) for field in EDITABLE_FIELDS},
    )
    record.full_clean()
    record.save()
    return review


# --- Corrections -------------------------------------------------------------------------


def open_correction(review: PostIncidentReview) -> ReviewRevision | None:
    """The correction under way (draft or in review) of `review`, if any."""
    return review.revisions.exclude(status=ReviewStatus.PUBLISHED).select_related("author").first()


def _locked_correction(review: PostIncidentReview) -> tuple[PostIncidentReview, ReviewRevision]:
    review = _locked(review)
    correction = ReviewRevision.objects.select_for_update().filter(review=review).exclude(status="published").first()
    if correction is None:
        raise NoCorrectionError(review)
    return review, correction


@transaction.atomic
def review_correction_start(*, review: PostIncidentReview, actor: Actor, reason: str = "") -> ReviewRevision:
    """Start correcting a published review: a new draft revision holding a copy of the published text.

    The actor is its author (so cannot approve it). The review stays published
    with its text until the correction is approved. One correction at a time.
    """
    review = _locked(review)
    if review.status != ReviewStatus.PUBLISHED:
        raise DomainError(
            "Only a published review is corrected; edit this one directly until it is published.", field="status"
        )
    if review.revisions.exclude(status=ReviewStatus.PUBLISHED).exists():
        raise DomainError(
            f"A correction of the review of {review.incident.public_id} is already under way.", field="correction"
        )
    correction = ReviewRevision(
        review=review,
        number=review.revision + 1,
        status=ReviewStatus.DRAFT,
        reason=reason,
        author=_user(actor),
        **{field: getattr(review, field) for field in EDITABLE_FIELDS},
    )
    correction.full_clean()
    correction.save()
    return correction


@transaction.atomic
def review_correction_update(*, review: PostIncidentReview, data: dict[str, Any], actor: Actor) -> ReviewRevision:
    """Change sections of the correction under way (draft or in review); the editor is recorded."""
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    review, correction = _locked_correction(review)
    changed = _apply_sections(correction, data)
    if changed:
        correction.full_clean()
        correction.save(update_fields=[*changed, "updated_at"])
        _record_edit(review, revision=correction.number, actor=actor, fields=changed)
    return correction


@transaction.atomic
def review_correction_submit(*, review: PostIncidentReview, actor: Actor = None) -> ReviewRevision:
    """Send the correction under way to review; ValidationError naming each missing section."""
    review, correction = _locked_correction(review)
    if correction.status != ReviewStatus.DRAFT:
        raise DomainError("Only a draft correction can be submitted; this one is already in review.", field="status")
    _check_complete(review, correction)
    correction.status = ReviewStatus.IN_REVIEW
    correction.submitted_at = timezone.now()
    correction.save(update_fields=["status", "submitted_at", "updated_at"])
    return correction


@transaction.atomic
def review_correction_return_to_draft(*, review: PostIncidentReview, actor: Actor) -> ReviewRevision:
    """Send a correction in review back to draft (a Tech Lead asks for changes)."""
    if not is_tech_lead(actor):
        raise PermissionDenied("Only a Tech Lead can send a correction back.")
    review, correction = _locked_correction(review)
    if correction.status != ReviewStatus.IN_REVIEW:
        raise DomainError("Only a correction in review can be sent back.", field="status")
    correction.status = ReviewStatus.DRAFT
    correction.submitted_at = None
    correction.save(update_fields=["status", "submitted_at", "updated_at"])
    return correction


@transaction.atomic
def review_correction_approve(*, review: PostIncidentReview, actor: Actor) -> PostIncidentReview:
    """Approve the correction in review: it becomes the review's text, and stays on record as published.

    The same rules as a first approval: a Tech Lead who neither started nor
    edited the correction (PermissionDenied otherwise), sections complete.
    """
    if not is_tech_lead(actor):
        raise PermissionDenied("Only a Tech Lead can approve a correction.")
    review, correction = _locked_correction(review)
    if correction.status != ReviewStatus.IN_REVIEW:
        raise DomainError("Submit the correction before it is approved.", field="status")
    _check_four_eyes(review, revision=correction.number, author_id=correction.author_id, actor=actor)
    _check_complete(review, correction)
    now = timezone.now()
    correction.status = ReviewStatus.PUBLISHED
    correction.approved_by = _user(actor)
    correction.approved_at = now
    correction.published_at = now
    correction.save(update_fields=["status", "approved_by", "approved_at", "published_at", "updated_at"])
    for field in EDITABLE_FIELDS:
        setattr(review, field, getattr(correction, field))
    review.revision = correction.number
    review.approved_by = correction.approved_by
    review.approved_at = now
    review.save(update_fields=[*EDITABLE_FIELDS, "revision", "approved_by", "approved_at", "updated_at"])
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
    if review.revision > 1:
        facts.append(("Revision", f"{review.revision} (corrected; earlier revisions are kept in opsgov)"))
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


@transaction.atomic
def record_action_item_change(*, review_id: int | None, actor: Actor) -> None:
    """Put a change of an unpublished review's action items on its four-eyes record (also for the admin)."""
    if review_id is None:
        return
    review = PostIncidentReview.objects.select_for_update().get(pk=review_id)
    if review.status != ReviewStatus.PUBLISHED:
        _record_edit(review, revision=review.revision, actor=actor, fields=["action_items"])


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
    actor: Actor = None,
) -> ActionItem:
    """Add an improvement to the backlog, from a review (then of its incident), an incident, or on its own.

    On a review not yet published, `actor` goes on the review's four-eyes record.
    """
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
    if review is not None:
        _record_edit(review, revision=review.revision, actor=actor, fields=["action_items"])
    return item


@transaction.atomic
def action_item_update(*, item: ActionItem, data: dict[str, Any], actor: Actor = None) -> ActionItem:
    """Change an item's title, description, owner, due date, priority, or open ↔ in progress.

    A change of what the item says (not its progress), on a review not yet
    published, puts `actor` on the review's four-eyes record.
    """
    unknown = set(data) - set(ACTION_ITEM_FIELDS)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    if "status" in data and data["status"] != item.status:
        if item.status in CLOSED_STATUSES:
            raise DomainError("The item is closed; reopen it first.", field="status")
        _check_open_status(data["status"])
    reworded = [field for field in ACTION_ITEM_CONTENT if field in data and data[field] != getattr(item, field)]
    for field, value in data.items():
        setattr(item, field, value)
    item.full_clean()
    item.save()
    if reworded:
        record_action_item_change(review_id=item.review_id, actor=actor)
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
