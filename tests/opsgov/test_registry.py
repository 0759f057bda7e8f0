"""Gate and metric registries, and the gate evaluation service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from opsgov import selectors
from opsgov.gates import services as gate_services
from opsgov.models import GateEvaluation, GateStatus
from opsgov.registry import (
    Evidence,
    Gate,
    GateRegistry,
    GateResult,
    MetricDefinition,
    MetricValue,
    gates,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_every_seed_step_has_a_gate_and_none_passes_without_evidence() -> None:
    registered = gates.all()
    assert [gate.step for gate in registered] == [1, 2, 3, 4, 5, 6, 7, 8]
    for gate in registered:
        result = gate.evaluate(now=NOW)
        assert result.status == GateStatus.NO_EVIDENCE, gate.key
        assert result.reason.startswith("No evidence")


def test_a_pass_without_evidence_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="evidence"):
        GateResult(status=GateStatus.PASS, reason="all good")


def test_a_gate_key_cannot_be_registered_twice_by_different_classes() -> None:
    registry = GateRegistry()

    class First(Gate):
        key, step, title, owner_roles = "x", 1, "X", ()

        def evaluate(self, *, now: datetime) -> GateResult:
            return GateResult(status=GateStatus.FAIL, reason="broken")

    class Second(First):
        pass

    registry.register(First)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(Second)


class _DemoGate(Gate):
    key, step, title, owner_roles = "demo", 1, "Demo gate", ()

    def evaluate(self, *, now: datetime) -> GateResult:
        return GateResult(
            status=GateStatus.AT_RISK,
            reason="one service is late",
            evidence=[Evidence(label="checkout", status=GateStatus.FAIL, detail="late", url="/services/checkout/")],
        )


@pytest.fixture
def demo_gate() -> Iterator[None]:
    gates.register(_DemoGate)
    yield
    gates.unregister("demo")


@pytest.mark.django_db
def test_evaluations_are_stored_as_history_and_the_newest_is_current(demo_gate: None) -> None:
    gate_services.evaluate_gates(now=datetime(2026, 11, 1, tzinfo=UTC))
    gate_services.evaluate_gates(now=NOW)
    assert GateEvaluation.objects.filter(gate="demo").count() == 2
    states = {state.gate.key: state for state in selectors.gate_states()}
    current = states["demo"].evaluation
    assert current is not None and current.evaluated_at == NOW
    assert current.status == "at_risk"
    assert current.evidence == [
        {
            "key": "",
            "label": "checkout",
            "status": "fail",
            "detail": "late",
            "url": "/services/checkout/",
            "service": "",
        }
    ]


@pytest.mark.django_db
def test_reading_gate_states_is_one_query_however_long_the_history(
    django_assert_num_queries: object,
) -> None:
    for day in range(1, 20):
        gate_services.evaluate_gates(now=datetime(2026, 11, day, tzinfo=UTC))
    with django_assert_num_queries(1):  # type: ignore[operator]
        states = selectors.gate_states()
    assert all(state.evaluation and state.evaluation.evaluated_at.day == 19 for state in states)


def test_metric_definitions_compare_against_their_target() -> None:
    def compute(**_: object) -> list[MetricValue]:
        return []

    mtta = MetricDefinition(
        key="mtta", title="MTTA", unit="seconds", comparison="<", target=lambda: 900.0, compute=compute
    )
    backups = MetricDefinition(
        key="backup_success", title="Backups", unit="percent", comparison=">=", target=lambda: 100.0, compute=compute
    )
    assert mtta.meets_target(600) is True
    assert mtta.meets_target(900) is False
    assert mtta.meets_target(None) is None
    assert backups.meets_target(100) is True
    assert backups.meets_target(99.5) is False


def test_the_security_and_training_directories_answer_nothing_until_an_app_provides_them() -> None:
    from opsgov.registry import SecurityDirectory, TrainingCompletion, TrainingDirectory

    security, training = SecurityDirectory(), TrainingDirectory()
    assert security.findings_past_sla(service_ids=[1], now=NOW) == {}
    assert security.components(service_ids=[1]) == {}
    assert training.completion(now=NOW) == []

    asked: list[dict[str, object]] = []

    def findings(**kwargs: object) -> dict[int, list[dict[str, str]]]:
        asked.append(kwargs)
        return {1: [{"id": "CVE-2026-1", "severity": "critical"}]}

    security.provide(findings_past_sla=findings, components=lambda **kwargs: {1: [{"name": "django"}]})
    assert security.findings_past_sla(service_ids=iter([1]), now=NOW) == {
        1: [{"id": "CVE-2026-1", "severity": "critical"}]
    }
    assert asked == [{"service_ids": [1], "now": NOW}]
    assert security.findings_past_sla(service_ids=[], now=NOW) == {}  # no services: the lookup is not asked
    assert len(asked) == 1
    assert security.components(service_ids=[1]) == {1: [{"name": "django"}]}

    row = TrainingCompletion(
        course="Phishing", audience="security", role="SRE Lead", assigned=4, completed=3, overdue=1
    )
    training.provide(lambda *, audience, now: [row] if audience in ("", "security") else [])
    assert training.completion(audience="security", now=NOW) == [row] and row.rate == 0.75
    assert training.completion(audience="compliance", now=NOW) == []
    assert TrainingCompletion(course="x", audience="", role="r", assigned=0, completed=0, overdue=0).rate is None
