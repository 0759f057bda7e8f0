"""Benchmark scan imports and the findings list on PostgreSQL (issue 16's targets, as ratios measured in one run).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/security_bench.py --assets 500 --per-asset 40 --list-findings 1000000

DATABASE_URL only names the server: the script creates its own database (``opsgov_bench_security``),
migrates it and drops it at the end (--keep keeps it).

1. import: one Trivy report (SchemaVersion 2) per asset, ``--per-asset`` findings each (20,000 by
   default across 500 assets), through ``security.services.import_scan`` (parse, alias lookup,
   SLA, one transaction per report). Baseline: a plain ``Finding.objects.bulk_create`` of the same
   rows (for as many fresh assets) in the same run, alternating with the import report by report.
   Target: import rate >= 0.5x the baseline's.
2. re-import unchanged: the same 500 reports again. Target: >= 3x faster than the first import.
3. re-import with 1 % changed: 1 % of the findings replaced by new ones (the old ones fixed).
4. findings list: ``GET /api/v1/security/findings/`` (first page, newest first) p95 with 1,000
   findings and with --list-findings (1 M by default, inserted with INSERT ... SELECT), measured
   alternately: both tables exist and are swapped under the model's table name between rounds
   (--rounds, --requests timed requests per round and size; samples of all rounds pooled).
   Target: p95(1M) <= 1.5x p95(1k) and under 100 ms. --no-list skips it.

Settings are production's, as users run them: DEBUG off (a random SECRET_KEY, the test client's host
allowed, requests over "https" for the SSL redirect). --debug measures with DEBUG on instead (Django
then keeps every query of the process for the debug page, which the production settings do not).
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
from pathlib import Path
from typing import Any

from _support import recreate, server_urls  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--per-asset", type=int, default=40)
    parser.add_argument("--list-findings", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50, help="timed list requests per round and size")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the list (each size once per round)")
    parser.add_argument("--database", default="opsgov_bench_security")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--debug", action="store_true", help="DEBUG on (the development settings)")
    parser.add_argument("--no-list", action="store_true", help="skip the findings list (phase 4)")
    return parser.parse_args()


def setup_django(bench_url: str, var_dir: str, *, debug: bool) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("OPSGOV_VAR_DIR", var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")
    os.environ["DEBUG"] = "true" if debug else "false"
    if not debug:
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
        os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def report(asset: int, per_asset: int, changed: bool = False) -> dict[str, Any]:
    vulns = []
    for n in range(per_asset):
        vuln_id = f"CVE-2026-{asset:04d}{n:03d}"
        if changed and n == 0:
            vuln_id = f"CVE-2027-{asset:04d}{n:03d}"
        vulns.append(
            {
                "VulnerabilityID": vuln_id,
                "PkgName": f"pkg-{n}",
                "InstalledVersion": "1.0.0",
                "PkgIdentifier": {"PURL": f"pkg:pypi/pkg-{n}@1.0.0"},
                "Severity": ("CRITICAL", "HIGH", "MEDIUM", "LOW")[n % 4],
                "FixedVersion": "1.0.1",
                "Title": f"Flaw {n}",
            }
        )
    return {
        "SchemaVersion": 2,
        "ArtifactName": f"registry.bench/app-{asset}:1",
        "Results": [{"Target": "app/requirements.txt", "Type": "pip", "Vulnerabilities": vulns}],
    }


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def time_list(client: Any, requests: int) -> list[float]:
    """`requests` timed requests of the list's first page after 5 untimed ones (seconds)."""
    from django.conf import settings

    secure = not settings.DEBUG  # production settings redirect plain http to https
    gc.collect()
    for _ in range(5):
        client.get("/api/v1/security/findings/", secure=secure)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get("/api/v1/security/findings/", secure=secure)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return samples


def main() -> None:
    args = parse_args()
    maintenance, bench_url = server_urls(args.database)
    recreate(maintenance, args.database)
    var_dir = tempfile.mkdtemp(prefix="opsgov-security-bench-")
    Path(var_dir, "staticfiles").mkdir()  # STATIC_ROOT (whitenoise warns when it is missing)
    try:
        setup_django(bench_url, var_dir, debug=args.debug)
        run(args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate(maintenance, args.database, drop_only=True)


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from security import services
    from security.models import Asset, Finding

    call_command("migrate", verbosity=0)
    total = args.assets * args.per_asset
    reports = [report(asset, args.per_asset) for asset in range(args.assets)]
    for number in range(args.assets):
        Asset.objects.create(name=f"registry.bench/app-{number}:1")

    # Baseline: the same rows, bulk_create'd (one transaction per asset, like the import) for fresh assets.
    # The two alternate report by report (each timed on its own), so that the load of the shared machine,
    # which changes from minute to minute, weighs on both alike.
    base_assets = [Asset.objects.create(name=f"baseline-{number}") for number in range(args.assets)]
    now = timezone.now()
    first = baseline = 0.0
    for number, (asset, body) in enumerate(zip(base_assets, reports, strict=True)):
        started = time.perf_counter()
        services.import_scan(report=body, asset_name=f"registry.bench/app-{number}:1")
        first += time.perf_counter() - started
        started = time.perf_counter()
        with transaction.atomic():
            Finding.objects.bulk_create(
                [
                    Finding(
                        asset=asset,
                        package_key=vuln["PkgIdentifier"]["PURL"],
                        package_name=vuln["PkgName"],
                        package_version=vuln["InstalledVersion"],
                        purl=vuln["PkgIdentifier"]["PURL"],
                        vulnerability_id=vuln["VulnerabilityID"],
                        severity=vuln["Severity"].lower(),
                        title=vuln["Title"],
                        fixed_versions=vuln["FixedVersion"],
                        open_scopes=["trivy:app/requirements.txt"],
                        first_seen_at=now,
                        last_seen_at=now,
                        sla_started_at=now,
                        due_at=now,
                    )
                    for vuln in body["Results"][0]["Vulnerabilities"]
                ],
                batch_size=1000,
            )
        baseline += time.perf_counter() - started

    started = time.perf_counter()
    for number, body in enumerate(reports):
        assert not services.import_scan(report=body, asset_name=f"registry.bench/app-{number}:1").created
    unchanged = time.perf_counter() - started

    changed_assets = max(1, total // 100)  # one finding changed in each of them: 1 % of all findings
    started = time.perf_counter()
    for number in range(changed_assets):
        name = f"registry.bench/app-{number % args.assets}:1"
        services.import_scan(report=report(number % args.assets, args.per_asset, changed=True), asset_name=name)
    changed = time.perf_counter() - started

    print(f"findings: {total} across {args.assets} assets (DEBUG {'on' if args.debug else 'off'})")
    print(f"import:              {first:8.2f} s  {total / first:9.0f} findings/s")
    print(f"bulk_create baseline:{baseline:8.2f} s  {total / baseline:9.0f} findings/s")
    print(f"  import / baseline rate: {baseline / first:.2f}x  (target >= 0.5x)")
    print(
        f"re-import unchanged: {unchanged:8.2f} s  first import / unchanged: {first / unchanged:.1f}x  (target >= 3x)"
    )
    print(f"re-import 1 % changed ({changed_assets} reports): {changed:.2f} s")
    if not args.no_list:
        time_findings_list(args)


def time_findings_list(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client

    from security.models import Asset

    # The findings list with 1k and with --list-findings rows: two tables of the same shape, swapped in and
    # out under the model's table name (ALTER TABLE ... RENAME) between rounds, so that both sizes are
    # measured alternately in the same process and the machine's load weighs on both alike.
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    client = Client()
    client.force_login(user)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE security_finding CASCADE")
    list_asset = Asset.objects.create(name="list-bench")
    fill = """
        INSERT INTO {table} (asset_id, package_key, package_name, package_version, purl, vulnerability_id,
            aliases, title, severity, severity_source, fixed_versions, source, status, justification, open_scopes,
            first_seen_at, last_seen_at, reopen_count, sla_started_at, due_at, created_at, updated_at)
        SELECT %(asset)s, 'pkg:pypi/p' || g, 'p' || g, '1', '', 'CVE-' || g, '[]', '', 'high', 'scanner', '', 'scanner',
            CASE WHEN g %% 3 = 0 THEN 'fixed' ELSE 'open' END, '', '[]',
            now() - (g %% 1000) * interval '1 hour', now(), 0, now() - (g %% 1000) * interval '1 hour',
            now() + (g %% 5000) * interval '1 hour', now(), now()
        FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
    """
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE security_finding_other (LIKE security_finding INCLUDING ALL)")
        cursor.execute(fill.format(table="security_finding"), {"asset": list_asset.pk, "first": 1, "last": 1000})
        cursor.execute(
            fill.format(table="security_finding_other"),
            {"asset": list_asset.pk, "first": 1, "last": args.list_findings},
        )
        cursor.execute("VACUUM ANALYZE security_finding")
        cursor.execute("VACUUM ANALYZE security_finding_other")

    def swap() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE security_finding RENAME TO security_finding_swap")
            cursor.execute("ALTER TABLE security_finding_other RENAME TO security_finding")
            cursor.execute("ALTER TABLE security_finding_swap RENAME TO security_finding_other")

    samples: dict[str, list[float]] = {"small": [], "large": []}
    size = "small"
    for _ in range(2 * args.rounds):
        samples[size].extend(time_list(client, args.requests))
        swap()
        size = "large" if size == "small" else "small"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE security_finding_other")
    small_p95, small_median = p95(samples["small"]) * 1000, statistics.median(samples["small"]) * 1000
    large_p95, large_median = p95(samples["large"]) * 1000, statistics.median(samples["large"]) * 1000
    print(f"findings list, 1k rows:  p95 {small_p95:6.1f} ms  median {small_median:6.1f} ms")
    print(f"findings list, {args.list_findings} rows: p95 {large_p95:6.1f} ms  median {large_median:6.1f} ms")
    print(f"  ratio p95: {large_p95 / small_p95:.2f}x  (target <= 1.5x, p95 < 100 ms)")


if __name__ == "__main__":
    main()
