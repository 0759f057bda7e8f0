"""The evidence package of an audit: a ZIP streamed with constant memory, with a manifest.

The archive is written by Python's zipfile into a sink that only collects the bytes written since
the last read (no seek, no tell: zipfile then writes data descriptors after each member), and the
generator hands those bytes on after every chunk. Memory is one chunk plus zipfile's small state,
whatever the number or size of the files.

``manifest.json`` (the last member) lists, per control in scope: its live evidence (provider,
scope, state, record, time, link) and its evidence files (archive path, SHA-256, size, effective
date, link); ``verify_package`` re-reads an archive and checks every file's hash against it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import IO, Any

from django.db.models import QuerySet
from django.utils import timezone

from .models import Audit, Control, EvidenceFile
from .selectors import active_controls, audit_controls, control_evidence, current_files_queryset

CHUNK = 256 * 1024


class _Sink:
    """A write-only stream for zipfile: keeps what was written until `drain()` takes it."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        if data:
            self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


@dataclass(frozen=True)
class PackageFile:
    """One file to put in a package: where in the archive, how to open it, and its manifest row."""

    arcname: str
    open: Any  # () -> binary file object
    entry: dict[str, Any]


def stream_zip(files: Iterable[PackageFile], manifest: dict[str, Any]) -> Iterator[bytes]:
    """Yield the bytes of a ZIP of `files` then manifest.json (with each file's SHA-256 as written).

    The manifest's file rows are spooled to a temporary file as they are written, so neither the
    files nor their rows are held in memory.
    """
    sink = _Sink()
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (closed below, after the manifest is copied)
    count = 0
    stamp = datetime.now(UTC).timetuple()[:6]  # one time for every member
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for item in files:
            digest = hashlib.sha256()
            size = 0
            info = zipfile.ZipInfo(item.arcname, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            with item.open() as source, archive.open(info, mode="w", force_zip64=True) as target:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    target.write(chunk)
                    if data := sink.drain():
                        yield data
            row = {**item.entry, "path": item.arcname, "sha256": digest.hexdigest(), "size": size}
            spool.write((",\n" if count else "\n").encode() + json.dumps(row, sort_keys=True).encode())
            count += 1
            if data := sink.drain():
                yield data
        head = json.dumps({key: value for key, value in manifest.items() if key != "files"}, indent=1, sort_keys=True)
        spool.seek(0)
        with archive.open("manifest.json", mode="w", force_zip64=True) as target:
            target.write(head[:-2].encode() + b',\n "files": [')
            while chunk := spool.read(CHUNK):
                target.write(chunk)
                if data := sink.drain():
                    yield data
            target.write(b"\n]\n}\n")
        spool.close()
    if data := sink.drain():
        yield data


def _audit_controls(audit: Audit) -> QuerySet[Control]:
    in_scope = audit_controls(Audit.objects.filter(pk=audit.pk))
    return active_controls().filter(pk__in=in_scope.values("pk"))


#: The columns of an evidence file a package reads: no model instance, no FieldFile per file.
_FILE_COLUMNS = (
    "pk",
    "file",
    "control_id",
    "control__ref_id",
    "title",
    "original_name",
    "revision",
    "effective_date",
    "expires_on",
    "created_at",
    "sha256",
)


def _file_entry(row: dict[str, Any], link: str) -> dict[str, Any]:
    return {
        "control": row["control__ref_id"],
        "evidence_id": row["pk"],
        "title": row["title"],
        "original_name": row["original_name"],
        "revision": row["revision"],
        "effective_date": row["effective_date"].isoformat(),
        "expires_on": row["expires_on"].isoformat() if row["expires_on"] else None,
        "collected": row["created_at"].isoformat(),
        "recorded_sha256": row["sha256"],
        "link": link,
    }


def audit_package(audit: Audit, *, now: datetime | None = None) -> Iterator[bytes]:
    """The evidence package of `audit`: its controls' current evidence files and live evidence."""
    now = now or timezone.now()
    evidence = control_evidence(_audit_controls(audit), now=now, with_files=False)
    files = current_files_queryset([item.control.pk for item in evidence], now=now)
    # Each control's link once (a URL reversal per file would cost more than writing the file).
    links = {item.control.pk: item.control.get_absolute_url() for item in evidence}
    controls = []
    for item in evidence:
        controls.append(
            {
                "control": item.control.ref_id,
                "title": item.control.title,
                "current": item.is_current,
                "live_evidence": [
                    {
                        "provider": binding.provider,
                        "scope": binding.scope,
                        "state": str(reading.freshness),
                        "record": reading.record.label if reading.record else None,
                        "recorded_at": reading.record.recorded_at.isoformat() if reading.record else None,
                        "link": reading.record.url if reading.record else "",
                    }
                    for binding, reading in item.readings
                ],
            }
        )
    manifest = {
        "audit": audit.title,
        "framework": str(audit.framework),
        "period": [audit.period_start.isoformat(), audit.period_end.isoformat()],
        "generated_at": now.isoformat(),
        "controls": controls,
    }
    storage = EvidenceFile._meta.get_field("file").storage
    package_files = (
        PackageFile(
            arcname=f"evidence/{row['control__ref_id']}/{row['pk']}-r{row['revision']}-{row['original_name']}",
            open=partial(storage.open, row["file"], "rb"),
            entry=_file_entry(row, links[row["control_id"]]),
        )
        for row in files.values(*_FILE_COLUMNS).iterator(chunk_size=2000)
    )
    return stream_zip(package_files, manifest)


def verify_package(stream: IO[bytes]) -> list[str]:
    """Re-read a package: every manifest row's file exists with the SHA-256 and size the manifest states
    (and the hash recorded at upload). Returns the problems (none: the package checks out)."""
    problems: list[str] = []
    with zipfile.ZipFile(stream) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = set(archive.namelist())
        for row in manifest["files"]:
            if row["path"] not in names:
                problems.append(f"{row['path']}: missing from the archive")
                continue
            digest = hashlib.sha256()
            size = 0
            with archive.open(row["path"]) as member:
                while chunk := member.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            if digest.hexdigest() != row["sha256"] or row["sha256"] != row.get("recorded_sha256", row["sha256"]):
                problems.append(f"{row['path']}: SHA-256 does not match")
            if size != row["size"]:
                problems.append(f"{row['path']}: size does not match")
    return problems
