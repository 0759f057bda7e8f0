"""Post-incident reviews and the improvement backlog (seed step 4: continuous improvement)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from opsgov.models import Service, TimeStampedModel

from .incidents import Incident


class ReviewStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"

    @property
    def badge(self) -> str:
        return {"draft": "muted", "in_review": "warning", "published": "success"}[self.value]


class PostIncidentReview(TimeStampedModel):
    """A blameless post-incident review, after the seed's post-mortem structure.

    Required for the policy's review severities and due within the policy's business days
    after resolution; published only after a Tech Lead approves (who and when are kept).

    Its sections hold revision ``revision``: while the first revision is written, that
    text; once published, the text of the latest published revision. A correction of a
    published review is a new ``ReviewRevision`` that goes through submission and
    approval again, while this row stays published with the previous text (so coverage
    gates keep counting the incident as reviewed). Every published revision is kept as a
    ``ReviewRevision`` too (the history); who changed the text of which revision is in
    ``ReviewEdit`` (the four-eyes record: none of them may approve that revision).
    """

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="review")
    status = models.CharField(max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.DRAFT)
    due_at = models.DateTimeField(null=True, blank=True, help_text="From the policy: business days after resolution.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True, help_text="Who and what was affected, for how long.")
    timeline = models.TextField(blank=True, help_text="Pre-filled from the incident's events; edit freely.")
    root_causes = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    what_went_well = models.TextField(blank=True)
    what_went_wrong = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who approved the revision the sections hold.",
    )
    approved_at = models.DateTimeField(null=True, blank=True, help_text="When the current revision was approved.")
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="When the review was first published (corrections keep it)."
    )
    revision = models.PositiveIntegerField(
        default=1,
        editable=False,
        help_text="Which revision the sections hold: 1, then one more per approved correction.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="published") | (Q(approved_by__isnull=False) & Q(published_at__isnull=False)),
                name="review_published_needs_approval",
            ),
        ]
        indexes = [
            # Overdue reviews: not yet published, due date passed.
            models.Index(fields=["due_at"], name="review_open_due_idx", condition=~Q(status="published")),
        ]

    def __str__(self) -> str:
        return f"Review of {self.incident.public_id}"

    def get_absolute_url(self) -> str:
        return reverse("review-detail", kwargs={"pk": self.pk})

    def is_overdue(self, now: object = None) -> bool:
        moment = now or timezone.now()
        return self.status != ReviewStatus.PUBLISHED and self.due_at is not None and self.due_at < moment  # type: ignore[operator]


class ReviewRevision(TimeStampedModel):
    """One revision of a review's text: every published revision (the history) and a correction under way.

    A correction starts as a copy of the published text (status ``draft``), is
    edited, submitted (``in_review``) and approved by a Tech Lead who neither
    wrote nor edited it; it then becomes the review's text and stays here,
    published, as the record of that revision. Published revisions never change.
    """

    review = models.ForeignKey(PostIncidentReview, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField(help_text="1 for the first published text, then one more per correction.")
    status = models.CharField(max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.DRAFT)
    reason = models.TextField(blank=True, help_text="Why the correction was started.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    timeline = models.TextField(blank=True)
    root_causes = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    what_went_well = models.TextField(blank=True)
    what_went_wrong = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["review", "number"]
        constraints = [
            models.UniqueConstraint(fields=["review", "number"], name="review_revision_unique_number"),
            # incidents.reviews.services.review_correction_start: at most one correction under way per review.
            models.UniqueConstraint(
                fields=["review"], condition=~Q(status="published"), name="review_revision_one_open"
            ),
            models.CheckConstraint(
                condition=~Q(status="published") | (Q(approved_at__isnull=False) & Q(published_at__isnull=False)),
                name="review_revision_published_needs_approval",
            ),
        ]

    def __str__(self) -> str:
        return f"Revision {self.number} of the review of {self.review.incident.public_id}"


class ReviewEdit(TimeStampedModel):
    """A change to the text of one revision of a review: who, when and which sections.

    Kept in the same transaction as the change. Four eyes: nobody recorded here for
    a revision (nor its author) may approve that revision.
    """

    review = models.ForeignKey(PostIncidentReview, on_delete=models.CASCADE, related_name="edits")
    revision = models.PositiveIntegerField()
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fields = models.JSONField(default=list, help_text="The sections that changed.")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # incidents.reviews.services._contributors: the editors of one revision, at approval.
            models.Index(fields=["review", "revision"], name="review_edit_revision_idx"),
        ]

    def __str__(self) -> str:
        return f"Edit of revision {self.revision} at {self.created_at:%Y-%m-%d %H:%M}"


class ActionPriority(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class ActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    WONT_DO = "wont_do", "Won't do"


ACTION_OPEN_STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS)


class ActionItem(TimeStampedModel):
    """An improvement to make, usually from a review: tracked to the end, overdue when late.

    Also the follow-up of an SLO ticket alert (incidents.ingest.slo_alerts): then `service` names the
    SLO's service and `source_key` the breach, so the item exists once per breach.
    """

    review = models.ForeignKey(
        PostIncidentReview, null=True, blank=True, on_delete=models.SET_NULL, related_name="action_items"
    )
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="action_items"
    )
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    priority = models.CharField(max_length=8, choices=ActionPriority.choices, default=ActionPriority.MEDIUM)
    status = models.CharField(max_length=12, choices=ActionStatus.choices, default=ActionStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    service = models.ForeignKey(
        Service,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The service the item is about, when it came from an alert rather than a review.",
    )
    source_key = models.CharField(
        max_length=255,
        blank=True,
        default="",
        editable=False,
        help_text="What created the item automatically (e.g. an SLO ticket alert's breach); empty if a person did.",
    )

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            # One item per automatic source (incidents.ingest.slo_alerts: one follow-up per SLO ticket breach).
            models.UniqueConstraint(
                fields=["source_key"], condition=~Q(source_key=""), name="action_item_one_per_source_key"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["done", "wont_do"], closed_at__isnull=False)
                | Q(status__in=["open", "in_progress"], closed_at__isnull=True),
                name="action_item_closed_at_matches_status",
            ),
        ]
        indexes = [
            # Overdue detection and the open backlog.
            models.Index(
                fields=["due_date"], name="action_open_due_idx", condition=Q(status__in=["open", "in_progress"])
            ),
            # Closing rate per 30 days.
            models.Index(fields=["closed_at"], name="action_closed_idx", condition=Q(closed_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("action-item-detail", kwargs={"pk": self.pk})
