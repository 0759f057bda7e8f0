"""Access reviews: opsgov's users listed, other systems' CSV (all or nothing), four eyes, close applies and
audits, undecided rows escalate once through the outbox to a real SMTP server, the auditors' report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db.models import ProtectedError
from django.utils import timezone

from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD
from security import access_reviews
from security.models import AccessReviewNotice, CampaignStatus, ReviewedAccount
from security.tasks import escalate_access_reviews

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db

CSV = """system,account,person,entitlements,last_login
github,octo-alice,alice@example.com,admin;write,2026-02-27
vpn,bob,bob@example.com,users,
"""


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    people = {
        "lead": make_user("lead", SECURITY_LEAD),
        "lead2": make_user("lead2", SECURITY_LEAD),
        "sre": make_user("sre", SRE_LEAD),
        "officer": make_user("officer", COMPLIANCE_OFFICER, SRE_LEAD),
    }
    make_user("gone", SRE_LEAD, is_active=False)
    return people


def _row(campaign: Any, account: str) -> ReviewedAccount:
    return ReviewedAccount.objects.get(campaign=campaign, account=account)


def test_a_campaign_lists_active_opsgov_users_with_their_groups(people: dict[str, Any]) -> None:
    campaign = access_reviews.open_campaign(title="Q1 2026", actor=people["lead"], now=NOW)
    rows = {row.account: row for row in campaign.accounts.all()}
    assert set(rows) == {"lead", "lead2", "sre", "officer"}  # "gone" is inactive
    assert rows["officer"].entitlements == [COMPLIANCE_OFFICER, SRE_LEAD]
    assert rows["officer"].user == people["officer"] and rows["officer"].system == "opsgov"
    assert campaign.due_at == NOW + timedelta(days=30)  # policy security.access_review_due_within


def test_csv_import_is_all_or_nothing_with_errors_by_line(people: dict[str, Any]) -> None:
    campaign = access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW)
    bad = CSV + "github,,carol,read,2026-02-01\nvpn,dave,dave,users,yesterday\nopsgov,sre,,x,\n"
    with pytest.raises(ValidationError) as caught:
        access_reviews.import_accounts(campaign=campaign, text=bad)
    assert caught.value.message_dict["csv"] == [
        "line 4: account: required",
        "line 5: last_login: 'yesterday' is not an ISO 8601 date or date-time (e.g. 2026-11-30 or 2026-11-30T08:15Z)",
        "line 6: system: 'opsgov' accounts are listed from opsgov itself, not imported",
    ]
    assert not campaign.accounts.exclude(system="opsgov").exists()
    assert access_reviews.import_accounts(campaign=campaign, text=CSV) == 2
    alice = _row(campaign, "octo-alice")
    assert (alice.entitlements, alice.last_login, alice.line) == (
        ["admin", "write"],
        datetime(2026, 2, 27, tzinfo=UTC),
        2,
    )
    with pytest.raises(ValidationError) as again:
        access_reviews.import_accounts(campaign=campaign, text=CSV)
    assert again.value.message_dict["csv"][0] == "line 2: account: github:octo-alice is listed already"
    with pytest.raises(ValidationError) as header:
        access_reviews.import_accounts(campaign=campaign, text="system,account\nx,y\n")
    assert header.value.message_dict["csv"] == [
        "line 1: missing column(s) person, entitlements, last_login; "
        "expected system,account,person,entitlements,last_login"
    ]


def test_nobody_decides_about_their_own_account(people: dict[str, Any], make_user: Any) -> None:
    campaign = access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW)
    access_reviews.import_accounts(campaign=campaign, text=CSV)
    with pytest.raises(PermissionDenied):
        access_reviews.decide(row=_row(campaign, "lead"), decision="keep", actor=people["lead"])
    alice = make_user("alice", SECURITY_LEAD)  # alice@example.com is the GitHub account's person
    with pytest.raises(PermissionDenied):
        access_reviews.decide(row=_row(campaign, "octo-alice"), decision="keep", actor=alice)
    row = access_reviews.decide(row=_row(campaign, "octo-alice"), decision="keep", actor=people["lead"], now=NOW)
    assert (row.decision, row.decided_by, row.decided_at) == ("keep", people["lead"], NOW)


def test_a_change_names_entitlements_the_account_has(people: dict[str, Any]) -> None:
    campaign = access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW)
    row = _row(campaign, "officer")
    with pytest.raises(ValidationError) as caught:
        access_reviews.decide(row=row, decision="change", remove_entitlements=["Tech Lead"], actor=people["lead"])
    assert caught.value.message_dict["remove_entitlements"] == [
        "Tech Lead: not among the account's Compliance Officer, SRE Lead"
    ]
    with pytest.raises(ValidationError):
        access_reviews.decide(row=row, decision="change", actor=people["lead"])
    with pytest.raises(ValidationError):
        access_reviews.decide(row=row, decision="keep", remove_entitlements=[SRE_LEAD], actor=people["lead"])


def test_closing_applies_opsgov_decisions_and_audits_them(people: dict[str, Any]) -> None:
    campaign = access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW)
    access_reviews.import_accounts(campaign=campaign, text=CSV)
    decide = access_reviews.decide
    decide(row=_row(campaign, "lead"), decision="keep", actor=people["lead2"])
    decide(row=_row(campaign, "lead2"), decision="keep", actor=people["lead"])
    decide(row=_row(campaign, "sre"), decision="revoke", comment="left the team", actor=people["lead"])
    with pytest.raises(ValidationError) as early:
        access_reviews.close_campaign(campaign=campaign, actor=people["lead"])
    assert early.value.message_dict["campaign"] == ["3 row(s) are undecided: decide every row before closing."]
    decide(row=_row(campaign, "officer"), decision="change", remove_entitlements=[SRE_LEAD], actor=people["lead"])
    decide(row=_row(campaign, "octo-alice"), decision="revoke", actor=people["lead"])
    decide(row=_row(campaign, "bob"), decision="keep", actor=people["lead"])
    closed = access_reviews.close_campaign(campaign=campaign, actor=people["lead2"], now=NOW + timedelta(days=3))
    assert (closed.status, closed.closed_at, closed.closed_by) == (
        CampaignStatus.CLOSED,
        NOW + timedelta(days=3),
        people["lead2"],
    )
    sre, officer = people["sre"], people["officer"]
    sre.refresh_from_db()
    assert sre.is_active is False
    assert list(officer.groups.values_list("name", flat=True)) == [COMPLIANCE_OFFICER]
    assert _row(campaign, "sre").apply_result == "deactivated"
    assert _row(campaign, "officer").apply_result == f"removed from {SRE_LEAD}"
    assert _row(campaign, "octo-alice").applied_at is None  # other systems' revocations are the system owner's to do
    user_type = ContentType.objects.get_for_model(type(sre))
    deactivation = LogEntry.objects.get(
        content_type=user_type, object_pk=str(sre.pk), changes__has_key="is_active", action=LogEntry.Action.UPDATE
    )
    assert deactivation.actor == people["lead2"]
    assert deactivation.changes_dict["is_active"] == ["True", "False"]
    groups = LogEntry.objects.filter(content_type=user_type, object_pk=str(officer.pk), changes__has_key="groups")
    removal = groups.latest("timestamp")
    assert removal.actor == people["lead2"]
    assert removal.changes["groups"]["operation"] == "delete"
    assert removal.changes["groups"]["objects"] == [SRE_LEAD]
    with pytest.raises(ValidationError):
        decide(row=_row(campaign, "bob"), decision="revoke", actor=people["lead"])  # closed: no more decisions


def test_undecided_rows_escalate_once_to_the_security_leads(people: dict[str, Any], smtp_server: Any) -> None:
    campaign = access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW)
    access_reviews.decide(row=_row(campaign, "sre"), decision="keep", actor=people["lead"])
    assert access_reviews.escalate_due(now=campaign.due_at - timedelta(minutes=1)) == 0
    assert access_reviews.escalate_due(now=campaign.due_at + timedelta(minutes=1)) == 1
    assert access_reviews.escalate_due(now=campaign.due_at + timedelta(hours=1)) == 0  # once
    (notice,) = AccessReviewNotice.objects.all()
    assert (notice.undecided, notice.status, notice.recipients) == (
        3,
        "sent",
        ["lead2@example.com", "lead@example.com"],
    )
    ((_sender, recipients, raw),) = smtp_server.messages
    assert sorted(recipients) == ["lead2@example.com", "lead@example.com"]
    text = raw.decode()
    assert "Access review Q1: 3 row(s) undecided past the deadline" in text
    assert f"https://ops.example.com/security/access-reviews/{campaign.pk}/" in text
    assert "- opsgov:officer" in text and "- opsgov:sre" not in text


def test_report_lists_every_row_with_its_decision(people: dict[str, Any], client: Any) -> None:
    campaign = access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW)
    access_reviews.decide(row=_row(campaign, "sre"), decision="revoke", comment="moved", actor=people["lead"], now=NOW)
    client.force_login(people["officer"])  # the compliance officer reads it
    response = client.get(f"/security/access-reviews/{campaign.pk}/report/?format=csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(access_reviews.REPORT_COLUMNS)
    sre = next(row for row in rows if row[1] == "sre")
    assert sre[5:10] == ["revoke", "", "lead", NOW.isoformat(), "moved"]
    html = client.get(f"/security/access-reviews/{campaign.pk}/report/")
    assert html.status_code == 200 and b"moved" in html.content and b"officer" in html.content
    assert client.post(f"/security/access-reviews/{campaign.pk}/", {"action": "close"}).status_code == 403


def test_pages_open_decide_import_and_close(people: dict[str, Any], client: Any) -> None:
    client.force_login(people["lead"])
    response = client.post("/security/access-reviews/", {"title": "Q2"})
    assert response.status_code == 302
    campaign = access_reviews.campaigns().get(title="Q2")
    url = f"/security/access-reviews/{campaign.pk}/"
    bad = client.post(url, {"action": "import", "text": "system,account,person,entitlements,last_login\nvpn,,x,,\n"})
    assert bad.status_code == 400 and b"line 2: account: required" in bad.content
    assert client.post(url, {"action": "import", "text": CSV}).status_code == 302
    own = client.post(url, {"action": "decide", "row": _row(campaign, "lead").pk, "decision": "keep"})
    assert own.status_code == 403
    for account in ("lead2", "sre", "officer", "octo-alice", "bob"):
        row = _row(campaign, account)
        assert client.post(url, {"action": "decide", "row": row.pk, "decision": "keep"}).status_code == 302
    assert client.post(url, {"action": "close"}).status_code == 400  # "lead" is undecided
    client.force_login(people["lead2"])
    assert (
        client.post(url, {"action": "decide", "row": _row(campaign, "lead").pk, "decision": "keep"}).status_code == 302
    )
    assert client.post(url, {"action": "close"}).status_code == 302
    page = client.get("/security/access-reviews/")
    assert page.status_code == 200 and b"Q2" in page.content and b"6 / 6" in page.content
    assert Group.objects.filter(name=SECURITY_LEAD).exists()


def test_import_command_refuses_a_bad_file_naming_the_line(people: dict[str, Any], tmp_path: Any) -> None:
    campaign = access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW)
    path = tmp_path / "vpn.csv"
    path.write_text(CSV + "vpn,,x,,\n")
    with pytest.raises(CommandError) as caught:
        call_command("import_access_accounts", str(campaign.pk), str(path))
    assert str(caught.value) == f"{path}: csv: line 4: account: required"
    path.write_text(CSV)
    out = io.StringIO()
    call_command("import_access_accounts", str(campaign.pk), str(path), stdout=out)
    assert out.getvalue() == "2 account(s) added to Q1.\n"


def test_the_beat_task_escalates_a_campaign_past_its_deadline(people: dict[str, Any], smtp_server: Any) -> None:
    campaign = access_reviews.open_campaign(title="Late", actor=people["lead"], now=timezone.now() - timedelta(days=40))
    assert escalate_access_reviews() == 1
    campaign.refresh_from_db()
    assert campaign.escalated_at is not None
    assert len(smtp_server.messages) == 1
    assert escalate_access_reviews() == 0


def test_admin_lists_exports_and_keeps_the_evidence(people: dict[str, Any], admin_user: Any, client: Any) -> None:
    campaign = access_reviews.open_campaign(title="Q1", actor=people["lead"], now=NOW)
    access_reviews.decide(row=_row(campaign, "sre"), decision="revoke", actor=people["lead"], now=NOW)
    client.force_login(admin_user)
    for model in (
        "accessreviewcampaign",
        "reviewedaccount",
        "accessreviewnotice",
        "course",
        "trainingrecord",
        "assessment",
        "assessmentfinding",
    ):
        assert client.get(f"/admin/security/{model}/").status_code == 200, model
    pks = [str(pk) for pk in campaign.accounts.values_list("pk", flat=True)]
    response = client.post("/admin/security/reviewedaccount/", {"action": "export_csv", "_selected_action": pks})
    lines = response.getvalue().decode().splitlines()
    assert lines[0].startswith("campaign,system,account,person,entitlements,last_login,decision")
    assert len(lines) == 1 + len(pks)
    assert client.get(f"/admin/security/reviewedaccount/{pks[0]}/delete/").status_code == 403
    with pytest.raises(ProtectedError):
        _row(campaign, "sre").delete()
