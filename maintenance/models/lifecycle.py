"""Component versions per service, the end-of-life table the user imports, and upgrade plans."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from opsgov.models import Service, TimeStampedModel


class Component(TimeStampedModel):
    """A component a service runs (a database, a runtime, a base image) at a version."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="components")
    product = models.CharField(max_length=120, help_text="As the end-of-life table names it, e.g. postgresql.")
    version = models.CharField(max_length=64)
    source = models.CharField(
        max_length=16,
        choices=[
            ("manual", "Recorded"),
            ("renovate", "Renovate report"),
            ("sbom", "SBOM"),
            ("patch_report", "Host patch report"),
        ],
        default="manual",
    )

    class Meta:
        ordering = ["service", "product"]
        constraints = [models.UniqueConstraint(fields=["service", "product"], name="component_once_per_service")]

    def __str__(self) -> str:
        return f"{self.product} {self.version} ({self.service})"

    def cycle_of(self, cycles: list[str]) -> str | None:
        """The release cycle `version` belongs to: the longest cycle equal to it or a dotted prefix of it."""
        matching = [c for c in cycles if self.version == c or self.version.startswith(c + ".")]
        return max(matching, key=len) if matching else None


class EndOfLife(TimeStampedModel):
    """One release cycle of a product in the imported end-of-life table (cycle, releaseDate, eol, latest)."""

    product = models.CharField(max_length=120)
    cycle = models.CharField(max_length=64)
    release_date = models.DateField(null=True, blank=True)
    eol_date = models.DateField(null=True, blank=True, help_text="Empty when the table gives only true/false.")
    eol_reached = models.BooleanField(default=False, help_text="eol: true (no date given).")
    latest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["product", "cycle"]
        constraints = [models.UniqueConstraint(fields=["product", "cycle"], name="eol_once_per_cycle")]

    def __str__(self) -> str:
        return f"{self.product} {self.cycle}"


class UpgradePlan(TimeStampedModel):
    """The plan to move a component off a release cycle near its end of life."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="upgrade_plans")
    target_version = models.CharField(max_length=64)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["due_date"]

    def __str__(self) -> str:
        return f"{self.component} -> {self.target_version} by {self.due_date}"
