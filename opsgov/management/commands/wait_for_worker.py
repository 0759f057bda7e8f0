"""Celery round trip: enqueue the heartbeat task and wait until a worker has run it.

    python manage.py wait_for_worker [--timeout 30] [--queue celery] [--keep]

The task travels through the configured broker (CELERY_BROKER_URL) to a
worker, which writes a WorkerHeartbeat row under a unique name; this command
polls the database for that row. Exit status 0 means web-side code, broker,
worker and database are wired together; on timeout it exits non-zero and says
what to look at. The probe row is deleted afterwards unless --keep is given,
so probes never show up as workers that went quiet.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsgov.celery import app as celery_app
from opsgov.models import WorkerHeartbeat
from opsgov.tasks import record_heartbeat


class Command(BaseCommand):
    help = "Enqueue the heartbeat task under a unique name and wait until a Celery worker has recorded it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
        parser.add_argument(
            "--queue", default=None, help="queue to send to (default: the task's default queue, 'celery')"
        )
        parser.add_argument("--interval", type=float, default=0.25, help="seconds between database polls")
        parser.add_argument("--keep", action="store_true", help="keep the probe's heartbeat row")

    def handle(self, *args: Any, **options: Any) -> None:
        timeout: float = options["timeout"]
        interval: float = max(options["interval"], 0.05)
        name = f"probe-{uuid.uuid4().hex[:12]}"
        broker = celery_app.connection_for_write().as_uri()  # password masked
        queue = options["queue"] or celery_app.conf.task_default_queue

        started = time.monotonic()
        self.stdout.write(f"Enqueueing {record_heartbeat.name}(name={name!r}) on {broker} queue {queue!r} ...")
        try:
            # Enqueued the way application code does (.delay/.apply_async); a worker, not this process, runs it.
            record_heartbeat.apply_async(kwargs={"name": name}, queue=queue)
        except Exception as exc:  # any transport error: the broker is not reachable
            raise CommandError(
                f"Could not enqueue the heartbeat task on {broker}: {type(exc).__name__}: {exc}"
            ) from exc

        next_report = started + 5.0
        while True:
            if WorkerHeartbeat.objects.filter(name=name).exists():
                elapsed = time.monotonic() - started
                self.stdout.write(self.style.SUCCESS(f"Worker round trip OK in {elapsed:.1f} s (heartbeat {name!r})."))
                if not options["keep"]:
                    WorkerHeartbeat.objects.filter(name=name).delete()
                return
            now = time.monotonic()
            if now - started >= timeout:
                raise CommandError(
                    f"Timed out after {timeout:g} s: no Celery worker recorded heartbeat {name!r}. "
                    f"Is a worker running (celery -A opsgov worker) on broker {broker}, consuming queue {queue!r}, "
                    "with the same DATABASE_URL as this command?"
                )
            if now >= next_report:
                self.stdout.write(f"  still waiting ({now - started:.0f} s of {timeout:g} s) ...")
                next_report = now + 5.0
            time.sleep(interval)
