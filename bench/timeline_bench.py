"""Benchmark one incident fed by a webhook of 10,000 alerts: processing, the incident page and the API detail.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/timeline_bench.py

DATABASE_URL only names the server: the script creates ``opsgov_bench_timeline``
(--database), migrates it, measures and drops it (--keep keeps it).

Two incidents of the same 10,000 alerts (issue 12, "Unbounded timelines"):

- **current**: the webhook through the real path: the ingestion view (202), then
  ``process_raw_event`` as the worker runs it; then the same webhook again (a
  repeat notification, counted on the alert signals);
- **legacy**: the shape the code before AlertSignal left behind, one SIGNAL
  timeline entry per alert (10,000 + 2 rows, written directly), which the page
  must still render.

Measured through Django's test client as a signed-in SRE Lead (the whole
middleware stack, sessions, templates): the incident page and
``GET /api/v1/incidents/<n>/``, --requests times each; reported: p50 and p95
latency, the response size and the queries per request. The issue's figures
before the change: 10,002 timeline rows, a 2.9 MB page in 2.7 s. Targets
(reported, not enforced): the page under 200 kB and at most QUERY_LIMIT queries
per request for both incidents.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from _support import recreate, server_urls  # bench/_support.py

ROOT = Path(__file__).resolve().parent.parent
ALERTS = 10_000
#: Queries per request allowed, whatever the number of alerts (the tests assert 25 on the page).
QUERY_LIMIT = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20, help="requests per page and incident (default 20)")
    parser.add_argument("--database", default="opsgov_bench_timeline", help="database to create and drop")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


def setup_django(bench_url: str, var_dir: str) -> None:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("OPSGOV_VAR_DIR", var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")
    os.environ["DEBUG"] = "true"  # development settings: no SECRET_KEY, ALLOWED_HOSTS or collected static files
    os.environ["CELERY_BROKER_URL"] = "memory://"  # processing is called here, as a function
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def webhook() -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": f"D{index % 3}"},
            "startsAt": "2026-11-20T10:55:00Z",
            "fingerprint": f"{index:04x}",
        }
        for index in range(ALERTS)
    ]
    body = {"version": "4", "groupKey": "{}:{alertname=~D}", "status": "firing", "alerts": alerts}
    return json.dumps(body, separators=(",", ":")).encode()


def timed(label: str, work: Any) -> Any:
    began = time.perf_counter()
    result = work()
    print(f"{label}: {time.perf_counter() - began:.2f} s", flush=True)
    return result


def measure(client: Any, url: str, requests: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, secure=True)  # warm-up
    latencies = []
    size = queries = 0
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            response = client.get(url, secure=True)
            latencies.append(time.perf_counter() - began)
        assert response.status_code == 200, (url, response.status_code)
        size, queries = len(response.content), len(captured.captured_queries)
    latencies.sort()
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[max(0, int(0.95 * len(latencies)) - 1)],
        "bytes": size,
        "queries": queries,
    }


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = server_urls(args.database)
    recreate(maintenance_url, args.database)
    var_dir = tempfile.TemporaryDirectory(prefix="opsgov-bench-timeline-")
    try:
        setup_django(bench_url, var_dir.name)
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.utils import timezone

        from incidents import services
        from incidents.ingest import services as ingestion
        from incidents.models import Incident, Integration, RawEvent, TimelineEvent, TimelineKind
        from opsgov.models import Service, Team
        from opsgov.roles import SRE_LEAD
        from tests.factories import UserFactory

        call_command("migrate", verbosity=0)
        team = Team.objects.create(slug="bench", name="Bench")
        service = Service.objects.create(slug="bench", name="Bench", owner_team=team)
        integration = Integration(name="bench", kind="alertmanager", service=service)
        token = integration.set_new_token()
        integration.full_clean()
        integration.save()

        body = webhook()
        print(f"webhook: {ALERTS:,} alerts, {len(body):,} bytes", flush=True)
        client = Client()
        url = integration.ingest_path(token)
        for round_name in ("first", "repeat"):
            response = client.post(url, data=body, content_type="application/json", secure=True)
            assert response.status_code == 202, response.content
            event_id = RawEvent.objects.latest("id").pk
            timed(
                f"processing ({round_name})", lambda event_id=event_id: ingestion.process_raw_event(event_id=event_id)
            )
        current = Incident.objects.get(integration=integration)

        legacy = services.incident_create(title="legacy", service=service, severity="SEV-3")
        at = timezone.now()
        TimelineEvent.objects.bulk_create(
            (
                TimelineEvent(
                    incident=legacy,
                    kind=TimelineKind.SIGNAL,
                    at=at + timedelta(milliseconds=index),
                    message=f"D{index % 3} firing",
                    data={"fingerprint": f"{index:04x}", "status": "firing", "labels": {"alertname": f"D{index % 3}"}},
                )
                for index in range(ALERTS + 1)
            ),
            batch_size=1000,
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

        user = UserFactory.create(username="bench-lead", roles=[SRE_LEAD])
        viewer = Client()
        viewer.force_login(user)
        results = {}
        for name, incident in (("current", current), ("legacy", legacy)):
            rows = incident.timeline.count()
            signals = incident.alert_signals.count()
            print(f"{name}: {rows:,} timeline rows, {signals:,} alert signals", flush=True)
            for page, path in (("page", f"/incidents/{incident.pk}/"), ("api", f"/api/v1/incidents/{incident.pk}/")):
                result = measure(viewer, path, args.requests)
                results[(name, page)] = result
                print(
                    f"  {page:4}  p50 {result['p50_ms']:7.1f} ms  p95 {result['p95_ms']:7.1f} ms  "
                    f"{result['bytes']:>9,} bytes  {result['queries']} queries",
                    flush=True,
                )
        small = all(results[(name, "page")]["bytes"] < 200_000 for name in ("current", "legacy"))
        bounded = all(result["queries"] <= QUERY_LIMIT for result in results.values())
        print(
            f"page under 200 kB for both: {'yes' if small else 'NO'}; at most {QUERY_LIMIT} queries: "
            f"{'yes' if bounded else 'NO'}"
        )
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate(maintenance_url, args.database, drop_only=True)
        var_dir.cleanup()


if __name__ == "__main__":
    main()
