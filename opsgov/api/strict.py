"""Serializers that refuse what they do not take.

DRF ignores keys it has no writable field for, so a client that sends
`resolved_at` to a route that does not take it gets a 201 and loses the value
without a word. Every serializer that reads a request body inherits
`StrictSerializer` or `StrictModelSerializer` instead: a key that is not one of
its writable fields, read-only fields included, answers 400 with the key as the
field path (through opsgov.api.exceptions, like every other validation error):

    {"detail": "Invalid input.", "errors": [{"field": "resolved_at", "message": "Unknown field: not accepted here."}]}

Nested serializers built on these bases report nested paths (`links.0.colour`).

Their writable integer fields are bounded by their database column (bound_integer_fields): a number
too large for it is a 400 naming the field, not an overflow in the database.
tests/opsgov/test_strict_serializers.py walks every write route of the API
schema and checks this holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.core.exceptions import FieldDoesNotExist
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from rest_framework import serializers

from opsgov.filters import INTEGER_RANGE

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


def bound_integer_fields(fields: Mapping[str, serializers.Field], model: type[models.Model] | None) -> None:
    """Give each writable IntegerField without bounds those of its database column, so no value overflows it.

    A ModelSerializer's generated fields carry them already (Django's model IntegerField validators hold
    the connection's column range, which DRF maps to min_value/max_value); a declared
    `serializers.IntegerField()` has none, so `181687770235804024832` reached the database (a 500 on
    PostgreSQL and SQLite). Its column's range when `source` is an integer field of `model`, else the widest
    column (bigint).
    """
    for name, field in fields.items():
        if field.read_only or not isinstance(field, serializers.IntegerField):
            continue
        low, high = INTEGER_RANGE
        source = field.source if isinstance(field.source, str) else name  # None until the field is bound
        model_field = _model_field(model, source) if model is not None else None
        if isinstance(model_field, models.IntegerField):
            for validator in model_field.validators:
                if isinstance(validator, MinValueValidator):
                    low = max(low, validator.limit_value)
                elif isinstance(validator, MaxValueValidator):
                    high = min(high, validator.limit_value)
        added: list[Any] = []
        if field.min_value is None:
            field.min_value = low
            added.append(MinValueValidator(low, message=field.error_messages["min_value"].format(min_value=low)))
        if field.max_value is None:
            field.max_value = high
            added.append(MaxValueValidator(high, message=field.error_messages["max_value"].format(max_value=high)))
        if added:
            field.validators = [*field.validators, *added]


def _model_field(model: type[models.Model], source: str) -> Any:
    try:
        return model._meta.get_field(source)
    except FieldDoesNotExist:
        return None


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

    def get_fields(self) -> dict[str, serializers.Field]:
        fields: dict[str, serializers.Field] = super().get_fields()  # type: ignore[misc]
        bound_integer_fields(fields, getattr(getattr(self, "Meta", None), "model", None))
        return fields

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
