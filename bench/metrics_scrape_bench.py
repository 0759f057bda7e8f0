"""Benchmark the /metrics scrape on PostgreSQL: 5 SLOs and no history vs 500 SLOs with 30 days of SLI buckets.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/metrics_scrape_bench.py

DATABASE_URL only names the server and credentials: the script creates its own
database (``opsgov_bench_scrape`` unless --database says otherwise), migrates it
and drops it at the end (--keep to keep it). It never touches the database
DATABASE_URL names.

In one run, on the same database, it times --scrapes GETs of /metrics (after
--warmup untimed ones) through Django's test client, with production settings
(DEBUG off, persistent connection), at three sizes:

1. small: 1 service, 5 SLOs with status rows, current snapshots, no history;
2. 500 SLOs: 100 services x 5 SLOs with status rows and current snapshots, no history;
3. history: the same plus 30 days of 1-minute SLI buckets for every SLO
   (--days, 21.6M rows by default), --incidents incidents (1 in 10,000 open), 10 days of
   metric snapshot history and --gate-history evaluations per gate.

It reports p50 / p95 / max per size (wall clock, and the median CPU time of
this process, which a busy machine disturbs less), the SQL queries per scrape,
the size of the answer, the load average, and the ratios history / small and history / 500 SLOs. The goal
(issue #5): a scrape under 50 ms whatever the history. The scrape reads only
current rows (snapshots, newest gate evaluations, SLO status rows), so its cost
follows the number of SLOs and services, not the history: history / 500 SLOs
should stay near 1.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _support import recreate, server_urls  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent
WINDOWS = ("5m", "30m", "1h", "6h", "1d", "3d")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scrapes", type=int, default=300, help="timed scrapes per size (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed scrapes first (default 30)")
    parser.add_argument("--services", type=int, default=100, help="services of the large sizes (default 100)")
    parser.add_argument("--slos-per-service", type=int, default=5, help="SLOs per service (default 5)")
    parser.add_argument("--days", type=int, default=30, help="days of 1-minute SLI buckets per SLO (default 30)")
    parser.add_argument("--incidents", type=int, default=1_000_000, help="incidents of the history (default 1M)")
    parser.add_argument("--gate-history", type=int, default=50_000, help="evaluations per gate (default 50000)")
    parser.add_argument("--database", default="opsgov_bench_scrape", help="database to create and drop")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--measure-only", action="store_true", help="only time scrapes of a database kept by an earlier --keep run"
    )
    return parser.parse_args()


def setup_django(bench_url: str, var_dir: str) -> None:
    """Production settings: DEBUG off (no query log kept), a persistent connection, no HTTPS redirect in-process."""
    os.environ.update(
        {
            "DATABASE_URL": bench_url,
            "DJANGO_SETTINGS_MODULE": "opsgov.settings",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "CONN_MAX_AGE": "600",
            "STATIC_ROOT": str(Path(var_dir) / "static"),
        }
    )
    os.environ.setdefault("OPSGOV_VAR_DIR", var_dir)
    (Path(var_dir) / "static").mkdir(exist_ok=True)  # whitenoise warns about a missing STATIC_ROOT
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.pop("OPSGOV_METRICS_TOKEN", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def execute(statement: str, params: list[Any] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return max(cursor.rowcount, 0)


def add_services(first: int, count: int, slos_per_service: int, now: datetime) -> None:
    """`count` services from number `first`, each with SLOs, status rows and current snapshots."""
    from monitoring.models import SLO, SLOStatus
    from opsgov.models import MetricSnapshot, Service, Team

    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    services = Service.objects.bulk_create(
        [Service(slug=f"service-{n}", name=f"Service {n}", owner_team=team) for n in range(first, first + count)]
    )
    slos = SLO.objects.bulk_create(
        [
            SLO(
                service=service,
                name=f"SLO {number}",
                objective_percent="99.9",
                is_availability=number == 0,
                last_sli_at=now,
            )
            for service in services
            for number in range(slos_per_service)
        ]
    )
    SLOStatus.objects.bulk_create(
        [
            SLOStatus(
                slo=slo,
                evaluated_at=now,
                window_start=now - timedelta(days=30),
                window_end=now,
                good=999_000,
                total=1_000_000,
                sli_percent=99.9,
                budget_remaining=0.42 + index % 50 / 100,
                burn_rates={window: round(0.1 * (index % 30), 2) for window in WINDOWS},
                firing=["ticket"] if index % 40 == 0 else [],
            )
            for index, slo in enumerate(slos)
        ]
    )
    MetricSnapshot.objects.bulk_create(
        [
            MetricSnapshot(metric=metric, scope=f"service:{service.slug}", window=window, value=value, computed_at=now)
            for service in services
            for metric, value in (("availability", 99.95), ("mtta", 300.0), ("mttr", 5400.0), ("mtbf", 900_000.0))
            for window in ("7d", "30d", "90d")
        ]
    )


def add_history(args: argparse.Namespace, now: datetime) -> None:
    """SLI buckets, incidents, snapshot and gate-evaluation history: what a scrape must not read."""
    from incidents.models import Incident
    from monitoring.models import SLIBucket
    from opsgov.models import GateEvaluation, MetricSnapshot
    from opsgov.registry import gates

    started = time.monotonic()
    start = now - timedelta(days=args.days)
    buckets = execute(
        f"INSERT INTO {SLIBucket._meta.db_table} (slo_id, start, seconds, good, total, created_at, updated_at) "  # noqa: S608 - names from _meta
        "SELECT s.id, t, 60, 995 + (s.id + EXTRACT(MINUTE FROM t)::int) %% 6, 1000, now(), now() "
        "FROM monitoring_slo s CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute', "
        "interval '1 minute') t ORDER BY s.id, t",
        [start, now],
    )
    print(f"  {buckets:,} SLI buckets in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    incidents = execute(
        f"INSERT INTO {Incident._meta.db_table} (uuid, title, summary, service_id, severity, status, triggered_at,"  # noqa: S608
        " acknowledged_at, resolved_at, customer_impact, dedup_key, reopen_count, escalation_level, created_at,"
        " updated_at) "
        "SELECT gen_random_uuid(), 'Bench incident ' || n, '', (SELECT min(id) FROM opsgov_service) + n %% %s,"
        " 'SEV-' || (1 + n %% 4), CASE WHEN n %% 10000 = 0 THEN 'triggered' ELSE 'resolved' END,"
        " %s::timestamptz - n * interval '1 minute',"
        " %s::timestamptz - n * interval '1 minute' + interval '4 minutes',"
        " CASE WHEN n %% 10000 = 0 THEN NULL ELSE %s::timestamptz - n * interval '1 minute' + interval '1 hour' END,"
        " false, '', 0, 0, now(), now() FROM generate_series(1, %s) n",
        [args.services, now, now, now, args.incidents],
    )
    print(f"  {incidents:,} incidents in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    snapshots = execute(
        f'INSERT INTO {MetricSnapshot._meta.db_table} (metric, scope, "window", value, sample_size, details,'  # noqa: S608
        " computed_at, is_current, created_at, updated_at) "
        "SELECT m.metric, m.scope, m.\"window\", m.value, 0, '{}', %s::timestamptz - k * interval '5 minutes', false,"
        " now(), now() FROM opsgov_metricsnapshot m CROSS JOIN generate_series(1, 2880) k WHERE m.is_current",
        [now],
    )
    print(f"  {snapshots:,} snapshot history rows in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    evaluations = 0
    for gate in gates.all():
        evaluations += execute(
            f"INSERT INTO {GateEvaluation._meta.db_table} (gate, status, reason, evidence, evaluated_at,"  # noqa: S608
            " previous_status, status_changed, created_at, updated_at) "
            "SELECT %s, 'fail', 'history', '[]', %s::timestamptz - k * interval '5 minutes', 'fail', false, "
            "now(), now() "
            "FROM generate_series(1, %s) k",
            [gate.key, now, args.gate_history],
        )
    print(f"  {evaluations:,} gate evaluations in {time.monotonic() - started:.0f} s", flush=True)
    # As autovacuum leaves tables in production: visibility map and statistics up to date.
    from django.db import connection

    for table in (SLIBucket, Incident, MetricSnapshot, GateEvaluation):
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table._meta.db_table}")


def measure(label: str, scrapes: int, warmup: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    for _ in range(warmup):
        assert client.get("/metrics").status_code == 200
    # As opsgov.wsgi does once the app is loaded: the long-lived objects leave the collector's generations.
    gc.freeze()
    timings = []
    cpu = []
    for _ in range(scrapes):
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.get("/metrics")
        timings.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        body = client.get("/metrics").content
    # The database's own time for each query of a scrape (EXPLAIN ANALYZE, median of 5).
    server = []
    for query in queries.captured_queries:
        runs = []
        for _ in range(5):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
                runs.append(cursor.fetchone()[0][0]["Execution Time"])
        server.append(statistics.median(runs))
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    result: dict[str, Any] = {
        "label": label,
        "p50": statistics.median(timings),
        "cpu_p95": statistics.quantiles(cpu, n=100, method="inclusive")[94],
        "p95": cuts[94],
        "max": max(timings),
        "cpu": statistics.median(cpu),
        "server": server,
        "queries": len(queries),
        "bytes": len(body),
        "samples": sum(1 for line in body.splitlines() if line and not line.startswith(b"#")),
    }
    print(
        f"{label:<12} p50 {result['p50']:6.2f} ms  p95 {result['p95']:6.2f} ms  max {result['max']:6.2f} ms  "
        f"(CPU of this process p50 {result['cpu']:5.2f} ms)  {result['queries']} queries "
        f"({' + '.join(f'{ms:.2f}' for ms in server)} ms in PostgreSQL)  "
        f"{result['samples']:,} samples  {result['bytes'] / 1024:,.0f} KiB  load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return result


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = server_urls(args.database)
    if args.measure_only:
        with tempfile.TemporaryDirectory(prefix="opsgov-scrape-bench-") as var_dir:
            setup_django(bench_url, var_dir)
            measure("as kept", args.scrapes, args.warmup)
        return
    recreate(maintenance_url, args.database)
    try:
        with tempfile.TemporaryDirectory(prefix="opsgov-scrape-bench-") as var_dir:
            setup_django(bench_url, var_dir)
            from django.core.management import call_command

            from opsgov.gates import services as gate_services

            call_command("migrate", verbosity=0)
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            gate_services.evaluate_gates(now=now)
            slos = args.services * args.slos_per_service
            print(f"PostgreSQL {execute_scalar('SHOW server_version')}; {args.scrapes} scrapes per size", flush=True)

            add_services(0, 1, 5, now)
            small = measure("5 SLOs", args.scrapes, args.warmup)
            add_services(1, args.services - 1, args.slos_per_service, now)
            # The small size's service keeps its 5 SLOs: the total is services x SLOs per service.
            execute("ANALYZE")
            large = measure(f"{slos} SLOs", args.scrapes, args.warmup)
            print(f"Seeding the history ({args.days} days of SLI buckets for {slos} SLOs) ...", flush=True)
            add_history(args, now)
            history = measure("+ history", args.scrapes, args.warmup)
            print(
                f"history / 5 SLOs: p50 {history['p50'] / small['p50']:.2f}, p95 {history['p95'] / small['p95']:.2f};"
                f"  history / {slos} SLOs: p50 {history['p50'] / large['p50']:.2f}, "
                f"p95 {history['p95'] / large['p95']:.2f};  goal p95 < 50 ms: "
                f"{'met' if history['p95'] < 50 else 'missed'}",
                flush=True,
            )
            from django.db import connection

            connection.close()
    finally:
        if not args.keep:
            recreate(maintenance_url, args.database, drop_only=True)


def execute_scalar(statement: str) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchone()[0]


if __name__ == "__main__":
    main()
