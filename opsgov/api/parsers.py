"""Request parsers of the API: DRF's, refusing strings the database cannot hold anywhere in the body.

PostgreSQL cannot store NUL in text or jsonb, and cannot compare with it: a value such as
`"x\\u0000"` reaches the database through a SlugRelatedField lookup, a JSONField (labels,
annotations, severity mappings) or a ChoiceField's model query and fails there, as a 500. A lone
surrogate (`"\\ud800"`, valid JSON) has no UTF-8 and fails the same way. CharFields refuse both
themselves (ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator), the other
fields and dictionary keys do not, so the one check is here, before any field sees the data: such a
string, key or value, at any depth answers 400 naming its path (`labels.team`, `members.2`), like
every validation error (opsgov.api.exceptions). URL arguments and query parameters are checked by
opsgov.middleware.RefuseNullCharactersMiddleware.

settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] names these three; a view that sets its own
`parser_classes` uses these or checks itself (refuse_unstorable_strings).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ValidationError

NUL = "\x00"


def _problem(text: str) -> str | None:
    """Why PostgreSQL cannot hold `text` (a NUL, or a lone surrogate that has no UTF-8), or None."""
    if NUL in text:
        return str(ProhibitNullCharactersValidator.message)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"Surrogate characters are not allowed: U+{ord(text[exc.start]):X}."  # DRF CharField's words
    return None


def unstorable_strings(data: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path, problem) of every string, key or value, in `data` that the database cannot hold.

    The path is "a.b.0", or for a bad key the key itself with a NUL spelled `\\x00`.
    """
    if isinstance(data, QueryDict):
        for key, values in data.lists():
            problem = _problem(key) or next((p for v in values if isinstance(v, str) and (p := _problem(v))), None)
            if problem:
                yield _spelled(key), problem
        return
    if isinstance(data, Mapping):
        for key, value in data.items():
            name = str(key)
            path = f"{prefix}.{name}" if prefix else name
            problem = _problem(name)
            if problem:
                yield _spelled(path), problem
            else:
                yield from unstorable_strings(value, path)
        return
    if isinstance(data, list | tuple):
        for index, item in enumerate(data):
            yield from unstorable_strings(item, f"{prefix}.{index}" if prefix else str(index))
        return
    if isinstance(data, str):
        problem = _problem(data)
        if problem:
            yield prefix, problem


def _spelled(name: str) -> str:
    """`name` fit to show in an error: NUL and lone surrogates escaped."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8").replace(NUL, "\\x00")


def refuse_unstorable_strings(data: Any) -> None:
    """Raise a 400 (ValidationError) naming each path of `data` whose string the database cannot hold."""
    problems = dict(unstorable_strings(data))
    if problems:
        raise ValidationError({path or "non_field_errors": [problem] for path, problem in problems.items()})


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a NUL (`\\u0000`) or lone surrogate in any string or key is a 400 naming its path."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        refuse_unstorable_strings(data)
        return data


class FormParser(parsers.FormParser):
    """DRF's form parser; a NUL in a field's name or value is a 400 naming the field."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        refuse_unstorable_strings(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser; a NUL in a field's name or value is a 400 naming the field (files are bytes)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        result = super().parse(stream, media_type, parser_context)
        refuse_unstorable_strings(result.data)
        return result
