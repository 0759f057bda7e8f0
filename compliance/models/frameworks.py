"""Frameworks and their requirement trees, imported (OSCAL catalog, library YAML) or built in.

A framework is identified by (slug, version): importing a new version adds rows and never
rewrites an older version's; re-importing the same version with the same document changes
nothing (the document's SHA-256 is kept), and a different document under the same version is
refused.
"""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from opsgov.models import TimeStampedModel


class FrameworkSource(models.TextChoices):
    OSCAL_CATALOG = "oscal_catalog", "OSCAL catalog (JSON)"
    LIBRARY_YAML = "library_yaml", "Requirement library (YAML)"
    BUILT_IN = "built_in", "Built in (opsgov seed)"


class Framework(TimeStampedModel):
    """One version of a framework: a tree of requirements that controls are mapped to."""

    slug = models.SlugField(max_length=100, help_text="Stable identifier across versions.")
    version = models.CharField(max_length=50)
    title = models.CharField(max_length=300)
    source = models.CharField(max_length=20, choices=FrameworkSource.choices)
    source_uuid = models.CharField(max_length=200, blank=True, help_text="The document's uuid or URN.")
    document_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the imported document.")
    is_active = models.BooleanField(default=True, help_text="Counted by the gate and the metrics.")

    class Meta:
        ordering = ["slug", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="framework_one_row_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("admin:compliance_framework_change", args=[self.pk])


class Requirement(TimeStampedModel):
    """One node of a framework's tree; headings are not assessable, only assessable nodes need controls."""

    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="requirements")
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    ref_id = models.CharField(max_length=100, help_text="The framework's own identifier (bk-1, 8.1, ...).")
    urn = models.CharField(max_length=300, blank=True)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True, help_text="Our own wording (no copied standard text).")
    assessable = models.BooleanField(default=True)
    depth = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveIntegerField(default=0, help_text="Document order.")

    class Meta:
        ordering = ["framework", "position"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "ref_id"], name="requirement_ref_unique_per_framework"),
        ]

    def __str__(self) -> str:
        return f"{self.ref_id} {self.title}"
