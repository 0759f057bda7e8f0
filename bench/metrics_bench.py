"""Benchmark MTTA / MTTR / MTBF computation on PostgreSQL: a full run (rollups from scratch) vs an incremental one.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/metrics_bench.py --incidents 100000

DATABASE_URL only names the server and credentials: the script creates its own
database (``opsgov_bench`` unless --database says otherwise), migrates it, seeds N
incidents across ~50 services over ~2 years with COPY, and drops it at the end
(--keep to keep it). It never touches the database DATABASE_URL names.

Timed, with the wall clock:

1. full: ``compute_metrics`` of mtta, mttr, mtbf over the 7/30/90-day windows with
   no rollups yet, so they are built from every incident;
2. incremental: the same after adding 100 new incidents;
3. steady: the same again with nothing new.

Each is run --repeat times (3) and the medians are reported, with the part spent in
the rollup refresh; the rest ("figures") reads the windows (see incidents.metrics).

The figure that matters is the ratio incremental / full (DESIGN.md, "Targets":
recomputing after new data costs what the new data costs, not what the history costs).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _support import recreate, server_urls  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent
KEYS = ["mtta", "mttr", "mtbf"]
SEVERITIES = [("SEV-1", 0.05), ("SEV-2", 0.15), ("SEV-3", 0.40), ("SEV-4", 0.40)]
COLUMNS = (
    "uuid, title, summary, service_id, severity, status, triggered_at, acknowledged_at, mitigated_at,"
    " resolved_at, cancelled_at, customer_impact, dedup_key, reopen_count, created_at, updated_at,"
    " escalation_level"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000, help="incidents to seed (default 100000)")
    parser.add_argument("--services", type=int, default=50, help="services (default 50), owned by services/5 teams")
    parser.add_argument("--days", type=int, default=730, help="history length in days (default 730)")
    parser.add_argument("--new", type=int, default=100, help="incidents added before the incremental run")
    parser.add_argument("--database", default="opsgov_bench", help="database to create and drop (opsgov_bench)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind; medians reported (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--seed", type=int, default=8, help="random seed")
    return parser.parse_args()


def setup_django(bench_url: str, var_dir: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("OPSGOV_VAR_DIR", var_dir)  # settings create folders there; not the checkout's var/
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")
    os.environ["DEBUG"] = "true"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def ts(value: datetime | None) -> str:
    return "\\N" if value is None else value.isoformat()


@dataclass
class Generator:
    """Plausible incidents: SEV mix, lognormal acknowledge and resolve times, a few cancelled or open."""

    rng: random.Random
    service_ids: list[int]
    weights: list[float]
    now: datetime

    def rows(self, count: int, *, since: datetime, written: datetime | None = None) -> Iterator[str]:
        """Incidents triggered between `since` and now; their updated_at is their last event, or `written`."""
        span = (self.now - since).total_seconds()
        severities = [key for key, _ in SEVERITIES]
        severity_weights = [weight for _, weight in SEVERITIES]
        rng = self.rng
        # In trigger order, as incidents are written in production (the heap follows time).
        offsets = sorted(rng.random() * span for _ in range(count))
        for number, offset in enumerate(offsets):
            triggered = since + timedelta(seconds=offset)
            severity = rng.choices(severities, severity_weights)[0]
            service_id = rng.choices(self.service_ids, self.weights)[0]
            ack = resolved = cancelled = None
            if rng.random() < 0.9:  # median 4 min
                ack = triggered + timedelta(seconds=math.exp(rng.gauss(math.log(240), 1.0)))
            if rng.random() < 0.03:
                cancelled = (ack or triggered) + timedelta(minutes=rng.randrange(1, 30))
                status = "cancelled"
            else:  # median 1 h after the acknowledgement (or the trigger)
                resolved = (ack or triggered) + timedelta(seconds=math.exp(rng.gauss(math.log(3600), 1.2)))
                status = "resolved"
            if resolved is not None and resolved > self.now:
                resolved, status = None, "acknowledged" if ack else "triggered"
            if ack is not None and ack > self.now:
                ack, status = None, "triggered"
            if cancelled is not None and cancelled > self.now:
                cancelled, status = None, "acknowledged" if ack else "triggered"
            last = max(t for t in (triggered, ack, resolved, cancelled) if t is not None)
            impact = "t" if severity in ("SEV-1", "SEV-2") and rng.random() < 0.5 else "f"
            yield (
                f"{uuid.UUID(int=rng.getrandbits(128), version=4)}\tBench incident {number}\t\t{service_id}\t"
                f"{severity}\t{status}\t{ts(triggered)}\t{ts(ack)}\t\\N\t{ts(resolved)}\t{ts(cancelled)}\t"
                f"{impact}\t\t0\t{ts(written or triggered)}\t{ts(written or last)}\t0\n"
            )


def copy_incidents(rows: Iterator[str], *, analyze: bool = True) -> None:
    from django.db import connection

    from incidents.models import Incident

    with connection.cursor() as cursor:
        raw: Any = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {Incident._meta.db_table} ({COLUMNS}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for number, row in enumerate(rows, start=1):
                buffer.write(row)
                if number % 50_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        if analyze:
            cursor.execute(f"ANALYZE {Incident._meta.db_table}")


def seed(args: argparse.Namespace, now: datetime) -> Generator:
    from opsgov.models import Service, Team

    teams = Team.objects.bulk_create(
        [Team(slug=f"team-{n}", name=f"Team {n}") for n in range(max(1, args.services // 5))]
    )
    services = Service.objects.bulk_create(
        [
            Service(slug=f"service-{n}", name=f"Service {n}", owner_team=teams[n % len(teams)])
            for n in range(args.services)
        ]
    )
    rng = random.Random(args.seed)
    # A few noisy services, a long quiet tail.
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(services))]
    generator = Generator(rng=rng, service_ids=[s.pk for s in services], weights=weights, now=now)
    copy_incidents(generator.rows(args.incidents, since=now - timedelta(days=args.days)))
    return generator


@dataclass(frozen=True)
class Cycle:
    seconds: float  # the whole compute_metrics call
    refresh: float  # of which the rollup refresh (prepare)
    days: str  # trigger days the refresh recomputed
    rows: int  # rollup rows it wrote
    snapshots: int

    @property
    def figures(self) -> float:
        return self.seconds - self.refresh


def timed_cycle(label: str) -> Cycle:
    from django.utils import timezone

    from incidents.models import IncidentRollupState
    from opsgov.services import compute_metrics

    began = time.perf_counter()
    stored = compute_metrics(now=timezone.now(), keys=KEYS)
    seconds = time.perf_counter() - began
    state = IncidentRollupState.objects.get()
    cycle = Cycle(
        seconds=seconds,
        refresh=state.last_seconds,
        days="all" if state.last_full else str(state.last_days),
        rows=state.last_rows,
        snapshots=len(stored),
    )
    print(
        f"{label:<14} {seconds:7.3f} s = rollup refresh {cycle.refresh:6.3f} s ({cycle.days} trigger days,"
        f" {cycle.rows} rows) + figures {cycle.figures:6.3f} s; {cycle.snapshots} snapshots",
        flush=True,
    )
    return cycle


def median(cycles: list[Cycle], attribute: str) -> float:
    return float(statistics.median(getattr(cycle, attribute) for cycle in cycles))


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = server_urls(args.database)
    recreate(maintenance_url, args.database)
    var_dir = tempfile.TemporaryDirectory(prefix="opsgov-bench-")
    try:
        setup_django(bench_url, var_dir.name)
        from django.core.management import call_command
        from django.db import connection
        from django.utils import timezone

        from incidents.models import IncidentDayRollup, IncidentRollupState

        call_command("migrate", verbosity=0)
        now = timezone.now()
        began = time.perf_counter()
        generator = seed(args, now)
        print(
            f"seeded {args.incidents:,} incidents over {args.days} days on {args.services} services"
            f" in {time.perf_counter() - began:.1f} s; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        full: list[Cycle] = []
        for run in range(args.repeat):
            IncidentRollupState.objects.all().delete()  # forget the rollups: the next refresh rebuilds every day
            full.append(timed_cycle(f"full {run + 1}"))
        print(f"rollup rows: {IncidentDayRollup.objects.count():,}", flush=True)
        incremental: list[Cycle] = []
        for run in range(args.repeat):
            # New incidents arrive: triggered in the last two days, written now (as Model.save stamps updated_at).
            generator.now = timezone.now()
            since = generator.now - timedelta(days=2)
            copy_incidents(generator.rows(args.new, since=since, written=generator.now), analyze=False)
            incremental.append(timed_cycle(f"incremental {run + 1}"))
        steady = [timed_cycle(f"steady {run + 1}") for run in range(args.repeat)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            (version,) = cursor.fetchone() or ("?",)
        full_s, incremental_s = median(full, "seconds"), median(incremental, "seconds")
        print(f"\nmedians of {args.repeat} runs, {version.split(' on ')[0]}, load average {os.getloadavg()[0]:.2f}")
        print("| incidents | full (s) | of which refresh | incremental (s) | of which refresh | ratio | steady (s) |")
        print(
            f"| {args.incidents:,} | {full_s:.2f} | {median(full, 'refresh'):.2f} | {incremental_s:.2f}"
            f" | {median(incremental, 'refresh'):.3f} | {incremental_s / full_s:.3f}"
            f" | {median(steady, 'seconds'):.2f} |"
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
