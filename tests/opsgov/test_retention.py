"""`manage.py apply_retention`: the only way old evidence goes, under the policy's retention periods, audited."""

from __future__ import annotations

import getpass
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from incidents.models import Integration, RawEvent
from opsgov import services as core_services
from opsgov.models import MetricSnapshot
from opsgov.policy import PolicyError, clear_policy_cache, load_policy, parse_policy

from ..incidents.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def raw(integration: Integration, age: timedelta, *, processed: bool = True) -> RawEvent:
    received = timezone.now() - age
    return RawEvent.objects.create(
        integration=integration,
        dedup_key=f"k{age.days}",
        action="trigger",
        payload={},
        received_at=received,
        processed_at=received if processed else None,
    )


def snapshot(age: timedelta, *, current: bool = False, scope: str = "global") -> MetricSnapshot:
    return MetricSnapshot.objects.create(
        metric="mtta", scope=scope, window="7d", value=1.0, computed_at=timezone.now() - age, is_current=current
    )


@pytest.fixture
def history() -> dict[str, object]:
    integration = IntegrationFactory.create()
    return {
        "old_raw": raw(integration, 401 * DAY),
        "old_unprocessed": raw(integration, 500 * DAY, processed=False),
        "young_raw": raw(integration, 399 * DAY),
        "old_snapshot": snapshot(2 * 366 * DAY),
        "old_current": snapshot(3 * 365 * DAY, current=True, scope="service:x"),
        "young_snapshot": snapshot(700 * DAY),
    }


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("apply_retention", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_counts_and_deletes_nothing(history: dict[str, object]) -> None:
    entries = LogEntry.objects.count()
    output = run()
    assert "incidents.RawEvent: processed raw events" in output and "cut-off" in output
    assert "Would remove: incidents.RawEvent 1, opsgov.MetricSnapshot 1" in output
    assert RawEvent.objects.count() == 3 and MetricSnapshot.objects.count() == 3
    assert LogEntry.objects.count() == entries  # a dry run is not audited


def test_apply_removes_only_what_the_periods_allow_and_audits_it(
    history: dict[str, object], make_user: Callable[..., User]
) -> None:
    make_user("alice")
    entries_before = set(LogEntry.objects.values_list("pk", flat=True))
    output = run("--apply", "--actor", "alice", "--batch-size", "1")
    assert "incidents.RawEvent: deleted 1 of 1" in output
    assert "Removed: incidents.RawEvent 1, opsgov.MetricSnapshot 1" in output
    kept = {event.pk for event in RawEvent.objects.all()}
    assert kept == {history["old_unprocessed"].pk, history["young_raw"].pk}  # type: ignore[attr-defined]
    assert set(MetricSnapshot.objects.values_list("pk", flat=True)) == {
        history["old_current"].pk,  # type: ignore[attr-defined]
        history["young_snapshot"].pk,  # type: ignore[attr-defined]
    }
    # Audit rows are never removed; one more says what went.
    assert entries_before <= set(LogEntry.objects.values_list("pk", flat=True))
    row = LogEntry.objects.get(additional_data__event="retention_applied")
    assert row.actor is not None and row.actor.username == "alice"
    assert row.additional_data["removed"] == {"incidents.RawEvent": 1, "opsgov.MetricSnapshot": 1}
    assert row.additional_data["os_user"] == getpass.getuser()
    assert set(row.additional_data["cutoffs"]) == {"incidents.RawEvent", "opsgov.MetricSnapshot"}
    assert row.additional_data["complete"] is True
    out = io.StringIO()
    call_command("verify_audit_trail", stdout=out)
    assert "intact" in out.getvalue()


def test_the_policy_sets_the_periods(history: dict[str, object], tmp_path: Path, settings: object) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[retention]\nraw_events = "1000 days"\nmetric_snapshots = "1 year"\n')
    settings.OPSGOV_POLICY = str(policy)  # type: ignore[attr-defined]
    clear_policy_cache()
    run("--apply")
    assert RawEvent.objects.count() == 3
    # The 700-day one is old now too; a current snapshot stays whatever its age.
    assert list(MetricSnapshot.objects.values_list("pk", flat=True)) == [history["old_current"].pk]  # type: ignore[attr-defined]


def test_retention_periods_are_calendar_time() -> None:
    with pytest.raises(PolicyError, match=r"retention\.raw_events"):
        parse_policy({"retention": {"raw_events": "5 business days"}})
    assert str(load_policy(None).retention.raw_events) == "400 days"


def test_an_unknown_actor_is_refused() -> None:
    with pytest.raises(CommandError, match="--actor: no user 'ghost'"):
        run("--apply", "--actor", "ghost")


def test_the_policy_page_shows_the_retention_periods(client: Client, make_user: Callable[..., User]) -> None:
    client.force_login(make_user("reader"))
    page = client.get("/policy/").content.decode()
    assert 'id="retention"' in page and "400 days" in page and "2 years" in page


def test_thinning_metric_history_goes_through_the_retention_path_and_is_audited() -> None:
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0) - 10 * DAY
    early, late = (
        MetricSnapshot.objects.create(
            metric="mtta", scope="global", window="7d", value=1.0, computed_at=noon + offset, is_current=False
        )
        for offset in (timedelta(hours=-1), timedelta(hours=1))
    )
    assert core_services.prune_snapshots() == 1
    assert list(MetricSnapshot.objects.values_list("pk", flat=True)) == [late.pk]
    row = LogEntry.objects.get(additional_data__event="retention_applied")
    assert row.additional_data["removed"] == {"opsgov.MetricSnapshot": 1}
    assert "thinning" in row.additional_data["reason"]
    assert not MetricSnapshot.objects.filter(pk=early.pk).exists()
