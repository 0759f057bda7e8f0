"""opsgov backs itself up (issue 14, item 7): ``backup_self`` and ``restore_self --verify``.

backup_self writes a consistent backup of opsgov's own database to ``OPSGOV_BACKUP_DIR``:

- PostgreSQL: ``pg_dump -Fc`` of the server's major version (``/usr/lib/postgresql/<major>/bin``, else a
  ``pg_dump`` on PATH of that major version; a mismatch is refused), run on a snapshot exported from a
  REPEATABLE READ transaction in which the per-table row counts are taken, so dump and counts agree.
- SQLite: the online backup API (sqlite3.Connection.backup) of the live connection; counts from the copy.

Beside each backup, ``<name>.manifest.json``: file name, size, SHA-256, vendor, server version, created
at (opsgov's clock) and the row count of every table. Backups older than the policy's database retention
are pruned (the newest is always kept). The run is recorded as a run of the job "opsgov database" of
opsgov's own service (slug ``opsgov``, created with a team ``opsgov`` if missing).

restore_self --verify FILE checks the SHA-256, restores into a scratch database (PostgreSQL: a new
database ``<name>_verify_<random>`` dropped afterwards, with the matching ``pg_restore``; SQLite: a copy),
compares every table's row count with the manifest, and records a restore test with its measured RTO
(start of the restore to verified) and RPO (the backup's age when the restore started).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from opsgov.models import Service, Team
from opsgov.policy import get_policy

from . import services
from .models import BackupJob, BackupRun, RestoreResult, RestoreTest, RunSource, RunStatus

SELF_SERVICE = "opsgov"
SELF_JOB = "opsgov database (backup_self)"
PREFIX = "opsgov-"


class SelfBackupError(Exception):
    pass


@dataclass(frozen=True)
class SelfBackup:
    path: Path
    manifest_path: Path
    manifest: dict[str, Any]
    run: BackupRun


def backup_dir() -> Path | None:
    value = settings.OPSGOV_BACKUP_DIR
    return Path(value) if value else None


def self_job() -> BackupJob:
    """opsgov's own database job (and its service and team), created on first use."""
    job = BackupJob.objects.filter(service__slug=SELF_SERVICE, name=SELF_JOB).first()
    if job is not None:
        return job
    service = Service.objects.filter(slug=SELF_SERVICE).first()
    if service is None:
        team, _ = Team.objects.get_or_create(slug="opsgov", defaults={"name": "opsgov operators"})
        service = Service.objects.create(slug=SELF_SERVICE, name="opsgov", owner_team=team)
    directory = backup_dir()
    return services.job_create(service=service, data_type="database", name=SELF_JOB, repository=str(directory or ""))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _counts(cursor: Any, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in sorted(tables):
        cursor.execute(f"SELECT COUNT(*) FROM {_quote(table)}")  # noqa: S608 (a quoted table name)
        counts[table] = int(cursor.fetchone()[0])
    return counts


def pg_tool(name: str, major: int) -> str:
    """The path of `name` (pg_dump, pg_restore) of PostgreSQL `major`; SelfBackupError when there is none."""
    candidate = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        version = subprocess.run([found, "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S603 - a PostgreSQL client with fixed arguments
        digits = version.split()[-1].split(".")[0] if version.split() else ""
        if digits == str(major):
            return found
    raise SelfBackupError(f"no {name} of PostgreSQL {major} (install postgresql-client-{major})")


def _pg_env() -> dict[str, str]:
    params = connection.settings_dict
    env = dict(os.environ)
    if params.get("PASSWORD"):
        env["PGPASSWORD"] = str(params["PASSWORD"])
    return env


def _pg_args() -> list[str]:
    params = connection.settings_dict
    args = []
    if params.get("HOST"):
        args += ["-h", str(params["HOST"])]
    if params.get("PORT"):
        args += ["-p", str(params["PORT"])]
    if params.get("USER"):
        args += ["-U", str(params["USER"])]
    return args


def backup_self(*, directory: Path | None = None, now: datetime | None = None) -> SelfBackup:
    """Write a backup of opsgov's database with its manifest, prune old ones, and record the run."""
    directory = directory or backup_dir()
    if directory is None:
        raise SelfBackupError("OPSGOV_BACKUP_DIR is not set")
    directory.mkdir(parents=True, exist_ok=True)
    job = self_job()
    started = timezone.now()
    stamp = (now or started).strftime("%Y%m%dT%H%M%SZ")
    vendor = connection.vendor
    try:
        if vendor == "postgresql":
            path = directory / f"{PREFIX}{stamp}.dump"
            counts, server_version = _backup_postgresql(path)
        elif vendor == "sqlite":
            path = directory / f"{PREFIX}{stamp}.sqlite3"
            counts, server_version = _backup_sqlite(path)
        else:
            raise SelfBackupError(f"backups of {vendor} databases are not supported")
    except (SelfBackupError, OSError, subprocess.CalledProcessError) as error:
        finished = timezone.now()
        with transaction.atomic():
            run = BackupRun.objects.create(
                job=job,
                status=RunStatus.FAILED,
                source=RunSource.SELF,
                slot=job.slot_of(started),
                started_at=started,
                finished_at=finished,
                recorded_at=finished,
                error=str(error)[:10000],
            )
        raise SelfBackupError(str(error)) from error
    finished = timezone.now()
    size = path.stat().st_size
    digest = _sha256(path)
    manifest: dict[str, Any] = {
        "file": path.name,
        "size_bytes": size,
        "sha256": digest,
        "vendor": vendor,
        "server_version": server_version,
        "created_at": started.isoformat(),
        "tables": counts,
    }
    manifest_path = path.with_name(path.name + ".manifest.json")
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    pruned = prune(directory, now=finished)
    with transaction.atomic():
        run = BackupRun.objects.create(
            job=job,
            status=RunStatus.SUCCEEDED,
            source=RunSource.SELF,
            slot=(slot := job.slot_of(started)),
            late=slot is not None and job.materialised_until is not None and slot <= job.materialised_until,
            started_at=started,
            finished_at=finished,
            recorded_at=finished,
            size_bytes=size,
            snapshot_id=digest,
            report_format="opsgov-manifest",
            raw_report={**manifest, "pruned": pruned},
        )
        BackupJob.objects.filter(pk=job.pk).update(
            encrypted=job.encrypted if job.encrypted is not None else False, last_success_at=finished
        )
    return SelfBackup(path, manifest_path, manifest, run)


def _backup_postgresql(path: Path) -> tuple[dict[str, int], str]:
    major = connection.pg_version // 10000  # type: ignore[attr-defined]
    pg_dump = pg_tool("pg_dump", major)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        tables = connection.introspection.table_names(cursor)
        counts = _counts(cursor, tables)
        subprocess.run(  # noqa: S603 - a PostgreSQL client with fixed arguments
            [
                pg_dump,
                "-Fc",
                "--no-owner",
                f"--snapshot={snapshot}",
                "-f",
                str(path),
                *_pg_args(),
                "-d",
                str(connection.settings_dict["NAME"]),
            ],
            env=_pg_env(),
            check=True,
            capture_output=True,
            timeout=3000,
        )
    return counts, str(connection.pg_version)  # type: ignore[attr-defined]


def _backup_sqlite(path: Path) -> tuple[dict[str, int], str]:
    connection.ensure_connection()
    source = connection.connection
    target = sqlite3.connect(str(path))
    try:
        source.backup(target)
        cursor = target.cursor()
        tables = [
            row[0]
            for row in cursor.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ]
        counts = _counts(cursor, tables)
    finally:
        target.close()
    return counts, sqlite3.sqlite_version


def prune(directory: Path, *, now: datetime) -> list[str]:
    """Delete backups (and manifests) older than the policy's database retention; the newest always stays."""
    target = get_policy().backups.data_types.get("database")
    if target is None:
        return []
    backups = sorted(p for p in directory.glob(f"{PREFIX}*") if not p.name.endswith(".manifest.json"))
    removed = []
    for path in backups[:-1]:
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=now.tzinfo)
        if target.retention.after(modified) < now:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".manifest.json").unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def backup_self_if_due(*, now: datetime | None = None) -> SelfBackup | None:
    """backup_self when OPSGOV_BACKUP_DIR is set and the last successful one is older than the policy's
    database frequency (beat calls this every few minutes)."""
    if backup_dir() is None:
        return None
    now = now or timezone.now()
    target = get_policy().backups.data_types.get("database")
    every = target.frequency.as_timedelta() if target and not isinstance(target.frequency, str) else timedelta(hours=1)
    job = BackupJob.objects.filter(service__slug=SELF_SERVICE, name=SELF_JOB).first()
    if job is not None:
        last = job.runs.filter(status=RunStatus.SUCCEEDED).order_by("-finished_at").first()
        if last is not None and last.finished_at is not None and now - last.finished_at < every:
            return None
    return backup_self(now=now)


# --- restore_self --verify ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    ok: bool
    mismatches: dict[str, tuple[int, int | None]]
    tables: int
    restore_test: RestoreTest


def restore_verify(path: Path) -> Verification:
    """Restore `path` into a scratch database, compare the row counts with its manifest, record a restore test."""
    manifest_path = path.with_name(path.name + ".manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SelfBackupError(f"{manifest_path}: {error}") from error
    started = timezone.now()
    if _sha256(path) != manifest.get("sha256"):
        raise SelfBackupError(f"{path}: the SHA-256 does not match the manifest")
    expected: dict[str, int] = manifest.get("tables") or {}
    if manifest.get("vendor") == "postgresql":
        actual, target = _restore_postgresql(path, int(manifest["server_version"]) // 10000)
    elif manifest.get("vendor") == "sqlite":
        actual, target = _restore_sqlite(path)
    else:
        raise SelfBackupError(f"{manifest_path}: unknown vendor {manifest.get('vendor')!r}")
    verified = timezone.now()
    mismatches = {table: (count, actual.get(table)) for table, count in expected.items() if actual.get(table) != count}
    ok = not mismatches
    job = self_job()
    test = services.record_restore_test(
        job=job,
        target=target,
        result=RestoreResult.PASSED if ok else RestoreResult.FAILED,
        started_at=started,
        verified_at=verified,
        restore_point=str(manifest.get("sha256", "")),
        data_taken_at=datetime.fromisoformat(manifest["created_at"]),
        steps=f"restore_self --verify {path.name}",
        verification=(
            f"SHA-256 matches; row counts of {len(expected)} tables match the manifest."
            if ok
            else f"Row counts differ in {len(mismatches)} tables: {', '.join(sorted(mismatches))}."
        ),
        evidence={"manifest": manifest_path.name, "mismatches": {k: list(v) for k, v in mismatches.items()}},
    )
    return Verification(ok, mismatches, len(expected), test)


def _restore_postgresql(path: Path, major: int) -> tuple[dict[str, int], str]:
    pg_restore = pg_tool("pg_restore", major)
    params = connection.settings_dict
    scratch = f"{str(params['NAME'])[:40]}_verify_{secrets.token_hex(4)}"
    parts = {"host": params.get("HOST"), "port": params.get("PORT"), "user": params.get("USER")}
    parts["password"] = params.get("PASSWORD")
    conninfo = psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items() if v})
    with psycopg.connect(conninfo, dbname="postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {_quote(scratch)}")
    try:
        subprocess.run(  # noqa: S603 - a PostgreSQL client with fixed arguments
            [pg_restore, "--no-owner", "--exit-on-error", *_pg_args(), "-d", scratch, str(path)],
            env=_pg_env(),
            check=True,
            capture_output=True,
            timeout=3000,
        )
        with psycopg.connect(conninfo, dbname=scratch) as restored, restored.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
            tables = [row[0] for row in cursor.fetchall()]
            counts = _counts(cursor, tables)
    except subprocess.CalledProcessError as error:
        raise SelfBackupError(f"pg_restore failed: {error.stderr.decode(errors='replace')[-2000:]}") from error
    finally:
        with psycopg.connect(conninfo, dbname="postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {_quote(scratch)}")
    return counts, f"scratch PostgreSQL database {scratch} (dropped after)"


def _restore_sqlite(path: Path) -> tuple[dict[str, int], str]:
    with tempfile.TemporaryDirectory(prefix="opsgov-verify-") as folder:
        copy = Path(folder) / "restored.sqlite3"
        shutil.copyfile(path, copy)
        restored = sqlite3.connect(str(copy))
        try:
            cursor = restored.cursor()
            tables = [
                row[0]
                for row in cursor.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            counts = _counts(cursor, tables)
        finally:
            restored.close()
    return counts, "scratch SQLite copy (removed after)"
