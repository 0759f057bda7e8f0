"""Benchmark support: the queue page with 1M tickets against 1k, and the SLA cycle over 100k open tickets.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/support_bench.py

DATABASE_URL only names the server: the script creates ``opsgov_bench_sup_small`` and ``_large`` (--database
changes the prefix), migrates and seeds them, measures, and drops them (--keep keeps them).

Seeded with INSERT ... SELECT over generate_series: 1,000 (small) and 1,000,000 (large) tickets over two
years, 100,000 of the large side's (and 200 of the small side's) open, the rest closed.

Measured in one run:

* Queue page: a Support Team agent's ``GET /support/?queue=breaching`` and ``?queue=all`` through Django's
  test client with production settings, in a fresh process per side and round; rounds alternate between the
  sides (--rounds, --requests each), latencies pooled per side. Reported: p50/p95 per side, the p95 ratio
  (large / small), queries per request (must be the same on both sides). Goals: p95 < 100 ms, ratio <= 1.5.
* SLA cycle (large side): 1,000 of the 100,000 open tickets get a due instant in the past (as a change would
  leave them), then ``support.services.run_sla_cycle`` records their breaches (one notice each); the time of the
  cycle, and of a second cycle with nothing new. Goal: under 2 s.
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
from pathlib import Path
from typing import Any

from _support import database_urls, recreate  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent
PROFILES = {"small": {"tickets": 1_000, "open": 200}, "large": {"tickets": 1_000_000, "open": 100_000}}
QUEUES = ("breaching", "all")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000, help="tickets of the large side")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=50, help="requests per queue, side and round")
    parser.add_argument("--database", default="opsgov_bench_sup")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--seed-db", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--cycle", help=argparse.SUPPRESS)
    parser.add_argument("--open", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def child_env(database_url: str, var_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "OPSGOV_VAR_DIR": var_dir,
            "DJANGO_SETTINGS_MODULE": "opsgov.settings",
            "PYTHONUNBUFFERED": "1",
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


def run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def main() -> None:
    args = parse_args()
    if args.seed_db:
        return seed(args.seed_db, args.tickets, args.open)
    if args.measure:
        return measure(args.requests)
    if args.cycle:
        return cycle()
    names = {side: f"{args.database}_{side}" for side in PROFILES}
    maintenance, urls = database_urls(*names.values())
    var_dir = tempfile.mkdtemp(prefix="opsgov-bench-sup-")
    envs = {side: child_env(urls[names[side]], var_dir) for side in PROFILES}
    sizes = {"small": PROFILES["small"], "large": {"tickets": args.tickets, "open": PROFILES["large"]["open"]}}
    try:
        for side in PROFILES:
            recreate(maintenance, names[side])
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=envs[side], check=True
            )
            started = time.monotonic()
            run_child(
                ["--seed-db", side, "--tickets", str(sizes[side]["tickets"]), "--open", str(sizes[side]["open"])],
                envs[side],
            )
            print(
                f"seeded {side}: {sizes[side]['tickets']:,} tickets in {time.monotonic() - started:.0f} s", flush=True
            )
        # DEBUG off serves hashed static names from the manifest: collect once, in the shared folder.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=envs["small"], check=True
        )
        latencies: dict[str, dict[str, list[float]]] = {s: {q: [] for q in QUEUES} for s in PROFILES}
        queries: dict[str, dict[str, int]] = {s: {} for s in PROFILES}
        for round_number in range(args.rounds):
            for side in PROFILES:
                result = run_child(["--measure", side, "--requests", str(args.requests)], envs[side])
                for queue in QUEUES:
                    latencies[side][queue] += result["latencies"][queue]
                    queries[side][queue] = result["queries"][queue]
            print(f"round {round_number + 1}/{args.rounds} done", flush=True)
        report: dict[str, Any] = {"queue": {}, "cycle": None}
        for queue in QUEUES:
            row: dict[str, Any] = {}
            for side in PROFILES:
                values = latencies[side][queue]
                row[side] = {
                    "p50": statistics.median(values),
                    "p95": percentile(values, 0.95),
                    "queries": queries[side][queue],
                }
            row["ratio_p95"] = row["large"]["p95"] / row["small"]["p95"]
            report["queue"][queue] = row
            print(
                f"queue={queue}: small p50 {row['small']['p50']:.1f} ms p95 {row['small']['p95']:.1f} ms "
                f"({row['small']['queries']} queries) | large p50 {row['large']['p50']:.1f} ms "
                f"p95 {row['large']['p95']:.1f} ms ({row['large']['queries']} queries) | "
                f"ratio {row['ratio_p95']:.2f}"
            )
        report["cycle"] = run_child(["--cycle", "large"], envs["large"])
        print(
            f"SLA cycle over {PROFILES['large']['open']:,} open tickets, 1,000 changed: "
            f"{report['cycle']['first_s']:.2f} s ({report['cycle']['breaches']} breaches), "
            f"then nothing new: {report['cycle']['second_s']:.3f} s"
        )
        print(json.dumps(report))
    finally:
        if not args.keep:
            for name in names.values():
                recreate(maintenance, name, drop_only=True)


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed(side: str, tickets: int, open_count: int) -> None:
    _django()
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from opsgov.roles import SUPPORT_TEAM

    agent = User.objects.create_user("agent")
    agent.groups.add(Group.objects.get(name=SUPPORT_TEAM))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO support_contact (email, name, organisation, bounce_reason, created_at, updated_at) "
            "SELECT 'c' || n || '@example.com', 'Customer ' || n, 'Org', '', now(), now() "
            "FROM generate_series(1, 1000) n"
        )
        chunk = 200_000
        for start in range(1, tickets + 1, chunk):
            end = min(start + chunk - 1, tickets)
            # The last `open_count` tickets are open (opened recently), the others closed long ago.
            cursor.execute(
                """
                INSERT INTO support_ticket (uuid, number, subject, description, requester_id, priority, category,
                    tags, channel, status, opened_at, first_response_at, resolved_at, closed_at,
                    response_due_at, response_at_risk_at, resolution_due_at, resolution_at_risk_at,
                    response_breached, resolution_breached, incident_key, created_at, updated_at)
                SELECT gen_random_uuid(), 1000 + n, 'Ticket ' || n, 'text', 1 + mod(n, 1000),
                    'P' || (1 + mod(n, 4)), '', '[]', 'email',
                    CASE WHEN n > %(total)s - %(open)s THEN (ARRAY['new','open','waiting'])[1 + mod(n, 3)]
                         ELSE 'closed' END,
                    opened,
                    CASE WHEN n > %(total)s - %(open)s THEN NULL ELSE opened + interval '20 minutes' END,
                    CASE WHEN n > %(total)s - %(open)s THEN NULL ELSE opened + interval '5 hours' END,
                    CASE WHEN n > %(total)s - %(open)s THEN NULL ELSE opened + interval '8 days' END,
                    -- Open tickets fall due 1-20 days from now (none is due yet; those due within two days
                    -- are at risk); closed ones fell due long ago.
                    CASE WHEN n > %(total)s - %(open)s THEN now() + interval '1 day' * (1 + mod(n, 20))
                         ELSE opened + interval '30 days' END,
                    CASE WHEN n > %(total)s - %(open)s THEN now() + interval '1 day' * (mod(n, 20) - 1)
                         ELSE opened + interval '20 days' END,
                    CASE WHEN n > %(total)s - %(open)s THEN now() + interval '1 day' * (2 + mod(n, 20))
                         ELSE opened + interval '60 days' END,
                    CASE WHEN n > %(total)s - %(open)s THEN now() + interval '1 day' * mod(n, 20)
                         ELSE opened + interval '45 days' END,
                    false, false, '', opened, opened
                FROM (SELECT n, now() - (interval '730 days') * (%(total)s - n) / %(total)s - interval '1 hour'
                      AS opened FROM generate_series(%(start)s, %(end)s) n) s
                """,
                {"total": tickets, "open": open_count, "start": start, "end": end},
            )
            print(f"  {end:,} tickets", file=sys.stderr, flush=True)
        cursor.execute("SELECT setval(pg_get_serial_sequence('support_ticket', 'id'), %s)", [tickets])
        cursor.execute("VACUUM ANALYZE support_ticket")
    print(json.dumps({"ok": True}))


def measure(requests: int) -> None:
    _django()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(User.objects.get(username="agent"))
    result: dict[str, Any] = {"latencies": {}, "queries": {}}
    for queue in QUEUES:
        url = f"/support/?queue={queue}"
        for _ in range(5):  # warm-up
            assert client.get(url).status_code == 200
        values = []
        for _ in range(requests):
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
            values.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        result["latencies"][queue] = values
        result["queries"][queue] = len(captured.captured_queries)
    print(json.dumps(result))


def cycle() -> None:
    _django()
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from support.services import run_sla_cycle

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE support_ticket SET response_due_at = %s WHERE id IN (SELECT id FROM support_ticket "
            "WHERE status IN ('new','open','waiting') ORDER BY id LIMIT 1000)",
            [now - timedelta(minutes=1)],
        )
    started = time.perf_counter()
    breaches = run_sla_cycle(now=now)
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = run_sla_cycle(now=now)
    second = time.perf_counter() - started
    print(json.dumps({"first_s": first, "breaches": breaches, "second_s": second, "again": again}))


if __name__ == "__main__":
    main()
