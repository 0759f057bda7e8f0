"""Fixtures of the compliance tests: the fixture documents, officers, media in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from opsgov.roles import COMPLIANCE_OFFICER

FIXTURES = Path("/work/shared/fixtures/compliance")
if not FIXTURES.exists():  # a fresh clone keeps a copy beside the tests
    FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def catalog_bytes() -> bytes:
    return (FIXTURES / "oscal-catalog.json").read_bytes()


@pytest.fixture
def library_bytes() -> bytes:
    return (FIXTURES / "framework-library.yaml").read_bytes()


@pytest.fixture
def results_bytes() -> bytes:
    return (FIXTURES / "oscal-assessment-results.json").read_bytes()


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user("officer", COMPLIANCE_OFFICER)


@pytest.fixture
def second_officer(make_user: Callable[..., User]) -> User:
    return make_user("officer2", COMPLIANCE_OFFICER)
