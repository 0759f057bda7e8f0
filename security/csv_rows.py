"""Rows of an uploaded CSV file, read one way for every import of the security area (accounts, training).

:func:`read` checks the header, then yields each row as ``(line, {column: stripped value})``; a row with
more fields than the header, or one past the limit, becomes an error "line N: ..." in the caller's list
instead, so an import reports every bad line at once and stores nothing (all or nothing).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

from django.core.exceptions import ValidationError


def read(
    text: str, columns: Sequence[str], *, max_rows: int, errors: list[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of `text`; ValidationError on "csv" naming the missing columns when the header lacks one of
    `columns` (names compared case-insensitively, spaces ignored; a byte-order mark is skipped), raised at
    the call, before the caller loads what it checks rows against."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in columns if column not in header]
    if missing:
        raise ValidationError(
            {"csv": [f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(columns)}"]}
        )
    reader.fieldnames = header
    return _rows(reader, len(header), max_rows=max_rows, errors=errors)


def _rows(
    reader: csv.DictReader[str], width: int, *, max_rows: int, errors: list[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    for count, raw in enumerate(reader, start=1):
        line = reader.line_num
        if count > max_rows:
            errors.append(f"line {line}: more than {max_rows} rows; split the file")
            return
        if None in raw:
            errors.append(f"line {line}: more fields than the header's {width}")
            continue
        yield line, {key: (value or "").strip() for key, value in raw.items()}
