"""Benchmark backups on PostgreSQL: the incremental cycle after an hour of pings, and the ping endpoint.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/backup_bench.py --jobs 500 --days 90 --redis-url redis://127.0.0.1:6379/2

DATABASE_URL only names the server: the script creates its own database (``opsgov_bk_bench`` unless
--database says otherwise), migrates it, creates --jobs hourly database backup jobs (10 per service) and
seeds --days of hourly runs for each (500 x 90 x 24 = 1.08 M rows) with ``INSERT ... SELECT`` over
``generate_series`` (about 1 % failed, some slots missed), then ``VACUUM ANALYZE``. The jobs are reconciled
up to an hour ago. It drops the database at the end (--keep keeps it).

Timed:

1. an hour of new pings: every job pings /start and /0 once (9 in 10; the others stay silent), through
   the real ping view (Django's test client, in process); then their application to runs (the task
   ``backups.apply_pings`` does it during the hour, moments after each ping);
2. the incremental cycle, the figure the target is about (issue 14: under 2 s): the missed-run
   reconciliation (the silent jobs' slot becomes missed), the checks of every job, the "Backup success
   rate" metric (30-day window, every scope) and the gate "Backup and DR validated";
3. the ping endpoint against a bare view in the same run, through HTTP: one gunicorn (gunicorn.conf.py,
   production settings: DEBUG off, CONN_MAX_AGE, Redis as cache) on loopback, driven by wrk
   (bench/backup_ping_wrk.lua, --connections, one thread), with the settings the ping is deployed with
   (--settings: opsgov.settings_ingest by default, the `ingest` service that the proxy sends /ping/ to;
   wrapped by bench/bench_settings.py, whose URLconf bench/backup_ping_floor.py adds one route):
   ``GET /healthz`` (the bare view), ``GET /bench/ping-floor/<job>/0`` (the floor: the ping's INSERT
   alone, nothing else) and ``GET /ping/<uuid>/0`` alternating for --rounds rounds of --duration seconds
   (after a 2-second warm-up of each); the pings go round --ping-jobs jobs (the seeded ones and more
   without history) so that none reaches its rate limit; their owners are cached by core (opsgov.pings)
   at their first ping, or before the phase with --warm-owners.
   Requests per second as ratios to the bare view (target for the ping >= 0.4x) and the ping's p99
   (target < 50 ms), medians of the rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _support import free_port, production_env, recreate, run_wrk, server_urls, start, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="hourly jobs (default 500), 10 per service")
    parser.add_argument("--days", type=int, default=90, help="days of hourly runs per job (default 90)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk phase (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of bare/ping (default 3)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument(
        "--web-workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py's, 2 x cores + 1)"
    )
    parser.add_argument(
        "--ping-jobs",
        type=int,
        default=4000,
        help="jobs the pings go round (default 4000: the seeded ones and more without history), so that "
        "no job reaches its ping rate (30 a minute)",
    )
    parser.add_argument(
        "--warm-owners",
        action="store_true",
        help="look every pooled uuid's owner up once before the HTTP phase (opsgov.pings caches it), so the "
        "phase measures cached pings; without it the first pass over the pool are cache misses",
    )
    parser.add_argument(
        "--settings",
        default="opsgov.settings_ingest",
        help="settings module of the HTTP phase's gunicorn (default opsgov.settings_ingest: the `ingest` service, "
        "where production routes /ping/; opsgov.settings: the `web` service)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="incremental cycles; median reported (default 3)")
    parser.add_argument("--database", default="opsgov_bk_bench", help="database to create and drop")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/2", help="the cache (rate limiter)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


def setup_django(bench_url: str, var_dir: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("OPSGOV_VAR_DIR", var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")
    os.environ["DEBUG"] = "true"
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["CACHE_URL"] = redis_url
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


SEED_SQL = """
INSERT INTO backups_backuprun (job_id, status, source, slot, started_at, finished_at, recorded_at, size_bytes,
                               snapshot_id, output, output_truncated, report_format, error, late)
SELECT j.id,
       CASE WHEN (j.id * 7 + h) %% 100 = 0 THEN 'failed' ELSE 'succeeded' END,
       'ping', %(base)s::timestamptz + h * interval '1 hour',
       %(base)s::timestamptz + h * interval '1 hour' + interval '30 seconds',
       %(base)s::timestamptz + h * interval '1 hour' + interval '5 minutes',
       %(base)s::timestamptz + h * interval '1 hour' + interval '5 minutes',
       1000000000, '', '', false, '', '', false
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS h
CROSS JOIN unnest(%(ids)s::bigint[]) AS j(id)
WHERE (j.id * 13 + h) %% 500 <> 0
"""


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = server_urls(args.database)
    recreate(maintenance_url, args.database)
    try:
        with tempfile.TemporaryDirectory(prefix="opsgov-backup-bench-") as var_dir:
            setup_django(bench_url, var_dir, args.redis_url)
            run(args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate(maintenance_url, args.database, drop_only=True)


def run(args: argparse.Namespace) -> None:
    from datetime import timedelta

    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from backups import services
    from backups.metrics import compute_success_rate
    from backups.models import BackupJob, BackupRun, RestorePoint
    from opsgov.models import Service, Team
    from opsgov.registry import gates

    call_command("migrate", verbosity=0)
    cache.clear()
    # The hour the pings of step 1 answer (they arrive now, on opsgov's clock): the slot of this hour.
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    start = hour - timedelta(days=args.days)
    team = Team.objects.create(slug="bench", name="Bench")
    services_ = Service.objects.bulk_create(
        [Service(slug=f"svc-{i}", name=f"Service {i}", owner_team=team) for i in range((args.jobs + 9) // 10)]
    )
    jobs = BackupJob.objects.bulk_create(
        [
            BackupJob(
                service=services_[i // 10],
                data_type="database",
                name=f"db-{i}",
                tool="restic",
                interval=timedelta(hours=1),
                grace=timedelta(minutes=30),
                repository=f"s3:s3.example.com/b/{i}",
                location="off-site",
                encrypted=True,
                created_at=start,
                materialised_until=hour - timedelta(hours=1),
            )
            for i in range(args.jobs)
        ]
    )
    ids = [job.pk for job in jobs]
    t0 = time.perf_counter()
    hours = args.days * 24
    with connection.cursor() as cursor:
        for day in range(args.days):
            cursor.execute(
                SEED_SQL,
                {"base": start, "first": day * 24, "last": min(hours - 1, day * 24 + 23), "ids": ids},
            )
        cursor.execute(
            "UPDATE backups_backupjob j SET last_success_at = (SELECT max(finished_at) FROM backups_backuprun r "
            "WHERE r.job_id = j.id AND r.status = 'succeeded')"
        )
        cursor.execute("VACUUM ANALYZE backups_backuprun")
    RestorePoint.objects.bulk_create(
        [RestorePoint(job=job, point_id=f"p-{job.pk}", taken_at=start + timedelta(hours=1)) for job in jobs]
    )
    rows = BackupRun.objects.count()
    print(f"seeded {rows:,} runs of {len(jobs)} jobs over {args.days} days in {time.perf_counter() - t0:.1f} s")

    # 1. An hour of pings: the slot `hour` answered by 9 jobs in 10.
    client = Client(HTTP_HOST="localhost")  # DEBUG's allowed hosts; no test environment here
    t0 = time.perf_counter()
    pinged = 0
    for index, job in enumerate(jobs):
        if index % 10 == 9:
            continue
        client.get(f"/ping/{job.uuid}/start")
        client.get(f"/ping/{job.uuid}/0")
        pinged += 1
    print(f"{pinged * 2} pings of the new hour in {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    applied = services.apply_pings(limit=100_000)  # what the apply task does during the hour
    print(f"{applied} pings applied to runs in {time.perf_counter() - t0:.2f} s (the apply task, during the hour)")

    # 2. The incremental cycle: reconcile (now = the next hour + grace), checks, metric, gate.
    cycle_now = hour + timedelta(minutes=31)
    timings = []
    for attempt in range(args.repeat):
        if attempt:  # again with nothing new: an hour later is the next slot; rewind the cursor
            BackupJob.objects.update(materialised_until=hour - timedelta(hours=1), consecutive_missed=0)
            with connection.cursor() as cursor:  # runs are evidence: the ORM refuses to delete them
                cursor.execute("DELETE FROM backups_backuprun WHERE slot = %s AND status = 'missed'", [hour])
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            missed = services.reconcile(now=cycle_now)
            t1 = time.perf_counter()
            values = compute_success_rate(window="30d", now=cycle_now)
            t2 = time.perf_counter()
            result = gates.get("backup_dr").evaluate(now=cycle_now)
            t3 = time.perf_counter()
        timings.append(t3 - t0)
        print(
            f"cycle {attempt + 1}: {t3 - t0:.3f} s (reconcile {t1 - t0:.3f} s, {missed} missed; metric "
            f"{t2 - t1:.3f} s, {len(values)} values; checks + gate {t3 - t2:.3f} s, {len(result.evidence)} rows); "
            f"{len(queries)} queries"
        )
    print(f"incremental cycle, median of {len(timings)}: {statistics.median(timings):.3f} s (target < 2 s)")

    # 3. The ping endpoint against a bare view, alternating, through gunicorn and wrk.
    extra = max(0, args.ping_jobs - len(jobs))
    more_services = Service.objects.bulk_create(
        [Service(slug=f"ping-{i}", name=f"Ping {i}", owner_team=team) for i in range((extra + 9) // 10)]
    )
    more = BackupJob.objects.bulk_create(
        [
            BackupJob(
                service=more_services[i // 10],
                data_type="database",
                name=f"ping-{i}",
                tool="restic",
                interval=timedelta(hours=1),
                grace=timedelta(minutes=30),
                created_at=start,
                materialised_until=hour - timedelta(hours=1),
            )
            for i in range(extra)
        ]
    )
    pool = [str(job.uuid) for job in [*jobs, *more]]
    if args.warm_owners:  # in the cache gunicorn reads (the same CACHE_URL)
        from opsgov.pings import receivers

        for job in [*jobs, *more]:
            receivers.owner_of(job.uuid)
        print(f"owners of the {len(pool)} pooled uuids cached")
    connection.close()
    http_phase(args, pool, jobs[0].pk)


def http_phase(args: argparse.Namespace, pool: list[str], floor_job: int) -> None:
    """``GET /healthz``, ``GET /bench/ping-floor/<floor_job>/0`` and ``GET /ping/<uuid>/0`` alternating,
    --rounds of --duration seconds each, served by one gunicorn (gunicorn.conf.py, production settings:
    --settings under bench_settings) and driven by wrk on loopback."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="opsgov-backup-bench-http-"))
    uuids = tmp / "uuids.txt"
    uuids.write_text("\n".join(pool) + "\n", encoding="utf-8")
    port = free_port()
    env = production_env(
        os.environ["DATABASE_URL"],
        tmp,
        port,
        CACHE_URL=args.redis_url,
        CELERY_BROKER_URL="memory://",  # the apply task a ping enqueues every 2 s at most: not consumed here
        DJANGO_SETTINGS_MODULE="bench_settings",
        BENCH_BASE_SETTINGS=args.settings,
        BENCH_URLCONF="backup_ping_floor",
        PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
        **({"WEB_CONCURRENCY": str(args.web_workers)} if args.web_workers else {}),
    )
    log = tmp / "gunicorn.log"
    gunicorn = start(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "opsgov.wsgi"],
        env,
        log,
        ROOT,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_http(base_url + "/healthz", gunicorn, log)
        time.sleep(1)  # every worker booted
        lua = ROOT / "bench" / "backup_ping_wrk.lua"
        print(f"HTTP phase: {args.settings} (under bench_settings), the floor on job {floor_job}", flush=True)
        figures: dict[str, list[dict]] = {"bare": [], "floor": [], "ping": []}
        sides = (("bare", "/healthz"), ("floor", f"/bench/ping-floor/{floor_job}/0"), ("ping", str(uuids)))
        for number in range(0, args.rounds + 1):  # round 0 warms up (connections, caches), not reported
            for side, target in sides:
                seconds = args.duration if number else 2
                out = tmp / f"wrk-{side}-{number}.json"
                result = run_wrk(lua, base_url, [side, target], connections=args.connections, seconds=seconds, out=out)
                if not number:
                    continue
                result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
                figures[side].append(result)
                print(
                    f"{side} {number}: {result['rps']:.0f} req/s, p50 {result['latency_us']['p50'] / 1000:.1f} ms, "
                    f"p99 {result['latency_us']['p99'] / 1000:.1f} ms, {result['ok']} 200, "
                    f"{result['limited']} 429, {result['other']} other, {result['socket_errors']} socket errors",
                    flush=True,
                )
        rps = {side: statistics.median(r["rps"] for r in rounds) for side, rounds in figures.items()}
        for side in ("bare", "floor", "ping"):
            p50 = statistics.median(r["latency_us"]["p50"] / 1000 for r in figures[side])
            p99 = statistics.median(r["latency_us"]["p99"] / 1000 for r in figures[side])
            print(f"{side}: {rps[side]:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms (medians of the rounds)")
        for side in ("floor", "ping"):
            ratios = [round(o["rps"] / b["rps"], 2) for b, o in zip(figures["bare"], figures[side], strict=True)]
            print(f"{side} / bare: {rps[side] / rps['bare']:.2f} of the medians; per round {ratios}")
        per_round = [round(p["rps"] / f["rps"], 2) for f, p in zip(figures["floor"], figures["ping"], strict=True)]
        print(f"ping / floor: {rps['ping'] / rps['floor']:.2f} of the medians; per round {per_round}")
        p99 = statistics.median(r["latency_us"]["p99"] / 1000 for r in figures["ping"])
        print(f"ping ratio {rps['ping'] / rps['bare']:.2f} (target >= 0.4), ping p99 {p99:.1f} ms (target < 50 ms)")
        for side in ("floor", "ping"):
            refused = sum(r["limited"] + r["other"] + r["socket_errors"] for r in figures[side])
            if refused:
                print(f"WARNING: {refused} {side} answers were not 200 (429: raise --ping-jobs)")
    finally:
        stop(gunicorn)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
