"""Scheduled email reports: periods, content on fixtures with hand-computed figures, recipients, once-only delivery."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from auditlog.context import set_actor
from django.contrib.auth.models import User
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from incidents.models import ActionItem, ActionStatus, Incident, IncidentStatus, PostIncidentReview
from monitoring.models import SLO, SLOStatus
from opsgov import services
from opsgov.dashboard import metric_specs
from opsgov.models import (
    DeliveryStatus,
    GateEvaluation,
    GateStatus,
    GateWaiver,
    MetricSnapshot,
    ReportDelivery,
    ReportSubscription,
)
from opsgov.reports import services as reports
from opsgov.reports.services import ReportPeriod, Section, SectionProvider
from opsgov.reports.tasks import send_scheduled_report
from opsgov.roles import COMPLIANCE_OFFICER, SRE_LEAD
from opsgov.schedules import PolicyCrontab

from ..factories import ServiceFactory
from ..incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db

UTC_ZONE = ZoneInfo("UTC")
#: Monday 30 November 2026, 07:00 UTC: the weekly report of Mon 23 - Sun 29 November is due.
MONDAY = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
#: Tuesday 1 December 2026, 07:00 UTC: the monthly report of November is due.
FIRST_OF_MONTH = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller


def table_texts(section: Section, index: int = 0) -> list[list[str]]:
    return [[cell.text for cell in row] for row in section.tables[index].rows]


# --- Periods -------------------------------------------------------------------------------------


def test_a_week_runs_monday_to_monday_and_a_month_first_to_first() -> None:
    week = ReportPeriod.containing("weekly", date(2026, 11, 27), UTC_ZONE)  # a Friday
    assert (week.first_day, week.next_day) == (date(2026, 11, 23), date(2026, 11, 30))
    month = ReportPeriod.containing("monthly", date(2026, 12, 31), UTC_ZONE)
    assert (month.first_day, month.next_day) == (date(2026, 12, 1), date(2027, 1, 1))
    assert month.label == "December 2026"
    assert week.label == "week 48 of 2026, Mon 23 Nov to Sun 29 Nov 2026"


def test_the_last_complete_period_is_the_one_before_the_current_one() -> None:
    assert ReportPeriod.last_complete("weekly", MONDAY, UTC_ZONE).first_day == date(2026, 11, 23)
    # Sunday night: the current week is still running, so the last complete one is the week before.
    assert ReportPeriod.last_complete("weekly", at(29, 23, 59), UTC_ZONE).first_day == date(2026, 11, 16)
    assert ReportPeriod.last_complete("monthly", FIRST_OF_MONTH, UTC_ZONE).first_day == date(2026, 11, 1)
    assert ReportPeriod.last_complete("monthly", datetime(2027, 1, 1, tzinfo=UTC), UTC_ZONE).first_day == date(
        2026, 12, 1
    )


def test_periods_are_local_days_of_the_policy_time_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    week = ReportPeriod.containing("weekly", date(2026, 10, 25), berlin)  # Sunday of the autumn DST change
    assert week.start == datetime(2026, 10, 18, 22, 0, tzinfo=UTC)  # Monday 00:00 CEST
    assert week.end == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)  # Monday 00:00 CET
    # Monday 00:30 in Berlin is still Sunday 23:30 UTC: the Berlin week has ended already.
    assert ReportPeriod.last_complete("weekly", datetime(2026, 11, 29, 23, 30, tzinfo=UTC), berlin).first_day == (
        date(2026, 11, 23)
    )


def test_a_period_parses_from_a_day_and_rejects_anything_else() -> None:
    assert reports.parse_period("monthly", "2026-11-17").first_day == date(2026, 11, 1)
    with pytest.raises(ValueError, match="period: '17/11/2026' is not a date"):
        reports.parse_period("monthly", "17/11/2026")


def test_the_beat_entries_run_at_seven_in_the_policy_time_zone(settings: Settings, tmp_path: Path) -> None:
    weekly = settings.CELERY_BEAT_SCHEDULE["weekly-operations-report"]
    monthly = settings.CELERY_BEAT_SCHEDULE["monthly-governance-report"]
    assert (weekly["task"], weekly["args"]) == ("opsgov.report_tasks.send_scheduled_report", ("weekly",))
    assert (monthly["task"], monthly["args"]) == ("opsgov.report_tasks.send_scheduled_report", ("monthly",))
    assert isinstance(weekly["schedule"], PolicyCrontab)

    path = tmp_path / "policy.toml"
    path.write_text('[business_calendar]\ntime_zone = "Europe/Berlin"\n', encoding="utf-8")
    settings.OPSGOV_POLICY = str(path)
    # Last run Monday 23 Nov 07:00 Berlin (06:00 UTC); the next is Monday 30 Nov 07:00 Berlin = 06:00 UTC.
    schedule = PolicyCrontab(minute=0, hour=7, day_of_week="mon", nowfun=lambda: at(30, 5, 0))
    remaining = schedule.remaining_estimate(at(23, 6, 0))
    assert remaining == timedelta(hours=1)
    assert schedule.is_due(at(23, 6, 0)).is_due is False
    due = PolicyCrontab(minute=0, hour=7, day_of_week="mon", nowfun=lambda: at(30, 6))
    assert due.is_due(at(23, 6, 0)).is_due is True
    first = PolicyCrontab(minute=0, hour=7, day_of_month=1, nowfun=lambda: datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    assert first.is_due(datetime(2026, 11, 1, 6, 0, tzinfo=UTC)).is_due is True


# --- Weekly content ------------------------------------------------------------------------------


def evaluation(gate: str, status: GateStatus, moment: datetime) -> None:
    GateEvaluation.objects.create(gate=gate, status=status, reason=f"{gate} {status}", evaluated_at=moment)


def incident(service: Any, severity: str, triggered: datetime, **changes: Any) -> Incident:
    with time_machine.travel(triggered, tick=False):
        made = IncidentFactory.create(service=service, severity=severity, triggered_at=triggered, title=severity)
    if changes:
        Incident.objects.filter(pk=made.pk).update(**changes)
        made.refresh_from_db()
    return made


@pytest.fixture
def week(clock: Any) -> dict[str, Any]:
    """The week Mon 23 - Sun 29 November 2026 (UTC policy), as the weekly report of Monday 30 sees it."""
    evaluation("incident_management", GateStatus.PASS, at(22, 12))  # before the week
    evaluation("incident_management", GateStatus.FAIL, at(24, 10))  # change 1
    evaluation("incident_management", GateStatus.FAIL, at(24, 10, 5))  # same status: no change
    evaluation("incident_management", GateStatus.PASS, at(26, 9))  # change 2
    evaluation("incident_management", GateStatus.FAIL, at(28, 8))  # change 3, the week ends failing
    evaluation("incident_management", GateStatus.PASS, at(30, 6))  # after the week: not counted
    evaluation("monitoring", GateStatus.PASS, at(22, 12))
    evaluation("monitoring", GateStatus.PASS, at(25, 12))  # unchanged
    evaluation("continuous_improvement", GateStatus.AT_RISK, at(23, 10))  # first ever: from "not evaluated"

    def snap(metric: str, window: str, value: float, moment: datetime) -> None:
        MetricSnapshot.objects.create(
            metric=metric, scope="global", window=window, value=value, computed_at=moment, is_current=False
        )

    snap("mtta", "7d", 480.0, at(29, 23, 55))  # 8 min < 15 min: met
    snap("mtta", "30d", 1200.0, at(29, 23, 55))  # 20 min: missed
    snap("mtta", "30d", 60.0, at(30, 3))  # after the week: not the week's figure
    snap("mttr", "30d", 3 * 3600.0, at(29, 23, 55))  # 3 h < 4 h: met
    snap("mttr", "30d", 9 * 3600.0, at(20, 12))  # older: replaced by the one above

    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    a = incident(
        checkout,
        "SEV-1",
        at(24, 10),
        status=IncidentStatus.RESOLVED,
        acknowledged_at=at(24, 10, 6),
        resolved_at=at(24, 11, 30),
    )
    incident(checkout, "SEV-3", at(25, 9))  # still open
    c = incident(
        checkout,
        "SEV-2",
        at(29, 23),
        status=IncidentStatus.RESOLVED,
        acknowledged_at=at(29, 23, 10),
        resolved_at=at(30, 1),  # after the week
    )
    incident(checkout, "SEV-4", at(26, 12), status=IncidentStatus.CANCELLED, cancelled_at=at(26, 12, 5))
    incident(checkout, "SEV-2", at(20, 8), status=IncidentStatus.RESOLVED, resolved_at=at(23, 2))  # resolved in it
    incident(checkout, "SEV-1", at(30, 1))  # after the week

    review = PostIncidentReview.objects.create(incident=a, due_at=at(27))
    owner = User.objects.create(username="olga", first_name="Olga", last_name="Owner")
    item = ActionItem.objects.create(title="Add a canary", owner=owner, due_date=date(2026, 11, 25), incident=a)
    ActionItem.objects.create(
        title="Done already", due_date=date(2026, 11, 1), status=ActionStatus.DONE, closed_at=at(2)
    )
    ActionItem.objects.create(title="Due today", due_date=date(2026, 11, 30))  # not late until the day is over

    for name, budget in (("API availability", 0.10), ("Latency", 0.80)):
        slo = SLO.objects.create(service=checkout, name=name, objective_percent="99.9")
        SLOStatus.objects.create(
            slo=slo,
            evaluated_at=MONDAY,
            window_start=MONDAY - timedelta(days=30),
            window_end=MONDAY,
            sli_percent=99.95,
            budget_remaining=budget,
        )
    return {"a": a, "c": c, "review": review, "item": item}


def weekly_report() -> reports.Report:
    period = ReportPeriod.last_complete("weekly", timezone.now())
    return reports.build_report(kind="weekly", period=period)


def test_the_weekly_report_shows_gate_changes_since_last_week(week: dict[str, Any]) -> None:
    section = weekly_report().section("gates")
    # incident management: pass -> fail (3 changes); continuous improvement: not evaluated -> at risk (1).
    # The 5 gates without an evaluation by the end of the week are evaluated as the report is written
    # (Monday 07:00), and said to be: not passed off as the status at the end of the week. Checkout is an
    # active service with no backup job, no maintenance window and no scanned asset: those three gates
    # fail; support and compliance have no records at all: no evidence.
    assert section.summary == (
        "2 gates of 8 changed status over the week; at its end: 1 pass, 1 at risk, 1 fail. "
        "The other 5 had no evaluation by the end of the week; shown instead: their first evaluation after it "
        "(Mon 30 Nov 07:00): 3 fail, 2 no evidence."
    )
    rows = {row[0].split(". ", 1)[1]: row[1:] for row in table_texts(section)}
    assert rows["Incident management process active"] == ["Pass", "Fail", "changed", "3", "Sat 28 Nov 08:00"]
    assert rows["Monitoring and alerting active"] == ["Pass", "Pass", "unchanged", "0", "—"]
    assert rows["Continuous improvement process active"][:4] == ["not evaluated", "At risk", "changed", "1"]
    assert rows["Backup and DR validated"] == ["not evaluated", "Fail (Mon 30 Nov 07:00)", "—", "0", "—"]
    assert rows["Support process established"] == ["not evaluated", "No evidence (Mon 30 Nov 07:00)", "—", "0", "—"]
    assert section.notes[0] == (
        "A time in brackets: the gate had no evaluation by the end of the week; its first evaluation after the "
        "end of the week, made then (a gate never evaluated is evaluated as this report is written)."
    )
    first = section.tables[0].rows[0][0]
    assert first.url == "/gates/monitoring/"


def test_the_weekly_report_shows_metrics_at_the_end_of_the_week_against_targets(week: dict[str, Any]) -> None:
    section = weekly_report().section("metrics")
    rows = {row[0]: row[1:] for row in table_texts(section)}
    assert rows["Mean time to acknowledge (MTTA)"] == ["< 15 min", "8 min (met)", "20 min (missed)", "30 days"]
    assert rows["Mean time to resolve (MTTR)"] == ["< 4 h", "no data", "3 h (met)", "30 days"]
    assert rows["Availability"] == ["> 99.9 %", "no data", "no data", "30 days"]
    # The 8 seed metrics plus those other areas register, over 30 days: MTTR met, MTTA missed, the others without data.
    count = len(metric_specs())
    assert section.summary == (
        f"Over the last 30 days, 1 of {count} metrics met their target, 1 missed it and {count - 2} had no data."
    )
    # The figures are the newest computed by the end of the week (Sunday 23:55), and the note says so.
    assert section.notes[-1] == (
        "Organisation-wide figures as they stood at the end of the week (Mon 30 Nov 00:00): "
        "the newest computed by then, computed Sun 29 Nov 23:55."
    )


def test_mtbf_is_judged_over_a_window_at_least_as_long_as_its_target(clock: Any) -> None:
    def snap(window: str, value: float | None, **details: Any) -> None:
        MetricSnapshot.objects.create(
            metric="mtbf", scope="global", window=window, value=value, details=details, computed_at=at(29, 23)
        )

    snap("7d", None, no_failures=True, display="> 7 days")  # no failure in 7 days: says nothing about 720 h
    snap("30d", 10 * 86400.0)  # 10 days between failures over 30 days: below the 720 h target
    section = weekly_report().section("metrics")
    rows = {row[0]: row[1:] for row in table_texts(section)}
    assert rows["Mean time between failures (MTBF)"] == ["> 30 d", "> 7 days (not judged)", "10 d (missed)", "30 days"]
    count = len(metric_specs())
    assert section.summary == (
        f"Over the last 30 days, 0 of {count} metrics met their target, 1 missed it and {count - 1} had no data."
    )
    assert section.notes[0] == (
        "Mean time between failures (MTBF) is judged over the last 30 days, as long as its target (> 30 d) "
        "or longer; its figure over 7 days is shown, not judged."
    )


def test_a_metric_at_risk_is_counted_apart_from_met_and_missed(clock: Any) -> None:
    # Support satisfaction of 4.8 on 3 answers, under the policy's minimum sample: at risk, neither met nor missed.
    MetricSnapshot.objects.create(
        metric="support_satisfaction",
        scope="global",
        window="30d",
        value=4.8,
        details={"answers": 3, "min_sample": 20, "too_few_answers": True},
        computed_at=at(29, 23),
    )
    section = weekly_report().section("metrics")
    rows = {row[0]: row[1:] for row in table_texts(section)}
    assert rows["Support satisfaction (CSAT)"][2] == "4.8 (at risk (too few answers))"
    count = len(metric_specs())
    assert section.summary == (
        f"Over the last 30 days, 0 of {count} metrics met their target, 0 missed it, 1 was at risk "
        f"and {count - 1} had no data."
    )


def test_a_target_longer_than_30_days_is_judged_over_a_longer_window(
    clock: Any, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[targets]\nmtbf = "1000 hours"\n', encoding="utf-8")  # about 41.7 days
    settings.OPSGOV_POLICY = str(path)
    for window, value in (("7d", 5 * 86400.0), ("30d", 20 * 86400.0), ("90d", 45 * 86400.0)):
        MetricSnapshot.objects.create(metric="mtbf", scope="global", window=window, value=value, computed_at=at(29))
    section = weekly_report().section("metrics")
    rows = {row[0]: row[1:] for row in table_texts(section)}
    # Neither 7 nor 30 days is as long as 1000 h: judged over 90 days, where 45 days is above the target.
    assert rows["Mean time between failures (MTBF)"] == [
        "> 41 d 16 h",
        "5 d (not judged)",
        "20 d (not judged)",
        "90 days: 45 d (met)",
    ]
    assert section.summary.startswith(
        "Over the last 30 days (Mean time between failures (MTBF): over the longer window in the last column), "
    )
    assert f"1 of {len(metric_specs())} metrics met their target" in section.summary


def test_the_weekly_report_lists_the_incidents_of_the_week(week: dict[str, Any]) -> None:
    section = weekly_report().section("incidents")
    # Triggered Mon 23 - Sun 29: SEV-1 (24th), SEV-3 (25th), SEV-2 (29th); the SEV-4 of the 26th was cancelled.
    # Resolved in the week: the SEV-1 of the 24th and the SEV-2 triggered on the 20th (resolved on the 23rd).
    assert section.summary == (
        "3 incidents triggered (SEV-1: 1, SEV-2: 1, SEV-3: 1), 1 false alarm cancelled; "
        "2 incidents resolved in the period."
    )
    assert table_texts(section, 0) == [
        ["SEV-1", "1", "1", "0"],
        ["SEV-2", "1", "0", "0"],  # resolved Monday 01:00, after the week
        ["SEV-3", "1", "0", "0"],
        ["SEV-4", "0", "0", "1"],
    ]
    a, c = week["a"], week["c"]
    assert table_texts(section, 1) == [
        # 10:00 -> 10:06 acknowledged (6 min), 11:30 resolved (1 h 30 min).
        [f"{a.public_id} SEV-1", "Checkout", "SEV-1", "Resolved", "Tue 24 Nov 10:00", "6 min", "1 h 30 min"],
        # Sunday 23:00 -> 23:10 acknowledged (10 min), Monday 01:00 resolved (2 h).
        [f"{c.public_id} SEV-2", "Checkout", "SEV-2", "Resolved", "Sun 29 Nov 23:00", "10 min", "2 h"],
    ]
    assert section.tables[1].rows[0][0].url == f"/incidents/{a.pk}/"


def test_the_weekly_report_lists_overdue_reviews_and_action_items(week: dict[str, Any]) -> None:
    report = weekly_report()
    reviews = report.section("overdue-reviews")
    # Due Fri 27 Nov 00:00, now Mon 30 Nov 07:00: 3 days 7 hours late.
    assert reviews.summary == "1 review past its due time and not published."
    assert table_texts(reviews)[0][1:] == ["Checkout", "Draft", "Fri 27 Nov 00:00", "3 d 7 h"]
    items = report.section("overdue-action-items")
    # Due 25 Nov, today 30 Nov: 5 days; the item due today is not late yet, the done one is closed.
    assert items.summary == "1 action item open past its due date."
    assert table_texts(items) == [["Add a canary", "Olga Owner", "2026-11-25", "5 days", "Medium", week["a"].public_id]]


def test_the_weekly_report_lists_slos_at_risk(week: dict[str, Any]) -> None:
    section = weekly_report().section("slos-at-risk")
    assert section.summary == "1 SLO of 2 at risk (less than 25 % of the error budget left)."
    assert table_texts(section) == [["API availability", "Checkout", "10 %", "99.95 %", "99.9 %"]]


def test_the_weekly_report_sections_come_in_order(week: dict[str, Any]) -> None:
    assert [section.key for section in weekly_report().sections] == [
        "gates",
        "metrics",
        "incidents",
        "slos-at-risk",
        "changes",
        "overdue-reviews",
        "overdue-action-items",
        "support",
    ]


def test_the_text_part_aligns_tables_and_writes_links_out(week: dict[str, Any], settings: Settings) -> None:
    settings.OPSGOV_BASE_URL = "https://ops.example.com"
    rendered = reports.render_report(weekly_report())
    assert rendered.subject == "[opsgov] Weekly operations report: week 48 of 2026, Mon 23 Nov to Sun 29 Nov 2026"
    assert "Quality gates: changes since last week\n======================================" in rendered.text
    assert "<https://ops.example.com/gates/incident_management/>" in rendered.text
    assert f"<https://ops.example.com/incidents/{week['a'].pk}/>" in rendered.text
    assert "Written for SRE leads" in rendered.text
    assert "&lt;" not in rendered.text and "&gt;" not in rendered.text  # plain text is not HTML-escaped
    assert "< 15 min" in rendered.text
    assert 'href="https://ops.example.com/gates/incident_management/"' in rendered.html
    assert "&lt; 15 min" in rendered.html
    assert "https://ops.example.com/reports/subscriptions/" in rendered.html


def test_the_first_weekly_report_evaluates_the_gates_rather_than_report_no_evidence(clock: Any) -> None:
    # A fresh install: a service without an SLO or an escalation path, and no gate evaluated yet.
    ServiceFactory.create(slug="checkout", name="Checkout")
    section = weekly_report().section("gates")
    evaluations = GateEvaluation.objects.all()
    assert evaluations.count() == 8
    assert {evaluation.evaluated_at for evaluation in evaluations} == {MONDAY}
    failing = sorted(evaluation.gate for evaluation in evaluations if evaluation.status == GateStatus.FAIL)
    assert "monitoring" in failing and "incident_management" in failing
    assert section.summary.startswith(
        "No gate had an evaluation by the end of the week; shown instead: each gate's first evaluation after it "
        "(Mon 30 Nov 07:00): "
    )
    assert f"{len(failing)} fail" in section.summary
    assert "8 no evidence" not in section.summary
    rows = {row[0].split(". ", 1)[1]: row[1:] for row in table_texts(section)}
    assert rows["Monitoring and alerting active"] == ["not evaluated", "Fail (Mon 30 Nov 07:00)", "—", "0", "—"]
    # Built again later (a retried send): the evaluations made then are shown, none is added.
    with time_machine.travel(MONDAY + timedelta(hours=1), tick=False):
        again = weekly_report().section("gates")
    assert GateEvaluation.objects.count() == 8
    assert again.summary == section.summary


def test_an_older_week_is_never_evaluated_after_the_fact(clock: Any) -> None:
    ServiceFactory.create(slug="checkout", name="Checkout")
    period = ReportPeriod.containing("weekly", date(2026, 11, 11))  # two weeks before the last one
    section = reports.build_report(kind="weekly", period=period).section("gates")
    assert not GateEvaluation.objects.exists()
    assert section.summary == (
        "No gate had an evaluation by the end of the week: not evaluated, so never counted as passing "
        "(no later evaluation is shown for an older period)."
    )
    assert {row[2] for row in table_texts(section)} == {"not evaluated"}


def test_the_week_in_progress_says_so_rather_than_claim_its_end(clock: Any) -> None:
    evaluation("monitoring", GateStatus.PASS, at(30, 6))
    MetricSnapshot.objects.create(metric="mtta", scope="global", window="30d", value=60.0, computed_at=at(30, 6))
    period = ReportPeriod.containing("weekly", date(2026, 11, 30))  # Monday 30 November: the current week
    report = reports.build_report(kind="weekly", period=period)
    gates_ = report.section("gates")
    assert gates_.tables[0].columns[2] == "Now (week in progress)"
    assert gates_.summary.startswith("1 gate of 8 changed status over the week; so far: 1 pass. The other 7 had")
    assert report.section("metrics").notes[-1] == (
        "Organisation-wide figures as they stood now (Mon 30 Nov 07:00; the week is not over): "
        "the newest computed by then, computed Mon 30 Nov 06:00."
    )


#: A service name as long as some are, with a word longer than a narrow column.
LONG_NAME = "Payments settlement and reconciliation for the European Economic Area (EEA-regulated-tenants)"


def test_every_line_of_the_text_part_fits_in_100_columns(
    week: dict[str, Any], settings: Settings, make_user: Callable[..., User]
) -> None:
    settings.OPSGOV_BASE_URL = "https://ops.example.com"
    service = ServiceFactory.create(slug="payments-settlement-eea", name=LONG_NAME)
    slo = SLO.objects.create(service=service, name=f"{LONG_NAME} availability", objective_percent="99.95")
    SLOStatus.objects.create(
        slo=slo, evaluated_at=MONDAY, window_start=MONDAY - timedelta(days=30), window_end=MONDAY, budget_remaining=-0.5
    )
    failure = incident(service, "SEV-1", at(25, 3), title=f"{LONG_NAME} rejects every settlement file")
    PostIncidentReview.objects.create(incident=failure, due_at=at(26))
    owner = User.objects.create(username="pat", first_name="Patricia-Alexandra", last_name="Montgomery-Featherstone")
    ActionItem.objects.create(title=f"Retry {LONG_NAME} uploads", owner=owner, due_date=date(2026, 11, 20))
    lead, officer = make_user("sam", SRE_LEAD), make_user("carla", COMPLIANCE_OFFICER)
    with time_machine.travel(at(10), tick=False):
        GateWaiver.objects.create(
            gate="incident_management",
            evidence_key="escalation:payments-settlement-eea",
            service=service,
            reason="Rota being rebuilt",
            compensating_control=f"The {LONG_NAME} team lead carries the pager until the new rota starts",
            requested_by=officer,
            approver=lead,
            approved_at=at(10),
            expires_at=at(20, month=12),
        )

    weekly = reports.render_report(weekly_report()).text
    with time_machine.travel(FIRST_OF_MONTH, tick=False):
        monthly = reports.render_report(
            reports.build_report(kind="monthly", period=ReportPeriod.last_complete("monthly", timezone.now()))
        ).text
    for text in (weekly, monthly):
        too_long = [line for line in text.splitlines() if len(line) > 100]
        assert too_long == []
    # Nothing is cut off: the long names are wrapped, word by word, and the links stay whole.
    assert all(word in weekly for word in LONG_NAME.split())
    assert f"<https://ops.example.com/incidents/{failure.pk}/>" in weekly
    assert "<https://ops.example.com/gates/incident_management/>" in weekly
    # A link longer than a line is broken inside its <angle brackets> (RFC 3986, appendix C).
    link = next(line for line in weekly.splitlines() if "triggered_after=" in line)
    assert link.startswith("<https://ops.example.com/incidents/?triggered_after=")
    assert not link.endswith(">")


# --- Monthly content -----------------------------------------------------------------------------


def test_the_monthly_report_shows_gate_history_waivers_and_the_audit_trail(make_user: Callable[..., User]) -> None:
    officer = make_user("carla", COMPLIANCE_OFFICER)
    with time_machine.travel(at(31, 12, month=10), tick=False):
        evaluation("incident_management", GateStatus.PASS, timezone.now())
        team = services.team_create(slug="payments", name="Payments")  # October: not in November's trail
    with time_machine.travel(at(10, 9), tick=False), set_actor(officer):
        services.service_create(slug="checkout", name="Checkout", owner_team=team)
        ledger = services.service_create(slug="ledger", name="Ledger", owner_team=team)
        services.service_update(service=ledger, data={"description": "Money"})
        services.team_update(team=team, data={"email": "pay@example.com"})
        services.service_delete(service=ledger)
    evaluation("incident_management", GateStatus.FAIL, at(5))
    evaluation("incident_management", GateStatus.FAIL, at(10))
    evaluation("incident_management", GateStatus.PASS, at(20))
    evaluation("incident_management", GateStatus.PASS, at(25))
    evaluation("incident_management", GateStatus.FAIL, at(1, 1, month=12))  # December
    with time_machine.travel(FIRST_OF_MONTH, tick=False):
        report = reports.build_report(kind="monthly", period=ReportPeriod.last_complete("monthly", timezone.now()))
    # maintenance (order 45), compliance (order 50) and security (its patch report, order 60) contribute
    # sections between the waivers and the audit trail.
    assert [section.key for section in report.sections] == [
        "gate-history",
        "waivers",
        "patching",
        "compliance-status",
        "security-patches",
        "audit-trail",
    ]

    history = report.section("gate-history")
    assert history.summary == "2 status changes over the month; 1 of 8 gates were evaluated in it."
    rows = {row[0].split(". ", 1)[1]: row[1:] for row in table_texts(history)}
    # Pass at the start (31 Oct), fail 5th and 10th, pass 20th and 25th: 2 of 4 evaluations each.
    # Columns: status at the start and end, then the share of evaluations per status (pass, at risk,
    # fail, no evidence, waived), then the number of evaluations.
    assert rows["Incident management process active"] == ["Pass", "Pass", "50 %", "0 %", "50 %", "0 %", "0 %", "2"]
    assert rows["Backup and DR validated"] == ["not evaluated", "not evaluated", "—", "—", "—", "—", "—", "0"]
    assert table_texts(history, 1) == [
        ["Thu 5 Nov 00:00", "2. Incident management process active", "Pass", "Fail"],
        ["Fri 20 Nov 00:00", "2. Incident management process active", "Fail", "Pass"],
    ]

    waivers = report.section("waivers")
    assert not waivers.missing
    assert waivers.summary == "No check was waived this month."

    audit = report.section("audit-trail")
    # November: services created 2, updated 1, deleted 1; team updated 1 -- all by one person.
    assert audit.summary == "5 changes to governed records, made by 1 person (changes made by the system itself " + (
        "have no person) on 2 kinds of record."
    )
    assert table_texts(audit) == [["Services", "2", "1", "1", "0", "4"], ["Teams", "0", "1", "0", "0", "1"]]


def test_the_monthly_report_lists_the_waivers_alive_in_the_month(make_user: Callable[..., User]) -> None:
    officer, lead = make_user("carla", COMPLIANCE_OFFICER), make_user("sam", SRE_LEAD)
    checkout, search = ServiceFactory.create(slug="checkout", name="Checkout"), ServiceFactory.create(slug="search")

    def waiver(service: Any, created: datetime, **fields: Any) -> GateWaiver:
        with time_machine.travel(created, tick=False):
            return GateWaiver.objects.create(
                gate="incident_management",
                evidence_key=f"escalation:{service.slug}" if service is not None else "response_targets",
                service=service,
                reason="Rota being rebuilt",
                compensating_control="Team lead carries the pager",
                requested_by=officer,
                approver=lead,
                **fields,
            )

    # Approved in October, expiring 15 Nov: counted in November until it expired.
    waiver(checkout, at(20, month=10), approved_at=at(21, month=10), expires_at=at(15))
    # Revoked in October: not alive in November.
    waiver(
        search, at(2, month=10), approved_at=at(3, month=10), expires_at=at(31, month=12), revoked_at=at(9, month=10)
    )
    # Requested in November, approved: active at the month's end.
    waiver(search, at(20), approved_at=at(21), expires_at=at(1, month=2) + timedelta(days=365))
    # Requested in December: after the month.
    waiver(checkout, at(1, 1, month=12), expires_at=at(31, month=12))
    # An organisation-wide check (no service), requested in November and not approved: first of its gate.
    waiver(None, at(25), expires_at=at(20, month=12))
    with time_machine.travel(FIRST_OF_MONTH, tick=False):
        report = reports.build_report(kind="monthly", period=ReportPeriod.last_complete("monthly", timezone.now()))
    section = report.section("waivers")
    assert section.summary == (
        "3 waivers this month: 1 awaiting approval, 1 active, 1 expired. "
        "A waived check is shown as waived, never as passing."
    )
    assert [row[1:5] for row in table_texts(section)] == [
        ["response_targets", "organisation-wide", "Awaiting approval", "sam"],
        ["escalation:checkout", "Checkout", "Expired", "sam"],
        ["escalation:search", search.name, "Active", "sam"],
    ]


def test_a_section_an_app_registers_replaces_its_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(reports.EXPECTED_SECTIONS, "monthly", (("backups", "Backups", 30),))
    with time_machine.travel(FIRST_OF_MONTH, tick=False):
        placeholder = reports.build_report(kind="monthly", period=reports.parse_period("monthly", None))
    assert placeholder.section("backups").missing
    assert placeholder.section("backups").summary.startswith("Not tracked yet")

    def backups(*, period: ReportPeriod, now: datetime) -> Section:
        return Section(key="backups", title="Backups", summary="2 backups late.")

    provider = SectionProvider("backups", ("monthly",), "Backups", backups, order=30)
    reports.report_sections.register(provider)
    try:
        with time_machine.travel(FIRST_OF_MONTH, tick=False):
            report = reports.build_report(kind="monthly", period=reports.parse_period("monthly", None))
        assert report.section("backups").summary == "2 backups late."
        assert not report.section("backups").missing
    finally:
        reports.report_sections.unregister("backups")
    with pytest.raises(ValueError, match="unknown report kinds"):
        reports.report_sections.register(SectionProvider("x", ("daily",), "X", backups))


# --- Recipients ----------------------------------------------------------------------------------


@pytest.fixture
def people(make_user: Callable[..., User]) -> dict[str, User]:
    return {
        "lead": make_user("lead", SRE_LEAD),
        "quiet": make_user("quiet", SRE_LEAD),  # opts out below
        "curious": make_user("curious", COMPLIANCE_OFFICER),  # opts in to the weekly report below
        "officer": make_user("officer", COMPLIANCE_OFFICER),
        "no_email": make_user("no_email", SRE_LEAD, email=""),
        "gone": make_user("gone", SRE_LEAD, is_active=False),
        "outsider": make_user("outsider"),
    }


def test_recipients_are_the_role_unless_opted_out_plus_those_who_opted_in(people: dict[str, User]) -> None:
    reports.set_subscription(user=people["quiet"], kind="weekly", subscribed=False)
    reports.set_subscription(user=people["curious"], kind="weekly", subscribed=True)
    assert [user.username for user in reports.recipients("weekly")] == ["lead", "curious"]
    assert [user.username for user in reports.recipients("monthly")] == ["curious", "officer"]
    reports.set_subscription(user=people["officer"], kind="monthly", subscribed=False)
    assert [user.username for user in reports.recipients("monthly")] == ["curious"]
    assert ReportSubscription.objects.count() == 3


def test_a_report_is_sent_once_per_period_and_recipient(people: dict[str, User], clock: Any) -> None:
    reports.set_subscription(user=people["quiet"], kind="weekly", subscribed=False)
    period = reports.parse_period("weekly", None)
    first = reports.send_report(kind="weekly", period=period)
    assert sorted(first.sent) == ["lead@example.com"]
    second = reports.send_report(kind="weekly", period=period)
    assert (second.sent, second.already_sent) == ([], ["lead@example.com"])
    assert [message.to for message in mail.outbox] == [["lead@example.com"]]
    [message] = mail.outbox
    assert message.subject.startswith("[opsgov] Weekly operations report: week 48 of 2026")
    assert isinstance(message, EmailMultiAlternatives)
    assert message.alternatives[0][1] == "text/html"
    delivery = ReportDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.period_start, delivery.period_end) == (
        DeliveryStatus.SENT,
        1,
        date(2026, 11, 23),
        date(2026, 11, 30),
    )
    # Another period is another report.
    reports.send_report(kind="weekly", period=period.previous())
    assert len(mail.outbox) == 2


def test_the_beat_task_run_twice_sends_once(people: dict[str, User], clock: Any) -> None:
    first = send_scheduled_report("weekly")
    second = send_scheduled_report("weekly")
    assert (first["sent"], first["period_start"]) == (2, "2026-11-23")  # lead and quiet
    assert (second["sent"], second["already_sent"]) == (0, 2)
    assert sorted(message.to[0] for message in mail.outbox) == ["lead@example.com", "quiet@example.com"]


def test_a_delivery_another_sender_holds_is_left_alone_until_its_lease_expires(
    people: dict[str, User], clock: Any
) -> None:
    period = reports.parse_period("weekly", None)
    ReportDelivery.objects.create(
        kind="weekly",
        period_start=period.first_day,
        period_end=period.next_day,
        user=people["quiet"],
        email="quiet@example.com",
        status=DeliveryStatus.SENDING,
        attempts=1,
        lease_until=MONDAY + timedelta(minutes=5),
    )
    result = reports.send_report(kind="weekly", period=period)
    assert (result.sent, result.busy) == (["lead@example.com"], ["quiet@example.com"])
    clock.shift(timedelta(minutes=6))  # the other sender died: its lease ran out
    result = reports.send_report(kind="weekly", period=period)
    assert (result.sent, result.already_sent) == (["quiet@example.com"], ["lead@example.com"])
    assert ReportDelivery.objects.get(user=people["quiet"]).attempts == 2
    assert sorted(message.to[0] for message in mail.outbox) == ["lead@example.com", "quiet@example.com"]


def test_nothing_is_built_or_sent_without_recipients(clock: Any) -> None:
    result = reports.send_report(kind="monthly", period=reports.parse_period("monthly", None))
    assert result.as_dict()["sent"] == 0
    assert not ReportDelivery.objects.exists()
    assert mail.outbox == []


# --- The settings page ---------------------------------------------------------------------------


def test_the_settings_page_shows_the_defaults_of_the_role(client: Client, people: dict[str, User]) -> None:
    client.force_login(people["lead"])
    response = client.get(reverse("report-subscriptions"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="weekly" aria-describedby="id_weekly_helptext" id="id_weekly" checked>' in body
    assert 'name="monthly" aria-describedby="id_monthly_helptext" id="id_monthly">' in body
    assert 'id="id_weekly_helptext"' in body
    assert "Sent to you by default as SRE Lead." in body
    assert "Sent by default to Compliance Officers; you can opt in." in body
    assert 'href="/reports/subscriptions/"' in body  # in the navigation


def test_opting_out_on_the_settings_page_is_honoured_by_the_next_report(
    client: Client, people: dict[str, User], clock: Any
) -> None:
    client.force_login(people["lead"])
    response = client.post(reverse("report-subscriptions"), {"monthly": "on"})  # weekly unticked: opt out
    assert response.status_code == 302
    assert dict(ReportSubscription.objects.filter(user=people["lead"]).values_list("kind", "subscribed")) == {
        "weekly": False,
        "monthly": True,
    }
    reports.send_report(kind="weekly", period=reports.parse_period("weekly", None))
    assert [message.to for message in mail.outbox] == [["quiet@example.com"]]  # not the lead any more
    mail.outbox.clear()
    reports.send_report(kind="monthly", period=reports.parse_period("monthly", None))
    assert sorted(message.to[0] for message in mail.outbox) == [
        "curious@example.com",
        "lead@example.com",
        "officer@example.com",
    ]


def test_the_settings_page_needs_a_login(client: Client) -> None:
    response = client.get(reverse("report-subscriptions"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
