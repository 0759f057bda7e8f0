"""Helpers of the security tests: the scanner fixtures and small report builders."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

#: Copies of the shared scanner fixtures (../shared/fixtures/scanners), byte for byte.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def trivy(target: str, vulns: list[tuple[str, str, str, str]], *, artifact: str = "img:1") -> dict[str, Any]:
    """A SchemaVersion 2 Trivy report with one target listing (id, package, version, SEVERITY) rows."""
    return {
        "SchemaVersion": 2,
        "ArtifactName": artifact,
        "Results": [
            {
                "Target": target,
                "Type": "pip",
                "Vulnerabilities": [
                    {"VulnerabilityID": vid, "PkgName": pkg, "InstalledVersion": ver, "Severity": sev}
                    for vid, pkg, ver, sev in vulns
                ]
                or None,
            }
        ],
    }


def copy_of(data: Any) -> Any:
    return copy.deepcopy(data)
