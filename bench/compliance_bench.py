"""Benchmark the evidence package and the status report: 1,000 controls with 50,000 evidence files.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/compliance_bench.py --controls 1000 --files 50000

DATABASE_URL only names the server: the script creates its own database
(``opsgov_cmp_bench`` unless --database says otherwise), migrates it, and drops it at the
end (--keep to keep it). Evidence files are written under a temporary MEDIA_ROOT.

Seeds the built-in framework, --controls controls (each mapped to one of its requirements and
bound to one of the eight gates' live evidence) and --files approved evidence files of
--size bytes spread over them.

1. Package rate: the evidence package of an audit of the whole framework is streamed (and
   discarded), and the same files are written into a ZIP with Python's zipfile alone (same
   compression, same sink, no database), alternately, three times each; the ratio of the best
   zipfile time to the best package time is reported (goal >= 0.5: the package streams at least
   half as fast as zipfile alone).
2. Memory: tracemalloc's peak while streaming the package of an audit scoped to a tenth of the
   requirements, and of the whole framework (about 14 times the controls and the bytes); the ratio
   large / small is reported (goal: independent of the package size, here at most 1.1). Measured with
   DEBUG off, as in production (with DEBUG on, Django keeps every query's SQL, and the package reads
   its controls in batches of three queries). Then each ZIP writer alone (zipfile, and the package's
   StreamingZip) over a tenth of the files and over all of them: the growth with the number of files
   alone.
3. Status report page: the admin's HTML status report of the framework (its summary over every
   control, the first 100 controls listed), --requests times through Django's test client (after 5
   warm-ups), p50 / p95 (goal p95 < 200 ms). The page reads the controls' evidence snapshots; the
   time to refresh them all (what each evaluation of the compliance gate adds) is printed too.

A ZIP's central directory has one entry per member: Python's zipfile keeps one ZipInfo per member
until it writes the directory at the end, so its peak grows with the number of files; the package's
writer spools the entries to a temporary file. The package reads the controls in scope in batches
(compliance.package.CONTROL_BATCH) and spools the manifest's rows to temporary files, so its peak
does not grow with the controls either.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import zipfile
from datetime import date, timedelta
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from _support import recreate, server_urls  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--controls", type=int, default=1000, help="controls (1000)")
    parser.add_argument("--files", type=int, default=50_000, help="evidence files (50000)")
    parser.add_argument("--size", type=int, default=2048, help="bytes per evidence file (2048)")
    parser.add_argument("--requests", type=int, default=40, help="timed status report requests (40)")
    parser.add_argument("--database", default="opsgov_cmp_bench", help="database to create and drop")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


class Discard:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def setup_django(bench_url: str, var_dir: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("OPSGOV_VAR_DIR", var_dir)
    os.environ["MEDIA_ROOT"] = str(Path(var_dir) / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")
    os.environ["DEBUG"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def seed(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    import hashlib

    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from compliance import builtin, services
    from compliance.models import Control, EvidenceBinding, EvidenceFile, Requirement
    from opsgov.models import GateEvaluation, GateStatus

    framework = builtin.install_builtin().framework
    officer = User.objects.create_user("bench-co", "co@example.com", "x", is_staff=True)
    officer.groups.add(Group.objects.get(name="Compliance Officer"))
    requirements = list(Requirement.objects.filter(framework=framework, assessable=True).order_by("position"))
    gates = [gate for _step, _title, gate, _role, _reqs in builtin.STEPS]
    now = timezone.now()
    for gate in gates:
        GateEvaluation.objects.create(gate=gate, status=GateStatus.PASS, reason="ok", evaluated_at=now)
    controls = Control.objects.bulk_create(
        [Control(ref_id=f"C-{n:05d}", title=f"Control {n}", is_key=n % 10 == 0) for n in range(args.controls)]
    )
    Control.requirements.through.objects.bulk_create(
        [
            Control.requirements.through(control_id=control.pk, requirement_id=requirements[n % len(requirements)].pk)
            for n, control in enumerate(controls)
        ]
    )
    EvidenceBinding.objects.bulk_create(
        [
            EvidenceBinding(control=control, provider="gate", scope=gates[n % len(gates)])
            for n, control in enumerate(controls)
        ]
    )
    media = Path(settings.MEDIA_ROOT) / "compliance" / "bench"
    media.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in range(args.files):
        content = (f"evidence {n} ".encode() * (args.size // 8 + 1))[: args.size]
        name = f"compliance/bench/{n}.txt"
        (Path(settings.MEDIA_ROOT) / name).write_bytes(content)
        rows.append(
            EvidenceFile(
                control=controls[n % len(controls)],
                title=f"evidence {n}",
                file=name,
                original_name=f"{n}.txt",
                content_type="application/octet-stream",
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                effective_date=now.date() - timedelta(days=3),
                state="approved",
                uploaded_by=officer,
            )
        )
        if len(rows) == 5000:
            EvidenceFile.objects.bulk_create(rows)
            rows = []
    EvidenceFile.objects.bulk_create(rows)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would after a bulk load: the planner sees the real row counts
    whole = services.audit_create(
        title="Whole framework",
        framework=framework,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        lead_auditor=officer,
    )
    tenth = services.audit_create(
        title="A tenth",
        framework=framework,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        lead_auditor=officer,
        requirements=requirements[: max(1, len(requirements) // 10)],
    )
    return whole, tenth, officer


def stream(audit: Any) -> tuple[float, int]:
    from compliance.package import audit_package

    sink = 0
    start = time.perf_counter()
    for chunk in audit_package(audit):
        sink += len(chunk)
    return time.perf_counter() - start, sink


def zipfile_alone() -> tuple[float, int]:
    from django.conf import settings

    from compliance.models import EvidenceFile

    paths = [
        Path(settings.MEDIA_ROOT) / name for name in EvidenceFile.objects.order_by("pk").values_list("file", flat=True)
    ]
    sink = Discard()
    start = time.perf_counter()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for path in paths:
            archive.write(path, arcname=f"evidence/{path.name}")
    return time.perf_counter() - start, sink.size


def writer_peaks() -> dict[str, tuple[int, int]]:
    """Peak traced memory of each ZIP writer alone over a tenth of the files and over all of them (no
    database, no manifest): the growth with the number of files, the package's own growth aside."""
    from django.conf import settings

    from compliance.models import EvidenceFile
    from compliance.package import PackageFile, local_reader, stream_zip

    names = list(EvidenceFile.objects.order_by("pk").values_list("file", flat=True))
    read = local_reader(EvidenceFile._meta.get_field("file").storage)
    peaks: dict[str, tuple[int, int]] = {}
    for label in ("zipfile", "package writer"):
        sizes = []
        for count in (len(names) // 10, len(names)):
            tracemalloc.start()
            tracemalloc.reset_peak()
            if label == "zipfile":
                with zipfile.ZipFile(Discard(), mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as z:
                    for name in islice(names, count):
                        z.write(Path(settings.MEDIA_ROOT) / name, arcname=name)
            else:
                chosen = islice(names, count)
                files = (PackageFile(arcname=name, chunks=partial(read, name), entry={}) for name in chosen)
                for _chunk in stream_zip(files, {}):
                    pass
            sizes.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        peaks[label] = (sizes[0], sizes[1])
    return peaks


def peak(audit: Any) -> tuple[int, int, int, int]:
    """(peak traced bytes, package bytes, controls in scope, files) of streaming `audit`'s package."""
    from django.test.utils import override_settings
    from django.utils import timezone

    from compliance.models import Audit
    from compliance.selectors import active_controls, audit_controls, current_files_queryset

    controls = active_controls().filter(pk__in=audit_controls(Audit.objects.filter(pk=audit.pk)).values("pk"))
    files = current_files_queryset(controls.order_by().values("pk"), now=timezone.now()).count()
    with override_settings(DEBUG=False):  # no query log, as in production
        tracemalloc.start()
        tracemalloc.reset_peak()
        _, size = stream(audit)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return top, size, controls.count(), files


def status_page(framework_id: int, officer: Any, requests: int) -> tuple[float, float]:
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(officer)
    url = reverse("admin:compliance_framework_status", args=[framework_id, "html"])
    for _ in range(5):
        assert client.get(url).status_code == 200
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)]


def main() -> None:
    args = parse_args()
    maintenance, bench_url = server_urls(args.database)
    recreate(maintenance, args.database)
    with tempfile.TemporaryDirectory() as var_dir:
        try:
            setup_django(bench_url, var_dir)
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            started = time.perf_counter()
            whole, tenth, officer = seed(args)
            print(
                f"seeded {args.controls} controls, {args.files} files of {args.size} B "
                f"in {time.perf_counter() - started:.1f} s"
            )
            from compliance.services import evidence_snapshots_refresh

            started = time.perf_counter()
            refreshed = evidence_snapshots_refresh()
            print(
                f"evidence snapshots of {refreshed} controls refreshed in {time.perf_counter() - started:.2f} s "
                "(what each compliance gate evaluation adds)"
            )
            # Alternated, best of three each: neither side pays the other's cold caches.
            rounds = [(stream(whole), zipfile_alone()) for _ in range(3)]
            package_time, package_size = min(package for package, _alone in rounds)
            alone_time, alone_size = min(alone for _package, alone in rounds)
            print(
                f"package: {package_size / 1e6:.1f} MB in {package_time:.2f} s "
                f"({package_size / 1e6 / package_time:.1f} MB/s)"
            )
            print(
                f"zipfile alone: {alone_size / 1e6:.1f} MB in {alone_time:.2f} s "
                f"({alone_size / 1e6 / alone_time:.1f} MB/s)"
            )
            print(f"rate ratio package / zipfile alone: {alone_time / package_time:.2f} (goal >= 0.5)")
            stream(tenth)  # warm: URL patterns, SQL compilers, provider modules
            small = peak(tenth)
            large = peak(whole)
            for label, (top, size, controls, files) in (("a tenth", small), ("whole framework", large)):
                print(
                    f"package peak memory, {label}: {top / 1e6:.2f} MB "
                    f"({controls} controls, {files} files, {size / 1e6:.1f} MB)"
                )
            ratio = large[0] / small[0]
            print(
                f"package peak ratio whole / tenth: {ratio:.2f} for {large[2] / small[2]:.1f}x the controls and "
                f"{large[1] / small[1]:.1f}x the bytes (goal <= 1.1: {'met' if ratio <= 1.1 else 'NOT met'})"
            )
            for label, (tenth_peak, all_peak) in writer_peaks().items():
                print(
                    f"{label} alone: peak {tenth_peak / 1e6:.2f} MB for {args.files // 10} files, "
                    f"{all_peak / 1e6:.2f} MB for {args.files}"
                )
            p50, p95 = status_page(whole.framework_id, officer, args.requests)
            print(f"status report page: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (goal p95 < 200 ms)")
        finally:
            from django.db import connections

            connections.close_all()
            if not args.keep:
                recreate(maintenance, args.database, drop_only=True)


if __name__ == "__main__":
    main()
