"""What security answers other areas through core's directory (opsgov.registry.security).

- ``findings_past_sla``: per service, its open findings past their SLA that no valid risk acceptance
  covers (selectors.overdue), one row per (vulnerability, package) of the service's assets, the
  earliest due first; maintenance turns them into patch obligations of the security-critical class.
- ``components``: per service, the software components its assets run: the packages of each asset's
  latest SBOM (Component rows) and the packages scanners still report in it (open or not applicable
  findings), one row per (asset, name, version).

Both leave out services with nothing to report. Wired in SecurityConfig.ready().
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse

from .models import Component, Finding, FindingStatus
from .selectors import overdue


def _finding_url(asset: str, vulnerability: str) -> str:
    return f"{reverse('security:finding-list')}?{urlencode({'asset': asset, 'vulnerability': vulnerability})}"


def findings_past_sla(*, service_ids: Iterable[int], now: datetime) -> dict[int, list[dict[str, str]]]:
    rows = (
        overdue(Finding.objects.filter(asset__service_id__in=list(service_ids)), now)
        .order_by("due_at", "id")
        .values_list(
            "asset__service_id",
            "asset__name",
            "vulnerability_id",
            "title",
            "severity",
            "package_name",
            "package_version",
            "fixed_versions",
            "due_at",
        )
    )
    answer: dict[int, list[dict[str, str]]] = {}
    seen: set[tuple[int, str, str, str]] = set()
    for service_id, asset, vulnerability, title, severity, package, version, fixed, due in rows:
        key = (service_id, vulnerability, package, version)
        if key in seen:  # the same flaw in the same package on another asset of the service: one obligation
            continue
        seen.add(key)
        answer.setdefault(service_id, []).append(
            {
                "id": vulnerability,
                "title": title or f"{vulnerability} in {package} {version}".strip(),
                "severity": severity,
                "package": f"{package} {version}".strip(),
                "fixed_version": fixed,
                "due_at": due.isoformat() if due is not None else "",
                "url": _finding_url(asset, vulnerability),
            }
        )
    return answer


def components(*, service_ids: Iterable[int]) -> dict[int, list[dict[str, str]]]:
    ids = list(service_ids)
    found: dict[tuple[int, str, str, str], str] = {}
    for service_id, asset, name, version, purl in (
        Component.objects.filter(asset__service_id__in=ids)
        .order_by("asset__name", "name", "version")
        .values_list("asset__service_id", "asset__name", "name", "version", "purl")
    ):
        found.setdefault((service_id, asset, name, version), purl)
    for service_id, asset, name, version, purl in (
        Finding.objects.filter(asset__service_id__in=ids, status__in=[FindingStatus.OPEN, FindingStatus.NOT_APPLICABLE])
        .order_by("asset__name", "package_name", "package_version")
        .values_list("asset__service_id", "asset__name", "package_name", "package_version", "purl")
        .distinct()
    ):
        found.setdefault((service_id, asset, name, version), purl)
    answer: dict[int, list[dict[str, str]]] = {}
    for (service_id, asset, name, version), purl in sorted(found.items()):
        answer.setdefault(service_id, []).append({"name": name, "version": version, "purl": purl, "asset": asset})
    return answer
