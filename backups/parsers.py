"""Parsers of the reports backup tools print, into one shape (:class:`Report`); no database access here.

Formats (``FORMATS``; :func:`detect` names one from the text when the caller does not):

- ``restic-backup``: ``restic backup --json``, JSON lines dispatched on ``message_type``
  (``summary``, ``error``, ``exit_error``; ``status``, ``verbose_status`` and unknown types ignored,
  unknown fields too). One run: ``exit_error`` → failed; ``error`` lines and a summary → partial
  (restic exits 3: a snapshot exists but files are missing from it); a summary alone → succeeded.
  An exit status given by the caller (the wrapper, a ping) wins: 0 ok, 3 partial, anything else failed.
  restic before 0.17 prints no ``backup_start``/``backup_end`` and a short ``snapshot_id``.
- ``restic-snapshots``: ``restic snapshots --json`` (an array, or ``--group-by``'s groups): restore points.
- ``restic-check``: ``restic check --json``'s summary (``num_errors``), or the text restic before 0.17
  prints ("no errors were found").
- ``restic-restore``: ``restic restore --json``'s summary (``seconds_elapsed``, files and bytes restored).
- ``pgbackrest-info``: ``pgbackrest info --output=json``: every listed backup is a successful run and a
  restore point (failed ones never appear: the schedule reconciliation finds them missing); epoch times;
  ``cipher`` says whether the repository is encrypted; ``archive[].max`` is the newest archived WAL segment;
  a stanza ``status.code`` other than 0 is a failed integrity check.
- ``pgbackrest-verify``: ``pgbackrest verify --output=text --verbose`` (text; pgBackRest has no JSON
  for verify): per stanza its ``status: ok|error``, each archive id's WAL counts and each backup's status
  (``valid``, ``invalid``, ...) with its counts of missing, checksum-invalid, size-invalid and other
  files: one integrity check per stanza, failed when the stanza's status is not ok or any count is not 0.
  Pitfalls: verify exits 0 even when it finds errors (2.45), so only its text says how it went; without
  ``--verbose`` it prints nothing for a clean repository (an empty report is refused: send ``--verbose``),
  and only the non-zero counts for a broken one (read too). Other indented lines are kept as messages.
- ``barman-list-backups``: ``barman -f json list-backups``: DONE → succeeded run and restore point,
  FAILED → failed run, other statuses are not final (skipped). Times from ``end_time_timestamp`` (epoch);
  without it, ``end_time`` (a ctime string Barman prints in the server's local time, no zone) is read in
  the job's time zone.
- ``barman-check``: ``barman -f json check``: an integrity check, OK when every check is OK.
- ``velero``: a Velero ``Backup`` object or a list (``kubectl get backups.velero.io -o json``):
  only ``Completed`` succeeds; ``PartiallyFailed`` is partial (a failure), ``Failed``/``FailedValidation``
  failed; other phases are not final (skipped).

Every time must carry a zone, except Barman's ``end_time`` (above). Errors raise :class:`ReportError`
naming the line (JSON lines) or the field path.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

FORMATS = (
    "restic-backup",
    "restic-snapshots",
    "restic-check",
    "restic-restore",
    "pgbackrest-info",
    "pgbackrest-verify",
    "barman-list-backups",
    "barman-check",
    "velero",
)
#: The most bytes of a report accepted (API and command).
MAX_REPORT_BYTES = 10 * 1024 * 1024


class ReportError(ValueError):
    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class ParsedRun:
    status: str  # succeeded, failed, partial
    key: str  # snapshot id / label / backup name ("" when the run has none)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    size_bytes: int | None = None
    exit_status: int | None = None
    error: str = ""
    raw: Any = None


@dataclass(frozen=True)
class ParsedPoint:
    point_id: str
    taken_at: datetime
    size_bytes: int | None = None
    expires_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedCheck:
    ok: bool
    errors: int
    detail: str = ""


@dataclass(frozen=True)
class ParsedRestore:
    seconds_elapsed: float | None
    files_restored: int | None
    bytes_restored: int | None
    raw: Any = None


@dataclass
class Report:
    format: str
    runs: list[ParsedRun] = field(default_factory=list)
    #: The restore points the repository holds; None when the report does not list them all.
    points: list[ParsedPoint] | None = None
    #: The points are everything the repository holds (those no longer listed were pruned).
    points_complete: bool = True
    checks: list[ParsedCheck] = field(default_factory=list)
    restore: ParsedRestore | None = None
    encrypted: bool | None = None
    wal_archive_max: str = ""
    raw: Any = None


# --- helpers ----------------------------------------------------------------------------

_FRACTION_RE = re.compile(r"(\.\d{1,6})\d*")


def parse_time(value: Any, path: str) -> datetime:
    """An RFC 3339 time with a zone (restic's nanoseconds are cut to microseconds); ReportError else."""
    if not isinstance(value, str):
        raise ReportError("expected a time string", path)
    text = _FRACTION_RE.sub(r"\1", value.strip(), count=1).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise ReportError(f"{value!r} is not a time", path) from error
    if parsed.tzinfo is None:
        raise ReportError(f"{value!r} has no time zone", path)
    return parsed.astimezone(UTC)


def _epoch(value: Any, path: str) -> datetime:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError("expected epoch seconds", path)
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise ReportError(f"{value!r} is out of range", path) from error


def _get(obj: Any, key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(obj, dict):
        raise ReportError("expected an object", path)
    if key not in obj:
        raise ReportError("missing", f"{path}.{key}" if path else key)
    value = obj[key]
    if isinstance(value, bool) and kind is not bool:
        raise ReportError(f"expected {_kind_name(kind)}", f"{path}.{key}" if path else key)
    if not isinstance(value, kind):
        raise ReportError(f"expected {_kind_name(kind)}", f"{path}.{key}" if path else key)
    return value


def _opt(obj: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    if obj.get(key) is None:
        return None
    return _get(obj, key, path, kind)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", list: "an array", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _json_lines(text: str) -> list[tuple[int, dict[str, Any]]]:
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise ReportError(f"not JSON ({error.msg})", f"line {number}") from error
        if not isinstance(value, dict):
            raise ReportError("expected a JSON object", f"line {number}")
        lines.append((number, value))
    return lines


# --- detection ------------------------------------------------------------------------------


def detect(text: str) -> str:
    """The format of `text` (one of FORMATS); ReportError when it is none of them."""
    stripped = text.strip()
    if not stripped:
        raise ReportError("the report is empty")
    if "no errors were found" in stripped or "check snapshots, trees and blobs" in stripped:
        return "restic-check"
    if _VERIFY_STANZA.match(stripped.splitlines()[0]):
        return "pgbackrest-verify"
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None
        lines = _json_lines(stripped)
        return _detect_restic_lines([value for _, value in lines])
    if isinstance(whole, dict) and "message_type" in whole:
        return _detect_restic_lines([whole])
    if isinstance(whole, list):
        if not whole:
            raise ReportError("an empty array says nothing of its format; name the format")
        first = whole[0]
        if isinstance(first, dict) and ("group_key" in first or "short_id" in first or "tree" in first):
            return "restic-snapshots"
        if isinstance(first, dict) and "backup" in first and ("archive" in first or "db" in first):
            return "pgbackrest-info"
    if isinstance(whole, dict):
        if whole.get("kind") in ("Backup", "BackupList") or (
            whole.get("kind") == "List" and isinstance(whole.get("items"), list)
        ):
            return "velero"
        values = list(whole.values())
        if values and all(isinstance(v, list) for v in values):
            return "barman-list-backups"
        if values and all(isinstance(v, dict) for v in values):
            return "barman-check"
    raise ReportError("not a report of a known format; name it (one of: " + ", ".join(FORMATS) + ")")


def _detect_restic_lines(values: list[dict[str, Any]]) -> str:
    for value in values:
        if value.get("message_type") == "summary":
            if "num_errors" in value:
                return "restic-check"
            if "files_restored" in value or "bytes_restored" in value:
                return "restic-restore"
            return "restic-backup"
    if any(value.get("message_type") in ("exit_error", "error") for value in values):
        return "restic-backup"
    raise ReportError("JSON lines without a restic summary or error; name the format")


def parse(text: str, fmt: str | None = None, *, exit_status: int | None = None, tz: tzinfo = UTC) -> Report:
    """Parse `text` as `fmt` (detected when None). `exit_status`: the tool's, when the caller knows it;
    `tz`: the job's time zone, for the formats that print local time without a zone (Barman)."""
    fmt = fmt or detect(text)
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}", "format")
    if fmt == "restic-backup":
        return _restic_backup(text, exit_status)
    if fmt == "restic-check" and "message_type" not in text:
        return _restic_check_text(text)
    if fmt == "restic-check":
        return _restic_check(text)
    if fmt == "restic-restore":
        return _restic_restore(text)
    if fmt == "pgbackrest-verify":
        return _pgbackrest_verify(text)
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"not JSON ({error.msg})", f"line {error.lineno}") from error
    if fmt == "restic-snapshots":
        return _restic_snapshots(whole)
    if fmt == "pgbackrest-info":
        return _pgbackrest_info(whole)
    if fmt == "barman-list-backups":
        return _barman_list(whole, tz)
    if fmt == "barman-check":
        return _barman_check(whole)
    return _velero(whole)


# --- restic ------------------------------------------------------------------------------


def _restic_backup(text: str, exit_status: int | None) -> Report:
    summary: dict[str, Any] | None = None
    summary_line = 0
    errors: list[str] = []
    exit_error: dict[str, Any] | None = None
    for number, value in _json_lines(text):
        kind = value.get("message_type")
        if kind == "summary":
            summary, summary_line = value, number
        elif kind == "error":
            error = value.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            item = value.get("item")
            errors.append(f"{item}: {message}" if item else str(message))
        elif kind == "exit_error":
            exit_error = value
            code = value.get("code")
            if not isinstance(code, int) or isinstance(code, bool):
                raise ReportError("expected an integer", f"line {number}.code")
    if summary is None and exit_error is None and exit_status in (None, 0):
        raise ReportError("no summary: the backup did not finish (send its exit status, or /fail)")
    started = finished = None
    size = None
    snapshot = ""
    if summary is not None:
        path = f"line {summary_line}"
        if summary.get("backup_start") is not None:
            started = parse_time(summary["backup_start"], f"{path}.backup_start")
        if summary.get("backup_end") is not None:
            finished = parse_time(summary["backup_end"], f"{path}.backup_end")
        size = _opt(summary, "total_bytes_processed", path, int)
        snapshot = _opt(summary, "snapshot_id", path, str) or ""
    code = exit_status if exit_status is not None else (exit_error["code"] if exit_error else None)
    if code is None:
        status = "partial" if errors else "succeeded"
    else:
        status = "succeeded" if code == 0 else "partial" if code == 3 and summary is not None else "failed"
    message = "; ".join(errors[:20])
    if exit_error is not None:
        message = (str(exit_error.get("message", "")) + ("; " + message if message else "")).strip()
    run = ParsedRun(
        status=status,
        key=snapshot,
        started_at=started,
        finished_at=finished,
        size_bytes=size,
        exit_status=code,
        error=message,
        raw={"summary": summary, "errors": errors[:100], "exit_error": exit_error},
    )
    return Report(format="restic-backup", runs=[run], encrypted=True, raw=run.raw)


def _restic_snapshots(whole: Any) -> Report:
    if not isinstance(whole, list):
        raise ReportError("expected an array of snapshots", "$")
    snapshots: list[tuple[str, Any]] = []
    for i, item in enumerate(whole):
        if isinstance(item, dict) and "group_key" in item:
            group = _get(item, "snapshots", f"[{i}]", list)
            snapshots.extend((f"[{i}].snapshots[{j}]", s) for j, s in enumerate(group))
        else:
            snapshots.append((f"[{i}]", item))
    points = []
    for path, snap in snapshots:
        snapshot_id = _get(snap, "id", path, str)
        taken = parse_time(_get(snap, "time", path, str), f"{path}.time")
        summary = _opt(snap, "summary", path, dict) or {}
        size = summary.get("total_bytes_processed") if isinstance(summary.get("total_bytes_processed"), int) else None
        details = {k: snap.get(k) for k in ("short_id", "hostname", "paths", "tags", "program_version") if k in snap}
        points.append(ParsedPoint(point_id=snapshot_id, taken_at=taken, size_bytes=size, details=details))
    return Report(format="restic-snapshots", points=points, encrypted=True, raw=None)


def _restic_check(text: str) -> Report:
    for number, value in _json_lines(text):
        if value.get("message_type") == "summary":
            errors = _get(value, "num_errors", f"line {number}", int)
            detail = "no errors were found" if errors == 0 else f"{errors} errors"
            if value.get("broken_packs"):
                detail += f"; broken packs: {', '.join(map(str, value['broken_packs']))}"
            return Report(format="restic-check", checks=[ParsedCheck(ok=errors == 0, errors=errors, detail=detail)])
    raise ReportError("no summary line with num_errors")


def _restic_check_text(text: str) -> Report:
    ok = "no errors were found" in text
    errors = 0 if ok else max(1, sum(1 for line in text.splitlines() if "error" in line.lower()))
    tail = "\n".join(line for line in text.strip().splitlines()[-5:])
    return Report(format="restic-check", checks=[ParsedCheck(ok=ok, errors=errors, detail=tail[:2000])])


def _restic_restore(text: str) -> Report:
    for number, value in _json_lines(text):
        if value.get("message_type") == "summary":
            path = f"line {number}"
            seconds = _opt(value, "seconds_elapsed", path, (int, float))
            restore = ParsedRestore(
                seconds_elapsed=float(seconds) if seconds is not None else None,
                files_restored=_opt(value, "files_restored", path, int),
                bytes_restored=_opt(value, "bytes_restored", path, int),
                raw=value,
            )
            return Report(format="restic-restore", restore=restore, raw=value)
    raise ReportError("no summary line: the restore did not finish")


# --- pgBackRest ------------------------------------------------------------------------------


def _pgbackrest_info(whole: Any) -> Report:
    if not isinstance(whole, list):
        raise ReportError("expected an array of stanzas", "$")
    report = Report(format="pgbackrest-info", points=[])
    assert report.points is not None
    encrypted: bool | None = None
    for i, stanza in enumerate(whole):
        path = f"[{i}]"
        name = _get(stanza, "name", path, str)
        status = _get(stanza, "status", path, dict)
        code = _get(status, "code", f"{path}.status", int)
        if code != 0:
            message = status.get("message", "")
            report.checks.append(ParsedCheck(ok=False, errors=1, detail=f"stanza {name}: status {code} {message}"))
        cipher = _opt(stanza, "cipher", path, str)
        if cipher is not None:
            encrypted = (encrypted is not False) and cipher != "none"
        for j, archive in enumerate(_opt(stanza, "archive", path, list) or []):
            newest = _opt(archive, "max", f"{path}.archive[{j}]", str)
            if newest and newest > report.wal_archive_max:
                report.wal_archive_max = newest
        for j, backup in enumerate(_opt(stanza, "backup", path, list) or []):
            bpath = f"{path}.backup[{j}]"
            label = _get(backup, "label", bpath, str)
            stamps = _get(backup, "timestamp", bpath, dict)
            start = _epoch(_get(stamps, "start", f"{bpath}.timestamp", int), f"{bpath}.timestamp.start")
            stop = _epoch(_get(stamps, "stop", f"{bpath}.timestamp", int), f"{bpath}.timestamp.stop")
            info = _opt(backup, "info", bpath, dict) or {}
            size = info.get("size") if isinstance(info.get("size"), int) else None
            failed = backup.get("error") is True
            details = {"stanza": name, "type": backup.get("type"), "prior": backup.get("prior")}
            report.runs.append(
                ParsedRun(
                    status="failed" if failed else "succeeded",
                    key=label,
                    started_at=start,
                    finished_at=stop,
                    size_bytes=size,
                    error="pgBackRest marks this backup with errors" if failed else "",
                    raw=backup,
                )
            )
            if not failed:
                report.points.append(ParsedPoint(point_id=label, taken_at=stop, size_bytes=size, details=details))
    report.encrypted = encrypted
    return report


_VERIFY_STANZA = re.compile(r"^stanza: (\S+)$")
_VERIFY_STATUS = re.compile(r"^status: (\S+)$")
_VERIFY_ARCHIVE = re.compile(r"^  archiveId: ([^,]+), total WAL checked: (\d+), total valid WAL: (\d+)$")
_VERIFY_BACKUP = re.compile(
    r"^  backup: ([^,]+), status: ([^,]+), total files checked: (\d+), total valid files: (\d+)$"
)
_VERIFY_COUNT = re.compile(r"^(missing|checksum invalid|size invalid|other): (\d+)$")
#: Backup statuses that are no error (a backup still running is verified next time).
_VERIFY_BACKUP_FINE = {"valid", "in-progress"}


def _verify_counts(line: str) -> dict[str, int] | None:
    """The ``missing: 0, checksum invalid: 1, ...`` line under an archive or backup; None if it is not one."""
    if not line.startswith("    "):
        return None
    counts = {}
    for part in line.strip().split(", "):
        match = _VERIFY_COUNT.match(part)
        if match is None:
            return None
        counts[match.group(1)] = int(match.group(2))
    return counts


def _pgbackrest_verify(text: str) -> Report:
    if not text.strip():
        raise ReportError(
            "the report is empty: pgbackrest verify prints nothing for a clean repository unless --verbose; "
            "send the output of `pgbackrest verify --output=text --verbose`"
        )
    stanzas: list[dict[str, Any]] = []
    subject: dict[str, Any] | None = None  # the archive or backup the next counts line belongs to
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        path = f"line {number}"
        if match := _VERIFY_STANZA.match(line):
            stanzas.append({"stanza": match.group(1), "status": None, "archives": [], "backups": [], "messages": []})
            subject = None
            continue
        if not stanzas:
            raise ReportError("expected 'stanza: <name>' (pgbackrest verify --output=text)", path)
        stanza = stanzas[-1]
        if match := _VERIFY_STATUS.match(line):
            stanza["status"] = match.group(1)
        elif match := _VERIFY_ARCHIVE.match(line):
            subject = {"archive_id": match.group(1), "checked": int(match.group(2)), "valid": int(match.group(3))}
            stanza["archives"].append(subject)
        elif match := _VERIFY_BACKUP.match(line):
            subject = {
                "label": match.group(1),
                "status": match.group(2),
                "checked": int(match.group(3)),
                "valid": int(match.group(4)),
            }
            stanza["backups"].append(subject)
        elif (counts := _verify_counts(line)) is not None:
            if subject is None:
                raise ReportError("counts without an archiveId or backup line before them", path)
            subject["counts"] = counts
        elif line.startswith("  "):
            stanza["messages"].append(line.strip()[:500])
        else:
            raise ReportError(f"not a line of pgbackrest verify --output=text: {line[:80]!r}", path)
    report = Report(format="pgbackrest-verify", raw=stanzas)
    for stanza in stanzas:
        if stanza["status"] is None:
            raise ReportError(f"stanza {stanza['stanza']} has no 'status:' line")
        problems: list[str] = []
        errors = 0
        for archive in stanza["archives"]:
            bad = sum(archive.get("counts", {}).values()) + max(0, archive["checked"] - archive["valid"])
            if bad:
                errors += bad
                problems.append(f"archive {archive['archive_id']}: {archive['checked'] - archive['valid']} WAL invalid")
        for backup in stanza["backups"]:
            counted = {name: n for name, n in backup.get("counts", {}).items() if n}
            if backup["status"] not in _VERIFY_BACKUP_FINE or counted:
                errors += max(1, sum(counted.values()))
                what = ", ".join(f"{name}: {n}" for name, n in counted.items())
                problems.append(f"backup {backup['label']} {backup['status']}" + (f" ({what})" if what else ""))
        ok = stanza["status"] == "ok" and not problems
        if not ok and not errors:
            errors = 1
        if ok:
            detail = (
                f"stanza {stanza['stanza']}: ok; {len(stanza['backups'])} backup(s) valid, "
                f"{sum(a['checked'] for a in stanza['archives'])} WAL segment(s) valid"
            )
        else:
            detail = f"stanza {stanza['stanza']}: {stanza['status']}; " + "; ".join(
                problems + stanza["messages"][:5] or ["no detail printed"]
            )
        report.checks.append(ParsedCheck(ok=ok, errors=errors, detail=detail[:2000]))
    return report


# --- Barman ------------------------------------------------------------------------------

_BARMAN_NOT_FINAL = {"EMPTY", "STARTED", "WAITING_FOR_WALS", "SYNCING"}


def _barman_list(whole: Any, tz: tzinfo) -> Report:
    if not isinstance(whole, dict):
        raise ReportError("expected an object of servers", "$")
    report = Report(format="barman-list-backups", points=[])
    assert report.points is not None
    for server, backups in whole.items():
        if not isinstance(backups, list):
            raise ReportError("expected an array", server)
        for j, backup in enumerate(backups):
            path = f"{server}[{j}]"
            backup_id = _get(backup, "backup_id", path, str)
            status = _get(backup, "status", path, str)
            if status in _BARMAN_NOT_FINAL:
                continue
            if status == "FAILED":
                report.runs.append(ParsedRun(status="failed", key=backup_id, error="Barman status FAILED", raw=backup))
                continue
            if status != "DONE":
                raise ReportError(f"unknown status {status!r}", f"{path}.status")
            if backup.get("end_time_timestamp") is not None:
                end = _epoch(backup["end_time_timestamp"], f"{path}.end_time_timestamp")
            else:
                end = _barman_ctime(_get(backup, "end_time", path, str), f"{path}.end_time", tz)
            size = backup.get("size_bytes") if isinstance(backup.get("size_bytes"), int) else None
            report.runs.append(
                ParsedRun(status="succeeded", key=backup_id, finished_at=end, size_bytes=size, raw=backup)
            )
            details = {"server": server, "retention_status": backup.get("retention_status")}
            report.points.append(ParsedPoint(point_id=backup_id, taken_at=end, size_bytes=size, details=details))
    return report


def _barman_ctime(value: str, path: str, tz: tzinfo) -> datetime:
    """Barman's end_time ("Mon Mar  2 02:10:01 2026"): local time of the Barman server, read in `tz`."""
    try:
        naive = datetime.strptime(" ".join(value.split()), "%a %b %d %H:%M:%S %Y")
    except ValueError as error:
        raise ReportError(f"{value!r} is not a ctime", path) from error
    return naive.replace(tzinfo=tz).astimezone(UTC)


def _barman_check(whole: Any) -> Report:
    if not isinstance(whole, dict):
        raise ReportError("expected an object of servers", "$")
    report = Report(format="barman-check")
    for server, checks in whole.items():
        if not isinstance(checks, dict):
            raise ReportError("expected an object of checks", server)
        failed = []
        for name, check in checks.items():
            status = _get(check, "status", f"{server}.{name}", str)
            if status != "OK":
                hint = check.get("hint") or ""
                failed.append(f"{name}: {status}" + (f" ({hint})" if hint else ""))
        detail = f"{server}: " + ("; ".join(failed) if failed else "all checks OK")
        report.checks.append(ParsedCheck(ok=not failed, errors=len(failed), detail=detail))
    return report


# --- Velero ------------------------------------------------------------------------------

_VELERO_FAILED = {"Failed": "failed", "FailedValidation": "failed", "PartiallyFailed": "partial"}


def _velero(whole: Any) -> Report:
    if not isinstance(whole, dict):
        raise ReportError("expected a Backup object or a list", "$")
    items: list[tuple[str, Any]]
    if whole.get("kind") == "Backup":
        items = [("$", whole)]
    else:
        items = [(f"items[{i}]", item) for i, item in enumerate(_get(whole, "items", "", list))]
    report = Report(format="velero", points=[], points_complete=whole.get("kind") != "Backup")
    assert report.points is not None
    for path, item in items:
        name = _get(_get(item, "metadata", path, dict), "name", f"{path}.metadata", str)
        status = _opt(item, "status", path, dict) or {}
        phase = status.get("phase")
        if phase != "Completed" and phase not in _VELERO_FAILED:
            continue  # New, InProgress, WaitingForPluginOperations*, Finalizing*: not final yet
        spath = f"{path}.status"
        start = _opt(status, "startTimestamp", spath, str)
        end = _opt(status, "completionTimestamp", spath, str)
        started = parse_time(start, f"{spath}.startTimestamp") if start else None
        finished = parse_time(end, f"{spath}.completionTimestamp") if end else None
        errors = status.get("errors") if isinstance(status.get("errors"), int) else 0
        report.runs.append(
            ParsedRun(
                status="succeeded" if phase == "Completed" else _VELERO_FAILED[phase],
                key=name,
                started_at=started,
                finished_at=finished,
                error="" if phase == "Completed" else f"Velero phase {phase} ({errors} errors)",
                raw=item,
            )
        )
        if phase == "Completed" and finished is not None:
            expiration = _opt(status, "expiration", spath, str)
            expires = parse_time(expiration, f"{spath}.expiration") if expiration else None
            report.points.append(ParsedPoint(point_id=name, taken_at=finished, expires_at=expires))
    return report


def zone(name: str) -> tzinfo:
    return zoneinfo.ZoneInfo(name)
