"""incidents.demo: six months of deterministic demo incidents, added once."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from incidents import demo
from incidents.models import Incident, IncidentStatus, TimelineEvent, TimelineKind
from opsgov.evidence import evidence_deletion

pytestmark = pytest.mark.django_db


def seed_demo(out: io.StringIO | None = None) -> io.StringIO:
    out = out or io.StringIO()
    call_command("seed_demo", allow_without_debug=True, stdout=out)
    return out


@pytest.fixture
def seeded() -> io.StringIO:
    return seed_demo()


def test_seed_demo_adds_incidents_once(seeded: io.StringIO) -> None:
    count = Incident.objects.count()
    events = TimelineEvent.objects.count()
    assert 200 <= count <= 500
    assert "Demo incidents:" in seeded.getvalue()

    again = seed_demo()
    assert Incident.objects.count() == count
    assert TimelineEvent.objects.count() == events
    assert "already present" in again.getvalue()


def test_the_demo_history_is_realistic(seeded: io.StringIO) -> None:
    incidents = Incident.objects.filter(dedup_key__startswith=demo.DEDUP_PREFIX)
    now = timezone.now()
    assert incidents.filter(triggered_at__lt=now - timedelta(days=150)).exists()
    assert not incidents.filter(triggered_at__gt=now).exists()
    assert set(incidents.values_list("service__slug", flat=True)) == set(demo.SERVICE_PROFILES)

    severities = Counter(dict(incidents.values_list("severity").annotate(n=Count("id"))))
    assert 0 < severities["SEV-1"] < severities["SEV-2"] < severities["SEV-3"]
    assert severities["SEV-1"] < severities["SEV-4"]

    statuses = Counter(dict(incidents.values_list("status").annotate(n=Count("id"))))
    assert 2 <= sum(statuses[status] for status in ("triggered", "acknowledged", "mitigated")) <= 3
    assert statuses["cancelled"] > 0
    assert incidents.filter(status=IncidentStatus.RESOLVED, acknowledged_at__isnull=True).exists()

    acked = [
        (incident.acknowledged_at - incident.triggered_at).total_seconds()
        for incident in incidents.exclude(acknowledged_at=None)
        if incident.acknowledged_at is not None
    ]
    assert sorted(acked)[len(acked) // 2] < 30 * 60  # median acknowledgement within minutes


def test_every_demo_incident_has_a_consistent_timeline(seeded: io.StringIO) -> None:
    for incident in Incident.objects.prefetch_related("timeline"):
        entries = list(incident.timeline.all())
        assert entries[0].kind == TimelineKind.TRIGGERED and entries[0].at == incident.triggered_at
        assert [entry.at for entry in entries] == sorted(entry.at for entry in entries)
        reached = [entry.data["to"] for entry in entries if entry.kind == TimelineKind.STATUS]
        if incident.status != IncidentStatus.TRIGGERED:
            assert reached[-1] == incident.status
        if incident.acknowledged_at:
            assert "acknowledged" in reached
        if incident.resolved_at:
            assert incident.resolved_at >= (incident.mitigated_at or incident.acknowledged_at or incident.triggered_at)


def test_the_demo_is_deterministic() -> None:
    seed_demo()
    first = list(Incident.objects.order_by("dedup_key").values_list("dedup_key", "title", "severity", "status"))
    with evidence_deletion("test: reseed the demo"):  # evidence leaves only through the retention path
        Incident.objects.all().delete()
    seed_demo()
    second = list(Incident.objects.order_by("dedup_key").values_list("dedup_key", "title", "severity", "status"))
    assert first == second


def test_without_demo_services_it_adds_nothing() -> None:
    out = io.StringIO()
    demo.seed(stdout=out)
    assert not Incident.objects.exists()
    assert "No demo services" in out.getvalue()


def test_the_demo_gives_the_dashboard_a_quarter_of_metric_trend(seeded: io.StringIO) -> None:
    from opsgov import dashboard

    # 12 weekly past computations (84 days) and today's: 13 points of the global MTTA in the last 90 days.
    rows = {row.key: row for row in dashboard.metric_rows(now=timezone.now())}
    assert len(rows["mtta"].trend) == 13
    assert rows["mtta"].has_data
    assert "Demo metric history: 12 weekly computations" in seeded.getvalue()
    again = seed_demo()
    assert "Demo metric history" not in again.getvalue()
