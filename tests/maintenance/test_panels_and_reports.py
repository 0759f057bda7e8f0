"""The maintenance box on the dashboard (with critical patches late above the fold) and its report sections."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from maintenance import compliance, report_sections, services
from maintenance.models import ChangeRecord, PatchObligation
from opsgov.models import MetricSnapshot
from opsgov.reports.services import ReportPeriod
from opsgov.roles import SRE_LEAD
from tests.factories import ServiceFactory

from .support import approved_window, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 11, 30, 7, 0)  # a Monday
WEEK = ReportPeriod("weekly", date(2026, 11, 23), date(2026, 11, 30), ZoneInfo("UTC"))
NOVEMBER = ReportPeriod("monthly", date(2026, 11, 1), date(2026, 12, 1), ZoneInfo("UTC"))

APT = (
    "Inst openssl [3.0.11-1~deb12u2] (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])\n"
    "Inst tzdata [2024a-0+deb12u1] (2025a-0+deb12u1 Debian:12.10/stable-updates [all])\n"
)


def obligations(at: datetime) -> None:
    """checkout's host db-1 reports openssl (security, 48 h) and tzdata (os, 31 days) pending at `at`."""
    service = ServiceFactory.create(slug="checkout")
    host, _ = services.create_host(name="db-1", service=service)
    services.record_patch_report(host=host, apt_simulate=APT, received_at=at)


def test_the_panel_shows_compliance_and_late_critical_patches_above_the_fold(
    client: Client, make_user: Callable[..., User]
) -> None:
    obligations(NOW - timedelta(days=3))
    MetricSnapshot.objects.create(
        metric="patch_compliance", scope="global", window="30d", value=91.5, sample_size=200, computed_at=NOW
    )
    client.force_login(make_user("sre", SRE_LEAD))
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("home"))
    [panel] = [p for p in response.context["panels"] if p.key == "maintenance"]
    assert [o.package for o in panel.context["late_critical"]] == ["openssl"]
    assert panel.context["compliance"] == 91.5
    body = response.content.decode()
    assert "Patch compliance 91.5 %, below the 95 % target" in body
    attention = [(a.label, a.text) for a in response.context["attention"] if a.label == "Critical patch late"]
    assert attention == [("Critical patch late", "openssl 3.0.13-1~deb12u1 on host:db-1")]


def test_nothing_late_means_no_attention_item(client: Client, make_user: Callable[..., User]) -> None:
    obligations(NOW - timedelta(hours=1))  # openssl due in 47 h
    client.force_login(make_user("sre", SRE_LEAD))
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("home"))
    assert not [a for a in response.context["attention"] if a.label == "Critical patch late"]
    assert "No critical security patch is past its deadline." in response.content.decode()
    assert "Patch compliance not computed yet" in response.content.decode()


def test_the_weekly_section_counts_the_changes_and_lists_those_outside_windows() -> None:
    service = ServiceFactory.create(slug="checkout")
    approved_window(service)  # Sundays 02:00-06:00 UTC
    inside = services.create_change(title="Inside", services=[service])
    outside = services.create_change(title="Tuesday deploy", services=[service])
    emergency = services.create_change(title="Hotfix", services=[service], kind="emergency")
    ChangeRecord.objects.filter(pk=inside.pk).update(actual_start=utc(2026, 11, 29, 3), outcome="successful")
    ChangeRecord.objects.filter(pk=outside.pk).update(
        actual_start=utc(2026, 11, 24, 14), outcome="failed", outside_window=True
    )
    ChangeRecord.objects.filter(pk=emergency.pk).update(actual_start=utc(2026, 11, 25, 1), outcome="successful")
    section = report_sections.changes_section(period=WEEK, now=NOW)
    assert section.summary == (
        "3 changes: 1 failed, backed out or followed by an incident (of 3 with an outcome); "
        "1 emergency change; 1 change outside its windows or in a freeze."
    )
    [row] = section.tables[0].rows
    assert [cell.text for cell in row] == [
        outside.number,
        "Tuesday deploy",
        "checkout",
        "outside its windows",
        "not approved",
    ]


def test_a_week_without_changes_says_so() -> None:
    assert report_sections.changes_section(period=WEEK, now=NOW).summary == "No change started this week."


def test_the_monthly_section_gives_patch_compliance_and_late_critical_patches() -> None:
    obligations(utc(2026, 11, 10))
    # tzdata installed in time (met 12 Nov, due 11 Dec: not due in November but met in it: counted, met).
    PatchObligation.objects.filter(package="tzdata").update(met_at=utc(2026, 11, 12))
    compliance.rebuild()  # written past maintenance.services: the rollup is rebuilt
    section = report_sections.patching_section(period=NOVEMBER, now=NOW)
    # openssl due 12 Nov 00:00, still open: counted, not met. 1 of 2 = 50 %.
    assert section.summary.startswith("Patch compliance 50.0 % over 2 obligations (target 95 %); 1 critical")
    assert [[c.text for c in row] for row in section.tables[0].rows] == [["checkout", "50.0 %", "2", "0"]]
    assert [[c.text for c in row] for row in section.tables[1].rows] == [
        ["openssl", "3.0.13-1~deb12u1", "host:db-1", "2026-11-12 00:00 UTC"]
    ]


def test_the_sections_are_registered_for_their_report_kinds() -> None:
    from opsgov.reports.services import report_sections as registry

    assert "changes" in [p.key for p in registry.for_kind("weekly")]
    assert "patching" in [p.key for p in registry.for_kind("monthly")]
    assert datetime(2026, 11, 23, tzinfo=UTC) == WEEK.start
