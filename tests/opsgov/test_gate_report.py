"""GateReport: the one way a gate turns its evidence rows and problems into a status and a reason."""

from __future__ import annotations

from opsgov.models import GateStatus
from opsgov.registry import SEVERITY, Evidence, GateReport, worst

PASS, AT_RISK, FAIL, NO_EVIDENCE = GateStatus.PASS, GateStatus.AT_RISK, GateStatus.FAIL, GateStatus.NO_EVIDENCE


def row(label: str, status: GateStatus, detail: str = "") -> Evidence:
    return Evidence(label, status, detail, key=label.lower().replace(" ", "-"))


def test_the_worst_status_wins_failure_over_missing_evidence_over_risk() -> None:
    assert worst([PASS, AT_RISK, PASS]) == AT_RISK
    assert worst([AT_RISK, NO_EVIDENCE, PASS]) == NO_EVIDENCE
    assert worst([NO_EVIDENCE, FAIL, AT_RISK]) == FAIL
    assert worst(["pass", "at_risk"]) == AT_RISK  # a row's status may be the stored string
    assert worst([]) == NO_EVIDENCE
    assert sorted(SEVERITY, key=SEVERITY.__getitem__) == [PASS, AT_RISK, NO_EVIDENCE, FAIL]


def test_a_passing_report_gives_the_pass_reason_and_its_rows() -> None:
    report = GateReport()
    report.add(row("A", PASS), "without an SLO", noun="service")
    report.add(row("B", PASS))
    result = report.result("All 2 services pass.")
    assert (result.status, result.reason) == (PASS, "All 2 services pass.")
    assert [r.label for r in result.evidence] == ["A", "B"]
    assert report.problems == []  # a passing row counts no problem


def test_problems_are_counted_per_kind_in_the_order_first_found() -> None:
    report = GateReport()
    report.add(row("a stale", FAIL), "with stale SLI data", noun="service")
    report.add(row("a runbook", AT_RISK), "overdue for review", noun="runbook")
    report.add(row("b stale", FAIL), "with stale SLI data", noun="service")
    report.add(row("c fresh", PASS), "with stale SLI data", noun="service")
    report.add(row("b runbook", AT_RISK), "overdue for review", noun="runbook")
    report.add(row("c runbook", AT_RISK), "overdue for review", noun="runbook")
    report.add(row("rule", FAIL), "without a runbook", noun="alert rule")
    result = report.result("unused")
    assert result.status == FAIL
    assert result.reason == (
        "2 services with stale SLI data; 3 runbooks overdue for review; 1 alert rule without a runbook."
    )
    assert len(result.evidence) == 7


def test_without_a_noun_the_problem_is_read_as_is_after_its_count() -> None:
    report = GateReport()
    report.add(row("a", FAIL), "of 4 services without a window")
    report.add(row("b", FAIL), "of 4 services without a window")
    assert report.result("unused").reason == "2 of 4 services without a window."


def test_a_noun_agrees_with_its_count_and_may_name_its_plural() -> None:
    report = GateReport()
    report.add(row("a", FAIL), "without an approved window", noun="service")
    report.add(row("b", AT_RISK), "below target", noun="patch compliance figure")
    report.add(row("c", AT_RISK), "below target", noun="patch compliance figure")
    report.add(row("d", FAIL), "overdue", noun="maintenance activity|maintenance activities")
    report.add(row("e", FAIL), "overdue", noun="maintenance activity|maintenance activities")
    report.add(row("f", FAIL), "past 48 h", noun="critical security patch|critical security patches")
    assert report.result("unused").reason == (
        "1 service without an approved window; 2 patch compliance figures below target; "
        "2 maintenance activities overdue; 1 critical security patch past 48 h."
    )


def test_the_same_words_with_another_noun_are_another_problem() -> None:
    report = GateReport()
    report.add(row("a", FAIL), "without a runbook", noun="service")
    report.add(row("b", FAIL), "without a runbook", noun="alert rule")
    report.add(row("c", FAIL), "without a runbook", noun="alert rule")
    assert report.problems == ["1 service without a runbook", "2 alert rules without a runbook"]


def test_stated_problems_keep_their_words_and_their_place_among_counted_ones() -> None:
    report = GateReport()
    report.add(row("scan", FAIL), "without a fresh scan", noun="service")
    report.state("3 critical/high findings past SLA without acceptance")
    report.state(None)  # a check that found no problem states none
    report.state("")
    report.extend([row("x", AT_RISK), row("y", AT_RISK)], "findings overdue")
    report.add(row("scan 2", FAIL), "without a fresh scan", noun="service")
    assert report.problems == [
        "2 services without a fresh scan",
        "3 critical/high findings past SLA without acceptance",
        "2 findings overdue",
    ]


def test_at_risk_rows_alone_make_the_gate_at_risk() -> None:
    report = GateReport()
    report.add(row("ok", PASS))
    report.add(row("late", AT_RISK))
    report.state("the monthly report was not sent")
    result = report.result("unused", end="")
    assert (result.status, result.reason) == (AT_RISK, "the monthly report was not sent")


def test_missing_evidence_with_nothing_failing_names_the_rows_without_evidence() -> None:
    report = GateReport()
    report.add(row("Scanned", PASS))
    report.add(row("No awareness training assigned", NO_EVIDENCE))
    report.add(row("Access review in progress", AT_RISK))
    report.state("no access review completed within 3 months (Q1 in progress)")
    report.add(row("No security incident runbook", NO_EVIDENCE))
    result = report.result("unused")
    assert result.status == NO_EVIDENCE
    assert (
        result.reason == "Nothing fails; no evidence yet: No awareness training assigned; No security incident runbook."
    )


def test_a_failure_outweighs_missing_evidence_in_status_and_reason() -> None:
    report = GateReport()
    report.add(row("No awareness training assigned", NO_EVIDENCE))
    report.add(row("Training below target", FAIL))
    report.state("training completion 40 % below 80 %")
    result = report.result("unused")
    assert (result.status, result.reason) == (FAIL, "training completion 40 % below 80 %.")


def test_first_row_counts_the_rows_not_passing_and_names_the_first() -> None:
    report = GateReport()
    report.add(row("Every tier in use has targets", PASS, "P1, P2 used"))
    report.add(row("First-response attainment over 30 days", NO_EVIDENCE, "no ticket answered"))
    report.add(row("Review of 'VPN' overdue", AT_RISK, "due 2026-11-01"))
    result = report.result("unused", first_row=True)
    assert result.status == NO_EVIDENCE
    assert result.reason == (
        "2 check(s) not passing; first: First-response attainment over 30 days (no ticket answered)"
    )
    report.add(row("Breach of T-7 not notified", FAIL, "resolution due 2026-11-02 10:00"))
    result = report.result("unused", first_row=True)
    assert (result.status, result.reason) == (
        FAIL,
        "3 check(s) not passing; first: First-response attainment over 30 days (no ticket answered)",
    )


def test_first_row_still_gives_the_pass_reason_when_every_row_passes() -> None:
    report = GateReport()
    report.add(row("Every tier in use has targets", PASS))
    assert report.result("Every check passes.", first_row=True).reason == "Every check passes."


def test_a_failing_row_without_a_named_problem_is_still_explained() -> None:
    report = GateReport()
    report.add(row("ok", PASS))
    report.add(row("Mailbox fetched recently", FAIL, "never fetched"))
    result = report.result("unused")
    assert (result.status, result.reason) == (
        FAIL,
        "1 check(s) not passing; first: Mailbox fetched recently (never fetched)",
    )


def test_without_rows_nothing_was_judged_and_the_gate_has_no_evidence() -> None:
    report = GateReport()
    report.state("a problem without a row")
    result = report.result("Everything passes.")
    assert result.status == NO_EVIDENCE
    assert result.reason == "No evidence: no check found anything to judge."
    assert result.evidence == []
