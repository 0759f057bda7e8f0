"""Benchmark the gate pages and API with a short and a long evaluation history, in one run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/gates_bench.py --small 1000 --large 100000

DATABASE_URL only names the server and credentials: the script creates its own
database (``opsgov_bench_gates`` unless --database says otherwise), migrates it,
and drops it at the end (--keep to keep it). It never touches the database
DATABASE_URL names.

It seeds --services services (10 per team), then evaluations of the incident
management gate and of the seven others, each with one evidence row per service
(as the real gates write them; a third failing), every 5 minutes back in time:
first --small evaluations in all, then, after measuring, up to --large. Between the
two, only the history grows: the latest evaluations, the services, the waivers and
the user are the same.

Each page is requested --requests times (after 10 warm-up requests) through
Django's test client in this process (middleware, session login, templates and
the database; no HTTP server). The two histories alternate for --rounds rounds
(the long one trimmed back to the short one in between), so that the machine's
load weighs on both alike; p50 / p95 of the wall clock over all rounds are
reported with the number of SQL queries, for both histories, and the ratio
large / small of the p95. Target (DESIGN.md, "Targets"): a fixed number of queries, and p95 with the
long history at most 1.5x the p95 with the short one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _support import recreate, server_urls  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent
# This checkout's modules first (before an editable install of another checkout).
sys.path.insert(0, str(ROOT))
GATE = "incident_management"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000, help="evaluations in the short history (1000)")
    parser.add_argument("--large", type=int, default=100_000, help="evaluations in the long history (100000)")
    parser.add_argument("--services", type=int, default=40, help="services, one evidence row each per gate (40)")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per page, history and round (100)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of small then large history (2)")
    parser.add_argument("--database", default="opsgov_bench_gates", help="database to create and drop")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


def setup_django(bench_url: str, var_dir: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("OPSGOV_VAR_DIR", var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")
    os.environ["DEBUG"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def seed_world(services: int) -> Any:
    """Teams, services, an SRE Lead and a Tech Lead, one open waiver. Returns the SRE Lead."""
    from django.contrib.auth.models import Group, User

    from opsgov.models import Service, Team

    teams = Team.objects.bulk_create(
        [Team(slug=f"team-{n}", name=f"Team {n}", email=f"team-{n}@example.com") for n in range(max(1, services // 10))]
    )
    Service.objects.bulk_create(
        [Service(slug=f"svc-{n}", name=f"Service {n}", owner_team=teams[n % len(teams)]) for n in range(services)]
    )
    lead = User.objects.create_user("bench-sre", "bench-sre@example.com", "x")
    lead.groups.add(Group.objects.get(name="SRE Lead"))
    tech = User.objects.create_user("bench-tech", "bench-tech@example.com", "x")
    tech.groups.add(Group.objects.get(name="Tech Lead"))
    return lead


def add_history(*, total: int, services: int, now: datetime) -> None:
    """Grow the history to `total` evaluations (all gates), one every 5 minutes per gate, going back in time.

    Built by PostgreSQL itself (generate_series): each evaluation holds one evidence row per service.
    """
    from django.db import connection

    from opsgov.models import GateEvaluation
    from opsgov.registry import gates

    keys = [gate.key for gate in gates.all()]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {GateEvaluation._meta.db_table}")  # noqa: S608 - a model's table
        existing = cursor.fetchone()[0]
        per_gate_from, per_gate_to = existing // len(keys), total // len(keys)
        if per_gate_to <= per_gate_from:
            return
        cursor.execute(
            f"""
            INSERT INTO {GateEvaluation._meta.db_table}
                (gate, status, reason, evidence, evaluated_at, previous_status, status_changed, created_at, updated_at)
            SELECT g.key,
                   CASE WHEN (n / 10) %% 2 = 0 THEN 'fail' ELSE 'at_risk' END,
                   'bench evaluation ' || n,
                   (SELECT jsonb_agg(jsonb_build_object(
                        'key', 'escalation:svc-' || s, 'label', 'Service ' || s || ': covered for 7 days',
                        'status', CASE WHEN s %% 3 = 0 THEN 'fail' ELSE 'pass' END, 'detail', '',
                        'url', '/services/svc-' || s || '/', 'service', 'svc-' || s))
                    FROM generate_series(0, %s - 1) AS s),
                   %s - (n + 1) * interval '5 minutes',
                   CASE WHEN ((n + 1) / 10) %% 2 = 0 THEN 'fail' ELSE 'at_risk' END,
                   (n %% 10 = 9),
                   now(), now()
            FROM unnest(%s::text[]) AS g(key), generate_series(%s, %s - 1) AS n
            """,  # noqa: S608 - a model's table name, values as parameters
            [services, now, keys, per_gate_from, per_gate_to],
        )
        cursor.execute(f"ANALYZE {GateEvaluation._meta.db_table}")


def trim_history(*, total: int, now: datetime) -> None:
    """Shrink the seeded history back to about `total` evaluations (the newest ones stay)."""
    from django.db import connection

    from opsgov.models import GateEvaluation
    from opsgov.registry import gates

    per_gate = total // len(gates.all())
    cutoff = now - timedelta(minutes=5 * per_gate)
    with connection.cursor() as cursor:
        table = GateEvaluation._meta.db_table
        cursor.execute(
            f"DELETE FROM {table} WHERE reason LIKE 'bench evaluation %%' AND evaluated_at < %s",  # noqa: S608
            [cutoff],
        )
        cursor.execute(f"VACUUM ANALYZE {GateEvaluation._meta.db_table}")


def latest_evaluations(now: datetime) -> None:
    """The current state: every gate evaluated now by the engine, and one approved waiver on the incident gate."""
    from django.contrib.auth.models import User

    from opsgov.gates import services as gates_engine
    from opsgov.gates import waivers
    from opsgov.models import Service
    from opsgov.registry import gates

    for gate in gates.all():
        gates_engine.evaluate_gate(gate=gate, now=now)
    # A check of a service, as every run of this benchmark waived (organisation-wide rows are waivable too).
    rows = [row for row in waivers.waivable_rows(gates_engine.previous_evaluation(GATE)) if row.get("service")]
    if rows:
        waiver = waivers.waiver_request(
            gate=GATE,
            evidence_key=rows[0]["key"],
            service=Service.objects.get(slug=rows[0]["service"]),
            reason="bench",
            compensating_control="bench",
            approver=User.objects.get(username="bench-sre"),
            expires_at=now + timedelta(days=30),
            requested_by=User.objects.get(username="bench-tech"),
            now=now,
        )
        waivers.waiver_approve(waiver=waiver, actor=User.objects.get(username="bench-sre"), now=now)


def summary(values: list[float]) -> tuple[float, float]:
    """(p50, p95) of the samples."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def measure(client: Any, path: str, requests: int) -> tuple[list[float], int]:
    """`requests` timings of `path` in ms (after a warm-up), and the number of SQL queries one request makes."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    for _ in range(10):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    reset_queries()  # the query log is capped (9000): start from empty, or the count reads 0
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return samples, len(queries)


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = server_urls(args.database)
    recreate(maintenance_url, args.database)
    with tempfile.TemporaryDirectory(prefix="opsgov-bench-gates-") as var_dir:
        try:
            setup_django(bench_url, var_dir)
            from django.core.management import call_command
            from django.test import Client
            from django.utils import timezone

            call_command("migrate", verbosity=0)
            lead = seed_world(args.services)
            now = timezone.now()
            add_history(total=args.small, services=args.services, now=now)
            latest_evaluations(now)
            client = Client()
            client.force_login(lead)
            # Within both histories (--small / 8 gates x 5 minutes reaches back at least 10 hours).
            at = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
            pages = [
                "/gates/",
                f"/gates/{GATE}/",
                f"/gates/{GATE}/?team=team-1&status=fail",
                f"/gates/{GATE}/?at={at}",
                "/services/svc-1/scorecard/",
                "/gates/export.csv",
                "/api/v1/gates/",
                f"/api/v1/gates/{GATE}/?service=svc-3",
                f"/api/v1/gates/{GATE}/history/?at={at}",
                f"/api/v1/gates/{GATE}/history/?changes_only=true&page_size=10",
            ]
            from opsgov.models import GateEvaluation

            # Alternate the two histories (small, large, small, large...) so that a change in the
            # machine's load during the run weighs on both alike; each page's samples are pooled.
            samples: dict[tuple[str, str], list[float]] = {}
            queries: dict[tuple[str, str], set[int]] = {}
            sizes: dict[str, int] = {}
            for _round in range(args.rounds):
                for name, total in (("small", args.small), ("large", args.large)):
                    started = time.perf_counter()
                    if name == "small":
                        trim_history(total=total, now=now)
                    else:
                        add_history(total=total, services=args.services, now=now)
                    sizes[name] = GateEvaluation.objects.count()
                    print(f"{name}: {sizes[name]} evaluations ({time.perf_counter() - started:.1f} s)", flush=True)
                    for path in pages:
                        timed, count = measure(client, path, args.requests)
                        samples.setdefault((path, name), []).extend(timed)
                        queries.setdefault((path, name), set()).add(count)
            print()
            print(
                f"{'page':<66} {'queries':>8} {'p50 small':>10} {'p95 small':>10} {'p50 large':>10} "
                f"{'p95 large':>10} {'p95 ratio':>10}"
            )
            for path in pages:
                small, large = (summary(samples[(path, name)]) for name in ("small", "large"))
                counts = "/".join(str(c) for name in ("small", "large") for c in sorted(queries[(path, name)]))
                print(
                    f"{path:<66} {counts:>8} {small[0]:>10.1f} {small[1]:>10.1f} {large[0]:>10.1f} "
                    f"{large[1]:>10.1f} {large[1] / small[1]:>10.2f}"
                )
            print(
                f"\nsmall = {sizes['small']} evaluations, large = {sizes['large']}; times in ms; "
                f"{args.rounds} rounds x {args.requests} requests per page and history."
            )
        finally:
            from django.db import connections

            connections.close_all()
            if not args.keep:
                recreate(maintenance_url, args.database, drop_only=True)


if __name__ == "__main__":
    main()
