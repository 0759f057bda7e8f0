"""One exception handler for the whole API.

Validation problems, wherever they come from (serializers, `full_clean()` in a
service, a domain rule), answer 400 with a flat list of field paths:

    {"detail": "Invalid input.", "errors": [{"field": "links.0.url", "message": "..."}]}

Deleting a record that other records still need (a foreign key with on_delete=PROTECT or
RESTRICT) answers 409 Conflict, naming what protects it:

    {"detail": "Service auth cannot be deleted: 3 incidents and 1 SLO refer to it.",
     "protected_by": [{"model": "incidents.incident", "name": "incidents", "count": 3}, ...]}
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, ProtectedError, RestrictedError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from opsgov import security_signals
from opsgov.errors import DomainError


def flatten_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested error structure into [{"field": "a.0.b", "message": ...}]."""
    if isinstance(detail, dict):
        rows: list[dict[str, str]] = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            rows.extend(flatten_errors(value, f"{prefix}.{name}" if prefix and name else (name or prefix)))
        return rows
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"field": prefix, "message": str(item)} for item in detail]
        rows = []
        for index, item in enumerate(detail):
            if item:
                rows.extend(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return rows
    return [{"field": prefix, "message": str(detail)}]


def protected_by(objects: Iterable[Model]) -> list[dict[str, Any]]:
    """What protects a record from deletion: one row per model with its name and count, largest first."""
    counts = Counter(type(obj) for obj in objects)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]._meta.label_lower))
    return [
        {
            "model": model._meta.label_lower,
            "name": str(model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural),
            "count": count,
        }
        for model, count in rows
    ]


def _subject(context: dict[str, Any]) -> str:
    """ "Service auth" for a view of services whose URL names `auth`; "This record" otherwise."""
    view = context.get("view")
    model = getattr(getattr(view, "queryset", None), "model", None)
    kwargs = context.get("kwargs") or {}
    lookup = next(iter(kwargs.values()), None) if len(kwargs) == 1 else None
    if model is None:
        return "This record"
    name = str(model._meta.verbose_name)
    return f"{name[:1].upper()}{name[1:]} {lookup}" if lookup is not None else f"This {name}"


def conflict_response(exc: ProtectedError | RestrictedError, context: dict[str, Any]) -> Response:
    """409 for a delete that on_delete=PROTECT/RESTRICT refused, naming the records that still need the row."""
    objects = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    rows = protected_by(objects)
    names = [f"{row['count']} {row['name']}" for row in rows]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    detail = f"{_subject(context)} cannot be deleted: {listed} refer to it. Remove or reassign them first."
    return Response({"detail": detail, "protected_by": rows}, status=status.HTTP_409_CONFLICT)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ProtectedError | RestrictedError):
        return conflict_response(exc, context)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, DomainError):
        exc = exceptions.ValidationError({exc.field or "non_field_errors": [exc.message]})

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.PermissionDenied):
        _signal_permission_denied(context)
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "errors": flatten_errors(exc.detail)}
    elif isinstance(exc, exceptions.Throttled):
        response.data = throttled_body(exc)
    return response


def _signal_permission_denied(context: dict[str, Any]) -> None:
    """A signed-in caller refused (403): a security signal (bursts become security alerts)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return
    security_signals.publish(
        "permission_denied",
        request=request,
        username=user.get_username(),
        details={"method": request.method, "path": request.path[:300]},
    )


def throttled_body(exc: exceptions.Throttled) -> dict[str, Any]:
    """429's body: what happened and when to retry (also in the Retry-After header DRF sets)."""
    seconds = getattr(exc, "wait", None)  # set by DRF's Throttled(wait=...), not declared by its type stubs
    wait = math.ceil(seconds) if seconds is not None else None
    when = f"retry in {wait} seconds" if wait is not None else "retry later"
    return {"detail": f"Too many requests: this API's rate limit is reached; {when}.", "retry_after": wait}
