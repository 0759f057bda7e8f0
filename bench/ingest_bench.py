"""Benchmark alert ingestion against a bare Django view and a DRF create view, all served by one gunicorn in one run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/opsgov_bench_ingest \\
        .venv/bin/python bench/ingest_bench.py

DESIGN.md, "Targets": alert ingestion, through Django's own handler, answers at
least 0.4x the request rate of a bare Django view and 1.5x a plain DRF create
view storing the same row, served by the same gunicorn in the same run, with
p99 under 50 ms, and loses nothing.

What it starts, all on loopback, all stopped at the end:

- the PostgreSQL database DATABASE_URL names (not the maintenance database
  ``postgres``), created if missing and migrated; dropped at the end only if it
  was created here (--keep keeps it). Rows already there are left alone: every
  run has its own service, integration and groupKeys;
- gunicorn with gunicorn.conf.py (its gthread workers, as many as gunicorn.conf.py
  starts unless --web-workers says, never recycled: GUNICORN_MAX_REQUESTS=0)
  and production settings:
  DEBUG=false, a random SECRET_KEY, ALLOWED_HOSTS, CONN_MAX_AGE=600, Redis as the broker,
  USE_X_FORWARDED_PROTO (every request says it came through the TLS proxy). The settings module is
  bench/bench_settings.py: the settings under test (--settings, opsgov.settings
  by default; opsgov.settings_ingest for the ingest service) with
  bench/bench_drf.py's route added to their URLconf, so all three paths go
  through the same MIDDLEWARE;
- a real Celery worker (prefork, --worker-concurrency processes) on that Redis,
  under ``nice -n 19`` and stopped (SIGSTOP) while wrk runs: production runs
  workers apart from the web tier, and on two cores the worker's database work
  would take the CPU from the side being measured (--worker-during-load keeps
  it running);
- wrk (Debian's package ``wrk``) with bench/ingest_wrk.lua.

Then, --rounds times, the three phases in turn, each for --duration seconds
with the same connections (bare, ingest, drf, bare, ingest, drf, ...):

- bare: GET /healthz, a plain JSON view behind the whole middleware stack;
- ingest: POST a single-alert Alertmanager webhook to
  /api/v1/ingest/alertmanager/<token>/ (opsgov's endpoint: 202);
- drf: POST the same webhook to bench_drf's CreateAPIView (201), which stores
  the same RawEvent and enqueues it the same way.

After each ingest and drf phase it waits for the worker to drain. The machine
is shared and noisy, so the phases alternate and per-round figures and medians
are reported: requests/s, p50, p99, CPU per request, ingest / bare and
ingest / drf. It also checks that no gunicorn worker was replaced during the run.

The count check of each ingest and drf phase: every event wrk got a 202 (201)
for is stored (matched by uuid), every stored event is processed exactly once
(processed_at set, attempts = 1, one incident per groupKey), and nothing else
failed. Events stored beyond wrk's answers are requests in flight when wrk
stopped (answered after it closed its sockets; at most one per connection):
they are reported and checked like the rest.

Exit status 0 when every check holds, 1 when one fails (the targets are reported,
not enforced). --json FILE also writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from _support import free_port, recreate, start, stop, wait_http  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = ROOT / "bench" / "ingest_wrk.lua"
BARE_PATH = "/healthz"
SIDES = ("bare", "ingest", "drf")
#: What DATABASE_URL may not name: the bench migrates the database it names.
MAINTENANCE_DATABASES = ("postgres", "template0", "template1")
#: Keys of the bench's Redis database that the worker's queue uses (the default queue "celery").
QUEUE_KEYS = ("celery", "unacked", "unacked_index", "unacked_mutex", "_kombu.binding.celery")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7", help="broker (a Redis database of its own)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per phase (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per side, not reported (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="bare, ingest, drf rounds; medians reported (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--web-workers",
        type=int,
        help="gunicorn workers (default: gunicorn.conf.py's, 2 x cores + 1, or WEB_CONCURRENCY)",
    )
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument(
        "--keys", type=int, default=0, help="0: a new groupKey per request (default); N: N groupKeys re-sent in turn"
    )
    during = parser.add_mutually_exclusive_group()
    during.add_argument(
        "--pause-worker",
        dest="pause_worker",
        action="store_true",
        default=True,
        help="SIGSTOP the Celery worker while wrk runs, so the web tier has the CPUs; it drains between runs "
        "(the default)",
    )
    during.add_argument(
        "--worker-during-load",
        dest="pause_worker",
        action="store_false",
        help="keep the Celery worker (niced) running while wrk runs: its database work competes with the web tier",
    )
    parser.add_argument("--drain-timeout", type=int, default=900, help="seconds to wait for the worker to drain")
    parser.add_argument("--port", type=int, default=0, help="gunicorn port on 127.0.0.1 (default: a free one)")
    parser.add_argument(
        "--enqueue",
        choices=["batched", "immediate"],
        default="batched",
        help="INGEST_ENQUEUE for gunicorn: batched (the default of gunicorn.conf.py) or one publish per request",
    )
    parser.add_argument(
        "--settings",
        default="opsgov.settings",
        help="settings module under test (default opsgov.settings; opsgov.settings_ingest: the ingest service)",
    )
    parser.add_argument(
        "--prepared-statements",
        action="store_true",
        help="BENCH_PREPARED_STATEMENTS=true: psycopg's server_side_binding and prepare_threshold in "
        "DATABASES OPTIONS (bench_settings), for every statement of the web and worker processes",
    )
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra server environment")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database and the temporary folder")
    return parser.parse_args()


# --- Processes -----------------------------------------------------------------------------


def clear_queue(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(*QUEUE_KEYS)
    finally:
        client.close()


def server_env(args: argparse.Namespace, bench_url: str, tmp: Path, port: int) -> dict[str, str]:
    """Production settings for gunicorn, the worker and this process."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CELERY_RESULT_BACKEND", "CACHE_URL", "REDIS_URL", "EMAIL_URL", "CONN_MAX_AGE", "OPSGOV_POLICY")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "BENCH_BASE_SETTINGS": args.settings,
            "PYTHONPATH": os.pathsep.join([str(BENCH), str(ROOT)]),
            "GUNICORN_MAX_REQUESTS": "0",  # no worker replaced in the middle of a phase
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": bench_url,
            "CONN_MAX_AGE": "600",
            "CELERY_BROKER_URL": args.redis_url,
            "USE_X_FORWARDED_PROTO": "true",
            "OPSGOV_VAR_DIR": str(tmp / "var"),
            "STATIC_ROOT": str(tmp / "static"),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
            "INGEST_ENQUEUE": args.enqueue,
        }
    )
    if args.web_workers:
        env["WEB_CONCURRENCY"] = str(args.web_workers)
    if args.prepared_statements:
        env["BENCH_PREPARED_STATEMENTS"] = "true"
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    (tmp / "static").mkdir(parents=True, exist_ok=True)
    return env


def cpu_seconds(master_pid: int) -> float:
    """CPU time of gunicorn's workers so far: the reaped ones (master's cutime + cstime) and the live ones."""
    tick = os.sysconf("SC_CLK_TCK")

    def fields(pid: int) -> list[str]:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rindex(")") + 2 :].split()

    master = fields(master_pid)
    total = int(master[13]) + int(master[14])  # cutime, cstime (fields 16, 17)
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    for child in children:
        try:
            stat = fields(int(child))
        except (OSError, ValueError):
            continue
        total += int(stat[11]) + int(stat[12])  # utime, stime (fields 14, 15)
    return total / tick


def worker_pids(master_pid: int) -> set[int]:
    """The pids of gunicorn's live workers."""
    return {int(pid) for pid in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()}


def database_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving `database` (their process titles name it)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes()
            if not title.startswith(b"postgres:") or f" {database} ".encode() not in title:
                continue
            text = (proc / "stat").read_text()
        except OSError:
            continue
        stat = text[text.rindex(")") + 2 :].split()
        found[int(proc.name)] = (int(stat[11]) + int(stat[12])) / tick
    return found


def database_cpu_since(database: str, before: dict[int, float]) -> float:
    """CPU seconds the backends of `database` used since `before` (a backend that exited meanwhile is not counted)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in database_backends_cpu(database).items())


# --- One wrk run ---------------------------------------------------------------------------


@dataclass
class Run:
    side: str  # "bare", "ingest" or "drf"
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    accepted: int
    refused: int
    socket_errors: int
    cpu_ms_per_request: float  # gunicorn's workers
    db_cpu_ms_per_request: float  # PostgreSQL backends of the bench database (web and Celery worker)
    wrk_cpu_ms_per_request: float
    tag: str = ""
    uuids: list[str] = field(default_factory=list, repr=False)


def signal_group(process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if process is not None and process.poll() is None:
        os.killpg(process.pid, sig)


def run_wrk(
    args: argparse.Namespace,
    side: str,
    number: int,
    base_url: str,
    path: str,
    tmp: Path,
    master: int,
    seconds: int,
    worker: subprocess.Popen[bytes] | None = None,
) -> Run:
    tag = f"r{number}{side[0]}-{uuid.uuid4().hex[:8]}"
    out = tmp / f"wrk-{tag}.out"
    command = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(LUA), base_url, "--", side, path, str(out), tag, str(args.keys),
    ]  # fmt: skip
    if args.pause_worker:
        signal_group(worker, signal.SIGSTOP)
    try:
        cpu_before, db_before = cpu_seconds(master), database_backends_cpu(args.database)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        cpu, db_cpu = cpu_seconds(master) - cpu_before, database_cpu_since(args.database, db_before)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    finally:
        if args.pause_worker:
            signal_group(worker, signal.SIGCONT)
    if completed.returncode != 0 or not out.exists():
        sys.exit(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    figures_line, *uuid_lines = out.read_text().splitlines()
    figures = json.loads(figures_line)
    latency = figures["latency_us"]
    errors = figures["errors"]
    duration = figures["duration_us"] / 1e6
    requests = int(figures["requests"])
    return Run(
        side=side,
        round=number,
        requests=requests,
        seconds=round(duration, 2),
        rps=round(requests / duration, 1),
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        accepted=int(figures["accepted"]),
        refused=int(figures["refused"]),
        socket_errors=sum(int(errors[kind]) for kind in ("connect", "read", "write", "timeout")),
        cpu_ms_per_request=round(1000 * cpu / max(requests, 1), 3),
        db_cpu_ms_per_request=round(1000 * db_cpu / max(requests, 1), 3),
        wrk_cpu_ms_per_request=round(1000 * wrk_cpu / max(requests, 1), 3),
        tag=tag,
        uuids=[line for line in uuid_lines if line],
    )


# --- Counts --------------------------------------------------------------------------------


@dataclass
class Count:
    tag: str
    answered: int
    stored: int
    in_flight_at_stop: int
    processed: int
    applied_once: int
    incidents: int
    drain_seconds: float
    problems: list[str]


def count_check(args: argparse.Namespace, run: Run) -> Count:
    """Wait for the worker to drain this run's events, then check that each was stored and processed once."""
    from django.db import connection

    from incidents.models import Incident, RawEvent

    events = RawEvent.objects.filter(dedup_key__contains=f'key="{run.tag}-')
    started = time.monotonic()
    deadline = started + args.drain_timeout
    while events.filter(processed_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    drain = time.monotonic() - started
    stored = {str(value) for value in events.values_list("uuid", flat=True)}
    acked = set(run.uuids)
    problems = []
    expected = "201" if run.side == "drf" else "202"
    if len(acked) != run.accepted:
        problems.append(f"{run.accepted} answers {expected} but {len(acked)} distinct event uuids in them")
    missing = acked - stored
    if missing:
        problems.append(f"{len(missing)} events answered {expected} are not stored, e.g. {sorted(missing)[:3]}")
    extra = len(stored - acked)
    if extra > args.connections:
        problems.append(f"{extra} stored events were never answered (more than the {args.connections} connections)")
    processed = events.filter(processed_at__isnull=False).count()
    applied_once = events.filter(processed_at__isnull=False, attempts=1, last_error="").count()
    if processed != len(stored):
        problems.append(f"{len(stored) - processed} of {len(stored)} events unprocessed after {drain:.0f} s")
    if applied_once != len(stored):
        problems.append(f"{len(stored) - applied_once} events processed with retries or errors")
    keys = events.values("dedup_key").distinct().count()
    incidents = Incident.objects.filter(dedup_key__contains=f'key="{run.tag}-').count()
    if incidents != keys:
        problems.append(f"{incidents} incidents for {keys} groupKeys")
    if run.refused or run.socket_errors:
        problems.append(f"wrk saw {run.refused} answers other than {expected} and {run.socket_errors} socket errors")
    connection.close()
    return Count(
        tag=run.tag,
        answered=run.accepted,
        stored=len(stored),
        in_flight_at_stop=extra,
        processed=processed,
        applied_once=applied_once,
        incidents=incidents,
        drain_seconds=round(drain, 1),
        problems=problems,
    )


# --- Report --------------------------------------------------------------------------------


FIGURES = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "db_cpu_ms_per_request")
#: DESIGN.md, "Targets": ingest / bare, ingest / drf, ingest p99.
MIN_RATIO_BARE, MIN_RATIO_DRF, MAX_P99_MS = 0.4, 1.5, 50.0


def median(runs: list[Run], attribute: str) -> float:
    return float(statistics.median(getattr(run, attribute) for run in runs))


def report(runs: list[Run], counts: list[Count], args: argparse.Namespace, meta: dict[str, Any]) -> dict[str, Any]:
    print()
    print("CPU ms/req: gunicorn workers / PostgreSQL backends of the bench database (web and worker) / wrk")
    print(
        f"{'run':<10} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'CPU ms/req':>20} {'non-2xx':>8}"
    )
    for run in runs:
        cpu = f"{run.cpu_ms_per_request:.2f} / {run.db_cpu_ms_per_request:.2f} / {run.wrk_cpu_ms_per_request:.2f}"
        print(
            f"{run.side + ' ' + str(run.round):<10} {run.rps:>9.1f} {run.p50_ms:>8.2f} {run.p90_ms:>8.2f} "
            f"{run.p99_ms:>8.2f} {run.max_ms:>8.1f} {cpu:>20} "
            f"{run.refused + run.socket_errors:>8}"
        )
    by_side = {side: [run for run in runs if run.side == side] for side in SIDES}
    summary = {side: {key: median(by_side[side], key) for key in FIGURES} for side in SIDES}
    ratio_bare = summary["ingest"]["rps"] / summary["bare"]["rps"]
    ratio_drf = summary["ingest"]["rps"] / summary["drf"]["rps"]
    rounds = list(zip(by_side["bare"], by_side["ingest"], by_side["drf"], strict=True))
    per_round = [
        {"round": i.round, "ingest_over_bare": round(i.rps / b.rps, 3), "ingest_over_drf": round(i.rps / d.rps, 3)}
        for b, i, d in rounds
    ]
    print()
    for side in SIDES:
        figures = summary[side]
        print(
            f"median {side:<7} {figures['rps']:>9.1f} req/s   p50 {figures['p50_ms']:.2f} ms   "
            f"p99 {figures['p99_ms']:.2f} ms   CPU {figures['cpu_ms_per_request']:.3f} ms/request "
            f"(+{figures['db_cpu_ms_per_request']:.3f} PostgreSQL)"
        )
    print(f"ingest / bare (medians): {ratio_bare:.3f}   per round: {[r['ingest_over_bare'] for r in per_round]}")
    print(f"ingest / drf  (medians): {ratio_drf:.3f}   per round: {[r['ingest_over_drf'] for r in per_round]}")
    met = ratio_bare >= MIN_RATIO_BARE and ratio_drf >= MIN_RATIO_DRF and summary["ingest"]["p99_ms"] < MAX_P99_MS
    print(
        f"target (ingest/bare >= {MIN_RATIO_BARE}, ingest/drf >= {MIN_RATIO_DRF}, ingest p99 < {MAX_P99_MS:g} ms): "
        f"{'met' if met else 'MISSED'}"
    )
    print()
    print(
        f"{'count check':<24} {'2xx':>7} {'stored':>7} {'in flight':>9} {'processed':>9} {'once':>7} "
        f"{'incidents':>9} {'drain s':>8}"
    )
    for count in counts:
        print(
            f"{count.tag:<24} {count.answered:>7} {count.stored:>7} {count.in_flight_at_stop:>9} "
            f"{count.processed:>9} {count.applied_once:>7} {count.incidents:>9} {count.drain_seconds:>8}"
        )
        for problem in count.problems:
            print(f"  PROBLEM: {problem}")
    result = {
        "meta": meta,
        "runs": [{k: v for k, v in asdict(run).items() if k != "uuids"} for run in runs],
        "median": summary,
        "ingest_over_bare": round(ratio_bare, 3),
        "ingest_over_drf": round(ratio_drf, 3),
        "per_round": per_round,
        "target_met": met,
        "counts": [asdict(count) for count in counts],
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


def bench_database() -> tuple[str, str, str]:
    """(maintenance URL, bench URL, database name) from DATABASE_URL; exits with a message on a bad one."""
    parts = urlsplit(os.environ.get("DATABASE_URL", ""))
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("DATABASE_URL must name a PostgreSQL database, e.g. postgresql://postgres@127.0.0.1:5432/opsgov_bench")
    database = parts.path.lstrip("/")
    if not database or database in MAINTENANCE_DATABASES:
        sys.exit(
            f"DATABASE_URL names {database or 'no database'}; name the database the bench may migrate and fill, "
            "e.g. postgresql://postgres@127.0.0.1:5432/opsgov_bench_ingest"
        )

    def url(name: str) -> str:
        return urlunsplit(("postgresql", parts.netloc, f"/{name}", parts.query, ""))

    return url("postgres"), url(database), database


def create_if_missing(maintenance_url: str, database: str) -> bool:
    """Create `database` unless it exists; True if created here."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return True


# --- Main ----------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    maintenance_url, bench_url, args.database = bench_database()
    tmp = Path(tempfile.mkdtemp(prefix="opsgov-ingest-bench-"))
    port = args.port or free_port()
    env = server_env(args, bench_url, tmp, port)
    gunicorn: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    python = sys.executable
    started, load_before = datetime.now(UTC), os.getloadavg()
    print(f"database {args.database}, broker {args.redis_url}, port {port}, folder {tmp}")
    created = create_if_missing(maintenance_url, args.database)
    clear_queue(args.redis_url)
    try:
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        os.environ.update(env)  # this process reads the same database, with the same settings
        sys.path[:0] = [str(BENCH), str(ROOT)]
        import django

        django.setup()
        from incidents import services
        from opsgov.models import Service, Team

        name = f"bench-{uuid.uuid4().hex[:8]}"  # rows of earlier runs may be there: this run's own
        team = Team.objects.create(slug=name, name=name)
        service = Service.objects.create(slug=name, name=name, owner_team=team)
        integration, token = services.integration_create(name=name, kind="alertmanager", service=service)
        paths = {
            "bare": BARE_PATH,
            "ingest": integration.ingest_path(token),
            "drf": f"/bench/drf/alertmanager/{token}/",
        }

        worker_log, gunicorn_log = tmp / "worker.log", tmp / "gunicorn.log"
        worker = start(
            ["nice", "-n", "19", python, "-m", "celery", "-A", "opsgov", "worker", "--pool", "prefork",
             "--concurrency", str(args.worker_concurrency), "--loglevel", "warning",
             "--without-mingle", "--without-gossip", "--without-heartbeat"],
            env, worker_log, ROOT,
        )  # fmt: skip
        gunicorn = start(
            [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "opsgov.wsgi"],
            env,
            gunicorn_log,
            ROOT,
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_http(base_url + BARE_PATH, gunicorn, gunicorn_log)
        time.sleep(1)  # every worker booted
        workers_at_start = worker_pids(gunicorn.pid)
        runs: list[Run] = []
        counts: list[Count] = []
        for number in range(0 if args.warmup else 1, args.rounds + 1):
            for side in SIDES:
                seconds = args.duration if number else args.warmup  # round 0: the warm-up, not reported
                run = run_wrk(args, side, number, base_url, paths[side], tmp, gunicorn.pid, seconds, worker)
                if number:
                    runs.append(run)
                    print(
                        f"{side} {number}: {run.rps:.1f} req/s, p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms, "
                        f"{run.accepted} ok, {run.refused} refused, {run.socket_errors} socket errors",
                        flush=True,
                    )
                if side != "bare":
                    counts.append(count_check(args, run))
                    print(f"  drained in {counts[-1].drain_seconds} s; problems: {counts[-1].problems}", flush=True)
        if gunicorn.poll() is not None:
            counts[-1].problems.append(f"gunicorn exited with {gunicorn.returncode}")
        else:
            workers_at_end = worker_pids(gunicorn.pid)
            if workers_at_end != workers_at_start:
                replaced = f"{sorted(workers_at_start)} -> {sorted(workers_at_end)}"
                counts[-1].problems.append(f"gunicorn workers were replaced during the run: {replaced}")
        log = gunicorn_log.read_text(errors="replace")
        enqueue_failures = log.count("Could not enqueue")
        if enqueue_failures:
            counts[-1].problems.append(f"{enqueue_failures} enqueue failures in the gunicorn log")
        meta = {
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": os.uname().nodename,
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
            "command": " ".join(sys.argv),
            "database": args.database,
            "duration_s": args.duration,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "web_workers": len(workers_at_start),
            "worker_concurrency": args.worker_concurrency,
            "keys": args.keys,
            "enqueue": args.enqueue,
            "settings": args.settings,
            "prepared_statements": args.prepared_statements,
            "pause_worker": args.pause_worker,
            "extra_env": args.env,
        }
        result = report(runs, counts, args, meta)
        print(f"\nlogs: {tmp}" if args.keep else "")
        return 0 if all(not count.problems for count in counts) and result else 1
    finally:
        stop(gunicorn)
        stop(worker)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not be set up yet
            pass
        clear_queue(args.redis_url)
        if not args.keep:
            if created:
                recreate(maintenance_url, args.database, drop_only=True)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
