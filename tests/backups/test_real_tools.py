"""Debian's restic and pgbackrest, for real: a restic repository in a temporary folder reporting through the
wrapper (deploy/backup/opsgov-backup-ping) to a live opsgov, then snapshots, check and restore imported;
pgBackRest against a throwaway PostgreSQL cluster (initdb, loopback port, archiving on), info and verify
imported."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from backups import parsers, services
from backups.models import BackupJob, BackupRun, IntegrityCheck, RestorePoint, RunStatus
from backups.selectors import job_checks
from opsgov.models import GateStatus

from .support import make_job

WRAPPER = Path(settings.BASE_DIR) / "deploy" / "backup" / "opsgov-backup-ping"
#: The newest PostgreSQL server Debian installed (initdb, pg_ctl).
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])).parent
#: The loopback ports this file's throwaway clusters may use.
PG_PORTS = range(55431, 55440)


def _restic_env(repo: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RESTIC_REPOSITORY": str(repo),
        "RESTIC_PASSWORD": "correct horse",
        "RESTIC_CACHE_DIR": str(repo.parent / "cache"),
    }


def _restic(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["restic", *args], env=_restic_env(repo), capture_output=True, text=True, check=check, timeout=120
    )


@pytest.fixture
def restic_repo(tmp_path: Path) -> Path:
    assert shutil.which("restic"), "Debian's restic is required (.ci/run installs it)"
    repo = tmp_path / "repo"
    _restic(repo, "init")
    data = tmp_path / "data"
    data.mkdir()
    for index in range(20):
        (data / f"file-{index}.txt").write_text(f"row {index}\n" * (index + 1), encoding="utf-8")
    return repo


def _sha(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.django_db(transaction=True)
def test_restic_through_the_wrapper_then_snapshots_check_and_restore(
    restic_repo: Path, tmp_path: Path, live_server: Any
) -> None:
    job = make_job(tool="restic", data_type="application", repository=f"sftp:backup@vault.example.com:{restic_repo}")
    ping_url = live_server.url + job.ping_path
    data = tmp_path / "data"

    # 1. The wrapper: /start, then restic's exit status with its JSON summary as the body.
    wrapped = subprocess.run(
        [str(WRAPPER), ping_url, "restic", "backup", "--json", "--quiet", str(data)],
        env=_restic_env(restic_repo),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrapped.returncode == 0, wrapped.stderr
    # The endpoint stored two pings; the apply task (beat, or the one the first ping enqueued) makes the run.
    assert not BackupRun.objects.filter(job=job).exists()
    assert services.apply_pings() == 2
    run = BackupRun.objects.get(job=job)
    assert run.status == RunStatus.SUCCEEDED
    assert run.rid is not None  # the start and the end were paired
    assert run.report_format == "restic-backup"
    assert run.snapshot_id and run.snapshot_id in json.loads(wrapped.stdout.strip().splitlines()[-1])["snapshot_id"]
    assert run.size_bytes == sum(path.stat().st_size for path in data.iterdir())
    assert run.started_at is not None and run.finished_at is not None and run.started_at <= run.finished_at

    # 2. The one-line snippet of the README, with a wrong password: a failed run with restic's message.
    snippet = (
        'out=$(restic backup --json --quiet "$DATA" 2>&1); '
        'curl -fsS -m 10 --retry 3 --data-binary "$out" "$PING_URL/$?"'
    )
    env = {**_restic_env(restic_repo), "RESTIC_PASSWORD": "wrong", "DATA": str(data), "PING_URL": ping_url}
    subprocess.run(["sh", "-c", snippet], env=env, capture_output=True, check=True, timeout=120)
    services.apply_pings()
    failed = BackupRun.objects.filter(job=job).exclude(pk=run.pk).get()
    assert (failed.status, failed.exit_status) == (RunStatus.FAILED, 1)
    assert "wrong password" in failed.output

    # 3. snapshots --json, check (--json where restic has it) and restore imported.
    snapshots = _restic(restic_repo, "snapshots", "--json").stdout
    result = services.import_report(job=job, text=snapshots)
    assert (result.format, result.points_created) == ("restic-snapshots", 1)
    (point,) = RestorePoint.objects.filter(job=job)
    assert point.point_id.startswith(run.snapshot_id[:8])
    check = _restic(restic_repo, "check", "--json")
    services.import_report(job=job, text=check.stdout + check.stderr)
    assert IntegrityCheck.objects.get(job=job).ok

    job.refresh_from_db()
    checks = {check.key: check for check in job_checks(job, now=timezone.now())}
    assert checks["freshness"].status == GateStatus.PASS
    assert checks["integrity"].status == GateStatus.PASS
    assert checks["encryption"].status == GateStatus.PASS  # restic repositories always are
    assert checks["location"].status == GateStatus.PASS  # sftp: is off-site, as the policy asks
    assert checks["retention"].status == GateStatus.FAIL  # one snapshot from now cannot reach 30 days back
    assert "30 days" in checks["retention"].detail

    # 4. A restore, verified by checksums, recorded as a restore test with its measured RTO.
    target = tmp_path / "restored"
    started = timezone.now()
    restored = _restic(restic_repo, "restore", "latest", "--target", str(target), "--json")
    copy = next(path for path in target.rglob("data") if path.is_dir())
    assert _sha(copy) == _sha(data)
    verified = timezone.now()
    summary = None
    if '"message_type"' in restored.stdout:  # restic 0.16+ prints a JSON restore summary
        summary = parsers.parse(restored.stdout, "restic-restore").restore
        assert summary is not None and summary.files_restored == 20
    test = services.record_restore_test(
        job=job,
        target=str(target),
        result="passed",
        started_at=started,
        verified_at=verified,
        restore_point=point.point_id,
        verification="SHA-256 of all 20 files match the originals",
        evidence=summary.raw if summary else {"restic_output": restored.stdout[-2000:]},
    )
    assert test.met_targets
    assert test.rto_seconds == pytest.approx((verified - started).total_seconds())
    assert test.rpo_seconds == pytest.approx((started - point.taken_at).total_seconds())


# --- pgBackRest --------------------------------------------------------------------------------


@dataclass
class Cluster:
    folder: Path
    port: int

    @property
    def config(self) -> Path:
        return self.folder / "pgbackrest.conf"

    def pgbackrest(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _as_postgres(["pgbackrest", f"--config={self.config}", "--stanza=main", *args])


def _as_postgres(command: list[str]) -> subprocess.CompletedProcess[str]:
    """initdb and pgbackrest refuse root: run them as the postgres user when this runs as root (CI)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=180)


def _free_pg_port() -> int:
    for port in PG_PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise AssertionError(f"no free port in {PG_PORTS}")


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert shutil.which("pgbackrest"), "Debian's pgbackrest is required (.ci/run installs it)"
    folder = tmp_path_factory.mktemp("pgbackrest")
    # The postgres user must reach the cluster's folder: open every folder pytest made above it
    # (/tmp/pytest-of-root/pytest-N[/popen-gwK]/...), up to the system's temporary folder.
    system_tmp = Path(tempfile.gettempdir()).resolve()
    for part in (folder, *folder.parents):
        if part.resolve() == system_tmp or not part.resolve().is_relative_to(system_tmp):
            break
        part.chmod(part.stat().st_mode | 0o755)
    for name in ("data", "repo", "log", "run"):
        (folder / name).mkdir()
    port = _free_pg_port()
    cluster = Cluster(folder, port)
    cluster.config.write_text(
        "[global]\n"
        f"repo1-path={folder / 'repo'}\nlog-path={folder / 'log'}\nlock-path={folder / 'run'}\n"
        "repo1-retention-full=2\nstart-fast=y\nlog-level-console=warn\n"
        f"[main]\npg1-path={folder / 'data'}\npg1-port={port}\npg1-socket-path={folder / 'run'}\n",
        encoding="utf-8",
    )
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        for path in folder.rglob("*"):
            shutil.chown(path, "postgres", "postgres")
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"])
    with (folder / "data" / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(
            f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{folder / 'run'}'\n"
            "wal_level = replica\narchive_mode = on\n"
            f"archive_command = 'pgbackrest --config={cluster.config} --stanza=main archive-push %p'\n"
        )
    _as_postgres(
        [str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log" / "pg.log"), "-w", "start"]
    )
    try:
        yield cluster
    finally:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "-w", "stop"])


@pytest.mark.django_db
def test_pgbackrest_full_backup_info_imported(cluster: Cluster) -> None:
    cluster.pgbackrest("stanza-create")
    before = timezone.now()
    cluster.pgbackrest("--type=full", "backup")
    info = cluster.pgbackrest("info", "--output=json").stdout
    job = make_job(tool="pgbackrest", repository=str(cluster.folder / "repo"), interval=timedelta(days=1))
    result = services.import_report(job=job, text=info)
    assert (result.format, result.runs_created, result.points_created) == ("pgbackrest-info", 1, 1)
    run = BackupRun.objects.get(job=job)
    label = json.loads(info)[0]["backup"][0]["label"]
    assert (run.status, run.snapshot_id) == (RunStatus.SUCCEEDED, label)
    assert label.endswith("F")
    # pgBackRest's epoch seconds: the backup ran while this test waited for it.
    assert run.started_at is not None and before - timedelta(seconds=2) <= run.started_at <= timezone.now()
    job.refresh_from_db()
    assert job.wal_archive_max  # the WAL archive's newest segment
    assert job.encrypted is False  # no repo1-cipher-type: the encryption check flags it
    checks = {check.key: check for check in job_checks(job, now=timezone.now())}
    assert checks["freshness"].status == GateStatus.PASS
    assert job.wal_archive_max in checks["freshness"].detail
    assert checks["encryption"].status == GateStatus.FAIL
    assert checks["location"].status == GateStatus.FAIL  # a local repository is on-site
    assert services.import_report(job=job, text=info).runs_unchanged == 1
    assert BackupJob.objects.get(pk=job.pk).runs.count() == 1

    # pgbackrest verify, imported through the command: the integrity check. Verify exits 0 whatever it
    # finds (pgBackRest 2.45); only its text says how it went.
    verify = cluster.pgbackrest("verify", "--output=text", "--verbose")
    assert verify.returncode == 0 and "status: ok" in verify.stdout
    report = cluster.folder / "verify.txt"
    report.write_text(verify.stdout, encoding="utf-8")
    out = StringIO()
    call_command("import_backup_report", str(report), "--job", str(job.pk), stdout=out)
    assert json.loads(out.getvalue())["format"] == "pgbackrest-verify"
    check = IntegrityCheck.objects.get(job=job)
    assert (check.ok, check.errors, check.report_format) == (True, 0, "pgbackrest-verify")
    assert check.detail.startswith("stanza main: ok; 1 backup(s) valid")
    checks = {check.key: check for check in job_checks(job, now=timezone.now())}
    assert checks["integrity"].status == GateStatus.PASS

    # One backup file overwritten in the repository: verify finds it (still exit 0), the check fails.
    backup_dir = cluster.folder / "repo" / "backup" / "main" / label / "pg_data" / "base"
    victim = next(path for path in sorted(backup_dir.rglob("*")) if path.is_file() and path.stat().st_size > 8192)
    with victim.open("r+b") as handle:
        handle.seek(100)
        handle.write(b"garbage-garbage")
    broken = cluster.pgbackrest("verify", "--output=text", "--verbose")
    assert broken.returncode == 0 and "status: error" in broken.stdout
    report.write_text(broken.stdout, encoding="utf-8")
    call_command("import_backup_report", str(report), "--job", str(job.pk), stdout=StringIO())
    failed = IntegrityCheck.objects.filter(job=job).order_by("-pk").first()
    assert failed is not None and (failed.ok, failed.errors) == (False, 1)
    assert failed.detail == f"stanza main: error; backup {label} invalid (checksum invalid: 1)"
    checks = {check.key: check for check in job_checks(job, now=timezone.now())}
    assert checks["integrity"].status == GateStatus.FAIL
