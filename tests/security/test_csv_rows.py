"""security.csv_rows: one reader for the security area's CSV imports (accounts, training)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from security import csv_rows


def test_rows_come_stripped_with_their_line_and_bad_lines_become_errors() -> None:
    text = "\ufeffCourse , User,completed_at\n a , b ,2026-01-01\nx,y,z,extra\n\nc,d,\n"
    errors: list[str] = []
    rows = list(csv_rows.read(text, ["course", "user", "completed_at"], max_rows=10, errors=errors))
    assert rows == [
        (2, {"course": "a", "user": "b", "completed_at": "2026-01-01"}),
        (5, {"course": "c", "user": "d", "completed_at": ""}),
    ]
    assert errors == ["line 3: more fields than the header's 3"]


def test_rows_past_the_limit_stop_the_file_with_an_error() -> None:
    errors: list[str] = []
    rows = list(csv_rows.read("a\n1\n2\n3\n", ["a"], max_rows=2, errors=errors))
    assert [line for line, _ in rows] == [2, 3]
    assert errors == ["line 4: more than 2 rows; split the file"]


def test_a_missing_column_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        list(csv_rows.read("a,b\n1,2\n", ["a", "c", "d"], max_rows=5, errors=[]))
    assert caught.value.message_dict == {"csv": ["line 1: missing column(s) c, d; expected a,c,d"]}
