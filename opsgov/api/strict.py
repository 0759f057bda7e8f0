"""Serializers that refuse what they do not take.

DRF ignores keys it has no writable field for, so a client that sends
`resolved_at` to a route that does not take it gets a 201 and loses the value
without a word. Every serializer that reads a request body inherits
`StrictSerializer` or `StrictModelSerializer` instead: a key that is not one of
its writable fields, read-only fields included, answers 400 with the key as the
field path (through opsgov.api.exceptions, like every other validation error):

    {"detail": "Invalid input.", "errors": [{"field": "resolved_at", "message": "Unknown field: not accepted here."}]}

Nested serializers built on these bases report nested paths (`links.0.colour`).
tests/opsgov/test_strict_serializers.py walks every write route of the API
schema and checks this holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from rest_framework import serializers

UNKNOWN_FIELD = "Unknown field: not accepted here."
READ_ONLY_FIELD = "Unknown field: not accepted here (it is read-only)."

# Sent by Django's HTML forms (DRF's browsable API): never data, never refused.
_TRANSPORT_KEYS = frozenset({"csrfmiddlewaretoken"})


def unknown_field_errors(
    serializer: serializers.Serializer, data: Any, *, hint: Callable[[str], str] = lambda name: ""
) -> dict[str, list[str]]:
    """The keys of `data` that `serializer` has no writable field for, each with the reason (and `hint(key)`)."""
    if not isinstance(data, Mapping):
        return {}  # DRF answers "Invalid data. Expected a dictionary" itself
    fields = serializer.fields
    errors = {}
    for key in data:
        if key in _TRANSPORT_KEYS:
            continue
        field = fields.get(key)
        if field is not None and not field.read_only:
            continue
        message = UNKNOWN_FIELD if field is None else READ_ONLY_FIELD
        errors[str(key)] = [f"{message} {hint(str(key))}".strip()]
    return errors


class RejectUnknownFieldsMixin:
    """Answer 400 naming each key of the input that is not a writable field.

    `unknown_field_hint` (optional) is appended to each message, to say where the
    value is accepted instead (e.g. "Status changes are the POST actions.");
    override `hint_for_unknown(name)` for a hint per key. Errors of the known
    fields are reported in the same answer.
    """

    unknown_field_hint: ClassVar[str] = ""

    def hint_for_unknown(self, name: str) -> str:
        return self.unknown_field_hint

    def to_internal_value(self, data: Any) -> Any:
        unknown = unknown_field_errors(self, data, hint=self.hint_for_unknown)  # type: ignore[arg-type]
        try:
            value = super().to_internal_value(data)  # type: ignore[misc]
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class StrictSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """A Serializer that refuses unknown and read-only keys (see the module docstring)."""


class StrictModelSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """A ModelSerializer that refuses unknown and read-only keys (see the module docstring)."""


def refuse_unknown_keys(data: Any, *, accepted: set[str]) -> None:
    """For a view that reads `request.data` without a serializer: 400 naming each key not in `accepted`."""
    if not isinstance(data, Mapping):
        return
    unknown = sorted(str(key) for key in data if key not in accepted and key not in _TRANSPORT_KEYS)
    if unknown:
        raise serializers.ValidationError({key: [UNKNOWN_FIELD] for key in unknown})
