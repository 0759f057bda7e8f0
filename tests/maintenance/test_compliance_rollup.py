"""The patch-compliance rollup: kept exact by each report, equal to a scan of every obligation for any window."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from maintenance import compliance, selectors, services
from maintenance.models import PatchComplianceRollup, PatchObligation
from opsgov.roles import SECURITY_LEAD
from tests.factories import ServiceFactory

from .support import utc

pytestmark = pytest.mark.django_db

T0 = utc(2026, 9, 1, 6, 30)
PACKAGES = [f"pkg{i}" for i in range(12)] + ["openssl", "postgresql-15", "docker-ce"]


def apt(packages: list[str], version: str) -> str:
    lines = []
    for package in packages:
        origin = "Debian-Security:12/stable-security" if package in ("openssl", "pkg3") else "Debian:12/stable"
        lines.append(f"Inst {package} [1.0-1] ({version} {origin} [amd64])")
    return "\n".join(lines) + "\n"


def answers(start: object, end: object) -> tuple[list[tuple[str, int, int, int]], ...]:
    def rows(found: list[compliance.Compliance]) -> list[tuple[str, int, int, int]]:
        return [(r.scope, r.met, r.counted, r.excepted) for r in found]

    return rows(selectors.patch_compliance(start=start, end=end)), rows(  # type: ignore[arg-type]
        selectors.patch_compliance_scan(start=start, end=end)  # type: ignore[arg-type]
    )


def test_reports_keep_the_rollup_equal_to_a_scan_for_any_window(personas: dict[str, User]) -> None:
    rng = random.Random(17)  # noqa: S311 - reproducible test data
    web, db = ServiceFactory.create(slug="web"), ServiceFactory.create(slug="db")
    hosts = [services.create_host(name=f"h{i}", service=(web, db, None)[i % 3])[0] for i in range(6)]
    moment = T0
    for round_ in range(8):
        for host in hosts:
            pending = rng.sample(PACKAGES, rng.randint(0, len(PACKAGES)))
            services.record_patch_report(host=host, apt_simulate=apt(pending, f"2.{round_ // 3}-1"), received_at=moment)
            moment += timedelta(hours=rng.randint(1, 40), minutes=rng.randint(0, 59))
    services.grant_exception(
        obligation=PatchObligation.objects.order_by("id").first(),  # type: ignore[arg-type]
        until=moment + timedelta(days=400),
        reason="Vendor pin",
        user=personas[SECURITY_LEAD],
    )
    assert PatchObligation.objects.filter(met_at__isnull=False).exists()
    assert PatchObligation.objects.filter(met_at__isnull=True).exists()
    windows = [(moment - timedelta(days=days), moment) for days in (1, 7, 30, 90)]
    windows += [
        (T0 + timedelta(days=3, hours=5), T0 + timedelta(days=9, minutes=7)),
        (utc(2026, 9, 2), utc(2026, 9, 5)),
    ]
    for start, end in windows:
        fast, scan = answers(start, end)
        assert fast == scan, (start, end)
        assert fast[0][2] > 0
    incremental = sorted(
        PatchComplianceRollup.objects.exclude(obligations=0).values_list(
            "asset", "service_id", "due_day", "met_day", "obligations"
        )
    )
    compliance.rebuild()
    assert incremental == sorted(
        PatchComplianceRollup.objects.values_list("asset", "service_id", "due_day", "met_day", "obligations")
    )


def test_a_window_computed_by_hand() -> None:
    service = ServiceFactory.create(slug="web")
    host, _ = services.create_host(name="web-1", service=service)
    # openssl (security, 48 h) and pkg1 (os, 31 days) at T0; openssl gone 40 h later (in time), pkg1 stays.
    services.record_patch_report(host=host, apt_simulate=apt(["openssl", "pkg1"], "2.0-1"), received_at=T0)
    services.record_patch_report(host=host, apt_simulate=apt(["pkg1"], "2.0-1"), received_at=T0 + timedelta(hours=40))
    end = T0 + timedelta(days=32)
    rows = {r.scope: r for r in selectors.patch_compliance(start=end - timedelta(days=30), end=end)}
    # Window [T0 + 2 d, T0 + 32 d): openssl due T0 + 48 h (inside, met in time), pkg1 due T0 + 31 d (open): 1 of 2.
    assert (rows["global"].met, rows["global"].counted, rows["global"].excepted) == (1, 2, 0)
    assert (rows["service:web"].met, rows["service:web"].counted) == (1, 2)
    assert (rows["host:web-1"].met, rows["host:web-1"].counted) == (1, 2)
    # A window that ends before pkg1 is due counts openssl only.
    rows = {r.scope: r for r in selectors.patch_compliance(start=T0, end=T0 + timedelta(days=3))}
    assert (rows["global"].met, rows["global"].counted) == (1, 1)
