"""The gate engine on fixtures: every gate state, waivers applied and expiring, status-change emails once."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.core import mail
from django.core.management import CommandError, call_command

import opsgov.migrations
from incidents.gates import IncidentManagementGate
from opsgov.gates import services as gates_engine
from opsgov.gates import tasks as gate_tasks
from opsgov.gates import waivers
from opsgov.models import GateEvaluation, GateNotification, GateNotificationStatus, GateStatus, GateWaiver
from opsgov.registry import GateResult, gates
from opsgov.roles import SECURITY_LEAD
from security import access_reviews, training
from security import services as security_services
from security.models import Course

from ..factories import ServiceFactory
from ..monitoring.catalog_helpers import make_runbook
from ..security.support import trivy
from .gate_support import KEY, NOW, ScriptedGate, World, row, script, scripted_gate, world

__all__ = ["scripted_gate", "world"]  # fixtures used by the tests below

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def evaluate(now: Any = NOW) -> GateEvaluation:
    return gates_engine.evaluate_gate(gate=gates.get(KEY), now=now)


# --- Each state -------------------------------------------------------------------------------


def test_a_gate_whose_rows_all_pass_passes(scripted_gate: type[ScriptedGate], world: World) -> None:
    script(GateStatus.PASS, row(GateStatus.PASS, "checkout", "escalation:checkout"))
    evaluation = evaluate()
    assert (evaluation.status, evaluation.reason) == (GateStatus.PASS, "scripted pass")
    assert evaluation.evidence[0]["key"] == "escalation:checkout"


def test_an_at_risk_row_makes_the_gate_at_risk(scripted_gate: type[ScriptedGate], world: World) -> None:
    script(
        GateStatus.AT_RISK,
        row(GateStatus.PASS, "checkout", "a:checkout"),
        row(GateStatus.AT_RISK, "search", "a:search"),
    )
    assert evaluate().status == GateStatus.AT_RISK


def test_a_failing_row_fails_the_gate(scripted_gate: type[ScriptedGate], world: World) -> None:
    script(GateStatus.FAIL, row(GateStatus.FAIL, "checkout", "escalation:checkout"))
    evaluation = evaluate()
    assert evaluation.status == GateStatus.FAIL
    assert GateStatus(evaluation.status).badge == "danger"


def test_areas_not_built_report_no_evidence_never_pass() -> None:
    evaluations = {evaluation.gate: evaluation for evaluation in gates_engine.evaluate_gates(now=NOW)}
    # monitoring, maintenance, security, compliance, support and backups have no records yet;
    # with no service, incident management has nothing to judge either.
    for key in ("monitoring", "maintenance", "security_operations", "compliance", "support", "backup_dr"):
        assert evaluations[key].status == GateStatus.NO_EVIDENCE, key
        assert evaluations[key].reason.startswith("No evidence")
        assert evaluations[key].evidence == []
    assert GateStatus.NO_EVIDENCE.badge == "muted"


def test_a_waived_failing_check_shows_as_waived_and_the_gate_as_waived_not_pass(
    scripted_gate: type[ScriptedGate], world: World
) -> None:
    script(
        GateStatus.FAIL,
        row(GateStatus.FAIL, "checkout", "escalation:checkout", label="Checkout: no escalation policy"),
        row(GateStatus.PASS, "search", "escalation:search"),
    )
    evaluate()
    waiver = world.waiver()  # approving re-evaluates the gate at once

    evaluation = GateEvaluation.objects.filter(gate=KEY).latest("pk")
    assert evaluation.status == GateStatus.WAIVED
    assert evaluation.status != GateStatus.PASS and GateStatus.WAIVED.badge == "info"
    assert evaluation.reason == (
        "Passes only because of 1 waived check (first expiry 2026-12-25 12:00): Checkout: no escalation policy"
    )
    checkout, search = evaluation.evidence
    assert checkout["status"] == "waived"
    assert checkout["waiver"] == {
        "id": waiver.pk,
        "expires_at": "2026-12-25T12:00:00+00:00",
        "approver": "sre",
        "status": "fail",
    }
    assert search["status"] == "pass" and "waiver" not in search


def test_a_waiver_lifts_only_its_row_the_rest_still_counts(scripted_gate: type[ScriptedGate], world: World) -> None:
    script(
        GateStatus.FAIL,
        row(GateStatus.FAIL, "checkout", "escalation:checkout"),
        row(GateStatus.AT_RISK, "search", "review_overdue:INC-7"),
    )
    evaluate()
    world.waiver()
    evaluation = GateEvaluation.objects.filter(gate=KEY).latest("pk")
    assert evaluation.status == GateStatus.AT_RISK
    assert evaluation.reason == "scripted fail (1 waived check not counted)"
    assert [r["status"] for r in evaluation.evidence] == ["waived", "at_risk"]


def test_a_waiver_matches_its_service_only(scripted_gate: type[ScriptedGate], world: World) -> None:
    script(GateStatus.FAIL, row(GateStatus.FAIL, "checkout", "latency"), row(GateStatus.FAIL, "search", "latency"))
    evaluate()
    world.waiver(key="latency", service=world.checkout)
    evaluation = GateEvaluation.objects.filter(gate=KEY).latest("pk")
    assert evaluation.status == GateStatus.FAIL
    assert [(r["service"], r["status"]) for r in evaluation.evidence] == [("checkout", "waived"), ("search", "fail")]


def test_a_verdict_the_rows_do_not_explain_is_not_lifted_by_waivers(
    scripted_gate: type[ScriptedGate], world: World
) -> None:
    # The gate fails on its own judgement (e.g. a global figure) while its only row is at risk.
    script(GateStatus.FAIL, row(GateStatus.AT_RISK, "checkout", "escalation:checkout"), reason="global failure")
    evaluate()
    world.waiver()
    assert GateEvaluation.objects.filter(gate=KEY).latest("pk").status == GateStatus.FAIL


def test_an_expired_waiver_counts_no_more_at_the_next_evaluation(
    scripted_gate: type[ScriptedGate], world: World
) -> None:
    script(GateStatus.FAIL, row(GateStatus.FAIL, "checkout", "escalation:checkout"))
    evaluate()
    world.waiver(expires_in=timedelta(days=7))
    assert GateEvaluation.objects.filter(gate=KEY).latest("pk").status == GateStatus.WAIVED

    just_before = evaluate(NOW + timedelta(days=7) - timedelta(seconds=1))
    assert just_before.status == GateStatus.WAIVED
    at_expiry = evaluate(NOW + timedelta(days=7))
    assert at_expiry.status == GateStatus.FAIL
    assert at_expiry.evidence[0]["status"] == "fail" and "waiver" not in at_expiry.evidence[0]
    assert (at_expiry.previous_status, at_expiry.status_changed) == ("waived", True)


def test_a_pending_or_revoked_waiver_does_not_count(scripted_gate: type[ScriptedGate], world: World) -> None:
    script(GateStatus.FAIL, row(GateStatus.FAIL, "checkout", "escalation:checkout"))
    evaluate()
    pending = world.waiver(approve=False)
    assert evaluate().status == GateStatus.FAIL
    waivers.waiver_approve(waiver=pending, actor=world.sre, now=NOW)
    assert GateEvaluation.objects.filter(gate=KEY).latest("pk").status == GateStatus.WAIVED
    waivers.waiver_revoke(waiver=pending, actor=world.tech, reason="rota in place", now=NOW)  # re-evaluates
    assert GateEvaluation.objects.filter(gate=KEY).latest("pk").status == GateStatus.FAIL


def test_the_incident_gate_fails_is_waived_and_fails_again_after_expiry(world: World) -> None:
    """A real gate: two services without an escalation policy fail it; waiving both makes it waived."""
    gate = gates.get("incident_management")
    first = gates_engine.evaluate_gate(gate=gate, now=NOW)
    assert first.status == GateStatus.FAIL
    assert {r["key"] for r in first.evidence} == {"escalation:checkout", "escalation:search"}
    for service in (world.checkout, world.search):
        waiver = waivers.waiver_request(
            gate="incident_management",
            evidence_key=f"escalation:{service.slug}",
            service=service,
            reason="New service",
            compensating_control="Platform on-call covers it",
            approver=world.sre,
            expires_at=NOW + timedelta(days=14),
            requested_by=world.tech,
            now=NOW,
        )
        waivers.waiver_approve(waiver=waiver, actor=world.sre, now=NOW)
    assert gates_engine.evaluate_gate(gate=gate, now=NOW).status == GateStatus.WAIVED
    assert gates_engine.evaluate_gate(gate=gate, now=NOW + timedelta(days=14)).status == GateStatus.FAIL
    assert isinstance(gate, IncidentManagementGate)


def test_an_organisation_wide_waiver_covers_the_row_about_no_service_only(
    scripted_gate: type[ScriptedGate], world: World
) -> None:
    script(
        GateStatus.FAIL,
        row(GateStatus.FAIL, "", "latency", label="Latency over target (all services)"),
        row(GateStatus.FAIL, "checkout", "latency", label="Checkout: latency over target"),
    )
    evaluate()
    org_wide = world.waiver(key="latency", organisation_wide=True)
    evaluation = GateEvaluation.objects.filter(gate=KEY).latest("pk")
    assert evaluation.status == GateStatus.FAIL  # the service's row of the same key still counts
    assert [(r["service"], r["status"]) for r in evaluation.evidence] == [("", "waived"), ("checkout", "fail")]
    assert evaluation.evidence[0]["waiver"] == {
        "id": org_wide.pk,
        "expires_at": "2026-12-25T12:00:00+00:00",
        "approver": "sre",
        "status": "fail",
    }
    # And a waiver of the service's row covers that row only.
    world.waiver(key="latency", service=world.checkout, expires_in=timedelta(days=10))
    evaluation = GateEvaluation.objects.filter(gate=KEY).latest("pk")
    assert [r["status"] for r in evaluation.evidence] == ["waived", "waived"]
    assert evaluation.status == GateStatus.WAIVED
    assert evaluation.reason == (
        "Passes only because of 2 waived checks (first expiry 2026-12-05 12:00): "
        "Latency over target (all services); Checkout: latency over target"
    )


def security_records(make_user: Callable[..., User], *, runbook: bool = True) -> list[User]:
    """The security gate's records with only its organisation-wide training row failing; returns 3 Security Leads.

    A service with a scan of yesterday and no finding, no security alert, an access review closed
    10 days ago, the security incident runbook reviewed this month (unless `runbook` is false: then
    that row has no evidence), and a course for Security Leads completed by 2 of the 3 (67 % < 80 %).
    """
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    security_services.resolve_asset(name="img", create=True, service=service)
    security_services.import_scan(report=trivy("app", []), asset_name="img", now=NOW - timedelta(days=1))
    leads = [make_user(name, SECURITY_LEAD, date_joined=NOW - timedelta(days=400)) for name in ("sl1", "sl2", "sl3")]
    campaign = access_reviews.open_campaign(title="Q4 review", actor=leads[0], now=NOW - timedelta(days=15))
    for account in campaign.accounts.all():
        reviewer = leads[1] if account.user == leads[0] else leads[0]
        access_reviews.decide(row=account, decision="keep", actor=reviewer, now=NOW - timedelta(days=11))
    access_reviews.close_campaign(campaign=campaign, actor=leads[0], now=NOW - timedelta(days=10))
    course = Course.objects.create(slug="phishing", title="Phishing", starts_at=NOW - timedelta(days=90))
    course.roles.set(Group.objects.filter(name=SECURITY_LEAD))
    for lead in leads[:2]:
        training.record_completion(course=course, user=lead, completed_at=NOW - timedelta(days=20), actor=None, now=NOW)
    if runbook:
        make_runbook("security-incident", reviewed=date(2026, 11, 1))
    return leads


def waive_training(leads: list[User], *, expires_in: timedelta = timedelta(days=14)) -> GateWaiver:
    return waivers.waiver_request(
        gate="security_operations",
        evidence_key="training",
        service=None,
        reason="The new course platform goes live next month",
        compensating_control="Phishing simulation results reviewed weekly",
        approver=leads[1],
        expires_at=NOW + expires_in,
        requested_by=leads[0],
        now=NOW,
    )


def test_the_security_gates_training_row_is_waived_organisation_wide_until_it_expires(
    make_user: Callable[..., User],
) -> None:
    """A real gate whose only failing row is about no service: awareness training below its target."""
    leads = security_records(make_user)
    gate = gates.get("security_operations")
    first = gates_engine.evaluate_gate(gate=gate, now=NOW)
    assert first.status == GateStatus.FAIL
    assert [(r["key"], r["service"], r["label"]) for r in first.evidence if r["status"] != "pass"] == [
        ("training", "", "Training completion below target (67 % < 80 %)")
    ]
    waiver = waive_training(leads)
    assert gates_engine.evaluate_gate(gate=gate, now=NOW).status == GateStatus.FAIL  # pending: does not count

    waivers.waiver_approve(waiver=waiver, actor=leads[1], now=NOW)  # re-evaluates the gate
    waived = GateEvaluation.objects.filter(gate="security_operations").latest("pk")
    assert waived.status == GateStatus.WAIVED  # never pass
    assert waived.reason == (
        "Passes only because of 1 waived check (first expiry 2026-12-09 12:00): "
        "Training completion below target (67 % < 80 %)"
    )
    (row_waived,) = [r for r in waived.evidence if r["key"] == "training"]
    assert (row_waived["status"], row_waived["waiver"]["id"], row_waived["waiver"]["status"]) == (
        "waived",
        waiver.pk,
        "fail",
    )

    expired = gates_engine.evaluate_gate(gate=gate, now=NOW + timedelta(days=14))
    (row_back,) = [r for r in expired.evidence if r["key"] == "training"]
    assert (expired.status, row_back["status"], "waiver" in row_back) == (GateStatus.FAIL, "fail", False)


def test_a_waiver_never_stands_in_for_missing_evidence(scripted_gate: type[ScriptedGate], world: World) -> None:
    script(
        GateStatus.FAIL,
        row(GateStatus.FAIL, "checkout", "escalation:checkout", label="Checkout: no escalation policy"),
        row(GateStatus.NO_EVIDENCE, "", "response_targets", label="No incident in the window"),
    )
    evaluate()
    world.waiver()
    evaluation = GateEvaluation.objects.filter(gate=KEY).latest("pk")
    assert evaluation.status == GateStatus.NO_EVIDENCE  # not "waived": the second row has no evidence
    assert evaluation.reason == "No evidence: No incident in the window (1 waived check not counted)"
    assert [r["status"] for r in evaluation.evidence] == ["waived", "no_evidence"]


def test_the_security_gate_with_its_training_waived_but_no_incident_runbook_has_no_evidence(
    make_user: Callable[..., User],
) -> None:
    leads = security_records(make_user, runbook=False)
    gate = gates.get("security_operations")
    assert gates_engine.evaluate_gate(gate=gate, now=NOW).status == GateStatus.FAIL  # training fails
    waivers.waiver_approve(waiver=waive_training(leads), actor=leads[1], now=NOW)
    evaluation = GateEvaluation.objects.filter(gate="security_operations").latest("pk")
    # What the gate itself says of a row without evidence once nothing fails: no evidence, never waived.
    assert evaluation.status == GateStatus.NO_EVIDENCE
    assert evaluation.reason == (
        "No evidence: No security incident runbook (security-incident) (1 waived check not counted)"
    )


def test_a_gate_that_raises_is_no_evidence_and_the_others_still_run(
    scripted_gate: type[ScriptedGate], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: ScriptedGate, *, now: Any) -> GateResult:
        raise RuntimeError("query timed out")

    monkeypatch.setattr(ScriptedGate, "evaluate", broken)
    evaluations = {evaluation.gate: evaluation for evaluation in gates_engine.evaluate_gates(now=NOW)}
    assert evaluations[KEY].status == GateStatus.NO_EVIDENCE
    assert evaluations[KEY].reason == "Could not evaluate: RuntimeError: query timed out"
    assert len(evaluations) == len(gates.all())


# --- History ----------------------------------------------------------------------------------


def test_each_evaluation_records_the_previous_status_and_whether_it_changed(
    scripted_gate: type[ScriptedGate], world: World
) -> None:
    sequence = [GateStatus.PASS, GateStatus.PASS, GateStatus.FAIL, GateStatus.FAIL, GateStatus.PASS]
    stored = []
    for minutes, status in enumerate(sequence):
        script(status, row(status, "checkout", "escalation:checkout"))
        stored.append(evaluate(NOW + timedelta(minutes=5 * minutes)))
    assert [(e.previous_status, e.status, e.status_changed) for e in stored] == [
        ("", "pass", True),
        ("pass", "pass", False),
        ("pass", "fail", True),
        ("fail", "fail", False),
        ("fail", "pass", True),
    ]


def test_the_migration_marks_status_changes_of_evaluations_stored_before_it(scripted_gate: type[ScriptedGate]) -> None:
    for minutes, status in enumerate(["pass", "pass", "fail", "pass"]):
        GateEvaluation.objects.create(
            gate=KEY, status=status, reason="old", evaluated_at=NOW + timedelta(minutes=minutes)
        )
    GateEvaluation.objects.create(gate="other", status="fail", reason="old", evaluated_at=NOW)
    # Found by name: the migration's number may change when branches are merged.
    [name] = [
        info.name for info in pkgutil.iter_modules(opsgov.migrations.__path__) if info.name.endswith("_gate_engine")
    ]
    migration = importlib.import_module(f"opsgov.migrations.{name}")
    migration.mark_status_changes(apps, None)
    rows = GateEvaluation.objects.filter(gate=KEY).order_by("evaluated_at")
    assert [(e.previous_status, e.status_changed) for e in rows] == [
        ("", True),
        ("pass", False),
        ("pass", True),
        ("fail", True),
    ]
    assert GateEvaluation.objects.get(gate="other").status_changed is True


# --- Notifications ------------------------------------------------------------------------------


def destinations(evaluation: GateEvaluation) -> set[str]:
    return set(GateNotification.objects.filter(evaluation=evaluation).values_list("destination", flat=True))


def test_a_status_change_notifies_the_owners_and_the_teams_concerned_once(
    scripted_gate: type[ScriptedGate], world: World, django_capture_on_commit_callbacks: Any
) -> None:
    script(GateStatus.PASS, row(GateStatus.PASS, "checkout", "escalation:checkout"))
    first = evaluate()
    assert destinations(first) == set()  # the first evaluation is not a change

    script(
        GateStatus.FAIL, row(GateStatus.FAIL, "checkout", "escalation:checkout"), row(GateStatus.PASS, "search", "x")
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        changed = evaluate(NOW + timedelta(minutes=5))
    # Owner roles SRE Lead and Tech Lead (sre, sre2, tech); checkout's team has the failing row.
    assert destinations(changed) == {"sre@example.com", "sre2@example.com", "tech@example.com", "platform@example.com"}
    assert len(callbacks) == 1  # one enqueue of the change's deliveries, on commit

    outcome = gate_tasks.deliver_gate_notifications(changed.pk)
    assert outcome == {"sent": 4}
    assert len(mail.outbox) == 4
    message = next(m for m in mail.outbox if m.to == ["sre@example.com"])
    assert message.subject == "[opsgov] Scripted gate: Fail (was Pass)"
    assert "Hello Sam Reyes," in message.body
    assert "http://127.0.0.1:8000/gates/scripted/" in message.body
    [(html, mimetype)] = message.alternatives  # type: ignore[attr-defined]
    assert mimetype == "text/html" and 'href="http://127.0.0.1:8000/gates/scripted/"' in str(html)

    # A redelivered task sends nothing twice.
    assert gate_tasks.deliver_gate_notifications(changed.pk) == {}
    assert len(mail.outbox) == 4

    unchanged = evaluate(NOW + timedelta(minutes=10))
    assert destinations(unchanged) == set()
    assert GateNotification.objects.count() == 4


def test_two_evaluations_racing_from_the_same_previous_one_notify_once(
    scripted_gate: type[ScriptedGate], world: World
) -> None:
    script(GateStatus.PASS, row(GateStatus.PASS, "checkout", "escalation:checkout"))
    previous = evaluate()
    gate = gates.get(KEY)
    failing = [row(GateStatus.FAIL, "checkout", "escalation:checkout").as_json()]
    one = GateEvaluation.objects.create(gate=KEY, status="fail", reason="a", evidence=failing, evaluated_at=NOW)
    two = GateEvaluation.objects.create(gate=KEY, status="fail", reason="b", evidence=failing, evaluated_at=NOW)
    gates_engine.notify_change(gate=gate, evaluation=one, previous=previous, now=NOW)
    gates_engine.notify_change(gate=gate, evaluation=two, previous=previous, now=NOW)
    assert GateNotification.objects.filter(evaluation=one).count() == 4
    assert GateNotification.objects.filter(evaluation=two).count() == 0


def test_a_failed_send_is_retried_by_the_sweeper_after_its_delay(
    scripted_gate: type[ScriptedGate], world: World, settings: Any
) -> None:
    script(GateStatus.PASS, row(GateStatus.PASS, "search", "x"))
    evaluate()
    script(GateStatus.FAIL, row(GateStatus.FAIL, "search", "x"))
    changed = evaluate(NOW + timedelta(minutes=5))
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2  # nobody listens on port 1

    at = NOW + timedelta(minutes=5)
    assert gates_engine.deliver_for_evaluation(evaluation_id=changed.pk, now=at) == {"pending": 4}
    failed = GateNotification.objects.filter(evaluation=changed).first()
    assert failed is not None and failed.attempts == 1 and "Error" in failed.last_error
    assert gates_engine.due_notification_evaluations(now=at + timedelta(seconds=59)) == []
    assert gates_engine.due_notification_evaluations(now=at + timedelta(minutes=1)) == [changed.pk]

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert gates_engine.deliver_for_evaluation(evaluation_id=changed.pk, now=at + timedelta(minutes=1)) == {"sent": 4}
    assert set(GateNotification.objects.values_list("status", flat=True)) == {GateNotificationStatus.SENT}
    assert len(mail.outbox) == 4


def test_the_sweeper_takes_a_notification_whose_enqueue_was_lost_after_the_grace(
    scripted_gate: type[ScriptedGate], world: World
) -> None:
    script(GateStatus.PASS, row(GateStatus.PASS, "search", "x"))
    evaluate()
    script(GateStatus.AT_RISK, row(GateStatus.AT_RISK, "search", "x"))
    changed = evaluate(NOW)
    assert gates_engine.due_notification_evaluations(now=NOW + timedelta(seconds=29)) == []
    assert gates_engine.due_notification_evaluations(now=NOW + timedelta(seconds=30)) == [changed.pk]


# --- The command ------------------------------------------------------------------------------


def test_the_command_prints_each_gate_status_and_the_change(scripted_gate: type[ScriptedGate], world: World) -> None:
    script(GateStatus.PASS, row(GateStatus.PASS, "checkout", "escalation:checkout"))
    evaluate(NOW - timedelta(minutes=5))
    script(GateStatus.FAIL, row(GateStatus.FAIL, "checkout", "escalation:checkout"), reason="checkout has no rota")
    out = StringIO()
    call_command("evaluate_gates", "--gate", KEY, stdout=out)
    assert out.getvalue().splitlines() == ["scripted  Fail (was Pass): checkout has no rota", "Evaluated 1 gate(s)."]

    out = StringIO()
    call_command("evaluate_gates", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(gates.all()) + 1
    assert any(line.startswith("backup_dr") for line in lines)  # every registered gate, built or not


def test_the_command_names_an_unknown_gate() -> None:
    with pytest.raises(CommandError, match="Unknown gate\\(s\\): nope"):
        call_command("evaluate_gates", "--gate", "nope")


def test_the_evaluate_task_runs_one_gate_by_key(scripted_gate: type[ScriptedGate], world: World) -> None:
    script(GateStatus.AT_RISK, row(GateStatus.AT_RISK, "checkout", "escalation:checkout"))
    assert gate_tasks.evaluate_gate(KEY) == "at_risk"
    assert GateEvaluation.objects.filter(gate=KEY).count() == 1
    assert gate_tasks.evaluate_gate("no-longer-registered") is None
