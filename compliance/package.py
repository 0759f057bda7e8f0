"""The evidence package of an audit: a ZIP streamed with constant memory, with a manifest.

The archive is written by :class:`StreamingZip`, a forward-only ZIP64 writer for a stream that cannot
seek (a response): each member is a local header, its deflated bytes and a data descriptor, and each
member's central directory entry is spooled to a temporary file as the member is written, then copied
out at the end. Memory is one read chunk and one output buffer, whatever the number or size of the
files (an audit's package adds one batch of controls, CONTROL_BATCH, or of file rows, FILE_BATCH,
whatever the audit's scope): Python's zipfile (and the streaming ZIP libraries on PyPI, stream-zip
and zipstream-ng) keep one object per member for the central directory until the end, so their
memory grows with the number of files. The bytes are handed on in pieces of about FLUSH_AT bytes,
not one per file.

``manifest.json`` (the last member) lists, per control in scope: its live evidence (provider,
scope, state, record, time, link) and its evidence files (archive path, SHA-256, size, effective
date, link); ``verify_package`` re-reads an archive with zipfile and checks every file's hash against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from typing import IO, Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage, Storage
from django.db.models import QuerySet
from django.utils import timezone

from opsgov.evidence_providers import EvidenceReading

from .models import Audit, Control, EvidenceFile
from .selectors import active_controls, audit_controls, control_evidence, control_links, current_files_queryset

CHUNK = 256 * 1024  # bytes read from a file at a time
FLUSH_AT = 64 * 1024  # bytes collected before they are handed on

# ZIP records (PKWARE's APPNOTE 6.3): every member ZIP64, deflated, with a data descriptor, named in UTF-8.
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_LOCAL_ZIP64 = struct.pack("<HHQQ", 0x0001, 16, 0, 0)  # sizes unknown yet: the data descriptor has them
_DESCRIPTOR = struct.Struct("<IIQQ")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_CENTRAL_ZIP64 = struct.Struct("<HHQQQ")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_VERSION = 45  # ZIP64
_MADE_BY = (3 << 8) | _VERSION  # on Unix
_FLAGS = 0x0008 | 0x0800  # sizes and CRC in a data descriptor; UTF-8 names
_DEFLATED = 8
_ATTRIBUTES = 0o100644 << 16  # a regular file, rw-r--r--
_MAX16, _MAX32 = 0xFFFF, 0xFFFFFFFF


class StreamingZip:
    """A ZIP64 archive written forwards only, its central directory spooled to a temporary file.

    ``sha256, size = yield from archive.add(name, chunks)`` writes one member from an iterable of
    bytes, deflated as zipfile's ZIP_DEFLATED does (same level, same bytes), and returns the SHA-256
    and size of its content; ``yield from archive.close()`` writes the central directory and the end
    records. Both yield the archive in pieces of at least FLUSH_AT bytes (the last one smaller).
    """

    def __init__(self, *, modified: datetime) -> None:
        self._time = (modified.hour << 11) | (modified.minute << 5) | (modified.second // 2)
        self._date = ((modified.year - 1980) << 9) | (modified.month << 5) | modified.day
        self._out = bytearray()
        self._offset = 0  # bytes handed on so far
        self._count = 0
        self._directory = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())

    def _take(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        self._offset += len(data)
        return data

    def add(self, name: str, chunks: Iterable[bytes]) -> Generator[bytes, None, tuple[str, int]]:
        encoded = name.encode()
        out = self._out
        start = self._offset + len(out)
        out += _LOCAL.pack(
            0x04034B50, _VERSION, _FLAGS, _DEFLATED, self._time, self._date, 0, _MAX32, _MAX32, len(encoded), 20
        )
        out += encoded
        out += _LOCAL_ZIP64
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        digest = hashlib.sha256()
        crc = size = packed = 0
        for chunk in chunks:  # the same chunk is hashed, checksummed and compressed: read once
            digest.update(chunk)
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            data = compressor.compress(chunk)
            packed += len(data)
            out += data
            if len(out) >= FLUSH_AT:
                yield self._take()
        data = compressor.flush()
        packed += len(data)
        out += data
        out += _DESCRIPTOR.pack(0x08074B50, crc, packed, size)
        # The central directory entry; sizes and offset in a ZIP64 extra field only when 32 bits do not hold them.
        if size < _MAX32 and packed < _MAX32 and start < _MAX32:
            sizes, extra = (packed, size, start), b""
        else:
            sizes, extra = (_MAX32, _MAX32, _MAX32), _CENTRAL_ZIP64.pack(0x0001, 24, size, packed, start)
        self._directory.write(
            _CENTRAL.pack(
                0x02014B50,
                _MADE_BY,
                _VERSION,
                _FLAGS,
                _DEFLATED,
                self._time,
                self._date,
                crc,
                sizes[0],
                sizes[1],
                len(encoded),
                len(extra),
                0,
                0,
                0,
                _ATTRIBUTES,
                sizes[2],
            )
            + encoded
            + extra
        )
        self._count += 1
        if len(out) >= FLUSH_AT:
            yield self._take()
        return digest.hexdigest(), size

    def close(self) -> Iterator[bytes]:
        out = self._out
        start = self._offset + len(out)
        self._directory.seek(0)
        while chunk := self._directory.read(FLUSH_AT):
            out += chunk
            if len(out) >= FLUSH_AT:
                yield self._take()
        self._directory.close()
        end = self._offset + len(out)
        size, count = end - start, self._count
        out += _END64.pack(0x06064B50, 44, _MADE_BY, _VERSION, 0, 0, count, count, size, start)
        out += _LOCATOR64.pack(0x07064B50, 0, end, 1)
        out += _END.pack(
            0x06054B50, 0, 0, min(count, _MAX16), min(count, _MAX16), min(size, _MAX32), min(start, _MAX32), 0
        )
        yield self._take()


def local_reader(storage: Storage) -> Callable[[str], Iterator[bytes]]:
    """A function that yields the chunks of a stored file by name.

    For files on the local disk (FileSystemStorage), the file is opened directly under the storage's
    location (the same containment check as the storage's own path(), once per root, not per file)
    and read to the first short read (a buffered read returns less than asked only at the end)."""
    if isinstance(storage, FileSystemStorage):
        root = os.path.abspath(storage.location)
        inside = root + os.sep

        def read_local(name: str) -> Iterator[bytes]:
            path = inside + name
            if name.startswith("/") or ".." in name:  # only then can the name leave the root: check it
                path = os.path.normpath(os.path.join(root, name))
                if not path.startswith(inside):
                    raise SuspiciousFileOperation(f"{name!r} is outside the storage's location")
            with open(path, "rb") as source:
                while True:
                    chunk = source.read(CHUNK)
                    if chunk:
                        yield chunk
                    if len(chunk) < CHUNK:
                        return

        return read_local

    def read_stored(name: str) -> Iterator[bytes]:
        with storage.open(name, "rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk

    return read_stored


@dataclass(frozen=True)
class PackageFile:
    """One file to put in a package: where in the archive, its chunks, and its manifest row."""

    arcname: str
    chunks: Callable[[], Iterable[bytes]]
    entry: dict[str, Any]


def stream_zip(files: Iterable[PackageFile], manifest: dict[str, Any]) -> Iterator[bytes]:
    """Yield the bytes of a ZIP of `files` then manifest.json (with each file's SHA-256 as written).

    manifest.json is `manifest` (sorted keys) with "controls" (if any: any iterable of rows, read
    before the first file) and "files" one row per line. The control rows and the file rows are each
    spooled to a temporary file as they come, like the central directory, so neither the files nor
    any row is held in memory.
    """
    archive = StreamingZip(modified=datetime.now(UTC))  # one time for every member
    encode = json.JSONEncoder(sort_keys=True).encode  # one encoder for every row
    with tempfile.TemporaryFile() as controls, tempfile.TemporaryFile() as spool:
        separator = b""
        for control in manifest.get("controls", ()):
            controls.write(separator + encode(control).encode())
            separator = b",\n"
        separator = b"\n"
        for item in files:
            sha256, size = yield from archive.add(item.arcname, item.chunks())
            row = {**item.entry, "path": item.arcname, "sha256": sha256, "size": size}
            spool.write(separator + encode(row).encode())
            separator = b",\n"
        rest = {key: value for key, value in manifest.items() if key not in ("controls", "files")}
        head = json.dumps(rest, indent=1, sort_keys=True)[:-2] + ',\n "controls": [\n'

        def manifest_chunks() -> Iterator[bytes]:
            yield head.encode()
            for rows in (controls, spool):
                rows.seek(0)
                while chunk := rows.read(FLUSH_AT):
                    yield chunk
                yield b'\n],\n "files": [' if rows is controls else b"\n]\n}\n"

        yield from archive.add("manifest.json", manifest_chunks())
    yield from archive.close()


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


#: Evidence file rows fetched at a time (a server-side cursor): about 0.7 KB each in memory.
FILE_BATCH = 250
#: Controls read at a time for the manifest's control rows: their bindings, file counts and live
#: evidence are read per batch (three queries, and each evidence source once per package).
CONTROL_BATCH = 100


def _control_rows(audit: Audit, *, now: datetime) -> Iterator[dict[str, Any]]:
    """The manifest's control rows of `audit`, by reference, read CONTROL_BATCH controls at a time.

    The controls in scope come from one query read through a server-side cursor (their ids only);
    each batch's controls, bindings and current-file counts are read by control_evidence (three
    queries), so no more than a batch of controls is in memory, whatever the audit's scope."""
    ids = _audit_controls(audit).values_list("pk", flat=True).iterator(chunk_size=CONTROL_BATCH)
    readings: dict[tuple[str, str], EvidenceReading] = {}  # one per evidence source, read once per package
    while batch := list(islice(ids, CONTROL_BATCH)):
        controls = Control.objects.filter(pk__in=batch).order_by("ref_id")
        for item in control_evidence(controls, now=now, with_files=False, readings=readings):
            yield {
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


def audit_package(audit: Audit, *, now: datetime | None = None) -> Iterator[bytes]:
    """The evidence package of `audit`: its controls' current evidence files and live evidence.

    The control rows are read (in batches) when the stream starts, before the files."""
    now = now or timezone.now()
    files = current_files_queryset(_audit_controls(audit).order_by().values("pk"), now=now)  # a subquery
    manifest = {
        "audit": audit.title,
        "framework": str(audit.framework),
        "period": [audit.period_start.isoformat(), audit.period_end.isoformat()],
        "generated_at": now.isoformat(),
        "controls": _control_rows(audit, now=now),
    }
    read = local_reader(EvidenceFile._meta.get_field("file").storage)
    link = control_links()  # a control's link from one URL pattern (a reversal per file costs more than the file)
    package_files = (
        PackageFile(
            arcname=f"evidence/{row['control__ref_id']}/{row['pk']}-r{row['revision']}-{row['original_name']}",
            chunks=partial(read, row["file"]),
            entry=_file_entry(row, link(row["control_id"])),
        )
        for row in files.values(*_FILE_COLUMNS).iterator(chunk_size=FILE_BATCH)
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
