"""Reads of the security app: findings with their SLA state, overdue ones, the inventory search."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from .models import Asset, Component, Finding, FindingStatus, RiskAcceptance


def valid_acceptances(now: datetime) -> QuerySet[RiskAcceptance]:
    """Approved, not revoked, not expired at `now`."""
    return RiskAcceptance.objects.filter(approved_at__isnull=False, revoked_at__isnull=True, expires_at__gt=now)


def with_acceptance(findings: QuerySet[Finding], now: datetime) -> QuerySet[Finding]:
    """Annotate ``accepted``: a valid risk acceptance covers the finding at `now`."""
    return findings.annotate(accepted=Exists(valid_acceptances(now).filter(finding=OuterRef("pk"))))


def finding_list(now: datetime) -> QuerySet[Finding]:
    return with_acceptance(Finding.objects.select_related("asset", "asset__service", "owner"), now).order_by(
        "due_at", "id"
    )


def overdue(findings: QuerySet[Finding], now: datetime) -> QuerySet[Finding]:
    """Open findings past their SLA that no valid risk acceptance covers."""
    covered = Exists(valid_acceptances(now).filter(finding=OuterRef("pk")))
    return findings.filter(status=FindingStatus.OPEN, due_at__lt=now).exclude(covered)


def services_running(*, name: str, version: str = "") -> QuerySet[Asset]:
    """Assets whose latest SBOM lists the package `name` (and `version`), with their services."""
    components = Component.objects.filter(name__iexact=name)
    if version:
        components = components.filter(version=version)
    return Asset.objects.filter(Q(pk__in=components.values("asset_id"))).select_related("service").order_by("name")
