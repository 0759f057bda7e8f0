"""Writes of the monitoring app: SLOs. Every function is one transaction and validates before saving.

SLI data enter through monitoring.slos.sli.record_sli; SLO figures and alerts are the
SLO engine's (monitoring.slos.engine). Disabling an SLO, moving it to another
service or deleting it resolves its firing burn-rate alerts in the same
transaction, so no incident stays open for a condition nobody evaluates any more.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import SLO
from . import engine

#: The fields of an SLO that its writers set: the API's serializer and the admin pass exactly these.
SLO_FIELDS: tuple[str, ...] = (
    "service",
    "name",
    "description",
    "sli_kind",
    "latency_threshold_ms",
    "objective_percent",
    "window_kind",
    "window_days",
    "is_availability",
    "source",
    "good_query",
    "total_query",
    "enabled",
)


def _apply(slo: SLO, data: dict[str, Any]) -> None:
    unknown = set(data) - set(SLO_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    for name, value in data.items():
        setattr(slo, name, value)


def _validate(slo: SLO) -> None:
    """full_clean, with the uniqueness rules reported on the field a client can fix."""
    errors: dict[str, list[str]] = {}
    try:
        slo.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = {key: list(messages) for key, messages in exc.message_dict.items()}
    if slo.service_id is not None:
        others = SLO.objects.filter(service_id=slo.service_id).exclude(pk=slo.pk)
        if slo.name and "name" not in errors and others.filter(name=slo.name).exists():
            errors["name"] = ["This service already has an SLO with this name."]
        if slo.is_availability and others.filter(is_availability=True).exists():
            errors["is_availability"] = ["This service already has an availability SLO; at most one is."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def slo_create(**data: Any) -> SLO:
    slo = SLO()
    _apply(slo, data)
    _validate(slo)
    slo.save()
    return slo


@transaction.atomic
def slo_update(*, slo: SLO, data: dict[str, Any]) -> SLO:
    """Change an SLO; disabling it or moving it to another service resolves its firing alerts."""
    engine.lock_engine()  # before the SLO row: see engine.lock_engine
    before_service_id, before_enabled = slo.service_id, slo.enabled
    _apply(slo, data)
    _validate(slo)
    slo.save()
    if before_enabled and not slo.enabled:
        engine.clear_alerts(slo=slo, at=timezone.now(), reason="SLO disabled", service_id=before_service_id)
    elif slo.service_id != before_service_id:
        engine.clear_alerts(
            slo=slo, at=timezone.now(), reason="SLO moved to another service", service_id=before_service_id
        )
    return slo


@transaction.atomic
def slo_delete(*, slo: SLO) -> None:
    """Delete an SLO with its SLI data, status and alert states; its firing alerts are resolved first."""
    engine.lock_engine()
    engine.clear_alerts(slo=slo, at=timezone.now(), reason="SLO deleted")
    slo.delete()
