"""One incident per SLO breach (incidents.ingest.slo_alerts), on both paths burn-rate alerts take.

Internal: monitoring's engine raises opsgov.events.ServiceAlert per (SLO, alert key).
External: the SLOErrorBudgetBurn rules of `export_prometheus_rules`, delivered by
Alertmanager's webhook. Ticket-kind alerts give a backlog follow-up, never an incident.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from incidents import metrics
from incidents.context import incident_context
from incidents.models import ActionItem, Incident, IncidentStatus, RawEvent, TimelineKind
from incidents.reviews.services import action_item_close
from monitoring.slos import engine
from monitoring.slos.prometheus_rules import slo_group, slo_page_url
from monitoring.slos.sli import SLIReading, record_sli
from opsgov.events import ServiceAlert, raise_alert
from opsgov.models import Service
from opsgov.policy import get_policy
from opsgov.roles import SRE_LEAD
from tests.factories import ServiceFactory
from tests.monitoring.support import make_slo, series, use_policy

from .test_ingest_support import alertmanager_url, make_integration, post, process_pending

pytestmark = pytest.mark.django_db

# A Friday; the policy's business calendar (Mon-Fri, Europe/Berlin by default) puts 5 business days later
# on Friday 27 November.
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SLO_UUID = "6f1c2a4e-0d1b-4c56-9a3e-2b7f0c9d1e55"


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def signals(incident: Incident) -> list[tuple[str, str]]:
    return [
        (str(event.data["burn_rate_alert"]), str(event.data["status"]))
        for event in incident.timeline.filter(kind=TimelineKind.SIGNAL).order_by("id")
    ]


# --- Internal path: ServiceAlerts as monitoring.slos.engine raises them -------------------------------


def burn(service: Service, alert: str, status: str = "firing", **overrides: Any) -> None:
    kind = "ticket" if alert == "ticket" else "page"
    values: dict[str, Any] = {
        "service_id": service.pk,
        "key": f"slo:{SLO_UUID}:{alert}",
        "status": status,
        "severity": {"page-fast": "SEV-1", "page-slow": "SEV-2", "ticket": "SEV-3"}[alert],
        "title": f"SLO API availability ({service.name}) burns its error budget ({alert})",
        "at": NOW - 2 * MINUTE,
        "source": "slo",
        "summary": f"Alert {alert} ({kind})",
        "details": {"slo": SLO_UUID, "alert": alert, "kind": kind, "slo_url": "http://opsgov.test/slo/"},
    }
    values.update(overrides)
    raise_alert(ServiceAlert(**values))


def test_page_fast_and_page_slow_firing_together_open_one_incident_with_the_higher_severity(
    clock: time_machine.Traveller,
) -> None:
    service = make_integration("pagerduty")[0].service
    burn(service, "page-slow")
    burn(service, "page-fast")
    process_pending()

    incident = Incident.objects.get()
    assert incident.dedup_key == f"slo:{SLO_UUID}"
    assert (incident.status, incident.severity) == (IncidentStatus.TRIGGERED, "SEV-1")
    assert incident.triggered_at == NOW - 2 * MINUTE, "the engine's instant is opsgov's own clock"
    assert signals(incident) == [("page-slow", "firing"), ("page-fast", "firing")]
    assert set(RawEvent.objects.values_list("dedup_key", flat=True)) == {f"slo:{SLO_UUID}"}


def test_a_more_severe_alert_joining_raises_the_severity_with_a_note(clock: time_machine.Traveller) -> None:
    service = make_integration("pagerduty")[0].service
    burn(service, "page-slow")
    process_pending()
    incident = Incident.objects.get()
    assert incident.severity == "SEV-2"

    burn(service, "page-fast", at=NOW)
    process_pending()
    incident.refresh_from_db()
    assert Incident.objects.count() == 1
    assert incident.severity == "SEV-1"
    notes = list(incident.timeline.filter(kind=TimelineKind.NOTE).values_list("message", flat=True))
    assert notes == ["Severity raised from SEV-2 to SEV-1: burn-rate alert page-fast (SEV-1) joined this breach."]
    assert incident.timeline.filter(kind=TimelineKind.FIELD, data__field="severity").count() == 1


def test_the_incident_resolves_when_the_last_alert_clears_not_the_first(clock: time_machine.Traveller) -> None:
    service = make_integration("pagerduty")[0].service
    burn(service, "page-fast", at=NOW - 10 * MINUTE)
    burn(service, "page-slow", at=NOW - 10 * MINUTE)
    process_pending()
    incident = Incident.objects.get()

    burn(service, "page-fast", status="resolved", at=NOW - 5 * MINUTE)
    process_pending()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED, "page-slow still fires"
    assert incident.severity == "SEV-1", "the severity is the worst the breach reached"

    burn(service, "page-slow", status="resolved", at=NOW - MINUTE)
    process_pending()
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at) == (IncidentStatus.RESOLVED, NOW - MINUTE)
    assert signals(incident) == [
        ("page-fast", "firing"),
        ("page-slow", "firing"),
        ("page-fast", "resolved"),
        ("page-slow", "resolved"),
    ]

    burn(service, "page-slow", at=NOW)
    process_pending()
    assert Incident.objects.count() == 2, "firing after the breach ended is a new breach"


def test_a_ticket_alert_opens_no_incident_and_one_backlog_follow_up(clock: time_machine.Traveller) -> None:
    service = make_integration("pagerduty")[0].service
    burn(service, "ticket")
    process_pending()

    assert not Incident.objects.exists()
    item = ActionItem.objects.get()
    assert item.service == service
    assert item.source_key == f"slo:{SLO_UUID}:ticket:service-{service.pk}@{(NOW - 2 * MINUTE).isoformat()}"
    assert item.title == f"SLO ticket: SLO API availability ({service.name}) burns its error budget (ticket)"
    assert item.due_date == date(2026, 11, 27), "5 business days after Friday 20 November"
    assert "http://opsgov.test/slo/" in item.description

    # A repeat of the same breach adds nothing, even once its follow-up is closed; a second breach adds
    # nothing while the first follow-up is open; a breach after it was closed adds one.
    burn(service, "ticket")
    process_pending()
    assert ActionItem.objects.count() == 1
    burn(service, "ticket", status="resolved", at=NOW - MINUTE)
    burn(service, "ticket", at=NOW - MINUTE)
    process_pending()
    assert ActionItem.objects.count() == 1
    action_item_close(item=item)
    burn(service, "ticket")
    process_pending()
    assert ActionItem.objects.count() == 1, "the same breach (same start) never gets a second item"
    burn(service, "ticket", status="resolved", at=NOW)
    burn(service, "ticket", at=NOW)
    process_pending()
    assert ActionItem.objects.count() == 2
    assert not Incident.objects.exists()


# --- The engine end to end, and MTBF ------------------------------------------------------------
#
# 99.9 % (budget ratio 0.001), 1000 events a minute, 30 days of clean history up to T; minutes
# T .. T + 4 have 500 bad events each (burn rate 500). Evaluated at T + 5 (windows hold minutes up to T + 4):
#   page-fast (14.4x over 1h and 5m): 1h = 2,500 bad / 60,000 / 0.001 = 41.7; 5m = 500  -> fires
#   page-slow (6x over 6h and 30m):   6h = 2,500 / 360,000 / 0.001 = 6.94; 30m = 83.3  -> fires
#   ticket (1x over 3d and 6h):       3d = 2,500 / 4,320,000 / 0.001 = 0.58            -> does not
# page-fast clears when its 5m window drops below 14.4: at T + 5 + j it holds 5 - j bad minutes,
# burn (5 - j) x 100 -> below 14.4 only at j = 5: T + 10.
# page-slow clears when its 30m window drops below 6: at T + 34 it holds minute T + 4 (500 / 30,000 / 0.001
# = 16.7), at T + 35 none -> T + 35. So one breach: triggered T + 5, resolved T + 35.
T = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def evaluate_at(at: datetime) -> engine.CycleResult:
    with time_machine.travel(at, tick=False):
        result = engine.evaluate_slos(now=at)
        process_pending()
        return result


def test_the_engine_s_page_fast_and_page_slow_make_one_incident_and_mtbf_one_failure() -> None:
    slo = make_slo()
    series(slo, T - timedelta(days=30), 30 * 24 - 6, good=60_000, total=60_000, seconds=3600, now=T)
    series(slo, T - timedelta(hours=6), 360, good=1000, total=1000, now=T)
    for minute in range(60):
        start = T + minute * MINUTE
        record_sli(slo=slo, readings=[SLIReading(start, 500 if minute < 5 else 1000, 1000)], now=start + MINUTE)

    fired = evaluate_at(T + 5 * MINUTE).fired
    assert sorted(fired) == [f"slo:{slo.uuid}:page-fast", f"slo:{slo.uuid}:page-slow"]
    incident = Incident.objects.get()
    assert (incident.dedup_key, incident.triggered_at) == (f"slo:{slo.uuid}", T + 5 * MINUTE)
    assert sorted(signals(incident)) == [("page-fast", "firing"), ("page-slow", "firing")]
    # Responders get the SLO's page as the runbook, as the exported rules' runbook_url annotation gives it.
    runbooks = incident_context(incident).runbooks
    assert [(link.url, link.href, link.source) for link in runbooks] == [
        (slo_page_url(slo), slo_page_url(slo), "SLO page")
    ]

    assert evaluate_at(T + 9 * MINUTE).cleared == []
    assert evaluate_at(T + 10 * MINUTE).cleared == [f"slo:{slo.uuid}:page-fast"]
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED
    assert evaluate_at(T + 34 * MINUTE).cleared == []
    assert evaluate_at(T + 35 * MINUTE).cleared == [f"slo:{slo.uuid}:page-slow"]
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at) == (IncidentStatus.RESOLVED, T + 35 * MINUTE)
    assert Incident.objects.count() == 1
    assert not ActionItem.objects.exists()

    # MTBF over the 7 days ending T + 1 h: (604,800 s - 30 min downtime) / 1 failure = 603,000 s.
    # With three incidents (the old behaviour) it would have been about a third of that.
    metrics.refresh_rollups(now=T + timedelta(hours=1))
    values = {value.scope: value for value in metrics.compute_mtbf(window="7d", now=T + timedelta(hours=1))}
    mtbf = values[f"service:{slo.service.slug}"]
    assert mtbf.details["failures"] == 1
    assert mtbf.details["downtime_seconds"] == pytest.approx(1800)
    assert mtbf.value == pytest.approx(604_800 - 1800)


# --- External path: the exported rules through Alertmanager's webhook ----------------------------


def exported_alerts(slo: Any) -> dict[str, dict[str, Any]]:
    """The SLOErrorBudgetBurn rules `export_prometheus_rules` writes for `slo`, by burn_rate_alert."""
    group = slo_group(slo, get_policy())
    return {rule["labels"]["burn_rate_alert"]: rule for rule in group["rules"] if "alert" in rule}


def webhook(slo: Any, states: dict[str, str], *, extra: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    rules = exported_alerts(slo)
    alerts = []
    for key, status in states.items():
        rule = rules[key]
        alerts.append(
            {
                "status": status,
                "labels": {"alertname": rule["alert"], **rule["labels"]},
                "annotations": {**rule["annotations"], "description": "Error ratio over 1h: 2%"},
                "startsAt": "2026-11-20T10:50:00Z",
                "endsAt": "2026-11-20T10:58:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.test/graph?g0.expr=slo",
                "fingerprint": f"fp-{key}",
            }
        )
    alerts.extend(extra)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="SLOErrorBudgetBurn"}',
        "truncatedAlerts": 0,
        "status": "firing" if any(alert["status"] == "firing" for alert in alerts) else "resolved",
        "receiver": "opsgov",
        "groupLabels": {"alertname": "SLOErrorBudgetBurn"},
        "commonLabels": {"alertname": "SLOErrorBudgetBurn"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test",
        "alerts": alerts,
    }


def deliver(token: str, data: dict[str, Any]) -> None:
    response = post(alertmanager_url(token), data)
    assert response.status_code == 202, response.content
    process_pending()


@pytest.fixture
def sev1_page_fast(settings: Any, tmp_path: Path) -> None:
    """The SRE workbook's table with page-fast at SEV-1 (page-slow keeps the default page severity, SEV-2)."""
    use_policy(
        settings,
        tmp_path,
        '[monitoring.burn_rate_alerts.page-fast]\nburn_rate = 14.4\nlong_window = "1 hour"\n'
        'short_window = "5 minutes"\nseverity = "SEV-1"\n'
        '[monitoring.burn_rate_alerts.page-slow]\nburn_rate = 6\nlong_window = "6 hours"\n'
        'short_window = "30 minutes"\n'
        '[monitoring.burn_rate_alerts.ticket]\nburn_rate = 1\nlong_window = "3 days"\n'
        'short_window = "6 hours"\nkind = "ticket"\n',
    )


def test_alertmanager_page_alerts_of_one_slo_open_one_incident_and_resolve_with_the_last(
    clock: time_machine.Traveller, sev1_page_fast: None
) -> None:
    integration, token = make_integration()
    slo = make_slo(service=integration.service)
    rules = exported_alerts(slo)
    assert (rules["page-fast"]["labels"]["opsgov_severity"], rules["page-slow"]["labels"]["opsgov_severity"]) == (
        "SEV-1",
        "SEV-2",
    )

    deliver(token, webhook(slo, {"page-fast": "firing", "page-slow": "firing"}))
    incident = Incident.objects.get()
    assert (incident.dedup_key, incident.severity, incident.status) == (
        f"slo:{slo.uuid}",
        "SEV-1",
        IncidentStatus.TRIGGERED,
    )
    assert incident.triggered_at == NOW, "opsgov's receipt, not the sender's startsAt"
    assert signals(incident) == [("page-fast", "firing"), ("page-slow", "firing")]
    runbook_url = rules["page-fast"]["annotations"]["runbook_url"]
    assert runbook_url == rules["page-slow"]["annotations"]["runbook_url"]
    assert [link.url for link in incident_context(incident).runbooks] == [runbook_url]

    # Alertmanager repeats the group: nothing new.
    deliver(token, webhook(slo, {"page-fast": "firing", "page-slow": "firing"}))
    assert len(signals(incident)) == 2

    clock.shift(5 * MINUTE)
    deliver(token, webhook(slo, {"page-fast": "resolved", "page-slow": "firing"}))
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED, "page-slow still fires"

    clock.shift(5 * MINUTE)
    deliver(token, webhook(slo, {"page-fast": "resolved", "page-slow": "resolved"}))
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at) == (IncidentStatus.RESOLVED, NOW + 10 * MINUTE)
    assert signals(incident) == [
        ("page-fast", "firing"),
        ("page-slow", "firing"),
        ("page-fast", "resolved"),
        ("page-slow", "resolved"),
    ]
    assert Incident.objects.count() == 1
    assert not ActionItem.objects.exists()


def test_alertmanager_raises_the_severity_when_page_fast_joins(
    clock: time_machine.Traveller, sev1_page_fast: None
) -> None:
    integration, token = make_integration()
    slo = make_slo(service=integration.service)
    deliver(token, webhook(slo, {"page-slow": "firing"}))
    assert Incident.objects.get().severity == "SEV-2"
    deliver(token, webhook(slo, {"page-slow": "firing", "page-fast": "firing"}))
    incident = Incident.objects.get()
    assert incident.severity == "SEV-1"
    assert incident.timeline.filter(kind=TimelineKind.NOTE, message__contains="page-fast (SEV-1) joined").exists()


def test_alertmanager_ticket_only_gives_no_incident_and_one_follow_up_per_breach(
    clock: time_machine.Traveller,
) -> None:
    integration, token = make_integration()
    slo = make_slo(service=integration.service)
    assert exported_alerts(slo)["ticket"]["labels"]["severity"] == "ticket"

    deliver(token, webhook(slo, {"ticket": "firing"}))
    deliver(token, webhook(slo, {"ticket": "firing"}))  # Alertmanager's repeat_interval
    assert not Incident.objects.exists()
    item = ActionItem.objects.get()
    assert (item.service, item.source_key) == (
        integration.service,
        f"slo:{slo.uuid}:ticket:service-{integration.service_id}@2026-11-20T10:50:00+00:00",
    )
    assert slo.get_absolute_url() in item.description, "the SLO page (the rule's runbook_url) is linked"
    deliver(token, webhook(slo, {"ticket": "resolved"}))
    assert ActionItem.objects.count() == 1
    assert not Incident.objects.exists()


def test_other_alerts_of_the_group_keep_their_group_incident(clock: time_machine.Traveller) -> None:
    integration, token = make_integration()
    slo = make_slo(service=integration.service)
    other = {
        "status": "firing",
        "labels": {"alertname": "HighLatency", "severity": "critical"},
        "annotations": {"summary": "p99 latency above 2 s"},
        "startsAt": "2026-11-20T10:55:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": "fp-latency",
    }
    deliver(token, webhook(slo, {"page-fast": "firing", "ticket": "firing"}, extra=[other]))
    by_key = {incident.dedup_key: incident for incident in Incident.objects.all()}
    assert set(by_key) == {f"slo:{slo.uuid}", '{}:{alertname="SLOErrorBudgetBurn"}'}
    group = by_key['{}:{alertname="SLOErrorBudgetBurn"}']
    assert group.severity == "SEV-1"
    assert [event.data["fingerprint"] for event in group.timeline.filter(kind=TimelineKind.SIGNAL)] == ["fp-latency"]
    assert ActionItem.objects.count() == 1


def test_the_internal_path_and_alertmanager_meet_in_one_incident(clock: time_machine.Traveller) -> None:
    integration, token = make_integration()
    slo = make_slo(service=integration.service)
    deliver(token, webhook(slo, {"page-slow": "firing"}))
    raise_alert(
        ServiceAlert(
            service_id=integration.service_id,
            key=f"slo:{slo.uuid}:page-fast",
            status="firing",
            severity="SEV-2",
            title="page-fast",
            at=NOW,
            source="slo",
            details={"kind": "page"},
        )
    )
    process_pending()
    incident = Incident.objects.get()
    assert sorted(signals(incident)) == [("page-fast", "firing"), ("page-slow", "firing")]
    deliver(token, webhook(slo, {"page-slow": "resolved"}))
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.TRIGGERED, "the engine's page-fast still fires"


def test_the_owner_finds_the_follow_up_in_the_backlog_by_service(
    clock: time_machine.Traveller, personas: dict[str, Any], client_for: Any
) -> None:
    service = make_integration("pagerduty")[0].service
    other = ServiceFactory.create(slug="search")
    burn(service, "ticket")
    process_pending()
    api = client_for(personas[SRE_LEAD])
    rows = api.get(f"/api/v1/action-items/?service={service.slug}").json()["results"]
    assert [(row["title"], row["service"], row["incident"]) for row in rows] == [
        (f"SLO ticket: SLO API availability ({service.name}) burns its error budget (ticket)", service.slug, None)
    ]
    assert api.get(f"/api/v1/action-items/?service={other.slug}").json()["results"] == []
