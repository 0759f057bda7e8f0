"""Awareness training: assignment by role, completions by hand and CSV (errors by line), rate and overdue,
recurrence, and core's opsgov.registry.training for compliance."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from opsgov.registry import training as directory
from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD, SUPPORT_TEAM
from security import training
from security.models import Course, TrainingRecord

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=60)
pytestmark = pytest.mark.django_db


def _course(slug: str, *roles: str, audience: str = "security", recurrence: str = "") -> Course:
    course = Course.objects.create(
        slug=slug, title=slug.title(), audience=audience, recurrence=recurrence, due_within_days=30, starts_at=START
    )
    course.roles.set(Group.objects.filter(name__in=roles))
    return course


@pytest.fixture
def team(make_user: Any) -> dict[str, Any]:
    joined = {"date_joined": START - timedelta(days=10)}
    return {
        "ann": make_user("ann", SRE_LEAD, **joined),
        "ben": make_user("ben", SRE_LEAD, SECURITY_LEAD, **joined),
        "cy": make_user("cy", COMPLIANCE_OFFICER, **joined),
        "dee": make_user("dee", SUPPORT_TEAM, **joined),  # no course for support
        "new": make_user("new", SRE_LEAD, date_joined=NOW - timedelta(days=5)),
    }


def test_completion_rate_and_overdue_by_hand(team: dict[str, Any]) -> None:
    phishing = _course("phishing", SRE_LEAD, SECURITY_LEAD, COMPLIANCE_OFFICER)
    lead = team["ben"]
    training.record_completion(
        course=phishing, user=team["ann"], completed_at=NOW - timedelta(days=3), actor=lead, now=NOW
    )
    done = training.completion(now=NOW)
    # ann, ben, cy, new assigned (dee's role has none); ann completed; ben and cy are past START + 30 days;
    # new joined five days ago: pending, not overdue.
    assert (done.assigned, done.completed, done.overdue, done.percent) == (4, 1, 2, 25.0)
    late = training.overdue_list(now=NOW)
    assert [(row.user.username, row.due_at) for row in late] == [
        ("ben", START + timedelta(days=30)),
        ("cy", START + timedelta(days=30)),
    ]
    with pytest.raises(ValidationError) as caught:
        training.record_completion(course=phishing, user=team["dee"], completed_at=NOW, actor=lead, now=NOW)
    assert caught.value.message_dict["user"] == ["dee is not assigned phishing (none of its roles)"]
    with pytest.raises(ValidationError):
        training.record_completion(
            course=phishing, user=team["cy"], completed_at=NOW + timedelta(hours=1), actor=lead, now=NOW
        )


def test_a_recurring_course_lapses_and_is_due_again(team: dict[str, Any]) -> None:
    course = _course("secure-coding", SRE_LEAD, recurrence="3 months")
    training.record_completion(
        course=course, user=team["ann"], completed_at=NOW - timedelta(days=100), actor=None, now=NOW
    )
    (ann,) = [row for row in training.assignments(now=NOW) if row.user == team["ann"]]
    assert ann.completed is False
    assert ann.due_at == NOW - timedelta(days=100) + (
        datetime(2026, 2, 20, 12, tzinfo=UTC) - datetime(2025, 11, 20, 12, tzinfo=UTC)
    )
    assert ann.is_overdue(NOW)
    (earlier,) = [row for row in training.assignments(now=NOW - timedelta(days=50)) if row.user == team["ann"]]
    assert earlier.completed is True


def test_csv_import_all_or_nothing_and_idempotent(team: dict[str, Any]) -> None:
    _course("phishing", SRE_LEAD, SECURITY_LEAD, COMPLIANCE_OFFICER)
    good = "course,user,completed_at\nphishing,ann,2026-02-01\nphishing,BEN@example.com,2026-02-03T10:00:00Z\n"
    bad = good + "phishing,dee,2026-02-01\nnope,ann,2026-02-01\nphishing,cy,someday\nphishing,cy,2027-01-01\n"
    with pytest.raises(ValidationError) as caught:
        training.import_records(text=bad, now=NOW)
    assert caught.value.message_dict["csv"] == [
        "line 4: user: dee is not assigned phishing (none of its roles)",
        "line 5: course: no course 'nope' (use its slug)",
        "line 6: completed_at: 'someday' is not an ISO 8601 date or date-time",
        "line 7: completed_at: in the future",
    ]
    assert not TrainingRecord.objects.exists()
    first = training.import_records(text=good, now=NOW)
    assert (first.created, first.skipped) == (2, 0)
    again = training.import_records(text=good, now=NOW)
    assert (again.created, again.skipped) == (0, 2)
    ben = TrainingRecord.objects.get(user=team["ben"])
    assert (ben.completed_at, ben.source, ben.note) == (datetime(2026, 2, 3, 10, tzinfo=UTC), "csv", "CSV line 3")
    assert training.completion(now=NOW).completed == 2


def test_core_directory_answers_completion_by_course_and_role(team: dict[str, Any]) -> None:
    phishing = _course("phishing", SRE_LEAD, SECURITY_LEAD)
    _course("sox", COMPLIANCE_OFFICER, audience="compliance")
    training.record_completion(
        course=phishing, user=team["ben"], completed_at=NOW - timedelta(days=1), actor=None, now=NOW
    )
    rows = {(row.course, row.role): row for row in directory.completion(now=NOW)}
    assert set(rows) == {("Phishing", SRE_LEAD), ("Phishing", SECURITY_LEAD), ("Sox", COMPLIANCE_OFFICER)}
    sre = rows[("Phishing", SRE_LEAD)]
    assert (sre.assigned, sre.completed, sre.overdue, sre.rate) == (3, 1, 1, 1 / 3)  # ann late, new pending
    assert (rows[("Phishing", SECURITY_LEAD)].completed, rows[("Phishing", SECURITY_LEAD)].rate) == (1, 1.0)
    assert sre.url == "/security/training/?course=phishing"
    (sox,) = directory.completion(audience="compliance", now=NOW)
    assert (sox.course, sox.assigned, sox.completed, sox.overdue) == ("Sox", 1, 0, 1)


def test_training_page_records_and_imports(team: dict[str, Any], client: Any) -> None:
    _course("phishing", SRE_LEAD, SECURITY_LEAD, COMPLIANCE_OFFICER)
    client.force_login(team["ben"])
    page = client.get("/security/training/")
    assert page.status_code == 200 and b"Phishing" in page.content
    response = client.post(
        "/security/training/", {"action": "import", "text": "course,user,completed_at\nphishing,zed,2026-01-01\n"}
    )
    assert response.status_code == 400 and b"line 2: user: no user &#x27;zed&#x27;" in response.content
    response = client.post(
        "/security/training/", {"course": "phishing", "user": "ann@example.com", "completed_at": "2026-01-05T09:00"}
    )
    assert response.status_code == 302
    assert TrainingRecord.objects.get().user == team["ann"]
    client.force_login(team["cy"])  # compliance officer reads, does not record
    assert client.get("/security/training/").status_code == 200
    assert client.post("/security/training/", {"action": "import", "text": "x"}).status_code == 403


def test_import_command_names_the_line(team: dict[str, Any], tmp_path: Any) -> None:
    _course("phishing", SRE_LEAD)
    path = tmp_path / "lms.csv"
    path.write_text("course,user,completed_at\nphishing,ann,2026-01-01\nphishing,ann,soon\n")
    with pytest.raises(CommandError) as caught:
        call_command("import_training_records", str(path))
    assert str(caught.value) == f"{path}: csv: line 3: completed_at: 'soon' is not an ISO 8601 date or date-time"
    path.write_text("course,user,completed_at\nphishing,ann,2026-01-01\n")
    out = io.StringIO()
    call_command("import_training_records", str(path), stdout=out)
    assert out.getvalue() == "1 completion(s) recorded, 0 already known.\n"
