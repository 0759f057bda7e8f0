"""Request parsers of the API: DRF's, refusing NUL characters anywhere in the body.

PostgreSQL cannot store NUL in text or jsonb, and cannot compare with it: a value such as
`"x\\u0000"` reaches the database through a SlugRelatedField lookup, a JSONField (labels,
annotations, severity mappings) or a ChoiceField's model query and fails there, as a 500.
CharFields refuse NUL themselves (ProhibitNullCharactersValidator), the other fields do not, so
the one check is here, before any field sees the data: a NUL in any string, key or value, at any
depth answers 400 naming its path (`labels.team`, `members.2`), like every validation error
(opsgov.api.exceptions). URL arguments and query parameters are checked by
opsgov.middleware.RefuseNullCharactersMiddleware.

settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] names these three; a view that sets its own
`parser_classes` checks NUL itself (refuse_null_characters).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ValidationError

NUL = "\x00"


def null_character_paths(data: Any, prefix: str = "") -> Iterator[str]:
    """The paths ("a.b.0", or the key itself for a bad key) of every string in `data` that holds a NUL."""
    if isinstance(data, QueryDict):
        for key, values in data.lists():
            if NUL in key or any(isinstance(value, str) and NUL in value for value in values):
                yield key.replace(NUL, "\\x00")
        return
    if isinstance(data, Mapping):
        for key, value in data.items():
            name = str(key)
            path = f"{prefix}.{name}" if prefix else name
            if NUL in name:
                yield path.replace(NUL, "\\x00")
            else:
                yield from null_character_paths(value, path)
        return
    if isinstance(data, list | tuple):
        for index, item in enumerate(data):
            yield from null_character_paths(item, f"{prefix}.{index}" if prefix else str(index))
        return
    if isinstance(data, str) and NUL in data:
        yield prefix


def refuse_null_characters(data: Any) -> None:
    """Raise a 400 (ValidationError) naming each path of `data` whose string holds a NUL character."""
    paths = list(dict.fromkeys(null_character_paths(data)))
    if paths:
        message = str(ProhibitNullCharactersValidator.message)
        raise ValidationError({path or "non_field_errors": [message] for path in paths})


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a NUL (`\\u0000`) in any string or key is a 400 naming its path."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        refuse_null_characters(data)
        return data


class FormParser(parsers.FormParser):
    """DRF's form parser; a NUL in a field's name or value is a 400 naming the field."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        refuse_null_characters(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser; a NUL in a field's name or value is a 400 naming the field (files are bytes)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        result = super().parse(stream, media_type, parser_context)
        refuse_null_characters(result.data)
        return result
