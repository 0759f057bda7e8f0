"""The register of regulatory changes: what changes, from when, its impact, the controls it touches, the tasks."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from opsgov.models import TimeStampedModel

from .controls import Control


class ChangeStatus(models.TextChoices):
    NEW = "new", "New"
    ASSESSED = "assessed", "Impact assessed"
    IMPLEMENTED = "implemented", "Implemented"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class RegulatoryChange(TimeStampedModel):
    """A law, regulation or standard that changes, and what the organisation does about it."""

    title = models.CharField(max_length=300)
    source = models.CharField(max_length=300, help_text="Who publishes it (regulator, standard body) and where.")
    summary = models.TextField(help_text="Our own summary of what changes.")
    effective_date = models.DateField()
    impact_assessment = models.TextField(blank=True)
    affected_controls = models.ManyToManyField(Control, blank=True, related_name="regulatory_changes")
    status = models.CharField(max_length=16, choices=ChangeStatus.choices, default=ChangeStatus.NEW)

    class Meta:
        ordering = ["effective_date", "pk"]

    def __str__(self) -> str:
        return self.title


class RegulatoryTask(TimeStampedModel):
    """One thing to do because of a regulatory change, with an owner and a due date."""

    change = models.ForeignKey(RegulatoryChange, on_delete=models.PROTECT, related_name="tasks")
    description = models.CharField(max_length=500)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField()
    done_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(
        null=True, blank=True, help_text="When its owner was reminded that it is due (once, by the reminder task)."
    )

    class Meta:
        ordering = ["due_on", "pk"]

    def __str__(self) -> str:
        return self.description
