"""History with explicit instants through the API: the audited way to record the past.

Live incidents are stamped with the instants opsgov records. A past instant
(`triggered_at`, `acknowledged_at`, `mitigated_at`, `resolved_at`,
`cancelled_at` on a create, or `at` on an action) comes only from a user with
the `incidents.import_incident_history` permission (opsgov.roles: the SRE Lead),
and each such write leaves two traces: a timeline note naming who recorded
which instants, and an audit-log entry (django-auditlog) with the same facts.
The rules on the instants are those of `manage.py import_incidents`
(docs/importing-incidents.md): none in the future, each step not before the
earlier ones, resolved and cancelled not both, and no second incident with the
same service, title and `triggered_at`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from auditlog.models import LogEntry
from django.db import transaction
from django.utils import timezone

from opsgov.errors import DomainError

from . import services
from .models import Incident

IMPORT_PERMISSION = "incidents.import_incident_history"
# In lifecycle order: each may not be before the earlier ones.
INSTANT_FIELDS = ("triggered_at", "acknowledged_at", "mitigated_at", "resolved_at", "cancelled_at")


def may_import(user: Any) -> bool:
    """Whether `user` may send explicit instants (the import permission)."""
    return bool(user is not None and user.is_authenticated and user.has_perm(IMPORT_PERMISSION))


def instant_errors(instants: dict[str, datetime | None], *, now: datetime) -> dict[str, str]:
    """The import's rules on a set of instants, as {field: message}; empty when they hold."""
    errors = {}
    for position, name in enumerate(INSTANT_FIELDS):
        value = instants.get(name)
        if value is None:
            continue
        if value > now + services.FUTURE_TOLERANCE:
            errors[name] = f"{value.isoformat()} is in the future."
            continue
        earlier = INSTANT_FIELDS[: min(position, 3)]  # cancelled/resolved follow triggered, acknowledged, mitigated
        for before_name in earlier:
            before = instants.get(before_name)
            if before is not None and value < before:
                errors[name] = f"{value.isoformat()} is before {before_name} ({before.isoformat()})."
                break
    if instants.get("resolved_at") and instants.get("cancelled_at"):
        errors.setdefault("cancelled_at", "An incident is either resolved or cancelled, not both.")
    return errors


def _audit(incident: Incident, *, actor: Any, instants: dict[str, datetime], what: str) -> None:
    names = ", ".join(f"{name} {value.isoformat()}" for name, value in instants.items())
    services.incident_add_note(
        incident=incident,
        actor=actor,
        message=f"{what} with explicit timestamps by {actor.get_username()} through the API: {names}.",
    )
    LogEntry.objects.log_create(
        incident,
        force_log=True,
        action=LogEntry.Action.UPDATE,
        changes={name: [None, value.isoformat()] for name, value in instants.items()},
        actor=actor,
        additional_data={"explicit_timestamps": True, "what": what, "via": "api"},
    )


@transaction.atomic
def incident_import(*, actor: Any, instants: dict[str, datetime | None], **fields: Any) -> Incident:
    """Create one incident at its historical instants, step by step through the lifecycle, audited.

    `fields` are those of `services.incident_create` (title, service, severity...).
    Refused (DomainError on the field) when the instants break the import's rules.
    """
    errors = instant_errors(instants, now=timezone.now())
    if errors:
        name, message = next(iter(errors.items()))
        raise DomainError(message, field=name)
    triggered_at = instants.get("triggered_at")
    if (
        triggered_at is not None
        and (
            same := Incident.objects.filter(
                service=fields["service"], title=fields["title"], triggered_at=triggered_at
            ).first()
        )
        is not None
    ):
        raise DomainError(f"Already recorded as {same.public_id} (same service and title).", field="triggered_at")
    incident = services.incident_create(actor=actor, triggered_at=triggered_at, **fields)
    if at := instants.get("acknowledged_at"):
        incident = services.incident_acknowledge(incident=incident, actor=actor, at=at)
    if at := instants.get("mitigated_at"):
        incident = services.incident_mitigate(incident=incident, actor=actor, at=at)
    if at := instants.get("resolved_at"):
        # History: its review happened elsewhere, as with import_incidents.
        incident = services.incident_resolve(incident=incident, actor=actor, at=at, review=False)
    if at := instants.get("cancelled_at"):
        incident = services.incident_cancel(
            incident=incident, actor=actor, at=at, reason="recorded as a false alarm with explicit timestamps"
        )
    _audit(incident, actor=actor, instants={k: v for k, v in instants.items() if v is not None}, what="Imported")
    return incident


@transaction.atomic
def action_at(*, call: Callable[..., Any], incident: Incident, actor: Any, at: datetime, **data: Any) -> Any:
    """Run a lifecycle action (`services.incident_acknowledge`...) at an explicit past instant, audited."""
    result = call(incident=incident, actor=actor, at=at, **data)
    target = result if isinstance(result, Incident) else incident
    label = call.__name__.removeprefix("incident_").replace("_", " ")
    _audit(target, actor=actor, instants={"at": at}, what=f"{label.capitalize()} recorded")
    return result
