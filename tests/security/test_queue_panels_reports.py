"""The alert-queue page (acknowledge, triage, close as the API does), the dashboard panels, the monthly
security patch section and the beat task that notes expired risk acceptances."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from opsgov.models import ReportKind
from opsgov.reports.services import ReportPeriod
from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD
from security import alerts, services
from security.dashboard_panels import alert_queue_attention, alert_queue_context, findings_attention, findings_context
from security.models import AlertStatus, Finding, SecurityAlert
from security.report_sections import security_patches_section
from security.tasks import EXPIRED_RULE, note_expired
from tests.factories import ServiceFactory

from .support import trivy

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
QUEUE = "/security/alerts/"


def _alert(title: str, *, now: datetime = NOW) -> SecurityAlert:
    return alerts.record_signal(rule="Test rule", title=title, severity="high", details={}, now=now)


def test_the_queue_page_acknowledges_triages_and_closes(personas: dict[str, Any]) -> None:
    checkout = ServiceFactory.create(slug="checkout", name="Checkout")
    first, second = _alert("Shell in container"), _alert("Odd outbound traffic")
    client = Client()
    client.force_login(personas[SECURITY_LEAD])
    page = client.get(QUEUE)
    assert page.status_code == 200
    body = page.content.decode()
    assert f"#{first.pk} Shell in container" in body and "2 new alerts" in body

    assert client.post(f"{QUEUE}{first.pk}/acknowledge/").status_code == 302
    first.refresh_from_db()
    assert (first.status, first.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, personas[SECURITY_LEAD])
    response = client.post(f"{QUEUE}{first.pk}/triage/", {"notes": "looking", "service": "checkout"})
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.status, first.notes, first.service) == (AlertStatus.TRIAGED, "looking", checkout)
    closed = client.post(f"{QUEUE}{first.pk}/close/", {"disposition": "benign", "notes": "a deploy"})
    assert closed.status_code == 302
    first.refresh_from_db()
    assert (first.status, first.disposition, first.notes) == (AlertStatus.CLOSED, "benign", "a deploy")
    # Closed alerts leave the default view (open ones only).
    assert f"#{first.pk} Shell" not in client.get(QUEUE).content.decode()
    assert f"#{first.pk} Shell" in client.get(QUEUE + "?status=closed").content.decode()

    # Bad input: 400 naming the field; nothing changes.
    no_service = client.post(f"{QUEUE}{second.pk}/close/", {"disposition": "true_positive"})
    assert no_service.status_code == 400
    assert "service: Name the affected service" in no_service.content.decode()
    bad = client.post(f"{QUEUE}{second.pk}/close/", {"disposition": "maybe"})
    assert bad.status_code == 400 and "disposition: One of" in bad.content.decode()
    unknown = client.post(f"{QUEUE}{second.pk}/triage/", {"service": "nope"})
    assert unknown.status_code == 400 and "No service has the slug" in unknown.content.decode()
    second.refresh_from_db()
    assert second.status == AlertStatus.NEW
    assert client.post(f"{QUEUE}{second.pk}/explode/").status_code == 404


def test_the_queue_page_is_read_only_for_readers(personas: dict[str, Any]) -> None:
    alert = _alert("Shell in container")
    client = Client()
    client.force_login(personas[COMPLIANCE_OFFICER])
    page = client.get(QUEUE)
    assert page.status_code == 200
    assert "Acknowledge</button>" not in page.content.decode()
    assert client.post(f"{QUEUE}{alert.pk}/acknowledge/").status_code == 403
    client.force_login(personas["outsider"])
    assert client.get(QUEUE).status_code == 403


def _scan(asset: str, vulns: list[tuple[str, str, str, str]], now: datetime) -> None:
    services.import_scan(report=trivy("app", vulns), asset_name=asset, now=now)


CRIT = ("CVE-2026-0001", "openssl", "3.0.1", "CRITICAL")
HIGH = ("CVE-2026-0002", "curl", "8.0.0", "HIGH")
MED = ("CVE-2026-0003", "jinja2", "3.1.2", "MEDIUM")
LOW = ("CVE-2026-0004", "zlib", "1.2.0", "LOW")


def test_findings_panel_counts_by_severity_and_age_and_sla_compliance() -> None:
    services.resolve_asset(name="img", create=True)
    start = NOW - timedelta(days=40)
    _scan("img", [CRIT, HIGH, MED], start)  # first seen 40 days ago
    _scan("img", [HIGH, MED, LOW], start + timedelta(days=1))  # the critical fixed a day later (within 48 h)
    _scan("img", [MED, LOW], NOW - timedelta(days=10))  # the high fixed 29 days after its 7-day SLA: late
    context = findings_context(now=NOW)
    rows = {row["severity"]: row for row in context["rows"]}
    # Open: medium (40 days old, due 30 days after: overdue) and low (39 days old, due 90 days after).
    assert rows["medium"]["ages"] == [0, 0, 1] and rows["medium"]["overdue"] == 1
    assert rows["low"]["ages"] == [0, 0, 1] and rows["low"]["overdue"] == 0
    assert rows["critical"]["open"] == 0 and rows["high"]["open"] == 0
    assert (context["total"], context["overdue"]) == (2, 1)
    # Last 30 days: the high fixed 10 days ago (late), the medium due 10 days ago and still open (missed).
    # The critical was fixed 39 days ago: outside the window. 0 of 2 by their due time.
    assert (context["met"], context["measured"], context["compliance"]) == (0, 2, 0.0)
    assert findings_attention(now=NOW) == []
    _scan("img", [CRIT, MED, LOW], NOW - timedelta(days=3))  # the critical is back: reopened, its SLA restarted
    attention = findings_attention(now=NOW)
    assert [item.label for item in attention] == ["Critical past SLA"]
    assert attention[0].url == "/security/findings/?severity=critical&overdue=true"


def test_alert_queue_panel_and_its_attention() -> None:
    old = _alert("Old one", now=NOW - timedelta(hours=5))
    _alert("Fresh one", now=NOW - timedelta(minutes=5))
    acked = _alert("Acked", now=NOW - timedelta(hours=3))
    alerts.acknowledge(alert=acked, actor=None, now=NOW - timedelta(hours=2))
    context = alert_queue_context(now=NOW)
    assert [(row["status"], row["count"]) for row in context["statuses"]] == [
        ("new", 2),
        ("acknowledged", 1),
        ("triaged", 0),
    ]
    assert context["total"] == 3
    assert [(row["alert"].pk, row["late"]) for row in context["oldest"]] == [(old.pk, True), (old.pk + 1, False)]
    (item,) = alert_queue_attention(now=NOW)  # the policy's triage target is 4 hours
    assert item.text.startswith("1 security alert new for longer than")


def test_monthly_security_patch_section_by_hand() -> None:
    services.resolve_asset(name="img", create=True)
    march = ReportPeriod.containing(ReportKind.MONTHLY, date(2026, 3, 1), ZoneInfo("UTC"))
    t0 = datetime(2026, 2, 20, tzinfo=UTC)
    _scan("img", [CRIT, HIGH, MED, LOW], t0)
    _scan("img", [HIGH, MED, LOW], datetime(2026, 3, 2, tzinfo=UTC))  # critical: due Feb 22, fixed Mar 2 (late)
    _scan("img", [MED, LOW], datetime(2026, 3, 3, tzinfo=UTC))  # high: due Feb 27, fixed Mar 3 (late)
    _scan("img", [LOW], datetime(2026, 3, 5, tzinfo=UTC))  # medium: due Mar 22, fixed Mar 5 (within)
    section = security_patches_section(period=march, now=datetime(2026, 4, 1, 7, tzinfo=UTC))
    fixed = {row[0].text: [cell.text for cell in row[1:]] for row in section.tables[0].rows}
    assert fixed["Critical"] == ["1", "0", "1", "0 %"]
    assert fixed["High"] == ["1", "0", "1", "0 %"]
    assert fixed["Medium"] == ["1", "1", "0", "100 %"]
    assert fixed["Low"] == ["0", "0", "0", "—"]
    assert [row[0].text for row in section.tables[1].rows] == ["CVE-2026-0001", "CVE-2026-0002"]
    # 3 fixed, 1 within SLA (33.3 %); the low (due May 21) is not past SLA on April 1.
    assert section.summary == (
        "3 security findings fixed, 1 within SLA (33.3 %); 0 findings past SLA without a valid risk acceptance "
        "at the end of the period."
    )


def test_expired_acceptances_join_the_queue_once(make_user: Any) -> None:
    services.resolve_asset(name="img", create=True)
    _scan("img", [CRIT], NOW - timedelta(days=5))
    alice, bob = make_user("alice", SECURITY_LEAD), make_user("bob", SECURITY_LEAD)
    acceptance = services.acceptance_request(
        finding=Finding.objects.get(),
        reason="r",
        compensating_control="c",
        approver=bob,
        expires_at=NOW - timedelta(hours=1),
        requested_by=alice,
        now=NOW - timedelta(days=4),
    )
    services.acceptance_approve(acceptance=acceptance, actor=bob, now=NOW - timedelta(days=4))
    assert note_expired(NOW - timedelta(hours=2)) == 0  # still valid then
    assert note_expired(NOW) == 1
    assert note_expired(NOW + timedelta(hours=1)) == 0  # noted once
    (alert,) = SecurityAlert.objects.filter(rule=EXPIRED_RULE)
    assert (alert.severity, alert.fields["acceptance"], alert.fields["approver"]) == ("critical", acceptance.pk, "bob")
    assert alert.title == (
        "Risk acceptance of CVE-2026-0001 in openssl on img expired: the finding counts as overdue again"
    )
