"""monitoring.checks.demo: demo HTTP checks and heartbeats, with one late heartbeat, added once."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import time_machine

from incidents.models import RawEvent
from monitoring.checks import demo as demo_checks
from monitoring.models import CheckStatus, Heartbeat, HeartbeatPing, HttpCheck, HttpCheckResult, SLIBucket
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

SLUGS = ("api-gateway", "web-frontend", "payments-ledger", "reporting", "legacy-search")


def seed() -> str:
    out = io.StringIO()
    demo_checks.seed(stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("hour, minute", [(2, 20), (23, 50)])
def test_the_demo_has_up_down_and_paused_checks_whatever_the_time(hour: int, minute: int) -> None:
    for slug in SLUGS:
        ServiceFactory.create(slug=slug)
    now = datetime(2026, 11, 20, hour, minute, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        message = seed()
    assert "3 HTTP checks" in message and "4 heartbeats" in message and "1 late" in message

    assert dict(HttpCheck.objects.values_list("name", "status")) == {
        "opsgov /healthz": CheckStatus.UP,
        "opsgov /readyz": CheckStatus.UP,  # one failed run: below the threshold of 2
        "Sign-in page": CheckStatus.UP,
    }
    assert set(HttpCheck.objects.values_list("next_run_at", flat=True)) == {now}, "due at once: beat runs them"
    assert dict(Heartbeat.objects.values_list("name", "status")) == {
        "Nightly ledger backup": CheckStatus.UP,
        "Hourly report cache refresh": CheckStatus.UP,
        "Nightly finance export": CheckStatus.DOWN,
        "Weekly index rebuild": CheckStatus.PAUSED,
    }
    late = Heartbeat.objects.get(name="Nightly finance export")
    assert list(RawEvent.objects.filter(dedup_key__startswith="heartbeat:").values_list("dedup_key", "action")) == [
        (late.alert_key, "trigger")
    ]
    backup = Heartbeat.objects.get(name="Nightly ledger backup")
    assert HeartbeatPing.objects.filter(heartbeat=backup, kind="start").count() >= 7
    assert HeartbeatPing.objects.filter(heartbeat=backup, kind="success", body__startswith="pg_dump").exists()
    healthz = HttpCheck.objects.get(name="opsgov /healthz")
    assert healthz.url == "http://127.0.0.1:8000/healthz"
    assert HttpCheckResult.objects.filter(http_check=healthz).count() == 60
    # 60 runs, one a minute, each the only run of its minute: 60 buckets of 1 good out of 1.
    assert set(SLIBucket.objects.filter(slo=healthz.slo).values_list("good", "total")) == {(1, 1)}
    assert SLIBucket.objects.filter(slo=healthz.slo).count() == 60


def test_the_demo_is_added_once() -> None:
    for slug in SLUGS:
        ServiceFactory.create(slug=slug)
    seed()
    counts = (HttpCheck.objects.count(), Heartbeat.objects.count(), HeartbeatPing.objects.count())
    assert "already present" in seed()
    assert (HttpCheck.objects.count(), Heartbeat.objects.count(), HeartbeatPing.objects.count()) == counts


def test_without_demo_services_nothing_is_created() -> None:
    assert "No demo services" in seed()
    assert not HttpCheck.objects.exists() and not Heartbeat.objects.exists()
