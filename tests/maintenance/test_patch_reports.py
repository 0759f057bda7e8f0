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
from maintenance.models import Component, Host, PatchObligation, PatchReport
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


def test_a_repeated_report_is_recorded_as_seen_with_one_update_and_changes_nothing_else(
    host_client: tuple[Host, APIClient], django_assert_num_queries: Any
) -> None:
    host, client = host_client
    apt = fixture("apt-get-simulate-upgrade.txt")
    first = report(client, T0, apt_simulate=apt, reboot_required="yes")
    assert first.status_code == 202, first.content
    before = list(PatchObligation.objects.order_by("id").values())
    # The same pending updates, apt's lines in another order: the same normalised content.
    lines = apt.splitlines()
    inst = [line for line in lines if line.startswith("Inst ")]
    reordered = "\n".join([line for line in lines if not line.startswith("Inst ")] + inst[::-1]) + "\n"
    with django_assert_num_queries(2):  # the host token's lookup, then one UPDATE of the host
        again = report(client, T0 + timedelta(hours=5), apt_simulate=reordered, reboot_required="yes")
    assert again.status_code == 202, again.content
    assert again.json() == {**first.json(), "received_at": again.json()["received_at"], "installed": 0}
    assert again.json()["reboot_required"] is True
    assert PatchReport.objects.filter(host=host).count() == 1
    assert list(PatchObligation.objects.order_by("id").values()) == before
    host.refresh_from_db()
    assert host.last_report_at == T0 + timedelta(hours=5)


def test_a_changed_report_after_repeats_updates_the_obligations_exactly(host_client: tuple[Host, APIClient]) -> None:
    host, client = host_client
    apt = fixture("apt-get-simulate-upgrade.txt")
    for hours in (0, 1, 2):
        assert report(client, T0 + timedelta(hours=hours), apt_simulate=apt).status_code == 202
    assert PatchReport.objects.filter(host=host).count() == 1
    # libssl3 installed, openssl pending, a newer tzdata candidate: one met, one opened, the rest unchanged.
    changed = "\n".join(
        line.replace("2025a-0+deb12u1", "2025b-0+deb12u1") for line in apt.splitlines() if "libssl3" not in line
    )
    answer = report(client, T0 + timedelta(hours=10), apt_simulate=changed)
    assert answer.status_code == 202, answer.content
    rows = {(o.package, o.version): o.met_at for o in PatchObligation.objects.all()}
    tzdata = sorted(version for package, version in rows if package == "tzdata")
    assert len(tzdata) == 2
    assert rows == {
        ("libssl3", next(v for p, v in rows if p == "libssl3")): T0 + timedelta(hours=10),
        ("openssl", next(v for p, v in rows if p == "openssl")): None,
        ("tzdata", tzdata[0]): None,
        ("tzdata", tzdata[1]): None,
    }
    assert PatchReport.objects.filter(host=host).count() == 2
    host.refresh_from_db()
    assert host.pending_count == 2
    # A repeat of the changed report is again only seen.
    report(client, T0 + timedelta(hours=11), apt_simulate=changed)
    assert PatchReport.objects.filter(host=host).count() == 2
    assert PatchObligation.objects.filter(met_at__isnull=False).count() == 1


def test_a_repeated_report_with_a_new_history_stanza_is_applied_in_full(host_client: tuple[Host, APIClient]) -> None:
    host, client = host_client
    nothing = "Reading package lists...\n"
    report(client, utc(2026, 3, 14, 12), apt_simulate=fixture("apt-get-simulate-upgrade.txt"))
    report(client, utc(2026, 3, 16, 11), apt_simulate=nothing, timezone="Europe/Berlin")
    assert PatchReport.objects.filter(host=host).count() == 2
    # The same (empty) pending list again, now with the history stanzas: read, and the install times kept.
    answer = report(
        client, utc(2026, 3, 16, 12), apt_simulate=nothing, history=fixture("apt-history.log"), timezone="Europe/Berlin"
    )
    assert answer.json()["installed"] > 0
    assert PatchReport.objects.filter(host=host).count() == 3
    host.refresh_from_db()
    assert host.last_history_start == "2026-03-15  03:10:02"
    # Sent once more, the stanzas are old: a repeat.
    report(
        client, utc(2026, 3, 16, 13), apt_simulate=nothing, history=fixture("apt-history.log"), timezone="Europe/Berlin"
    )
    assert PatchReport.objects.filter(host=host).count() == 3


def test_a_repeated_report_is_applied_in_full_after_the_components_were_written_elsewhere(
    host_client: tuple[Host, APIClient],
) -> None:
    host, client = host_client
    apt = "Inst postgresql-15 [15.8-0+deb12u1] (15.10-0+deb12u1 Debian-Security:12/stable-security [amd64])\n"
    report(client, T0, apt_simulate=apt)
    assert not Component.objects.exists()
    # The end-of-life table arrives after the report: the same report again now records the component.
    services.import_eol(product="postgresql", rows=[{"cycle": "15", "eol": "2027-11-11"}])
    report(client, T0 + timedelta(hours=1), apt_simulate=apt)
    assert list(Component.objects.values_list("product", "version", "source")) == [
        ("postgresql", "15.8", "patch_report")
    ]
    # A manual version, then the same report: the host's installed version is written again, as before.
    assert host.service is not None
    services.record_component(service=host.service, product="postgresql", version="15.2")
    report(client, T0 + timedelta(hours=2), apt_simulate=apt)
    assert list(Component.objects.values_list("version", "source")) == [("15.8", "patch_report")]
    assert PatchReport.objects.filter(host=host).count() == 3


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


def test_a_report_with_a_surrogate_character_is_400_naming_the_part(host_client: tuple[Host, APIClient]) -> None:
    host, client = host_client
    body = '{"apt_simulate": "Inst libssl3 [3.0.11-1] (3.0.13-1 Debian:12/stable [amd64])\\n\\ud800\\n"}'
    with time_machine.travel(T0, tick=False):
        answer = client.post(REPORTS, body, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["errors"] == [
        {"field": "apt_simulate", "message": "Surrogate characters are not allowed: U+D800."}
    ]
    assert not PatchReport.objects.filter(host=host).exists()


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


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_repeat_is_one_update_that_matches_only_the_same_digest() -> None:
    # On PostgreSQL the UPDATE goes with SET LOCAL synchronous_commit (only outside a transaction, as here).
    host, _ = services.create_host(name="web-2")
    apt = fixture("apt-get-simulate-upgrade.txt")
    services.record_patch_report(host=host, apt_simulate=apt, received_at=T0)
    host.refresh_from_db()
    outcome = services.record_patch_report(host=host, apt_simulate=apt, received_at=T0 + timedelta(hours=1))
    assert outcome.report is None
    assert Host.objects.get(pk=host.pk).last_report_at == T0 + timedelta(hours=1)
    assert PatchReport.objects.filter(host=host).count() == 1
    # Another report changed the digest meanwhile: the UPDATE matches nothing and the report is applied in full.
    Host.objects.filter(pk=host.pk).update(report_digest="changed-meanwhile")
    outcome = services.record_patch_report(host=host, apt_simulate=apt, received_at=T0 + timedelta(hours=2))
    assert outcome.report is not None
    assert PatchReport.objects.filter(host=host).count() == 2
    assert Host.objects.get(pk=host.pk).report_digest == host.report_digest
