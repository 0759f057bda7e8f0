"""Benchmark the SLO engine on PostgreSQL: a full evaluation cycle vs an incremental one (a new minute of data).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/slo_bench.py --slos 500 --days 30

DATABASE_URL only names the server and credentials: the script creates its own
database (``opsgov_bench_slo`` unless --database says otherwise), migrates it,
creates N SLOs (10 per service) and seeds --days of 1-minute SLI buckets for
each (500 x 30 x 1440 = 21.6 M rows by default) with ``INSERT ... SELECT`` over
``generate_series``, one day per statement and in time order (as production
writes them: the minutes of all SLOs interleaved), then ``VACUUM ANALYZE`` (what
autovacuum would have done over those days). It drops the database at the end
(--keep keeps it; --reuse times a kept one again without seeding).

Timed, with the wall clock (``monitoring.slos.engine.evaluate_slos``, one transaction each):

1. full: the rollups rebuilt from every bucket, then every SLO evaluated;
2. steady: a cycle with nothing new;
3. incremental (--repeat times): one new minute for every SLO, written through
   ``monitoring.slos.sli.record_sli`` (timed apart: that is the intake's cost), then
   a cycle — the figure the target is about (DESIGN.md: recomputing after new
   data costs what the new data costs; issue #5: under 2 s);
4. hour rollover: a new minute in the next hour, then a cycle, which computes
   the rollups of the hour just over for every SLO (the engine defers an hour's
   rollup until the hour is over), so once an hour a cycle costs this much.

Each line splits the cycle into the rollup refresh and the rest (window reads,
status upsert, alert comparison) and gives the number of SQL queries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from _support import recreate, server_urls  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slos", type=int, default=500, help="SLOs (default 500), 10 per service")
    parser.add_argument("--days", type=int, default=30, help="days of 1-minute buckets per SLO (default 30)")
    parser.add_argument("--repeat", type=int, default=5, help="incremental cycles; median reported (default 5)")
    parser.add_argument("--database", default="opsgov_bench_slo", help="database to create and drop")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse a database kept by --keep: no seeding")
    return parser.parse_args()


def setup_django(bench_url: str, var_dir: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("OPSGOV_VAR_DIR", var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")
    os.environ["DEBUG"] = "true"  # development settings: no SECRET_KEY or ALLOWED_HOSTS needed
    # Alerts that fire enqueue incident processing after commit: keep those messages in this process.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # the engine logs every alert it fires
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# Every bucket: 800-1199 events; about 0.05 % bad (0 or 1 bad event a minute). SLOs whose id is a multiple
# of 50 burn in the last 90 minutes (5 % bad: 50x a 99.9 % budget), so the full cycle fires alerts too.
SEED_SQL = """
INSERT INTO monitoring_slibucket (slo_id, start, seconds, good, total, created_at, updated_at)
SELECT s.id, %(base)s::timestamptz + m * interval '1 minute', 60, t.total - t.bad, t.total, now(), now()
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS m
CROSS JOIN unnest(%(ids)s::bigint[]) AS s(id)
CROSS JOIN LATERAL (
    SELECT 800 + ((s.id * 37 + m * 13) %% 400) AS total,
           CASE WHEN s.id %% 50 = 0 AND m >= %(burn_from)s THEN (800 + ((s.id * 37 + m * 13) %% 400)) / 20
                ELSE ((s.id * 7919 + m * 104729) %% 2000) / 1000 END AS bad
) AS t
ORDER BY m, s.id
"""


def seed(args: argparse.Namespace, now: datetime) -> None:
    from django.db import connection

    from monitoring.models import SLO, SLIBucket
    from opsgov.models import Service, ServiceTier, Team

    services_count = max(1, args.slos // 10)
    teams = Team.objects.bulk_create([Team(slug=f"team-{n}", name=f"Team {n}") for n in range(services_count // 5 + 1)])
    services = Service.objects.bulk_create(
        [
            Service(
                slug=f"service-{n}",
                name=f"Service {n}",
                owner_team=teams[n % len(teams)],
                tier=ServiceTier.TIER_1 if n % 3 == 0 else ServiceTier.TIER_2,
            )
            for n in range(services_count)
        ]
    )
    slos = SLO.objects.bulk_create(
        [
            SLO(
                service=services[n % services_count],
                name=f"SLO {n}",
                objective_percent=Decimal("99.9"),
                is_availability=n < services_count,
                window_kind="calendar-month" if n % 4 == 3 else "rolling",
                window_days=28 if n % 4 == 2 else 30,
            )
            for n in range(args.slos)
        ]
    )
    ids = [slo.pk for slo in slos]
    base = now - timedelta(days=args.days)
    minutes = args.days * 1440
    began = time.perf_counter()
    with connection.cursor() as cursor:
        for day in range(args.days):
            cursor.execute(
                SEED_SQL,
                {
                    "base": base,
                    "first": day * 1440,
                    "last": day * 1440 + 1439,
                    "ids": ids,
                    "burn_from": minutes - 90,
                },
            )
            done = (day + 1) * 1440 * len(ids)
            elapsed = time.perf_counter() - began
            print(
                f"  seeded day {day + 1}/{args.days}: {done:,} buckets in {elapsed:.0f} s"
                f" ({done / elapsed:,.0f}/s); load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    SLO.objects.update(last_sli_at=now)
    print("  VACUUM ANALYZE ...", flush=True)
    began_vacuum = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {SLIBucket._meta.db_table}")
    print(f"  done in {time.perf_counter() - began_vacuum:.0f} s", flush=True)


@dataclass(frozen=True)
class Cycle:
    seconds: float
    refresh: float
    queries: int
    fired: int

    @property
    def rest(self) -> float:
        return self.seconds - self.refresh


def timed_cycle(label: str, *, now: datetime, rebuild: bool = False) -> Cycle:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from monitoring.slos import engine

    reset_queries()  # DEBUG keeps at most 9000 queries; the intake before a cycle would fill that
    with CaptureQueriesContext(connection) as queries:
        began = time.perf_counter()
        result = engine.evaluate_slos(now=now, rebuild=rebuild)
        seconds = time.perf_counter() - began
    assert result.refresh is not None
    cycle = Cycle(seconds=seconds, refresh=result.refresh.seconds, queries=len(queries), fired=len(result.fired))
    print(
        f"{label:<15} {seconds:7.3f} s = rollup refresh {cycle.refresh:6.3f} s"
        f" ({'rebuilt' if result.refresh.full else f'{result.refresh.hours} hours, {result.refresh.days} days'})"
        f" + evaluation {cycle.rest:6.3f} s; {result.evaluated} SLOs, {cycle.queries} queries,"
        f" {len(result.fired)} alerts fired, {len(result.cleared)} cleared",
        flush=True,
    )
    return cycle


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = server_urls(args.database)
    if not args.reuse:
        recreate(maintenance_url, args.database)
    var_dir = tempfile.TemporaryDirectory(prefix="opsgov-bench-slo-")
    try:
        setup_django(bench_url, var_dir.name)
        from django.core.management import call_command
        from django.db import connection
        from django.db.models import Max

        from monitoring.models import SLO, SLIBucket
        from monitoring.slos.engine import floor_hour, floor_minute
        from monitoring.slos.sli import SLIReading, record_sli

        call_command("migrate", verbosity=0)
        if args.reuse:
            newest = SLIBucket.objects.aggregate(newest=Max("start"))["newest"]
            if newest is None:
                sys.exit(f"--reuse: {args.database} holds no SLI data; run without --reuse first.")
            now = newest + timedelta(minutes=1)
            print(f"reusing {args.database}: data up to {now:%Y-%m-%d %H:%M} UTC", flush=True)
        else:
            from django.utils import timezone

            now = floor_minute(timezone.now())
            began = time.perf_counter()
            total = args.slos * args.days * 1440
            print(f"seeding {args.slos} SLOs x {args.days} days x 1440 minutes = {total:,} buckets", flush=True)
            seed(args, now)
            print(f"seeded in {time.perf_counter() - began:.0f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM monitoring_slibucket")
            (rows,) = cursor.fetchone() or (0,)
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('monitoring_slibucket')), version()")
            size, version = cursor.fetchone() or ("?", "?")
        slos = list(SLO.objects.order_by("pk"))
        print(f"{len(slos)} SLOs, {rows:,} buckets ({size}); {version.split(' on ')[0]}", flush=True)

        full = timed_cycle("full (rebuild)", now=now + timedelta(seconds=30), rebuild=True)
        steady = timed_cycle("steady", now=now + timedelta(seconds=40))
        incremental: list[Cycle] = []
        intake: list[float] = []
        for minute in range(args.repeat):
            start = now + timedelta(minutes=minute)
            began = time.perf_counter()
            for slo in slos:
                record_sli(slo=slo, readings=[SLIReading(start, 999, 1000)], now=start + timedelta(minutes=1))
            intake.append(time.perf_counter() - began)
            incremental.append(timed_cycle(f"incremental {minute + 1}", now=start + timedelta(minutes=1, seconds=30)))
        # The cycle after an hour is over recomputes that hour's rollups (deferred until then) for every SLO.
        last = now + timedelta(minutes=args.repeat - 1)
        next_hour = floor_hour(last) + timedelta(hours=1)
        began = time.perf_counter()
        for slo in slos:
            record_sli(slo=slo, readings=[SLIReading(next_hour, 999, 1000)], now=next_hour + timedelta(minutes=1))
        intake.append(time.perf_counter() - began)
        rollover = timed_cycle("hour rollover", now=next_hour + timedelta(minutes=1, seconds=30))
        median_incremental = statistics.median(cycle.seconds for cycle in incremental)
        print(
            f"\n{len(slos)} SLOs, {rows:,} buckets, load average {os.getloadavg()[0]:.2f}\n"
            "| SLOs | buckets | full cycle (s) | of which rollup rebuild (s) | steady (s) "
            "| incremental, median (s) | incremental, max (s) | hour rollover (s) | queries "
            "| intake of the new minute (s) |\n"
            f"| {len(slos)} | {rows:,} | {full.seconds:.2f} | {full.refresh:.2f} | {steady.seconds:.2f}"
            f" | {median_incremental:.3f} | {max(cycle.seconds for cycle in incremental):.3f}"
            f" | {rollover.seconds:.3f} | {incremental[-1].queries} | {statistics.median(intake):.2f} |\n"
            f"goal (incremental under 2 s): {'met' if median_incremental < 2 else 'MISSED'}",
            flush=True,
        )
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not be set up yet; nothing to close then
            pass
        if not args.keep:
            recreate(maintenance_url, args.database, drop_only=True)
        var_dir.cleanup()


if __name__ == "__main__":
    main()
