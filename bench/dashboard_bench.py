"""Benchmark the dashboard (`/`): p50/p95 with 1M incidents and 100k SLI buckets against 1k incidents, in one run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/dashboard_bench.py

DATABASE_URL only names the server: the script creates two databases of its own
(``opsgov_bench_dash_small`` and ``_large``; --database changes the prefix),
migrates them, seeds them, measures, and drops them at the end (--keep keeps them).

What the two databases hold: the same configuration and the same 90 days of
operation, but 1,000 times the incidents and 100 times the SLI data on one side:

============================  ======================  ==========================
                              small                   large
============================  ======================  ==========================
incidents (20 open)           1,000                   1,000,000 (over 730 days)
SLI buckets (1 minute)        1,000                   100,000
metric snapshots              48 h of 5-minute cycles, then one per day for 90 days (as
                              prune_snapshots keeps them): 649,350 rows on both sides
metric trend points           one per key and day for 90 days: 87,750 rows on both sides
gate evaluations              every 5 minutes for 90 days: 207,360 rows on both sides
services / teams / SLOs       50 / 10 / 100           the same
on-call schedules             10                      the same
============================  ======================  ==========================

The big tables are filled with INSERT ... SELECT over ``generate_series`` in
chunks, with progress output, then VACUUM ANALYZE.

Measured: a signed-in SRE lead's ``GET /`` through Django's test client (the
whole middleware stack, session, template rendering) with production settings
(DEBUG off, persistent connections), in two worker processes, one per database,
started side by side. After a warm-up, --rounds rounds alternate between them
(--requests each), so both sides see the same machine load; the latencies of all
rounds are pooled per side. Reported: p50, p95, p99 and max per side, the ratio of
the p95s (large / small), the queries per request (the same on both sides is the
point), and whether the goals hold: p95 under 100 ms and a ratio of at most 1.5
(DESIGN.md, "Targets"; issue #6). The targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _support import database_urls, recreate  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent
SEVERITIES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
METRICS = ("mtta", "mttr", "mtbf", "action_item_closing_rate", "availability")
WINDOWS = ("7d", "30d", "90d")
OPEN_INCIDENTS = 20

#: What differs between the sides: the incidents and the SLI data. Both run the same configuration and
#: have the same 90 days of metric snapshots and gate evaluations (those grow with time, not with incidents).
PROFILES: dict[str, dict[str, int]] = {
    "small": {"incidents": 1_000, "buckets": 1_000},
    "large": {"incidents": 1_000_000, "buckets": 100_000},
}
#: Snapshot history kept by prune_snapshots: every 5-minute cycle of the last 48 hours, then one row per day.
SNAPSHOT_CYCLE_HOURS = 48
SNAPSHOT_DAYS = 90
#: Gate evaluations every 5 minutes (the beat task) over this many days.
GATE_DAYS = 90


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=1_000_000, help="incidents of the large side (1000000)")
    parser.add_argument("--buckets", type=int, default=100_000, help="SLI buckets of the large side (100000)")
    parser.add_argument("--small-incidents", type=int, default=1_000, help="incidents of the small side (1000)")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds (default 6)")
    parser.add_argument("--requests", type=int, default=100, help="requests per side and round (default 100)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests per side first (default 30)")
    parser.add_argument("--database", default="opsgov_bench_dash", help="prefix of the two databases")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure the databases a --keep run left, unseeded")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    # Internal modes (the script runs itself in subprocesses, one Django setup per database).
    parser.add_argument("--seed-db", help=argparse.SUPPRESS)
    parser.add_argument("--profile", choices=PROFILES, help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    return parser.parse_args()


# --- Orchestration ---------------------------------------------------------------------------------


def server_urls(prefix: str) -> tuple[str, dict[str, str]]:
    """(maintenance URL, {side: URL of its database}) on the server DATABASE_URL names."""
    names = {side: f"{prefix}_{side}" for side in PROFILES}
    maintenance_url, urls = database_urls(*names.values())
    return maintenance_url, {side: urls[name] for side, name in names.items()}


def child_env(database_url: str, var_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "OPSGOV_VAR_DIR": var_dir,
            "DJANGO_SETTINGS_MODULE": "opsgov.settings",
            "PYTHONUNBUFFERED": "1",
            # Production settings: no debug toolbar of queries kept, persistent connections.
            "DEBUG": "false",
            "SECRET_KEY": "bench-" + os.urandom(16).hex(),
            "ALLOWED_HOSTS": "testserver,127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "CONN_MAX_AGE": "600",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    env.pop("CACHE_URL", None)
    env.pop("REDIS_URL", None)
    return env


class Side:
    """A worker process serving measurements of one database over a line protocol on its stdin/stdout."""

    def __init__(self, name: str, database_url: str, var_dir: str) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", database_url],
            cwd=ROOT,
            env=child_env(database_url, var_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.latencies: list[float] = []
        self.cpu: list[float] = []  # CPU ms per request of the Django process, per round
        self.db_cpu: list[float] = []  # and of its PostgreSQL backend
        self.info: dict[str, Any] = self.ask({"probe": True})

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker exited ({self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, requests: int, *, keep: bool = True) -> list[float]:
        answer = self.ask({"requests": requests})
        times = list(answer["ms"])
        if keep:
            self.latencies.extend(times)
            self.cpu.append(answer["cpu_ms"])
            self.db_cpu.append(answer["db_cpu_ms"])
        return times

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, PostgreSQL's percentile_cont)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def main() -> None:
    args = parse_args()
    if args.seed_db:
        seed_database(args.seed_db, args.profile, args)
        return
    if args.serve:
        serve(args.serve)
        return
    PROFILES["large"]["incidents"] = args.incidents
    PROFILES["large"]["buckets"] = args.buckets
    PROFILES["small"]["incidents"] = args.small_incidents
    maintenance_url, urls = server_urls(args.database)
    var_dir = tempfile.TemporaryDirectory(prefix="opsgov-bench-dash-")
    sides: list[Side] = []
    started = time.perf_counter()
    try:
        for profile, url in urls.items() if not args.reuse else ():
            name = urlsplit(url).path.lstrip("/")
            recreate(maintenance_url, name)
            print(f"[{profile}] database {name}: migrating ...", flush=True)
            env = child_env(url, var_dir.name)
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
            command = [sys.executable, str(Path(__file__).resolve()), "--seed-db", url, "--profile", profile]
            command += ["--incidents", str(args.incidents), "--buckets", str(args.buckets)]
            command += ["--small-incidents", str(args.small_incidents)]
            subprocess.run(command, cwd=ROOT, env=env, check=True)
        if not args.reuse:
            print(f"seeded both databases in {time.perf_counter() - started:.0f} s", flush=True)
        # DEBUG off serves hashed static names from the manifest: collect once, in the shared folder.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=child_env(urls["small"], var_dir.name),
            check=True,
        )
        sides = [Side(profile, url, var_dir.name) for profile, url in urls.items()]
        for side in sides:
            print(
                f"[{side.name}] {side.info['queries']} queries per request ({side.info['sql_ms']} ms of SQL),"
                f" {side.info['bytes']:,} bytes; slowest: {side.info['slowest'][0]}",
                flush=True,
            )
            for plan in side.info["incident_plans"]:
                print(f"[{side.name}] incidents: {plan}", flush=True)
            side.run(args.warmup, keep=False)
        for number in range(args.rounds):
            for side in sides if number % 2 == 0 else reversed(sides):
                times = side.run(args.requests)
                print(
                    f"round {number + 1} {side.name:>5}: p50 {percentile(times, 0.5):6.1f} ms"
                    f"  p95 {percentile(times, 0.95):6.1f} ms  CPU {side.cpu[-1] + side.db_cpu[-1]:5.1f} ms/request"
                    f"  (load average {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
        results = {
            side.name: {
                **summary(side.latencies),
                **side.info,
                "cpu_ms": statistics.median(side.cpu),
                "db_cpu_ms": statistics.median(side.db_cpu),
            }
            for side in sides
        }
        small, large = results["small"], results["large"]
        ratio = large["p95"] / small["p95"]
        print()
        print(f"{'':6} {'rows':>44} {'queries':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, result in results.items():
            rows = result["rows"]
            print(
                f"{name:6} {rows['incidents']:>10,} incidents {rows['buckets']:>9,} buckets"
                f" {rows['snapshots']:>8,} snaps {result['queries']:>8} {result['p50']:8.1f} {result['p95']:8.1f}"
                f" {result['p99']:8.1f} {result['max']:8.1f}"
            )
        for name, result in results.items():
            print(
                f"{name:6} CPU per request (median of rounds): Django {result['cpu_ms']:.1f} ms"
                f" + PostgreSQL {result['db_cpu_ms']:.1f} ms = {result['cpu_ms'] + result['db_cpu_ms']:.1f} ms"
            )
        print(f"\np95 large / small = {large['p95']:.1f} / {small['p95']:.1f} = {ratio:.2f} (goal <= 1.5)")
        print(f"p95 large = {large['p95']:.1f} ms (goal < 100 ms)")
        same = small["queries"] == large["queries"]
        print(
            f"queries per request: small {small['queries']}, large {large['queries']} ({'same' if same else 'DIFFER'})"
        )
        met = ratio <= 1.5 and large["p95"] < 100 and same
        print(f"goals {'met' if met else 'NOT met'}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        if args.json:
            args.json.write_text(json.dumps({"results": results, "ratio": ratio}, indent=2), encoding="utf-8")
    finally:
        for side in sides:
            side.close()
        if not args.keep:
            for url in urls.values():
                recreate(maintenance_url, urlsplit(url).path.lstrip("/"), drop_only=True)
        var_dir.cleanup()


# --- Seeding (a subprocess per database) -----------------------------------------------------------


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def progress(label: str, done: int, total: int, began: float) -> None:
    rate = done / max(time.perf_counter() - began, 1e-9)
    print(f"  {label}: {done:>10,} / {total:,} ({rate:,.0f} rows/s)", flush=True)


def chunked_insert(cursor: Any, label: str, total: int, statement: str, params: dict[str, Any], chunk: int) -> None:
    """Run `statement` (an INSERT ... SELECT over generate_series(%(lo)s, %(hi)s) g) chunk by chunk."""
    began = time.perf_counter()
    for low in range(1, total + 1, chunk):
        high = min(low + chunk - 1, total)
        cursor.execute(statement, {**params, "lo": low, "hi": high})
        progress(label, high, total, began)


def seed_database(url: str, profile: str, args: argparse.Namespace) -> None:
    setup_django()
    from django.contrib.auth.models import Group, User
    from django.db import connection, transaction
    from django.utils import timezone

    from incidents.models import LayerMember, Schedule, ScheduleLayer
    from monitoring.models import SLO
    from opsgov.models import Service, Team
    from opsgov.registry import gates
    from opsgov.roles import SRE_LEAD

    sizes = dict(PROFILES[profile])
    if profile == "large":
        sizes["incidents"], sizes["buckets"] = args.incidents, args.buckets
    else:
        sizes["incidents"] = args.small_incidents
    now = timezone.now()
    print(f"[{profile}] seeding {sizes['incidents']:,} incidents, {sizes['buckets']:,} SLI buckets", flush=True)

    # Configuration: the same on both sides (ORM; a few hundred rows).
    with transaction.atomic():
        teams = Team.objects.bulk_create([Team(slug=f"team-{n}", name=f"Team {n}") for n in range(10)])
        services = Service.objects.bulk_create(
            [Service(slug=f"service-{n}", name=f"Service {n}", owner_team=teams[n % 10]) for n in range(50)]
        )
        lead = User.objects.create_user("lead", "lead@example.com", "bench", first_name="Robin", last_name="Lead")
        lead.groups.set(Group.objects.filter(name=SRE_LEAD))
        people = User.objects.bulk_create(
            [User(username=f"oncall-{n}", first_name="On", last_name=f"Call {n}") for n in range(20)]
        )
        for n in range(10):
            schedule = Schedule.objects.create(slug=f"schedule-{n}", name=f"Schedule {n}", team=teams[n])
            layer = ScheduleLayer.objects.create(
                schedule=schedule, name="Primary", rotation_start=now.replace(hour=9, minute=0) - timedelta(days=30)
            )
            LayerMember.objects.bulk_create(
                [LayerMember(layer=layer, user=people[(2 * n + k) % 20], position=k) for k in range(2)]
            )
        SLO.objects.bulk_create(
            [SLO(service=services[n % 50], name=f"SLO {n}", objective_percent="99.9") for n in range(100)]
        )
    service_ids = [service.pk for service in services]
    gate_keys = [gate.key for gate in gates.all()]

    chunk = 100_000
    with connection.cursor() as cursor:
        # Incidents over 730 days in trigger order; the newest OPEN_INCIDENTS stay open; 3 % cancelled.
        chunked_insert(
            cursor,
            "incidents",
            sizes["incidents"],
            """
            INSERT INTO incidents_incident (uuid, title, summary, service_id, severity, status, triggered_at,
                acknowledged_at, resolved_at, cancelled_at, customer_impact, dedup_key, reopen_count,
                escalation_level, created_at, updated_at)
            SELECT md5('incident-' || g)::uuid, 'Bench incident ' || g, '',
                (%(services)s::bigint[])[1 + (g::bigint * 7919) %% 50],
                CASE WHEN g %% 20 = 0 THEN 'SEV-1' WHEN g %% 20 < 4 THEN 'SEV-2'
                     WHEN g %% 20 < 12 THEN 'SEV-3' ELSE 'SEV-4' END,
                CASE WHEN g > %(total)s - %(open)s THEN 'triggered'
                     WHEN g %% 33 = 0 THEN 'cancelled' ELSE 'resolved' END,
                t.at,
                CASE WHEN g > %(total)s - %(open)s THEN NULL ELSE t.at + interval '4 minutes' END,
                CASE WHEN g > %(total)s - %(open)s OR g %% 33 = 0 THEN NULL ELSE t.at + interval '70 minutes' END,
                CASE WHEN g <= %(total)s - %(open)s AND g %% 33 = 0 THEN t.at + interval '10 minutes' END,
                g %% 10 = 0, '', 0, 0, t.at, t.at + interval '70 minutes'
            FROM generate_series(%(lo)s, %(hi)s) g,
                LATERAL (SELECT %(now)s::timestamptz - interval '730 days' * (%(total)s - g) / %(total)s AS at) t
            """,
            {"services": service_ids, "total": sizes["incidents"], "open": OPEN_INCIDENTS, "now": now},
            chunk,
        )
        # SLI buckets: one minute each, the newest minutes of each SLO.
        cursor.execute("SELECT id FROM monitoring_slo ORDER BY id")
        slo_ids = [row[0] for row in cursor.fetchall()]
        per_slo = max(sizes["buckets"] // len(slo_ids), 1)
        chunked_insert(
            cursor,
            "SLI buckets",
            per_slo * len(slo_ids),
            """
            INSERT INTO monitoring_slibucket (slo_id, start, seconds, good, total, created_at, updated_at)
            SELECT (%(slos)s::bigint[])[1 + (g - 1) %% %(count)s],
                date_trunc('minute', %(now)s::timestamptz) - interval '1 minute' * (1 + (g - 1) / %(count)s),
                60, 9990 + g %% 10, 10000, %(now)s, %(now)s
            FROM generate_series(%(lo)s, %(hi)s) g
            """,
            {"slos": slo_ids, "count": len(slo_ids), "now": now},
            chunk,
        )
        # The SLO engine's current state: one row per SLO, budgets from 0 to 99 % (some at risk).
        cursor.execute(
            """
            INSERT INTO monitoring_slostatus (slo_id, evaluated_at, window_start, window_end, good, total,
                sli_percent, budget_remaining, burn_rates, firing, updated_at)
            SELECT id, %(now)s, %(now)s::timestamptz - interval '30 days', %(now)s, 999000, 1000000, 99.9,
                (row_number() OVER (ORDER BY id) - 1) / 100.0, '{}', '[]', %(now)s
            FROM monitoring_slo
            """,
            {"now": now},
        )
        # Metric snapshots: 5-minute cycles over the last hours, then one per day, for every scope.
        scopes = ["global"] + [f"service:service-{n}" for n in range(50)] + [f"team:team-{n}" for n in range(10)]
        scopes += [f"severity:{key}" for key in SEVERITIES]
        keys = [(metric, scope, window) for metric in METRICS for scope in scopes for window in WINDOWS]
        cycles = SNAPSHOT_CYCLE_HOURS * 12
        rows_per_key = cycles + SNAPSHOT_DAYS
        chunked_insert(
            cursor,
            "metric snapshots",
            len(keys) * rows_per_key,
            """
            INSERT INTO opsgov_metricsnapshot (metric, scope, "window", value, sample_size, details, computed_at,
                is_current, created_at, updated_at)
            SELECT k.metric, k.scope, k.win, 600 + (g %% 97), 40, '{}', k.at, k.step = 0, k.at, k.at
            FROM generate_series(%(lo)s, %(hi)s) g,
                LATERAL (SELECT (%(metrics)s::text[])[1 + (g - 1) %% %(keys)s] AS metric,
                                (%(scopes)s::text[])[1 + (g - 1) %% %(keys)s] AS scope,
                                (%(windows)s::text[])[1 + (g - 1) %% %(keys)s] AS win,
                                (g - 1) / %(keys)s AS step) s0,
                LATERAL (SELECT s0.metric, s0.scope, s0.win, s0.step,
                    CASE WHEN s0.step < %(cycles)s THEN %(now)s::timestamptz - interval '5 minutes' * s0.step
                         ELSE %(now)s::timestamptz - interval '2 days'
                              - interval '1 day' * (s0.step - %(cycles)s) END AS at) k
            """,
            {
                "metrics": [key[0] for key in keys],
                "scopes": [key[1] for key in keys],
                "windows": [key[2] for key in keys],
                "keys": len(keys),
                "cycles": cycles,
                "now": now,
            },
            chunk,
        )
        # The daily trend points compute_metrics keeps with the snapshots: one per key and day.
        chunked_insert(
            cursor,
            "trend points",
            len(keys) * SNAPSHOT_DAYS,
            """
            INSERT INTO opsgov_metrictrendpoint (metric, scope, "window", day, value, sample_size, computed_at,
                created_at, updated_at)
            SELECT k.metric, k.scope, k.win, (k.at AT TIME ZONE 'UTC')::date, 600 + (g %% 97), 40, k.at, k.at, k.at
            FROM generate_series(%(lo)s, %(hi)s) g,
                LATERAL (SELECT (%(metrics)s::text[])[1 + (g - 1) %% %(keys)s] AS metric,
                                (%(scopes)s::text[])[1 + (g - 1) %% %(keys)s] AS scope,
                                (%(windows)s::text[])[1 + (g - 1) %% %(keys)s] AS win,
                                %(now)s::timestamptz - interval '1 day' * ((g - 1) / %(keys)s) AS at) k
            """,
            {
                "metrics": [key[0] for key in keys],
                "scopes": [key[1] for key in keys],
                "windows": [key[2] for key in keys],
                "keys": len(keys),
                "now": now,
            },
            chunk,
        )
        # Gate evaluations every 5 minutes (the beat task's period), with a few evidence rows each.
        evaluations = GATE_DAYS * 288 * len(gate_keys)
        chunked_insert(
            cursor,
            "gate evaluations",
            evaluations,
            """
            INSERT INTO opsgov_gateevaluation (gate, status, reason, evidence, evaluated_at, created_at, updated_at,
                previous_status, status_changed)
            SELECT (%(gates)s::text[])[1 + (g - 1) %% %(count)s],
                CASE WHEN g %% 3 = 0 THEN 'fail' WHEN g %% 3 = 1 THEN 'at_risk' ELSE 'pass' END,
                'Bench evaluation ' || g,
                '[{"label": "Service 1", "status": "fail", "detail": "Bench", "url": "/services/service-1/",
                   "service": "service-1", "key": "bench:service-1"},
                  {"label": "Service 2", "status": "pass", "detail": "Bench", "url": "/services/service-2/",
                   "service": "service-2", "key": "bench:service-2"}]',
                t.at, t.at, t.at,
                -- the same gate's previous evaluation is the row `count` before this one
                CASE WHEN g <= %(count)s THEN ''
                    WHEN (g - %(count)s) %% 3 = 0 THEN 'fail' WHEN (g - %(count)s) %% 3 = 1 THEN 'at_risk'
                    ELSE 'pass' END,
                g <= %(count)s OR g %% 3 <> (g - %(count)s) %% 3
            FROM generate_series(%(lo)s, %(hi)s) g,
                LATERAL (SELECT %(now)s::timestamptz - interval '5 minutes' * ((g - 1) / %(count)s) AS at) t
            """,
            {"gates": gate_keys, "count": len(gate_keys), "now": now},
            chunk,
        )
    connection.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        print(f"  VACUUM ANALYZE in {time.perf_counter() - began:.1f} s", flush=True)


# --- Measuring (a subprocess per database) ---------------------------------------------------------


def incident_plans(captured: list[dict[str, Any]]) -> list[str]:
    """The access path PostgreSQL chooses for each query of the incidents table (the open ones only)."""
    from django.db import connection

    plans = []
    with connection.cursor() as cursor:
        for query in captured:
            if '"incidents_incident"' in query["sql"]:
                cursor.execute("EXPLAIN " + query["sql"])
                lines = [row[0].strip() for row in cursor.fetchall()]
                plans.append(" / ".join(line for line in lines if "Scan" in line))
    return plans


def serve(url: str) -> None:
    """Answer {"probe": true} with the page's cost, and {"requests": N} with N latencies in ms."""
    setup_django()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from incidents.models import Incident
    from monitoring.models import SLIBucket
    from opsgov.models import GateEvaluation, MetricSnapshot

    client = Client()
    client.force_login(User.objects.get(username="lead"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone() or (0,)
    ticks = os.sysconf("SC_CLK_TCK")

    def backend_cpu() -> float:
        """Seconds of CPU the PostgreSQL backend serving this process has used (utime + stime)."""
        fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    def get() -> Any:
        response = client.get("/")
        if response.status_code != 200:
            raise RuntimeError(f"GET / answered {response.status_code}")
        return response

    for line in sys.stdin:
        command = json.loads(line)
        if command.get("probe"):
            get()  # the first request opens the connection and loads templates
            with CaptureQueriesContext(connection) as queries:
                response = get()
            answer: dict[str, Any] = {
                "queries": len(queries.captured_queries),
                "bytes": len(response.content),
                "sql_ms": round(sum(float(query["time"]) for query in queries.captured_queries) * 1000, 2),
                "incident_plans": incident_plans(queries.captured_queries),
                "slowest": sorted(
                    ((round(float(query["time"]) * 1000, 2), query["sql"][:160]) for query in queries.captured_queries),
                    reverse=True,
                )[:3],
                "rows": {
                    "incidents": Incident.objects.count(),
                    "buckets": SLIBucket.objects.count(),
                    "snapshots": MetricSnapshot.objects.count(),
                    "evaluations": GateEvaluation.objects.count(),
                },
            }
        else:
            times = []
            requests = int(command["requests"])
            cpu_before, backend_before = time.process_time(), backend_cpu()
            for _ in range(requests):
                began = time.perf_counter()
                get()
                times.append((time.perf_counter() - began) * 1000)
            answer = {
                "ms": times,
                # CPU time per request, of this process and of its PostgreSQL backend: what a request
                # costs on an idle core, whatever else the machine is running.
                "cpu_ms": (time.process_time() - cpu_before) * 1000 / requests,
                "db_cpu_ms": (backend_cpu() - backend_before) * 1000 / requests,
            }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
