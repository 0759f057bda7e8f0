"""Demo monitoring records for `manage.py seed_demo` (idempotent): each part has its own module."""

from __future__ import annotations

from typing import TextIO

from .catalog import demo as demo_catalog
from .checks import demo as demo_checks
from .slos import demo as demo_slos


def seed(*, stdout: TextIO) -> None:
    demo_slos.seed(stdout=stdout)
    demo_catalog.seed(stdout=stdout)
    demo_checks.seed(stdout=stdout)
