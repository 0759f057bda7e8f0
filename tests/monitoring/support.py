"""Helpers shared by the SLO engine tests (no tests here): SLOs and synthetic SLI series."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from monitoring.models import SLO
from monitoring.slos import services
from monitoring.slos.sli import SLIReading, record_sli
from opsgov.models import Service, ServiceTier
from opsgov.policy import clear_policy_cache

from ..factories import ServiceFactory


def make_slo(service: Service | None = None, **fields: Any) -> SLO:
    values: dict[str, Any] = {
        "service": service or ServiceFactory.create(),
        "name": "API availability",
        "objective_percent": Decimal("99.9"),
    }
    values.update(fields)
    return services.slo_create(**values)


def tier1_service(slug: str) -> Service:
    return ServiceFactory.create(slug=slug, name=slug.title(), tier=ServiceTier.TIER_1)


def series(
    slo: SLO,
    start: datetime,
    count: int,
    *,
    good: int,
    total: int,
    seconds: int = 60,
    now: datetime,
) -> None:
    """`count` consecutive buckets of `seconds` from `start`, each good/total, recorded through SLI intake."""
    step = timedelta(seconds=seconds)
    readings = [SLIReading(start + index * step, good, total, seconds) for index in range(count)]
    for offset in range(0, len(readings), 5000):
        record_sli(slo=slo, readings=readings[offset : offset + 5000], now=now)


def use_policy(settings: Any, tmp_path: Path, toml: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(toml)
    settings.OPSGOV_POLICY = str(path)
    clear_policy_cache()
