"""What the OpenAPI schema (drf-spectacular) says about fields it would otherwise describe wrongly.

The schema is a contract: tests and clients (schemathesis in `.ci/run`) check answers against it, so a
field whose answers do not match its schema is a bug of the schema. Loaded by OpsgovConfig.ready().

- TimeField: drf-spectacular documents `format: time`, which JSON Schema defines as RFC 3339's full-time
  with a UTC offset ("09:00:00Z"); opsgov's times are wall-clock times of a time zone named elsewhere
  ("09:00:00"), so they are documented by a pattern instead.
- opsgov.api.authentication.TokenAuthentication: knox's token authentication (noting each token's
  networks), documented as knox's bearer token scheme.
- NarrowedChoiceField: a choice field whose input is narrower than its output (integrations are created
  as alertmanager, pagerduty or generic; opsgov creates `monitoring` ones itself and lists them too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field
from rest_framework import serializers

#: A wall-clock time as DRF writes it (and reads it): hours, minutes, optional seconds and microseconds.
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


class NarrowedChoiceField(serializers.ChoiceField):
    """A ChoiceField taking `choices`, whose answers may hold any of `all_choices` (documented per direction)."""

    def __init__(self, *, all_choices: Iterable[Any], **kwargs: Any) -> None:
        self.all_choices = list(all_choices)
        super().__init__(**kwargs)


class TimeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.TimeField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "string", "pattern": TIME_PATTERN, "example": "09:00:00"}


class NarrowedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "opsgov.api.schema.NarrowedChoiceField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        if direction == "response":
            return build_choice_field(serializers.ChoiceField(choices=self.target.all_choices))
        return build_choice_field(self.target)


class OpsgovTokenScheme(KnoxTokenScheme):
    """knox's scheme for opsgov's subclass of its authentication (same name: one security scheme)."""

    target_class = "opsgov.api.authentication.TokenAuthentication"
