"""Security assessments (penetration tests, security reviews) and the findings they report.

An assessment's findings are security Findings with ``source="assessment"`` (one findings list,
one SLA clock); AssessmentFinding ties each to its assessment with the tester's reference.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from opsgov.models import TimeStampedModel

from .assets import Asset
from .findings import Finding


class AssessmentKind(models.TextChoices):
    PENTEST = "pentest", "Penetration test"
    REVIEW = "review", "Security review"


class Assessment(TimeStampedModel):
    """One pentest or review of an asset, by a tester (in-house or a vendor)."""

    kind = models.CharField(max_length=8, choices=AssessmentKind.choices)
    title = models.CharField(max_length=200)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="assessments")
    performed_by = models.CharField(max_length=200, help_text="Tester or vendor.")
    started_on = models.DateField()
    completed_on = models.DateField(null=True, blank=True)
    report_url = models.URLField(blank=True)
    summary = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-started_on", "-id"]

    def __str__(self) -> str:
        return self.title


class AssessmentFinding(TimeStampedModel):
    """The link from an assessment to one finding it reported (the finding lives in the findings list)."""

    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="items")
    finding = models.OneToOneField(Finding, on_delete=models.PROTECT, related_name="assessment_item")
    reference = models.CharField(max_length=40, help_text="The tester's reference, e.g. PT-3.")
    description = models.TextField(blank=True)
    recommendation = models.TextField(blank=True)

    class Meta:
        ordering = ["assessment_id", "reference"]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "reference"], name="security_assessment_reference_once")
        ]

    def __str__(self) -> str:
        return f"{self.assessment}: {self.reference}"
