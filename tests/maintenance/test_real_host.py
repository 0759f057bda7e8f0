"""The shipped script on this Debian machine, against a live opsgov: what opsgov parsed is what apt says.

Runs deploy/agent/opsgov-patch-report.sh with /bin/sh (dash on Debian) and curl against pytest-django's
live server, then runs `apt-get -s dist-upgrade` directly and compares the pending updates line by line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from maintenance import services
from maintenance.models import Host, PatchObligation, PatchReport
from tests.conftest import missing_service
from tests.factories import ServiceFactory

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "agent" / "opsgov-patch-report.sh"

pytestmark = pytest.mark.django_db(transaction=True)


def apt_direct() -> list[tuple[str, str, str]]:
    """(package, installed, candidate) of each Inst line of `apt-get -s dist-upgrade`, read independently."""
    output = subprocess.run(
        ["apt-get", "-s", "-q", "dist-upgrade"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout
    found = []
    for line in output.splitlines():
        if not line.startswith("Inst "):
            continue
        words = line.split()
        installed = words[2][1:-1] if words[2].startswith("[") else ""
        candidate = line.split("(", 1)[1].split()[0]
        found.append((words[1], installed, candidate))
    return found


def run_script(live_server: Any, token: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=180,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "OPSGOV_URL": live_server.url,
            "OPSGOV_HOST_TOKEN": token,
            "OPSGOV_STATE_DIR": str(state),
        },
    )


def test_the_shipped_script_reports_this_machines_pending_updates(live_server: Any, tmp_path: Path) -> None:
    for tool in ("apt-get", "curl", "sh"):
        if shutil.which(tool) is None:
            missing_service(tool, "install it (Debian: apt-get install -y curl)")
    service = ServiceFactory.create(slug="this-machine")
    host, token = services.create_host(name="ci-host", service=service)
    done = run_script(live_server, token, tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    report = PatchReport.objects.get(host=host)
    direct = apt_direct()
    assert [(p["package"], p["installed"], p["candidate"]) for p in report.pending] == direct
    assert PatchObligation.objects.filter(host=host).count() == len({(p, c) for p, _, c in direct})
    host = Host.objects.get(pk=host.pk)
    assert host.pending_count == len(direct)
    assert host.last_report_at == report.received_at
    if Path("/var/log/apt/history.log").exists():
        assert host.last_history_start  # the log's stanzas were read
    # The history offset was kept: a second run sends no stanza again.
    offset = (tmp_path / "history.offset").read_text().strip()
    assert offset.isdigit()
    again = run_script(live_server, token, tmp_path)
    assert again.returncode == 0, again.stderr
    # ... so the second report repeats the first (the same pending updates): recorded as seen, no second row.
    assert PatchReport.objects.filter(host=host).count() == 1
    seen = Host.objects.get(pk=host.pk).last_report_at
    assert seen is not None
    assert seen > report.received_at


def test_the_script_fails_with_the_answer_on_a_wrong_token(live_server: Any, tmp_path: Path) -> None:
    done = run_script(live_server, "wrong-token", tmp_path)
    assert done.returncode == 2
    assert "401" in done.stderr
    assert not (tmp_path / "history.offset").exists()
