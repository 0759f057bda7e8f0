"""The dashboard at `/`: gates in words and colour, metrics against the policy's targets, panels, CSV, queries."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import DjangoAssertNumQueries, Settings

from incidents.models import Incident, IncidentStatus
from monitoring.models import SLO, SLOStatus
from opsgov import dashboard, services
from opsgov.dashboard import Attention, DashboardPanel, PanelRegistry, Sparkline
from opsgov.models import GateEvaluation, GateStatus, MetricSnapshot, MetricTrendPoint, ServiceTier
from opsgov.registry import gates, metrics
from opsgov.roles import SRE_LEAD

from ..factories import ServiceFactory, TeamFactory, UserFactory
from ..incidents.factories import IncidentFactory
from ..incidents.test_escalation_support import one_member_schedule

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

#: The support app's registered metrics after the seed's rows (support.metrics).
SUPPORT_METRICS = [
    "support_first_response_attainment",
    "support_resolution_attainment",
    "support_median_first_response",
    "support_backlog_age",
    "support_nps",
]


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def signed_in(client: Client, make_user: Callable[..., User]) -> Client:
    client.force_login(make_user("sre", SRE_LEAD, first_name="Sam", last_name="Reyes"))
    return client


def text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    assert response.status_code == 200
    return response.content.decode()


def evaluate_all(status: GateStatus = GateStatus.NO_EVIDENCE, at: datetime = NOW) -> None:
    for gate in gates.all():
        GateEvaluation.objects.create(gate=gate.key, status=status, reason=f"{gate.key} as before.", evaluated_at=at)


def snapshot(metric: str, value: float | None, *, at: datetime = NOW, current: bool = True, **extra: Any) -> None:
    MetricSnapshot.objects.create(
        metric=metric, scope="global", window="30d", value=value, computed_at=at, is_current=current, **extra
    )


def rows_by_key(response: Any) -> dict[str, dashboard.MetricRow]:
    return {row.key: row for row in response.context["metric_rows"]}


# --- Access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["home", "dashboard-metrics-csv"])
def test_the_dashboard_and_its_export_need_a_login(client: Client, name: str) -> None:
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


# --- Gates ---------------------------------------------------------------------------------------


def test_the_first_visit_evaluates_the_gates_and_shows_no_evidence_never_pass(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("home")))
    registered = gates.all()
    assert len(registered) == 8
    for gate in registered:
        assert gate.title in body
    assert "gate-pass" not in body
    assert GateEvaluation.objects.count() == 8
    # Without services, the only gates with records report no evidence.
    assert body.count("status-no_evidence") >= 8


def test_the_gates_are_listed_in_seed_step_order(signed_in: Client) -> None:
    evaluate_all()
    body = text(signed_in.get(reverse("home")))
    positions = [body.index(gate.title) for gate in sorted(gates.all(), key=lambda g: g.step)]
    assert positions == sorted(positions)


def test_each_gate_shows_its_status_in_words_and_colour_its_reason_failing_evidence_and_link(
    signed_in: Client,
) -> None:
    evaluate_all(at=NOW - timedelta(minutes=10))
    GateEvaluation.objects.create(
        gate="incident_management",
        status=GateStatus.FAIL,
        reason="2 services have no escalation path.",
        evaluated_at=NOW - timedelta(minutes=1),
        evidence=[
            {"label": "Checkout", "status": "fail", "detail": "No escalation policy", "url": "/services/checkout/"},
            {"label": "Ledger", "status": "fail", "detail": "No escalation policy", "url": "/services/ledger/"},
            {"label": "Auth", "status": "pass", "detail": "Escalates to Platform", "url": "/services/auth/"},
            {"label": "Search", "status": "at_risk", "detail": "Gap on Sunday", "url": "/services/search/"},
        ],
    )
    GateEvaluation.objects.create(
        gate="monitoring",
        status=GateStatus.PASS,
        reason="Every service is monitored.",
        evaluated_at=NOW - timedelta(minutes=1),
        evidence=[{"label": "Checkout", "status": "pass", "detail": "", "url": "", "service": "checkout"}],
    )
    response = signed_in.get(reverse("home"))
    body = text(response)
    cards = {card.key: card for card in response.context["gates"]}

    failing = cards["incident_management"]
    assert (failing.status_label, failing.badge, failing.failing, failing.at_risk) == ("Fail", "danger", 2, 1)
    assert [row.label for row in failing.evidence] == ["Checkout", "Ledger"]
    assert failing.url == "/gates/incident_management/"
    assert (cards["monitoring"].status_label, cards["monitoring"].failing) == ("Pass", 0)

    assert "2 services have no escalation path." in body
    assert 'class="badge badge-danger status-fail gate-status"' in body
    assert 'class="badge badge-success status-pass gate-status"' in body
    assert "Status: </span>Fail" in body and "Status: </span>Pass" in body
    assert '<span class="count count-danger">2</span> failing evidence rows' in body
    assert '<span class="count count-warning">1</span> at risk' in body
    assert 'href="/gates/incident_management/"' in body
    assert '<a class="evidence-link" href="/services/checkout/">Checkout</a>' in body
    assert "— No escalation policy" in body
    assert "/services/auth/" not in body  # a passing row is not "failing evidence"
    # pass, at risk, fail, no evidence, waived
    assert [item["count"] for item in response.context["summary"]] == [1, 0, 1, 6, 0]


def test_the_gate_link_uses_the_gate_page_route_when_it_exists() -> None:
    # The gate pages are served at /gates/<key>/ by their own module; the link is the same either way.
    assert dashboard.gate_url("backup_dr") == "/gates/backup_dr/"


# --- Metrics -------------------------------------------------------------------------------------


def test_every_policy_target_is_a_row_and_unmeasured_ones_say_no_data(signed_in: Client) -> None:
    evaluate_all()
    response = signed_in.get(reverse("home"))
    rows = response.context["metric_rows"]
    assert [row.title for row in rows[:7]] == [
        "Availability",
        "Mean time to acknowledge (MTTA)",
        "Mean time to resolve (MTTR)",
        "Mean time between failures (MTBF)",
        "Support satisfaction (CSAT)",
        "Backup success rate",
        "Patch compliance",
    ]
    # Then the other registered metrics, in the registry's order (the incidents app's action item closing
    # rate among them); whichever apps are installed, each brings its own row.
    seed_keys = [row.key for row in rows[:7]]
    others = [definition.key for definition in metrics.all() if definition.key not in seed_keys]
    assert [row.key for row in rows[7:]] == others
    assert "action_item_closing_rate" in others
    assert [row.target_display for row in rows[:7]] == [
        "> 99.9 %",
        "< 15 min",
        "< 4 h",
        "> 30 d",  # 720 hours
        "> 4.5",
        "≥ 100 %",
        "> 95 %",
    ]
    assert rows_by_key(response)["action_item_closing_rate"].target_display == "≥ 50 %"
    assert {row.verdict for row in rows} == {"no_data"}
    body = text(response)
    assert body.count('class="badge badge-muted verdict-no_data"') == len(rows)
    assert body.count(">no data</span>") == len(rows)
    assert body.count("no trend data") == len(rows)
    # A seed target is measured once an app registers its metric; until then its row says so.
    for row in rows:
        assert row.registered is (row.key in metrics)
    assert rows_by_key(response)["availability"].registered is True  # monitoring measures it
    assert ("(not measured yet)" in body) is any(not row.registered for row in rows)


def test_met_and_missed_are_computed_against_the_policy_targets(
    signed_in: Client, settings: Settings, tmp_path: Path
) -> None:
    evaluate_all()
    snapshot("mtta", 600.0, sample_size=12)  # 10 min: under the default 15 min -> met
    snapshot("mttr", 5 * 3600.0, sample_size=9)  # 5 h: over the 4 h target -> missed
    snapshot("mtbf", None, details={"no_failures": True, "display": "> 30 days"})  # no failure -> met
    snapshot("availability", 99.95)  # above 99.9 -> met
    snapshot("patch_compliance", 95.0)  # "above 95": exactly 95 misses it
    snapshot("backup_success_rate", 100.0)  # "at least 100": met
    snapshot("action_item_closing_rate", None, details={"display": "no data"})  # nothing to measure
    rows = rows_by_key(signed_in.get(reverse("home")))
    expected = {
        "availability": "met",
        "mtta": "met",
        "mttr": "missed",
        "mtbf": "met",
        "support_satisfaction": "no_data",
        "backup_success_rate": "met",
        "patch_compliance": "missed",
        "action_item_closing_rate": "no_data",
        **dict.fromkeys(SUPPORT_METRICS, "no_data"),
    }
    assert {key: rows[key].verdict for key in expected} == expected
    # Every other registered metric has no snapshot here.
    assert {row.verdict for key, row in rows.items() if key not in expected} <= {"no_data"}
    assert [rows[key].display for key in ("availability", "mtta", "mttr", "mtbf", "patch_compliance")] == [
        "99.95 %",
        "10 min",
        "5 h",
        "> 30 days",
        "95 %",
    ]

    # A stricter policy: MTTA under 5 minutes, availability above 99.99 %: both now missed.
    path = tmp_path / "policy.toml"
    path.write_text('[targets]\nmtta = "5 minutes"\navailability_percent = 99.99\n', encoding="utf-8")
    settings.OPSGOV_POLICY = str(path)
    response = signed_in.get(reverse("home"))
    rows = rows_by_key(response)
    assert (rows["mtta"].verdict, rows["mtta"].target_display) == ("missed", "< 5 min")
    assert (rows["availability"].verdict, rows["availability"].target_display) == ("missed", "> 99.99 %")
    body = text(response)
    assert 'id="metric-mtta" class="metric-row metric-missed"' in body
    assert (
        '<span class="badge badge-danger verdict-missed"><span class="badge-icon" aria-hidden="true"></span>Missed'
        in body
    )


def test_the_current_value_is_the_current_global_30_day_snapshot(signed_in: Client) -> None:
    evaluate_all()
    snapshot("mtta", 1200.0, at=NOW - timedelta(hours=1), current=False)  # history
    snapshot("mtta", 300.0)  # current
    MetricSnapshot.objects.create(metric="mtta", scope="global", window="7d", value=60.0, computed_at=NOW)
    MetricSnapshot.objects.create(metric="mtta", scope="service:checkout", window="30d", value=90.0, computed_at=NOW)
    assert rows_by_key(signed_in.get(reverse("home")))["mtta"].display == "5 min"


def computed(metric: str, value: float | None, moment: datetime) -> None:
    """What compute_metrics stores for the global 30-day figure at `moment`: a snapshot and the day's trend point."""
    row = MetricSnapshot.objects.create(
        metric=metric, scope="global", window="30d", value=value, computed_at=moment, is_current=False
    )
    services.record_trend([row])


def test_the_trend_is_the_last_value_of_each_day_over_90_days(signed_in: Client) -> None:
    evaluate_all()
    day = timedelta(days=1)
    computed("mttr", 7200.0, NOW - 100 * day)  # before the 90 days: left out
    computed("mttr", 3600.0, NOW - 2 * day - timedelta(hours=3))  # Nov 25, 09:00
    computed("mttr", 5400.0, NOW - 2 * day)  # Nov 25, 12:00: the day's last
    computed("mttr", None, NOW - day)  # Nov 26: no data that day
    computed("mttr", 1800.0, NOW)  # Nov 27, now
    row = rows_by_key(signed_in.get(reverse("home")))["mttr"]
    assert row.trend == [
        (date(2026, 11, 25), 5400.0),
        (date(2026, 11, 26), None),
        (date(2026, 11, 27), 1800.0),
    ]
    line = row.sparkline
    # Two points with values, split by the day without one: two separate paths.
    assert line.paths == ["M3.0,3.0", "M117.0,25.0"]
    assert (line.low, line.high, line.days) == ("30 min", "1 h 30 min", 2)


def test_computing_the_metrics_keeps_one_trend_point_per_key_and_day() -> None:
    services.compute_metrics(now=NOW - timedelta(hours=2), keys=["mtta"])
    services.compute_metrics(now=NOW, keys=["mtta"])
    services.compute_metrics(now=NOW + timedelta(days=1), keys=["mtta"])
    points = MetricTrendPoint.objects.filter(metric="mtta", scope="global", window="30d")
    assert list(points.values_list("day", "computed_at")) == [
        (date(2026, 11, 27), NOW),  # the day's last computation
        (date(2026, 11, 28), NOW + timedelta(days=1)),
    ]
    # Three computations, but one point per (scope, window) and day.
    assert (
        MetricSnapshot.objects.filter(metric="mtta").count()
        == 3 * points.model.objects.filter(metric="mtta", day=date(2026, 11, 27)).count()
    )


def test_trend_points_older_than_400_days_are_pruned() -> None:
    computed("mtta", 60.0, NOW - timedelta(days=401))
    computed("mtta", 60.0, NOW - timedelta(days=399))
    services.prune_snapshots(now=NOW)
    assert list(MetricTrendPoint.objects.values_list("day", flat=True)) == [date(2025, 10, 24)]


def test_the_migration_backfills_the_trend_from_the_snapshots_kept() -> None:
    backfill = import_module("opsgov.migrations.0005_reports").backfill_trend
    for hours, value in ((50, 1.0), (49, 2.0), (1, 3.0)):  # Nov 25 10:00 and 11:00, Nov 27 11:00
        snapshot("mttr", value, at=NOW - timedelta(hours=hours), current=False)
    backfill(django_apps, None)
    assert list(MetricTrendPoint.objects.values_list("day", "value")) == [
        (date(2026, 11, 25), 2.0),
        (date(2026, 11, 27), 3.0),
    ]


def test_a_sparkline_scales_between_the_lowest_and_highest_value() -> None:
    first = datetime(2026, 11, 1).date()
    points: list[tuple[date, float | None]] = [
        (first + timedelta(days=offset), value) for offset, value in enumerate([10.0, 20.0, 15.0])
    ]
    line = Sparkline.of(points, target=12.0, unit="percent")
    # x: 3 + 114 * day / 2; y: 3 + 22 * (1 - (v - 10) / 10).
    assert line.paths == ["M3.0,25.0 L60.0,3.0 L117.0,14.0"]
    assert line.target_y == 20.6  # 3 + 22 * (1 - 0.2)
    assert line.last == (117.0, 14.0)
    assert Sparkline.of([], target=1.0).empty


def test_the_sparkline_is_inline_svg_with_a_text_alternative(signed_in: Client) -> None:
    evaluate_all()
    computed("mtta", 300.0, NOW - timedelta(days=1))
    computed("mtta", 600.0, NOW)
    body = text(signed_in.get(reverse("home")))
    assert '<svg class="sparkline"' in body
    assert 'aria-label="Mean time to acknowledge (MTTA): 2 days with data, between 5 min and 10 min"' in body


# --- Panels --------------------------------------------------------------------------------------


def test_open_incidents_are_counted_by_severity(signed_in: Client) -> None:
    evaluate_all()
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    sev1 = IncidentFactory.create(service=checkout, severity="SEV-1", title="Checkout down")
    IncidentFactory.create(service=checkout, severity="SEV-3")
    IncidentFactory.create(service=checkout, severity="SEV-3")
    resolved = IncidentFactory.create(service=checkout, severity="SEV-2")
    Incident.objects.filter(pk=resolved.pk).update(status=IncidentStatus.RESOLVED, resolved_at=NOW)
    response = signed_in.get(reverse("home"))
    [panel] = [p for p in response.context["panels"] if p.key == "open-incidents"]
    assert panel.context["total"] == 3
    assert {row["severity"]: row["count"] for row in panel.context["rows"]} == {
        "SEV-1": 1,
        "SEV-2": 0,
        "SEV-3": 2,
        "SEV-4": 0,
    }
    assert [incident.pk for incident in panel.context["severe"]] == [sev1.pk]
    body = text(response)
    assert "3 open incidents" in body
    assert f"{sev1.public_id} Checkout down" in body
    assert "/incidents/?severity=SEV-3&amp;status=triggered&amp;status=acknowledged&amp;status=mitigated" in body


def test_who_is_on_call_now_and_schedules_with_nobody(signed_in: Client) -> None:
    evaluate_all()
    alice = UserFactory.create(username="alice", first_name="Alice", last_name="Adams")
    one_member_schedule("payments-primary", alice, since=NOW - timedelta(days=3))
    one_member_schedule("later", alice, since=NOW + timedelta(days=3))  # nobody until then
    body = text(signed_in.get(reverse("home")))
    assert "On call now" in body
    assert "Alice Adams" in body
    assert "1 schedule with nobody on call" in body
    assert 'href="/incidents/oncall/payments-primary/"' in body


def test_slos_at_risk_are_those_below_the_policy_budget_threshold(signed_in: Client) -> None:
    evaluate_all()
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    for name, budget in (("API", 0.10), ("Latency", 0.24), ("Login", 0.25), ("Search", 0.90), ("Empty", None)):
        slo = SLO.objects.create(service=checkout, name=name, objective_percent="99.9")
        SLOStatus.objects.create(
            slo=slo, evaluated_at=NOW, window_start=NOW - timedelta(days=30), window_end=NOW, budget_remaining=budget
        )
    response = signed_in.get(reverse("home"))
    [panel] = [p for p in response.context["panels"] if p.key == "slos-at-risk"]
    # Below 25 %: 10 % and 24 % (25 % exactly is not below); no data is not "at risk".
    assert [row["slo"].name for row in panel.context["rows"]] == ["API", "Latency"]
    assert (panel.context["at_risk"], panel.context["evaluated"], panel.context["no_data"]) == (2, 5, 1)
    body = text(response)
    assert "2 of 5 SLOs at risk" in body
    assert "10.0 % budget left" in body


def test_a_tier_1_service_that_spent_its_error_budget_shows_above_the_fold(signed_in: Client) -> None:
    evaluate_all()
    checkout = ServiceFactory.create(slug="checkout", name="Checkout", tier=ServiceTier.TIER_1)
    reporting = ServiceFactory.create(slug="reporting", name="Reporting", tier=ServiceTier.TIER_3)
    for service, name, budget in (
        (checkout, "Checkout availability", -0.72),  # overspent
        (checkout, "Checkout latency", 0.0),  # used up
        (checkout, "Checkout login", 0.10),  # at risk, not spent: the panel below lists it
        (reporting, "Reporting freshness", -0.5),  # spent, but not tier 1
    ):
        slo = SLO.objects.create(service=service, name=name, objective_percent="99.9")
        SLOStatus.objects.create(
            slo=slo, evaluated_at=NOW, window_start=NOW - timedelta(days=30), window_end=NOW, budget_remaining=budget
        )
    response = signed_in.get(reverse("home"))
    items = response.context["attention"]
    assert [(item.label, item.text, item.detail) for item in items] == [
        ("Error budget spent", "Checkout: Checkout availability", "tier 1, error budget overspent by 72.0 %"),
        ("Error budget spent", "Checkout: Checkout latency", "tier 1, error budget used up"),
    ]
    body = text(response)
    top = body[body.index('id="attention"') : body.index('id="gates-heading"')]
    assert "Needs attention now" in top
    assert "Checkout: Checkout availability" in top and "Checkout: Checkout latency" in top
    assert "Checkout login" not in top and "Reporting" not in top
    # Above the fold: before the gate summary, the gates, the metrics and the panels.
    assert body.index('id="attention"') < body.index('class="summary"') < body.index('id="panel-slos-at-risk"')


def test_nothing_is_listed_above_the_fold_while_no_tier_1_budget_is_spent(signed_in: Client) -> None:
    evaluate_all()
    checkout = ServiceFactory.create(slug="checkout", name="Checkout", tier=ServiceTier.TIER_1)
    slo = SLO.objects.create(service=checkout, name="API", objective_percent="99.9")
    SLOStatus.objects.create(
        slo=slo, evaluated_at=NOW, window_start=NOW - timedelta(days=30), window_end=NOW, budget_remaining=0.01
    )
    response = signed_in.get(reverse("home"))
    assert response.context["attention"] == []
    assert 'id="attention"' not in text(response)


def test_a_panel_brings_its_attention_items_in_panel_order(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = PanelRegistry()
    registry.register(
        DashboardPanel("b", "B", "b.html", lambda *, now: {}, order=20, attention=lambda *, now: [Attention("L", "b")])
    )
    registry.register(DashboardPanel("a", "A", "a.html", lambda *, now: {}, order=10))  # none to give
    registry.register(
        DashboardPanel("c", "C", "c.html", lambda *, now: {}, order=5, attention=lambda *, now: [Attention("L", "c")])
    )
    monkeypatch.setattr(dashboard, "panels", registry)
    assert [item.text for item in dashboard.attention_items(now=NOW)] == ["c", "b"]


def test_the_panel_registry_orders_panels_and_refuses_a_second_panel_under_one_key() -> None:
    registry = PanelRegistry()
    second = DashboardPanel("b", "B", "b.html", lambda *, now: {}, order=20)
    first = DashboardPanel("a", "A", "a.html", lambda *, now: {}, order=10)
    registry.register(second)
    registry.register(first)
    assert [panel.key for panel in registry.all()] == ["a", "b"]
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(DashboardPanel("a", "Other", "x.html", lambda *, now: {}))


# --- Refresh -------------------------------------------------------------------------------------


def test_the_htmx_refresh_returns_only_the_dashboard_fragment(signed_in: Client) -> None:
    evaluate_all()
    full = text(signed_in.get(reverse("home")))
    assert 'hx-get="/"' in full
    assert 'hx-trigger="every 60s"' in full
    assert "/static/opsgov/dashboard.css" in full

    response = signed_in.get(reverse("home"), headers={"HX-Request": "true"})
    fragment = text(response)
    assert "<html" not in fragment
    assert "<nav" not in fragment
    assert 'hx-get="/"' not in fragment  # the polling element stays outside the swapped part
    assert fragment.lstrip().startswith('<div class="dashboard" id="dashboard"')
    assert "HX-Request" in response["Vary"]
    for gate in gates.all():
        assert gate.title in fragment
    assert 'id="metrics-table"' in fragment
    assert 'id="panel-open-incidents"' in fragment


# --- Cost ------------------------------------------------------------------------------------------


def populate(*, prefix: str, services: int, incidents: int, history_days: int, schedules: int, slos: int) -> None:
    """Services, incidents (a third open), snapshot and gate history, schedules and SLO statuses."""
    team = TeamFactory.create(slug="payments")
    made = [ServiceFactory.create(owner_team=team) for _ in range(services)]
    for index in range(incidents):
        incident = IncidentFactory.create(service=made[index % services], severity=f"SEV-{index % 4 + 1}")
        if index % 3:
            Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.RESOLVED, resolved_at=NOW)
    for day in range(history_days):
        at = NOW - timedelta(days=day, minutes=5)
        for key in ("mtta", "mttr", "mtbf", "availability"):
            for hour in (0, 6, 12):
                computed(key, 100.0 + day + hour, at - timedelta(hours=hour))
        for gate in gates.all():
            GateEvaluation.objects.create(gate=gate.key, status=GateStatus.FAIL, reason="old", evaluated_at=at)
    MetricSnapshot.objects.filter(is_current=True).update(is_current=False)
    for key in ("mtta", "mttr", "mtbf", "availability"):
        snapshot(key, 99.0)
    evaluate_all()
    user = UserFactory.create()
    for index in range(schedules):
        one_member_schedule(f"{prefix}-schedule-{index}", user, since=NOW - timedelta(days=index + 1))
    for index in range(slos):
        slo = SLO.objects.create(service=made[index % services], name=f"{prefix} SLO {index}", objective_percent="99.9")
        SLOStatus.objects.create(
            slo=slo, evaluated_at=NOW, window_start=NOW, window_end=NOW, budget_remaining=index / max(slos, 1)
        )


#: session, user, roles, gate evaluations, current snapshots, trend, open incidents (counts, newest),
#: on call (schedules, layers, members, overrides), SLOs at risk (counts, rows), spent tier-1 budgets;
#: maintenance (patch-compliance snapshot, late critical patches, services, their last logs, changes waiting,
#: late critical patches above the fold); support queues (counts, tickets due first), tickets past an SLA
#: target; security findings (by severity and age, past SLA, SLA compliance, criticals past SLA) and the
#: security alert queue (by status, oldest new ones, new ones past the triage target).
DASHBOARD_QUERIES = 31


def test_the_dashboard_takes_a_fixed_number_of_queries_whatever_the_data(
    signed_in: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    populate(prefix="small", services=2, incidents=3, history_days=1, schedules=1, slos=1)
    with django_assert_max_num_queries(DASHBOARD_QUERIES) as small:
        text(signed_in.get(reverse("home")))
    populate(prefix="large", services=20, incidents=120, history_days=95, schedules=6, slos=25)
    with django_assert_max_num_queries(DASHBOARD_QUERIES) as large:
        body = text(signed_in.get(reverse("home")))
    assert len(large.captured_queries) == len(small.captured_queries)
    assert "large SLO 1" in body  # the large data is on the page
    # The htmx refresh costs the same, less the layout's query of the user's roles.
    with django_assert_max_num_queries(DASHBOARD_QUERIES - 1) as refresh:
        signed_in.get(reverse("home"), headers={"HX-Request": "true"})
    assert len(refresh.captured_queries) == len(large.captured_queries) - 1


def test_the_dashboard_never_reads_the_incident_history_tables(
    signed_in: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    populate(prefix="one", services=2, incidents=6, history_days=2, schedules=1, slos=1)
    with django_assert_max_num_queries(DASHBOARD_QUERIES) as queries:
        text(signed_in.get(reverse("home")))
    statements = [query["sql"] for query in queries.captured_queries]
    incident_reads = [sql for sql in statements if '"incidents_incident"' in sql]
    # Only the open ones (the partial index's predicate), never the whole history.
    assert incident_reads
    assert all("IN ('triggered', 'acknowledged', 'mitigated')" in sql for sql in incident_reads)
    assert not any("incidents_timelineevent" in sql or "monitoring_slibucket" in sql for sql in statements)


# --- CSV -------------------------------------------------------------------------------------------


def test_the_metrics_export_is_the_rows_shown_as_csv(signed_in: Client) -> None:
    snapshot("mtta", 600.0, sample_size=12)
    snapshot("mttr", 5 * 3600.0, sample_size=9)
    response = signed_in.get(reverse("dashboard-metrics-csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="opsgov-metrics-20261127-1200.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    # The dashboard's rows in its order: the seed's targets first, then every other registered metric.
    assert [row["metric"] for row in rows] == [spec.key for spec in dashboard.metric_specs()]
    assert [row["metric"] for row in rows][:7] == [
        "availability",
        "mtta",
        "mttr",
        "mtbf",
        "support_satisfaction",
        "backup_success_rate",
        "patch_compliance",
    ]
    by_key = {row["metric"]: row for row in rows}
    assert by_key["mtta"] | {} == {
        "metric": "mtta",
        "title": "Mean time to acknowledge (MTTA)",
        "scope": "global",
        "window": "30d",
        "value": "600.0",
        "unit": "seconds",
        "display": "10 min",
        "comparison": "<",
        "target": "900.0",
        "status": "met",
        "sample_size": "12",
        "computed_at": "2026-11-27T12:00:00+00:00",
    }
    assert (by_key["mttr"]["status"], by_key["mttr"]["value"]) == ("missed", "18000.0")
    assert (by_key["availability"]["status"], by_key["availability"]["value"]) == ("no_data", "")
    assert by_key["availability"]["target"] == "99.9"


def test_the_dashboard_links_to_the_export(signed_in: Client) -> None:
    evaluate_all()
    assert 'href="/dashboard/metrics.csv"' in text(signed_in.get(reverse("home")))
