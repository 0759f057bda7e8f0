"""opsgov backs itself up: backup_self then restore_self --verify, on the test run's database (PostgreSQL in
CI) in-process, and on SQLite in a fresh project process (a migrated database of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from backups.models import BackupRun, RestoreTest, RunStatus
from backups.self_backup import SELF_JOB, prune
from tests.factories import ServiceFactory


@pytest.mark.django_db(transaction=True)
def test_backup_self_then_restore_self_verify(tmp_path: Path) -> None:
    ServiceFactory.create_batch(3)
    out = StringIO()
    call_command("backup_self", "--dir", str(tmp_path), stdout=out)
    (backup,) = [p for p in tmp_path.iterdir() if not p.name.endswith(".manifest.json")]
    manifest = json.loads((tmp_path / (backup.name + ".manifest.json")).read_text())
    assert manifest["vendor"] == connection.vendor
    assert manifest["tables"]["opsgov_service"] == 4  # the three, and opsgov's own service
    assert len(manifest["sha256"]) == 64
    run = BackupRun.objects.get(job__name=SELF_JOB)
    assert (run.status, run.snapshot_id, run.size_bytes) == (
        RunStatus.SUCCEEDED,
        manifest["sha256"],
        backup.stat().st_size,
    )

    out = StringIO()
    call_command("restore_self", "--verify", str(backup), stdout=out)
    assert "tables match the manifest" in out.getvalue()
    test = RestoreTest.objects.get(job__name=SELF_JOB)
    assert test.result == "passed"
    assert test.rto_seconds > 0
    assert test.met_targets

    # A tampered manifest: the counts no longer match, the restore test records the failure.
    manifest["tables"]["opsgov_service"] = 99
    manifest_path = tmp_path / (backup.name + ".manifest.json")
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="opsgov_service: 99 in the manifest, 4 restored"):
        call_command("restore_self", "--verify", str(backup), stdout=StringIO())
    assert RestoreTest.objects.filter(result="failed").count() == 1
    # A tampered backup file: refused before any restore.
    with backup.open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(CommandError, match="SHA-256 does not match"):
        call_command("restore_self", "--verify", str(backup), stdout=StringIO())


@pytest.mark.django_db
def test_prune_keeps_the_newest_and_what_is_within_retention(tmp_path: Path) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    for name, days in (("opsgov-a.dump", 200), ("opsgov-b.dump", 100), ("opsgov-c.dump", 10)):
        path = tmp_path / name
        path.write_bytes(b"x")
        (tmp_path / (name + ".manifest.json")).write_text("{}")
        stamp = now.timestamp() - days * 86400
        os.utime(path, (stamp, stamp))
    assert prune(tmp_path, now=now) == ["opsgov-a.dump", "opsgov-b.dump"]  # the policy keeps 90 days
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opsgov-c.dump", "opsgov-c.dump.manifest.json"]


def test_backup_self_and_restore_self_on_sqlite(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CACHE_URL")}
    env.update(OPSGOV_VAR_DIR=str(tmp_path / "var"), OPSGOV_BACKUP_DIR=str(tmp_path / "backups"))
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]

    def run(*args: str) -> str:
        done = subprocess.run([*manage, *args], env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    run("migrate", "--noinput", "-v", "0")
    printed = run("backup_self")
    (backup,) = (tmp_path / "backups").glob("opsgov-*.sqlite3")
    assert str(backup) in printed
    manifest = json.loads(backup.with_name(backup.name + ".manifest.json").read_text())
    assert manifest["vendor"] == "sqlite"
    assert manifest["tables"]["backups_backupjob"] == 1  # opsgov's own job, created by the first backup
    assert "verified:" in run("restore_self", "--verify", str(backup))
