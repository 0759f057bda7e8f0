"""Benchmark maintenance on PostgreSQL (issue 17's targets): patch compliance, the patch-report endpoint, the calendar.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/maintenance_bench.py --hosts 5000 --packages 200

DATABASE_URL only names the server: the script creates its own database (``opsgov_bench_maintenance``),
migrates it and drops it at the end (--keep keeps it).

1. data: --hosts hosts (over 50 services) with --packages obligations each (1 M by default), inserted with
   INSERT ... SELECT over 120 days, as reports bring them: each host's packages in 8 batches detected on the
   same day (security patches every 20th package, due in 48 h; the rest OS, 31 days; about 92 % met, most in
   time, a batch on the same day), then ``maintenance.compliance.rebuild()``.
2. cycle: 100 reports through ``maintenance.services.record_patch_report`` (each installs a tenth of its host's
   pending packages and brings 5 new ones), then the metric's cycle: ``prepare`` and ``compute`` of
   patch_compliance for every window (7, 30, 90 days). Target < 2 s. The scan of every obligation (the
   definition, maintenance.selectors.patch_compliance_scan) is timed beside it for comparison.
3. endpoint: gunicorn (gunicorn.conf.py, --web-workers) with --settings (opsgov.settings: `web`, where the
   proxy sends the endpoint; opsgov.settings_ingest: the ingest service) through bench/bench_settings.py and
   the bench-only URLconf bench/bench_maintenance.py, and wrk (bench/maintenance_wrk.lua), in turn on the same
   server: GET /healthz (a bare view behind the whole middleware stack), POST /bench/maintenance/floor/ (the
   floor: read the body, find the host by its token's hash, one UPDATE) and POST
   /api/v1/maintenance/patch-reports/. Both POSTs carry a host token from 500 hosts in turn and the fields the
   agent (deploy/agent/opsgov-patch-report.sh) sends, --body multipart as it does (a new boundary for every
   request) or json: a report of --packages pending updates that the host already has as obligations, sent
   once through the endpoint (in process) before wrk starts. So every measured report is a repeat of the
   host's previous one, fields unchanged: the steady state of hosts reporting daily (100 % repeats; a changed
   report costs what the cycle's 100 reports cost each). Medians of --rounds rounds. Targets: report rate
   >= 0.4x bare, p99 < 50 ms.
4. calendar: a year of data (40 weekly windows, 4 freezes, --changes changes spread over the year), then
   GET /maintenance/?month=... of each month in turn through Django's test client, p95 over --requests.
   Target < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _support import free_port, recreate, server_urls, wait_http  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "maintenance_wrk.lua"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--packages", type=int, default=200)
    parser.add_argument("--changes", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration of each run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=0, help="WEB_CONCURRENCY (default gunicorn.conf.py's)")
    parser.add_argument("--skip-endpoint", action="store_true")
    parser.add_argument(
        "--endpoint-only", action="store_true", help="the data, then the endpoint alone (no cycle, calendar)"
    )
    parser.add_argument(
        "--settings",
        default="opsgov.settings",
        help="settings under test of the endpoint's server (opsgov.settings_ingest: the ingest service)",
    )
    parser.add_argument(
        "--body",
        choices=["multipart", "json"],
        default="multipart",
        help="how the reports are sent (the agent: multipart)",
    )
    parser.add_argument("--redis-url", default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--database", default="opsgov_bench_maintenance")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.hosts < 100:
        parser.error("--hosts must be at least 100: the cycle is measured after 100 new reports from distinct hosts")
    return args


def setup_django(bench_url: str, var_dir: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("OPSGOV_VAR_DIR", var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ["STATIC_ROOT"] = str(Path(var_dir) / "static")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    # DEBUG off serves hashed static names from the manifest: collect once (the gunicorn run uses it too).
    call_command("collectstatic", interactive=False, verbosity=0)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(p * len(ordered)) - 1)]


def apt(packages: list[str], version: str = "2.0-1") -> str:
    lines = ["Reading package lists...", "Building dependency tree...", "Calculating upgrade..."]
    for name in packages:
        n = int(name.removeprefix("pkg"))
        origin = "Debian-Security:12/stable-security" if n % 20 == 0 else "Debian:12.10/stable"
        lines.append(f"Inst {name} [1.0-1] ({version} {origin} [amd64])")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    maintenance, bench_url = server_urls(args.database)
    recreate(maintenance, args.database)
    var_dir = tempfile.mkdtemp(prefix="opsgov-maintenance-bench-")
    try:
        setup_django(bench_url, var_dir)
        run(args, bench_url, Path(var_dir))
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate(maintenance, args.database, drop_only=True)


def load(args: argparse.Namespace) -> tuple[list[Any], list[str]]:
    """Services, hosts (their tokens) and --hosts x --packages obligations."""
    from django.db import connection

    from maintenance import compliance
    from maintenance.models import Host
    from opsgov.models import Service, Team

    team = Team.objects.create(slug="bench", name="Bench")
    services = Service.objects.bulk_create(
        [Service(slug=f"svc-{n:02d}", name=f"Service {n:02d}", owner_team=team) for n in range(50)]
    )
    hosts: list[Host] = []
    tokens: list[str] = []
    for n in range(args.hosts):
        host = Host(name=f"host-{n:05d}", service=services[n % len(services)], timezone="UTC")
        tokens.append(host.set_new_token())
        hosts.append(host)
    hosts = Host.objects.bulk_create(hosts, batch_size=2000)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO maintenance_patchobligation (asset, host_id, service_id, source, package, version,
                installed_version, patch_class, first_detected_at, due_at, met_at, exception_reason,
                created_at, updated_at)
            SELECT 'host:' || h.name, h.id, h.service_id, 'apt', 'pkg' || p, '2.0-1', '1.0-1',
                CASE WHEN p %% 20 = 0 THEN 'security_critical' ELSE 'os' END,
                d.detected,
                d.detected + CASE WHEN p %% 20 = 0 THEN interval '48 hours' ELSE interval '31 days' END,
                CASE WHEN (h.id * 31 + p * 17) %% 100 < 92
                    THEN d.detected + ((h.id + p / 25) %% 40) * interval '1 day'
                        * CASE WHEN p %% 20 = 0 THEN 0.04 ELSE 1 END
                END,
                '', now(), now()
            FROM maintenance_host h
            CROSS JOIN generate_series(1, %(packages)s) AS p
            CROSS JOIN LATERAL (SELECT now() - ((h.id * 7 + (p / 25) * 13) %% 120) * interval '1 day'
                - (h.id %% 24) * interval '1 hour' AS detected) AS d
            """,
            {"packages": args.packages},
        )
        obligations = cursor.rowcount
        # The met ones no longer pending: a report lists only the open ones.
        cursor.execute("UPDATE maintenance_patchobligation SET met_at = now() WHERE met_at > now()")
        cursor.execute("VACUUM ANALYZE maintenance_patchobligation")
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rows = compliance.rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE maintenance_patchcompliancerollup")
    print(f"data: {len(hosts)} hosts, {obligations} obligations inserted in {load_seconds:.1f} s;"
          f" rollup rebuilt in {time.perf_counter() - started:.1f} s ({rows} rows)")  # fmt: skip
    return hosts, tokens


def open_packages(host: Any) -> list[str]:
    from maintenance.models import PatchObligation

    return sorted(
        PatchObligation.objects.filter(host=host, met_at__isnull=True).values_list("package", flat=True),
        key=lambda name: int(name.removeprefix("pkg")),
    )


def cycle(args: argparse.Namespace, hosts: list[Any]) -> dict[str, float]:
    from django.utils import timezone

    from maintenance import metrics, selectors, services
    from opsgov.registry import WINDOWS

    rng = random.Random(17)
    chosen = rng.sample(hosts, 100)
    bodies = []
    for host in chosen:
        pending = open_packages(host)
        kept = [name for i, name in enumerate(pending) if i % 10 != 0]  # a tenth installed
        new = [f"pkg{args.packages + k + 1}" for k in range(5)]  # five new updates
        bodies.append((host, apt(kept + new)))
    started = time.perf_counter()
    for host, body in bodies:
        services.record_patch_report(host=host, apt_simulate=body)
    reports = time.perf_counter() - started
    now = timezone.now()
    started = time.perf_counter()
    metrics.prepare_patch_compliance(now=now)
    rows = 0
    for window in WINDOWS:
        rows += len(metrics.compute_patch_compliance(window=window, now=now))
    cycle_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for window, length in WINDOWS.items():
        scanned = selectors.patch_compliance_scan(start=now - length, end=now)
        fast = selectors.patch_compliance(start=now - length, end=now)
        assert [(r.scope, r.met, r.counted, r.excepted) for r in scanned] == [
            (r.scope, r.met, r.counted, r.excepted) for r in fast
        ], f"rollup and scan differ for {window}"
    scan_seconds = time.perf_counter() - started
    print(f"100 reports ({args.packages}+ packages each): {reports:.2f} s ({reports * 10:.1f} ms each)")
    print(f"patch-compliance cycle after them (prepare + {len(WINDOWS)} windows, {rows} rows): "
          f"{cycle_seconds:.3f} s  (target < 2 s)")  # fmt: skip
    print(f"  the same windows by scanning every obligation (and the rollup again, compared): {scan_seconds:.2f} s")
    return {"reports_s": reports, "cycle_s": cycle_seconds, "scan_and_compare_s": scan_seconds}


# --- The endpoint through gunicorn and wrk -------------------------------------------------------------


def wrk(args: argparse.Namespace, base: str, mode: str, path: str, tmp: Path, extra: list[str]) -> dict[str, Any]:
    out = tmp / f"wrk-{mode}-{secrets.token_hex(4)}.json"
    command = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "10s", "-s", str(LUA),
               base, "--", mode, path, str(out), *extra]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0 or not out.exists():
        sys.exit(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    lines = out.read_text().splitlines()
    figures = json.loads(lines[0])
    if figures["refused"] and len(lines) > 1:
        print(f"  {mode}: {figures['refused']} answers not as expected, the first: {lines[1][:300]}")
    seconds = figures["duration_us"] / 1e6
    return {
        "rps": figures["requests"] / seconds,
        "p50_ms": figures["latency_us"]["p50"] / 1000,
        "p99_ms": figures["latency_us"]["p99"] / 1000,
        "accepted": figures["accepted"],
        "refused": figures["refused"],
    }


def agent_fields(apt_simulate: str) -> dict[str, str]:
    """The fields deploy/agent/opsgov-patch-report.sh posts in the steady state (no new history lines)."""
    return {
        "apt_simulate": apt_simulate,
        "history": "",
        "needrestart": "",
        "reboot_required": "unknown",
        "reboot_packages": "",
        "timezone": "UTC",
        "hostname": "bench-host",
    }


def endpoint(args: argparse.Namespace, bench_url: str, tmp: Path, hosts: list[Any], tokens: list[str]) -> None:
    from django.test import Client
    from django.test.client import encode_multipart

    count = min(500, len(hosts))
    (tmp / "tokens.txt").write_text("\n".join(tokens[:count]) + "\n")
    # One report for every host: the packages of the first host's open obligations (the steady state for it; for
    # the others, the same packages at the same version are theirs too: every host has pkg1..pkgN).
    fields = agent_fields(apt([f"pkg{p}" for p in range(1, args.packages + 1)]))
    (tmp / "report.json").write_text(json.dumps(fields))
    (tmp / "report.multipart").write_bytes(encode_multipart("@@BOUNDARY@@", fields))
    body_file = tmp / ("report.multipart" if args.body == "multipart" else "report.json")
    # Every host sends it once first through the endpoint (applied in full), so that wrk measures the steady
    # state: the same report again. The first one of a host costs what the cycle's reports cost (above).
    report_path = "/api/v1/maintenance/patch-reports/"
    client = Client()
    started = time.perf_counter()
    for token in tokens[:count]:
        answer = client.post(
            report_path, json.dumps(fields), content_type="application/json", secure=True,
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        assert answer.status_code == 202, answer.content
    print(f"steady state: the report applied in full for {count} hosts in {time.perf_counter() - started:.1f} s")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("CACHE_URL", "REDIS_URL", "OPSGOV_POLICY")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "BENCH_BASE_SETTINGS": args.settings,
            "BENCH_URLCONF": "bench_maintenance",
            "DATABASE_URL": bench_url,
            "CONN_MAX_AGE": "600",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CELERY_BROKER_URL": args.redis_url,
            "USE_X_FORWARDED_PROTO": "true",
            "GUNICORN_MAX_REQUESTS": "0",
            # The API's per-credential throttle (3000/minute by default) would answer 429 to the load itself.
            "API_THROTTLE_RATE": "off",
            "API_THROTTLE_USER_RATE": "off",
            "OPSGOV_VAR_DIR": str(tmp / "var"),
            "STATIC_ROOT": os.environ["STATIC_ROOT"],
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
            "PORT": str(port),
            "PYTHONPATH": os.pathsep.join([str(BENCH), str(ROOT)]),
        }
    )
    (tmp / "prometheus").mkdir(exist_ok=True)
    if args.web_workers:
        env["WEB_CONCURRENCY"] = str(args.web_workers)
    log = tmp / "gunicorn.log"
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [gunicorn, "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "opsgov.wsgi"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    sides = {
        "bare": ("bare", "/healthz", []),
        "floor": ("report", "/bench/maintenance/floor/", [str(body_file), str(tmp / "tokens.txt"), args.body]),
        "report": ("report", report_path, [str(body_file), str(tmp / "tokens.txt"), args.body]),
    }
    try:
        wait_http(f"{base}/healthz", process, log, timeout=90)
        for mode, path, extra in sides.values():  # warm-up of gunicorn's workers
            wrk(args, base, mode, path, tmp, extra)
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side, (mode, path, extra) in sides.items():
                runs[side].append(wrk(args, base, mode, path, tmp, extra))
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
    print(f"endpoint server: {args.settings}; reports sent as {args.body}")
    for side, side_runs in runs.items():
        refused = sum(r["refused"] for r in side_runs)
        print(f"{side:>6}: {statistics.median(r['rps'] for r in side_runs):8.1f} req/s  "
              f"p50 {statistics.median(r['p50_ms'] for r in side_runs):6.1f} ms  "
              f"p99 {statistics.median(r['p99_ms'] for r in side_runs):6.1f} ms  (refused: {refused})")  # fmt: skip
    for side in ("floor", "report"):
        ratios = [r["rps"] / b["rps"] for b, r in zip(runs["bare"], runs[side], strict=True)]
        print(f"  {side} / bare: {statistics.median(ratios):.2f}x per round {[round(x, 2) for x in ratios]}"
              + ("  (target >= 0.4x, report p99 < 50 ms)" if side == "report" else ""))  # fmt: skip


# --- The calendar ------------------------------------------------------------------------------------------


def calendar(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from maintenance import services
    from maintenance.models import ChangeRecord
    from opsgov.models import Service

    service_list = list(Service.objects.order_by("slug")[:40])
    po = get_user_model().objects.create_superuser("bench-po", "po@example.com", "x")
    year = datetime.now(tz=UTC).year
    first = datetime(year, 1, 1, 2, tzinfo=UTC)
    for n, service in enumerate(service_list):
        window = services.create_window(
            name=f"{service.slug} weekly",
            services=[service],
            first_start=first + timedelta(days=n % 7),
            duration=timedelta(hours=4),
            timezone_name="Europe/Paris" if n % 2 else "UTC",
            rrule="FREQ=WEEKLY",
        )
        services.approve_window(window=window, user=po)
    for q in range(4):
        services.create_freeze(
            name=f"Quarter end {q + 1}", starts_at=datetime(year, 3 * q + 3, 24, tzinfo=UTC),
            ends_at=datetime(year, 3 * q + 3, 28, tzinfo=UTC),
        )  # fmt: skip
    rng = random.Random(5)
    changes = []
    for n in range(args.changes):
        start = first + timedelta(minutes=rng.randrange(365 * 24 * 60))
        changes.append(ChangeRecord(title=f"Change {n}", planned_start=start, planned_end=start + timedelta(hours=1)))
    created = ChangeRecord.objects.bulk_create(changes, batch_size=1000)
    through = ChangeRecord.services.through
    through.objects.bulk_create(
        [
            through(changerecord_id=c.pk, service_id=service_list[i % len(service_list)].pk)
            for i, c in enumerate(created)
        ],
        batch_size=2000,
    )
    client = Client()
    client.force_login(po)
    months = [f"{year}-{m:02d}" for m in range(1, 13)]
    for month in months[:3]:
        assert client.get("/maintenance/", {"month": month}, secure=True).status_code == 200
    samples = []
    for i in range(args.requests):
        started = time.perf_counter()
        response = client.get("/maintenance/", {"month": months[i % 12]}, secure=True)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    p95, median = percentile(samples, 0.95), statistics.median(samples)
    print(f"calendar page, a year of data ({len(service_list)} windows, 4 freezes, {args.changes} changes): "
          f"p95 {p95:.1f} ms, median {median:.1f} ms  (target p95 < 100 ms)")  # fmt: skip


def run(args: argparse.Namespace, bench_url: str, tmp: Path) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    hosts, tokens = load(args)
    if not args.endpoint_only:
        cycle(args, hosts)
        calendar(args)
    if not args.skip_endpoint:
        endpoint(args, bench_url, tmp, hosts, tokens)


if __name__ == "__main__":
    main()
