"""The import graph DESIGN.md draws: every module imports, core imports no app, no app imports a sibling,
and no module takes part in an import cycle (the contracts in pyproject.toml, run by import-linter).

`lint-imports` checks the same contracts from the command line (make lint, .ci/run); here they also run
with the suite, beside a check that every module of the project can be imported at all (import-linter
reads the source and passes over an import of a module that does not exist).
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("opsgov", "monitoring", "incidents", "maintenance", "security", "compliance", "support", "backups")


def project_modules() -> list[str]:
    names = list(PACKAGES)
    for package in PACKAGES:
        for module in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if ".migrations" not in module.name:
                names.append(module.name)
    return sorted(names)


@pytest.mark.parametrize("name", project_modules())
def test_every_module_imports(name: str) -> None:
    assert importlib.import_module(name).__name__ == name


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Contracts: 3 kept, 0 broken." in result.stdout, result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0
