"""The SLI push body, validated with pydantic; errors come back with paths such as ``buckets[3].total``.

    POST /api/v1/slos/<uuid>/sli/
    {"buckets": [{"start": "2026-11-20T10:00:00Z", "seconds": 60, "good": 998, "total": 1000}, ...]}

- ``start``: ISO 8601 with a time zone; the interval is [start, start + seconds).
- ``seconds``: 1 to 3600 (default 60). A bucket counts in every window that holds its start.
- ``good``, ``total``: whole numbers, 0 <= good <= total (checked by monitoring.slos.sli).
- At most MAX_BUCKETS buckets per request, each start once; sending a start again
  later replaces that bucket (idempotent per SLO and start).
"""

from __future__ import annotations

from typing import Annotated, Any

from django.core.exceptions import ValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from ..sli import SLIReading

MAX_BUCKETS = 10_000

Count = Annotated[int, Field(strict=True, ge=0, le=2**62)]


class BucketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    seconds: Annotated[int, Field(strict=True, ge=1, le=3600)] = 60
    good: Count
    total: Count


class SLIPushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    buckets: Annotated[list[BucketIn], Field(min_length=1, max_length=MAX_BUCKETS)]


def field_path(location: tuple[int | str, ...]) -> str:
    """("buckets", 3, "total") -> "buckets[3].total"."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "non_field_errors"


def parse_push(data: Any) -> list[SLIReading]:
    """The readings of a push body; a Django ValidationError keyed by field path when it is not valid."""
    try:
        body = SLIPushIn.model_validate(data)
    except PydanticValidationError as exc:
        errors: dict[str, list[str]] = {}
        for error in exc.errors(include_url=False):
            errors.setdefault(field_path(tuple(error["loc"])), []).append(error["msg"].removeprefix("Value error, "))
        raise ValidationError(errors) from None
    return [
        SLIReading(start=bucket.start, seconds=bucket.seconds, good=bucket.good, total=bucket.total)
        for bucket in body.buckets
    ]
