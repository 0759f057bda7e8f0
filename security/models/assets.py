"""Assets (what scanners scan), the rules that map a report's artifact to a service, and SBOM inventories."""

from __future__ import annotations

from fnmatch import fnmatchcase

from django.conf import settings
from django.db import models

from opsgov.models import Service, TimeStampedModel


class AssetKind(models.TextChoices):
    IMAGE = "image", "Container image"
    HOST = "host", "Host"
    REPOSITORY = "repository", "Repository"
    APPLICATION = "application", "Application"


class Asset(TimeStampedModel):
    """Something a scanner scans, named as reports name it (an image reference, a host, a repository)."""

    name = models.CharField(
        max_length=300,
        unique=True,
        help_text="The artifact name reports carry, e.g. registry.acme.test/checkout:1.4.2.",
    )
    kind = models.CharField(max_length=16, choices=AssetKind.choices, default=AssetKind.APPLICATION)
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        related_name="security_assets",
        null=True,
        blank=True,
        help_text="The service it belongs to (its team owns the findings).",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="security_assets",
        null=True,
        blank=True,
        help_text="Who fixes its findings (default: the service's team).",
    )
    description = models.TextField(blank=True)
    last_scanned_at = models.DateTimeField(
        null=True, blank=True, help_text="When opsgov last imported a vulnerability scan of it."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AssetMappingRule(TimeStampedModel):
    """Maps an artifact name that no asset has yet to a service: a report for it creates the asset.

    `pattern` is a shell-style pattern (fnmatch, case-sensitive: `*` any characters, `?` one,
    `[abc]` one of), matched against the whole artifact name. The rule with the lowest `priority`
    (then the lowest id) among those that match wins.
    """

    pattern = models.CharField(max_length=300, unique=True, help_text="e.g. registry.acme.test/checkout:*")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="security_asset_rules")
    kind = models.CharField(max_length=16, choices=AssetKind.choices, default=AssetKind.IMAGE)
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower wins when several rules match.")

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return f"{self.pattern} -> {self.service_id}"

    def matches(self, name: str) -> bool:
        return fnmatchcase(name, self.pattern)


class Component(models.Model):
    """One package of an asset's inventory, from its latest SBOM (replaced by the next one)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="components")
    name = models.CharField(max_length=300)
    version = models.CharField(max_length=200, blank=True)
    ecosystem = models.CharField(max_length=64, blank=True, help_text="The purl type: pypi, npm, deb, ...")
    purl = models.CharField(max_length=1000, blank=True)
    recorded_at = models.DateTimeField(help_text="When opsgov imported the SBOM that lists it.")

    class Meta:
        ordering = ["asset_id", "name", "version"]
        indexes = [models.Index(fields=["name", "version"], name="security_component_nv_idx")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"
