"""`manage.py import_incidents`: CSV and JSON history imported through the lifecycle, all or nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from incidents.management.commands.import_incidents import COLUMNS, Command
from incidents.models import Incident, IncidentStatus, TimelineKind

from ..factories import ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _world() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        ServiceFactory.create(slug="checkout", name="Checkout")
        ServiceFactory.create(slug="auth", name="Auth")
        UserFactory.create(username="alice")
        UserFactory.create(username="bob")
        yield


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_incidents", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fails(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_incidents", *args, stdout=out, stderr=err)
    return str(caught.value), err.getvalue()


def timeline(incident: Incident) -> list[tuple[str, datetime, str]]:
    return [(event.kind, event.at, event.data.get("to", "")) for event in incident.timeline.all()]


def test_a_good_csv_is_imported_with_complete_timelines() -> None:
    out, err = run(str(FIXTURES / "import_good.csv"))
    assert err == ""
    assert "Imported 4 incidents from import_good.csv (1 cancelled, 1 open, 2 resolved)." in out

    spike = Incident.objects.get(title="Checkout 5xx spike")
    assert (spike.service.slug, spike.severity, spike.status) == ("checkout", "SEV-2", IncidentStatus.RESOLVED)
    assert spike.customer_impact is True and spike.commander is not None and spike.commander.username == "alice"
    assert spike.summary == "Bad deploy, rolled back"
    t0 = datetime(2026, 3, 4, 8, 15, tzinfo=UTC)
    assert timeline(spike)[:4] == [
        (TimelineKind.TRIGGERED, t0, ""),
        (TimelineKind.STATUS, t0 + timedelta(minutes=6, seconds=30), "acknowledged"),
        (TimelineKind.STATUS, t0 + timedelta(minutes=35), "mitigated"),
        (TimelineKind.STATUS, t0 + timedelta(minutes=107), "resolved"),
    ]
    assert spike.timeline.last().message == "Imported from import_good.csv line 2."  # type: ignore[union-attr]

    flapping = Incident.objects.get(title="Flapping disk alert")
    assert flapping.status == IncidentStatus.CANCELLED and flapping.acknowledged_at is None
    assert [kind for kind, _, to in timeline(flapping)] == [TimelineKind.TRIGGERED, TimelineKind.STATUS, "note"]

    slow = Incident.objects.get(title="Ledger job slow")
    assert slow.status == IncidentStatus.ACKNOWLEDGED and slow.customer_impact is False
    assert slow.summary == "Still investigating\n(the summary spans two lines)"
    assert slow.timeline.last().message == "Imported from import_good.csv line 5."  # type: ignore[union-attr]


def test_a_good_json_file_is_imported() -> None:
    out, _ = run(str(FIXTURES / "import_good.json"))
    assert "Imported 2 incidents" in out
    spike = Incident.objects.get(title="Checkout 5xx spike")
    assert spike.triggered_at == datetime(2026, 5, 3, 2, 10, tzinfo=UTC)
    assert spike.resolved_at == datetime(2026, 5, 3, 4, 40, tzinfo=UTC)
    assert [to for _, _, to in timeline(spike)] == ["", "acknowledged", "resolved", ""]
    refresh = Incident.objects.get(title="Auth token refresh errors")
    assert (refresh.status, refresh.summary, refresh.customer_impact) == (IncidentStatus.TRIGGERED, "", False)


def test_a_csv_with_two_bad_rows_reports_both_and_imports_nothing() -> None:
    message, err = fails(str(FIXTURES / "import_bad.csv"))
    assert "4 errors in 2 of 4 rows; nothing was imported." in message
    lines = err.splitlines()
    assert any(line.startswith("line 3: severity: unknown severity 'SEV-9'") for line in lines), err
    assert any(line.startswith("line 3: resolved_at: ") and "is before triggered_at" in line for line in lines), err
    assert "line 5: service: no service with slug 'ledger'" in err
    assert "line 5: customer_impact: " in err
    assert "line 2" not in err and "line 4" not in err
    assert not Incident.objects.exists()


def test_json_errors_name_the_array_index_and_field() -> None:
    _, err = fails(str(FIXTURES / "import_bad.json"))
    assert "item [1]: triggered_at: Input should have timezone info" in err
    assert "item [1]: owner: unknown field" in err
    assert "item [3]: title: " in err
    assert "item [3]: cancelled_at: an incident is either resolved or cancelled, not both" in err
    assert "item [0]" not in err and "item [2]" not in err
    assert not Incident.objects.exists()


def test_a_dry_run_writes_nothing() -> None:
    out, _ = run(str(FIXTURES / "import_good.csv"), "--dry-run")
    assert "Dry run: 4 incidents would be imported" in out and "nothing was written" in out
    assert not Incident.objects.exists()


def test_a_dry_run_of_a_bad_file_reports_the_errors() -> None:
    _, err = fails(str(FIXTURES / "import_bad.csv"), "--dry-run")
    assert "line 3" in err and "line 5" in err


def test_importing_the_same_file_twice_is_refused() -> None:
    run(str(FIXTURES / "import_good.json"))
    message, err = fails(str(FIXTURES / "import_good.json"))
    assert "item [0]: triggered_at: already imported as INC-" in err
    assert "nothing was imported" in message
    assert Incident.objects.count() == 2


def test_duplicate_rows_in_one_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text(
        "title,service,severity,triggered_at\n"
        "Same,checkout,SEV-3,2026-05-20T10:00:00Z\n"
        "Same,checkout,SEV-3,2026-05-20T12:00:00+02:00\n"
    )
    _, err = fails(str(path))
    assert "line 3: triggered_at: the same incident as line 2" in err


def test_progress_is_reported(tmp_path: Path) -> None:
    out, _ = run(str(FIXTURES / "import_good.csv"), "--progress-every", "2")
    assert "2 of 4 imported" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("title,service,severity,triggered_at,owner\n", "line 1: unknown column(s) 'owner'"),
        ("title,service,severity\n", "line 1: missing required column(s) triggered_at"),
        ("", "line 1: the file is empty"),
        ("title,service,severity,triggered_at\nA,checkout,SEV-3,2026-05-20T10:00:00Z,extra\n", "line 2: more values"),
        ("title,service,severity,triggered_at\nA,checkout,SEV-3,2999-01-01T00:00:00Z\n", "is in the future"),
    ],
)
def test_malformed_csv_files_are_explained(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text(content)
    _, err = fails(str(path))
    assert expected in err
    assert not Incident.objects.exists()


def test_blank_csv_lines_are_skipped_but_line_numbers_kept(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("title,service,severity,triggered_at\n\n,,,\nA,checkout,SEV-9,2026-05-20T10:00:00Z\n")
    _, err = fails(str(path))
    assert err.strip() == "line 4: severity: unknown severity 'SEV-9'; the policy defines SEV-1, SEV-2, SEV-3, SEV-4"


@pytest.mark.parametrize(("name", "content"), [("x.json", '{"title": "x"}'), ("x.json", "[1, "), ("x.txt", "")])
def test_files_that_are_not_incident_lists_are_refused(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CommandError):
        call_command("import_incidents", str(path), stdout=io.StringIO(), stderr=io.StringIO())


def test_the_help_documents_every_column() -> None:
    text = Command().create_parser("manage.py", "import_incidents").format_help()
    for column in COLUMNS:
        assert f"\n  {column} " in text
    assert "--dry-run" in text
    assert (Path(__file__).parents[2] / "docs" / "importing-incidents.md").exists()
