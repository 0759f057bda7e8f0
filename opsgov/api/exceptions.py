"""One exception handler for the whole API.

Validation problems, wherever they come from (serializers, `full_clean()` in a
service, a domain rule), answer 400 with a flat list of field paths:

    {"detail": "Invalid input.", "errors": [{"field": "links.0.url", "message": "..."}]}
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, DomainError):
        exc = exceptions.ValidationError({exc.field or "non_field_errors": [exc.message]})

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "errors": flatten_errors(exc.detail)}
    elif isinstance(exc, exceptions.Throttled):
        response.data = throttled_body(exc)
    return response


def throttled_body(exc: exceptions.Throttled) -> dict[str, Any]:
    """429's body: what happened and when to retry (also in the Retry-After header DRF sets)."""
    seconds = getattr(exc, "wait", None)  # set by DRF's Throttled(wait=...), not declared by its type stubs
    wait = math.ceil(seconds) if seconds is not None else None
    when = f"retry in {wait} seconds" if wait is not None else "retry later"
    return {"detail": f"Too many requests: this API's rate limit is reached; {when}.", "retry_after": wait}
