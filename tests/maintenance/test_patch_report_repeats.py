"""Repeated patch reports recognised from their fields as sent (the agent's steady state), before DRF."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.client import encode_multipart

from maintenance import services
from maintenance.models import Host, PatchObligation, PatchReport
from tests.factories import ServiceFactory

from ..ingest_service import as_ingest_service
from .support import fixture, utc

pytestmark = pytest.mark.django_db

REPORTS = "/api/v1/maintenance/patch-reports/"
T0 = utc(2026, 3, 10, 12)


def agent_fields(**changes: str) -> dict[str, str]:
    """What deploy/agent/opsgov-patch-report.sh sends in the steady state (no new history lines)."""
    return {
        "apt_simulate": fixture("apt-get-simulate-upgrade.txt"),
        "history": "",
        "needrestart": fixture("needrestart-batch.txt"),
        "reboot_required": "yes",
        "reboot_packages": "linux-image-6.1.0-18-amd64\n",
        "timezone": "Europe/Berlin",
        "hostname": "web-1",
        **changes,
    }


@pytest.fixture
def host_token() -> tuple[Host, str]:
    host, token = services.create_host(
        name="web-1", service=ServiceFactory.create(slug="checkout"), timezone_name="Europe/Berlin"
    )
    return host, token


def post_multipart(token: str, at: datetime, fields: dict[str, str], **headers: str) -> Any:
    """A multipart POST as curl sends it: a new boundary every time."""
    boundary = f"------------------------{secrets.token_hex(8)}"
    with time_machine.travel(at, tick=False):
        return Client().post(
            REPORTS,
            encode_multipart(boundary, fields),
            content_type=f"multipart/form-data; boundary={boundary}",
            headers={"Authorization": f"Bearer {token}", **headers},
        )


def post_json(token: str, at: datetime, text: str) -> Any:
    with time_machine.travel(at, tick=False):
        return Client().post(
            REPORTS, text, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
        )


def test_the_agents_repeated_report_is_one_update_and_answers_as_the_first(
    host_token: tuple[Host, str], django_assert_num_queries: Any
) -> None:
    host, token = host_token
    first = post_multipart(token, T0, agent_fields())
    assert first.status_code == 202, first.content
    assert (first.json()["pending"], first.json()["security"], first.json()["installed"]) == (3, 2, 0)
    before = list(PatchObligation.objects.order_by("id").values())
    # The same fields again (in a body with another boundary): one UPDATE found by the token's hash.
    with django_assert_num_queries(1) as queries:
        third = post_multipart(token, T0 + timedelta(hours=2), agent_fields())
    assert queries.captured_queries[0]["sql"].startswith("UPDATE")
    assert third.status_code == 202, third.content
    assert third.json() == {**first.json(), "received_at": "2026-03-10T14:00:00Z", "installed": 0}
    assert third.json()["reboot_required"] is True
    # The answer's headers are DRF's.
    for name in ("Content-Type", "Allow", "Vary"):
        assert third.headers.get(name) == first.headers.get(name), name
    assert third.headers["Allow"] == "POST, OPTIONS"
    assert PatchReport.objects.filter(host=host).count() == 1
    assert list(PatchObligation.objects.order_by("id").values()) == before
    host.refresh_from_db()
    assert host.last_report_at == T0 + timedelta(hours=2)


def test_a_full_report_stores_the_raw_digest_so_its_first_repeat_is_one_update(
    host_token: tuple[Host, str], django_assert_num_queries: Any
) -> None:
    host, token = host_token
    assert post_multipart(token, T0, agent_fields()).status_code == 202
    host.refresh_from_db()
    assert host.report_raw_digest == services.raw_report_digest(agent_fields())
    assert host.pending_security_count == 2
    with django_assert_num_queries(1):
        assert post_multipart(token, T0 + timedelta(hours=1), agent_fields()).status_code == 202


def test_a_json_report_is_a_raw_repeat_whatever_its_spacing_and_key_order(
    host_token: tuple[Host, str], django_assert_num_queries: Any
) -> None:
    host, token = host_token
    fields = agent_fields()
    assert post_json(token, T0, json.dumps(fields)).status_code == 202
    reordered = json.dumps(dict(reversed(list(fields.items()))), indent=2)
    with django_assert_num_queries(1):
        again = post_json(token, T0 + timedelta(hours=1), reordered)
    assert again.status_code == 202, again.content
    assert again.json()["pending"] == 3
    # The same fields sent as multipart are the same raw report too.
    with django_assert_num_queries(1):
        assert post_multipart(token, T0 + timedelta(hours=2), fields).status_code == 202
    assert PatchReport.objects.filter(host=host).count() == 1


def test_apt_lines_in_another_order_are_parsed_then_recognised_and_the_new_raw_digest_kept(
    host_token: tuple[Host, str], django_assert_num_queries: Any
) -> None:
    host, token = host_token
    assert post_multipart(token, T0, agent_fields()).status_code == 202
    lines = fixture("apt-get-simulate-upgrade.txt").splitlines()
    inst = [line for line in lines if line.startswith("Inst ")]
    reordered = "\n".join([line for line in lines if not line.startswith("Inst ")] + inst[::-1]) + "\n"
    # Not the same fields: the raw UPDATE matches nothing, then the token's lookup and the normalised repeat.
    with django_assert_num_queries(3):
        assert post_multipart(token, T0 + timedelta(hours=1), agent_fields(apt_simulate=reordered)).status_code == 202
    with django_assert_num_queries(1):
        again = post_multipart(token, T0 + timedelta(hours=2), agent_fields(apt_simulate=reordered))
    assert again.json()["security"] == 2
    assert PatchReport.objects.filter(host=host).count() == 1


def test_what_is_never_a_raw_repeat_goes_through_the_full_path(host_token: tuple[Host, str]) -> None:
    host, token = host_token
    assert post_multipart(token, T0, agent_fields()).status_code == 202
    # History lines: parsed (a new stanza is applied in full, an old one is a normalised repeat).
    history = agent_fields(history=fixture("apt-history.log"))
    assert services.raw_report_digest(history) == ""
    answer = post_multipart(token, utc(2026, 3, 16, 12), history)
    assert answer.status_code == 202, answer.content
    assert answer.json()["installed"] > 0
    assert PatchReport.objects.filter(host=host).count() == 2
    # No time zone (the host's declared one counts), or a field the endpoint does not take (a 400 from DRF).
    assert services.raw_report_digest({k: v for k, v in agent_fields().items() if k != "timezone"}) == ""
    assert services.raw_report_digest(agent_fields(extra="x")) == ""
    unknown = post_multipart(token, utc(2026, 3, 16, 13), agent_fields(extra="x"))
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "extra"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"apt_simulate=x"),  # no boundary
        ("multipart/form-data; boundary=zz", b"--zz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--zz--"),
        ("application/json", b'{"apt_simulate": '),
        ("application/json", b"\xff\xfe{}"),
    ],
)
def test_a_body_that_does_not_parse_is_drfs_400_not_an_error(
    host_token: tuple[Host, str], content_type: str, body: bytes
) -> None:
    host, token = host_token
    assert post_multipart(token, T0, agent_fields()).status_code == 202
    answer = Client().post(REPORTS, body, content_type=content_type, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400, answer.content
    host.refresh_from_db()
    assert host.last_report_at == T0


def test_an_unknown_token_with_a_known_report_is_401_and_writes_nothing(host_token: tuple[Host, str]) -> None:
    host, token = host_token
    assert post_multipart(token, T0, agent_fields()).status_code == 202
    assert post_multipart("not-a-token", T0 + timedelta(hours=1), agent_fields()).status_code == 401
    assert post_multipart(token, T0 + timedelta(hours=1), agent_fields(), Authorization="").status_code == 401
    host.refresh_from_db()
    assert host.last_report_at == T0


def test_a_changed_report_after_raw_repeats_is_applied_in_full_and_becomes_the_new_repeat(
    host_token: tuple[Host, str], django_assert_num_queries: Any
) -> None:
    host, token = host_token
    for hours in (0, 1):
        assert post_multipart(token, T0 + timedelta(hours=hours), agent_fields()).status_code == 202
    changed = "\n".join(line for line in fixture("apt-get-simulate-upgrade.txt").splitlines() if "libssl3" not in line)
    answer = post_multipart(token, T0 + timedelta(hours=10), agent_fields(apt_simulate=changed, reboot_required="no"))
    assert answer.status_code == 202, answer.content
    assert (answer.json()["pending"], answer.json()["reboot_required"]) == (2, True)  # needrestart's kernel
    assert PatchObligation.objects.get(package="libssl3").met_at == T0 + timedelta(hours=10)
    # The old report again is a change back (applied in full), not a raw repeat of a digest no longer kept.
    assert post_multipart(token, T0 + timedelta(hours=11), agent_fields()).json()["pending"] == 3
    assert PatchReport.objects.filter(host=host).count() == 3
    with django_assert_num_queries(1):
        assert post_multipart(token, T0 + timedelta(hours=12), agent_fields()).json()["pending"] == 3


def test_a_raw_repeat_is_applied_in_full_after_the_components_were_written_elsewhere(
    host_token: tuple[Host, str],
) -> None:
    host, token = host_token
    apt = "Inst postgresql-15 [15.8-0+deb12u1] (15.10-0+deb12u1 Debian-Security:12/stable-security [amd64])\n"
    assert post_multipart(token, T0, agent_fields(apt_simulate=apt)).status_code == 202
    services.import_eol(product="postgresql", rows=[{"cycle": "15", "eol": "2027-11-11"}])
    host.refresh_from_db()
    assert (host.report_digest, host.report_raw_digest) == ("", "")
    assert post_multipart(token, T0 + timedelta(hours=1), agent_fields(apt_simulate=apt)).status_code == 202
    assert PatchReport.objects.filter(host=host).count() == 2
    assert host.service is not None
    services.record_component(service=host.service, product="postgresql", version="15.2")
    assert post_multipart(token, T0 + timedelta(hours=2), agent_fields(apt_simulate=apt)).status_code == 202
    assert PatchReport.objects.filter(host=host).count() == 3


def test_a_client_asking_for_html_or_a_format_gets_drfs_own_answer(host_token: tuple[Host, str]) -> None:
    _, token = host_token
    assert post_multipart(token, T0, agent_fields()).status_code == 202
    html = post_multipart(token, T0 + timedelta(hours=1), agent_fields(), Accept="text/html")
    assert html.status_code == 202
    assert html.headers["Content-Type"].startswith("text/html")


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_raw_repeat_commits_without_leaving_synchronous_commit_off() -> None:
    host, token = services.create_host(name="web-3", timezone_name="UTC")
    fields = agent_fields(timezone="UTC")
    assert post_multipart(token, T0, fields).status_code == 202
    digest = Host.objects.get(pk=host.pk).report_raw_digest
    seen = services.record_raw_repeat(token_hash=host.token_hash, raw_digest=digest, received_at=T0 + timedelta(1))
    assert seen is not None
    assert (seen.host_name, seen.pending, seen.security, seen.reboot_required) == ("web-3", 3, 2, True)
    assert Host.objects.get(pk=host.pk).last_report_at == T0 + timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
    # Another digest, or another host's token hash, matches nothing and writes nothing.
    assert services.record_raw_repeat(token_hash=host.token_hash, raw_digest="0" * 64) is None
    assert services.record_raw_repeat(token_hash="0" * 64, raw_digest=digest) is None
    assert services.record_raw_repeat(token_hash=host.token_hash, raw_digest="") is None
    assert Host.objects.get(pk=host.pk).last_report_at == T0 + timedelta(days=1)


@pytest.mark.django_db(transaction=True)
def test_the_ingest_service_serves_the_agents_reports_under_its_middleware_urls_and_prepared_statements(
    settings: Any,
) -> None:
    # As docker-compose's `ingest` runs (opsgov.settings_ingest), where the proxy sends the patch reports.
    with as_ingest_service(settings):
        host, token = services.create_host(name="web-9", timezone_name="UTC")
        first = post_multipart(token, T0, agent_fields(timezone="UTC"))
        assert first.status_code == 202, first.content
        changed = "\n".join(
            line for line in fixture("apt-get-simulate-upgrade.txt").splitlines() if "libssl3" not in line
        )
        fields = agent_fields(apt_simulate=changed, timezone="UTC")
        for hours in (1, 2, 3):  # applied in full, then raw repeats
            answer = post_multipart(token, T0 + timedelta(hours=hours), fields)
            assert answer.status_code == 202, answer.content
            assert answer.json()["pending"] == 2
        # apt's lines in another order: parsed, a repeat by its normalised digest (_mark_seen's statement).
        reordered = "\n".join(reversed(changed.splitlines())) + "\n"
        answer = post_multipart(token, T0 + timedelta(hours=3, minutes=30), {**fields, "apt_simulate": reordered})
        assert (answer.status_code, answer.json()["pending"]) == (202, 2), answer.content
        bad = post_multipart(token, T0 + timedelta(hours=4), agent_fields(needrestart="NEEDRESTART-KSTA: 7\n"))
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["field"] == "needrestart"
        assert post_multipart("nope", T0 + timedelta(hours=5), agent_fields(timezone="UTC")).status_code == 401
        assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    assert PatchReport.objects.filter(host=host).count() == 2
    assert PatchObligation.objects.get(package="libssl3").met_at == T0 + timedelta(hours=1)
    assert PatchObligation.objects.filter(met_at__isnull=True).count() == 2
    assert Host.objects.get(pk=host.pk).last_report_at == T0 + timedelta(hours=3, minutes=30)
    assert Host.objects.get(pk=host.pk).report_raw_digest == services.raw_report_digest(
        {**fields, "apt_simulate": reordered}
    )
