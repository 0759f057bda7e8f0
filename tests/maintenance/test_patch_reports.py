"""Host patch reports: the endpoint with host tokens, obligations and their deadlines, compliance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from maintenance import selectors, services
from maintenance.models import Host, PatchObligation
from opsgov.roles import DEVOPS_LEAD, PRODUCT_OWNER
from tests.factories import ServiceFactory

from .support import fixture, utc

pytestmark = pytest.mark.django_db

REPORTS = "/api/v1/maintenance/patch-reports/"
HOSTS = "/api/v1/maintenance/hosts/"
T0 = utc(2026, 3, 10, 12)


@pytest.fixture
def host_client() -> tuple[Host, APIClient]:
    service = ServiceFactory.create(slug="checkout")
    host, token = services.create_host(name="web-1", service=service, timezone_name="Europe/Berlin")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return host, client


def report(client: APIClient, at: datetime, **fields: str) -> Any:
    with time_machine.travel(at, tick=False):
        return client.post(REPORTS, fields, format="multipart")


def test_a_report_opens_one_obligation_per_pending_update_with_the_policy_deadline(
    host_client: tuple[Host, APIClient],
) -> None:
    host, client = host_client
    answer = report(
        client,
        T0,
        apt_simulate=fixture("apt-get-simulate-upgrade.txt"),
        needrestart=fixture("needrestart-batch.txt"),
        reboot_required="yes",
        reboot_packages="linux-image-6.1.0-18-amd64\n",
    )
    assert answer.status_code == 202, answer.content
    assert answer.json()["pending"] == 3
    assert answer.json()["security"] == 2
    rows = {o.package: o for o in PatchObligation.objects.all()}
    assert rows["libssl3"].patch_class == "security_critical"
    assert rows["libssl3"].due_at == T0 + timedelta(hours=48)
    assert rows["tzdata"].patch_class == "os"
    assert rows["tzdata"].due_at == T0 + timedelta(days=31)
    assert rows["libssl3"].asset == "host:web-1"
    assert rows["libssl3"].service is not None
    host.refresh_from_db()
    assert (host.reboot_required, host.kernel_status, host.pending_count) == (True, 3, 3)
    assert host.stale_services == ["nginx.service", "postgresql@16-main.service"]
    assert host.reboot_packages == ["linux-image-6.1.0-18-amd64"]


def test_a_later_report_meets_obligations_at_the_history_logs_install_time(host_client: tuple[Host, APIClient]) -> None:
    host, client = host_client
    report(client, utc(2026, 3, 14, 12), apt_simulate=fixture("apt-get-simulate-upgrade.txt"))
    # Two days later nothing is pending; the history log shows libssl3/openssl installed at
    # 2026-03-14 22:05:40 Berlin (21:05:40 UTC) and tzdata at 2026-03-15 03:11:47 (02:11:47 UTC).
    answer = report(
        client,
        utc(2026, 3, 16, 12),
        apt_simulate="Reading package lists...\n",
        history=fixture("apt-history.log"),
        timezone="Europe/Berlin",
    )
    assert answer.status_code == 202, answer.content
    met = dict(PatchObligation.objects.values_list("package", "met_at"))
    assert met == {
        "libssl3": utc(2026, 3, 14, 21, 5, 40),
        "openssl": utc(2026, 3, 14, 21, 5, 40),
        "tzdata": utc(2026, 3, 15, 2, 11, 47),
    }
    # The same stanzas sent again are not read twice.
    host.refresh_from_db()
    assert host.last_history_start == "2026-03-15  03:10:02"


def test_an_obligation_stays_open_while_the_package_is_pending_and_meets_when_gone(
    host_client: tuple[Host, APIClient],
) -> None:
    _, client = host_client
    report(client, T0, apt_simulate=fixture("apt-get-simulate-upgrade.txt"))
    report(client, T0 + timedelta(hours=1), apt_simulate=fixture("apt-get-simulate-upgrade.txt"))
    assert PatchObligation.objects.count() == 3
    assert not PatchObligation.objects.filter(met_at__isnull=False).exists()
    only_tzdata = "\n".join(
        line for line in fixture("apt-get-simulate-upgrade.txt").splitlines() if "ssl" not in line or "  " in line
    )
    report(client, T0 + timedelta(hours=60), apt_simulate=only_tzdata)
    libssl = PatchObligation.objects.get(package="libssl3")
    assert libssl.met_at == T0 + timedelta(hours=60)
    assert not libssl.met_in_time  # 60 h > 48 h
    assert PatchObligation.objects.get(package="tzdata").met_at is None


def test_patch_compliance_counts_met_in_time_over_due_and_leaves_exceptions_apart(
    host_client: tuple[Host, APIClient], personas: dict[str, User]
) -> None:
    _, client = host_client
    report(client, T0, apt_simulate=fixture("apt-get-simulate-upgrade.txt"))
    # 40 h later openssl and libssl3 are installed (in time); tzdata stays pending.
    report(
        client,
        T0 + timedelta(hours=40),
        apt_simulate="\n".join(
            line for line in fixture("apt-get-simulate-upgrade.txt").splitlines() if "ssl" not in line or "  " in line
        ),
    )
    end = T0 + timedelta(days=32)  # tzdata (due T0 + 31 d) is now overdue and open
    rows = {row.scope: row for row in selectors.patch_compliance(start=end - timedelta(days=30), end=end)}
    # Counted: libssl3 and openssl (met early, inside the window), tzdata (due inside): 2 of 3.
    assert (rows["global"].met, rows["global"].counted) == (2, 3)
    assert rows["global"].percent == pytest.approx(200 / 3)
    assert rows["service:checkout"].counted == 3
    assert rows["host:web-1"].met == 2
    services.grant_exception(
        obligation=PatchObligation.objects.get(package="tzdata"),
        until=end + timedelta(days=10),
        reason="Vendor pin",
        user=personas["Security Lead"],
    )
    rows = {row.scope: row for row in selectors.patch_compliance(start=end - timedelta(days=30), end=end)}
    assert (rows["global"].met, rows["global"].counted, rows["global"].excepted) == (2, 2, 1)
    assert rows["global"].percent == 100


def test_an_unknown_host_token_is_401(host_client: tuple[Host, APIClient]) -> None:
    client = APIClient()
    assert client.post(REPORTS, {"apt_simulate": ""}, format="multipart").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Bearer nope")
    assert client.post(REPORTS, {"apt_simulate": ""}, format="multipart").status_code == 401
    assert not PatchObligation.objects.exists()


def test_a_report_that_does_not_parse_is_400_naming_the_line_and_nothing_is_written(
    host_client: tuple[Host, APIClient],
) -> None:
    host, client = host_client
    answer = report(
        client, T0, apt_simulate=fixture("apt-get-simulate-upgrade.txt"), needrestart="NEEDRESTART-KSTA: 7\n"
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "needrestart"
    assert "line 1" in answer.json()["errors"][0]["message"]
    answer = report(client, T0, apt_simulate="Inst ???\n")
    assert answer.status_code == 400
    assert "apt_simulate, line 1" in answer.json()["errors"][0]["message"]
    assert not PatchObligation.objects.exists()
    host.refresh_from_db()
    assert host.last_report_at is None


def test_the_devops_lead_creates_a_host_and_sees_its_token_once(
    personas: dict[str, User], client_for: Callable[[User], APIClient]
) -> None:
    ServiceFactory.create(slug="checkout")
    answer = client_for(personas[DEVOPS_LEAD]).post(
        HOSTS, {"name": "db-1", "service": "checkout", "timezone": "Europe/Berlin"}, format="json"
    )
    assert answer.status_code == 201, answer.content
    token = answer.json()["token"]
    assert len(token) > 20
    listed = client_for(personas[DEVOPS_LEAD]).get(HOSTS).json()["results"][0]
    assert listed["token"] is None
    assert listed["token_prefix"] == token[:8]
    assert client_for(personas[PRODUCT_OWNER]).post(HOSTS, {"name": "x"}, format="json").status_code == 403
    bad = client_for(personas[DEVOPS_LEAD]).post(HOSTS, {"name": "db-2", "timezone": "Nowhere/Land"}, format="json")
    assert bad.status_code == 400
