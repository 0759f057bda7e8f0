"""The report parsers on the fixtures, and bad input refused naming the line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maintenance import parsing, recurrence

# Copies of the shared fixtures (their README lists each format's traps).
FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_apt_simulate_lists_the_pending_updates_and_marks_security_origins() -> None:
    pending = parsing.parse_apt_simulate(fixture("apt-get-simulate-upgrade.txt"))
    assert [(u.package, u.installed, u.candidate, u.security) for u in pending] == [
        ("libssl3", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", True),
        ("openssl", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", True),
        ("tzdata", "2024a-0+deb12u1", "2025a-0+deb12u1", False),
    ]


def test_a_new_package_and_an_origin_list_parse() -> None:
    text = (
        "Inst linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/stable-security [amd64])\n"
        "Inst libc6 [2.36-9+deb12u7] "
        "(2.36-9+deb12u9 Debian:12.8/stable, Debian-Security:12/stable-security [amd64]) []\n"
    )
    pending = parsing.parse_apt_simulate(text)
    assert [(u.package, u.installed, u.security) for u in pending] == [
        ("linux-image-6.1.0-28-amd64", "", True),
        ("libc6", "2.36-9+deb12u7", True),
    ]


def test_a_line_apt_never_writes_is_refused_naming_it() -> None:
    with pytest.raises(parsing.ReportError) as caught:
        parsing.parse_apt_simulate("Reading package lists...\nInst broken line\n")
    assert caught.value.line == 2
    assert "apt_simulate, line 2" in str(caught.value)
    with pytest.raises(parsing.ReportError) as caught:
        parsing.parse_apt_simulate("Reading package lists...\n<html>oops</html>\n")
    assert caught.value.line == 2


def test_history_times_are_read_in_the_hosts_time_zone() -> None:
    installed = parsing.parse_history(fixture("apt-history.log"), tz=recurrence.zone("Europe/Berlin"))
    first = installed[0]
    assert (first.package, first.version) == ("libssl3", "3.0.13-1~deb12u1")
    # End-Date 2026-03-14  22:05:40 in Berlin (CET, UTC+1) = 21:05:40 UTC.
    assert first.at.astimezone(UTC) == datetime(2026, 3, 14, 21, 5, 40, tzinfo=UTC)
    assert [(i.package, i.version) for i in installed[2:]] == [
        ("linux-image-6.1.0-18-amd64", "6.1.0-18"),
        ("linux-image-amd64", "6.1.85-1"),
        ("tzdata", "2025a-0+deb12u1"),
    ]


def test_a_history_line_without_a_key_is_refused_naming_it() -> None:
    with pytest.raises(parsing.ReportError) as caught:
        parsing.parse_history("Start-Date: 2026-03-14  22:05:31\ngarbage here\n", tz=recurrence.zone("UTC"))
    assert caught.value.line == 2
    with pytest.raises(parsing.ReportError) as caught:
        parsing.parse_history("Start-Date: yesterday\nEnd-Date: 2026-03-14  22:05:40\n", tz=recurrence.zone("UTC"))
    assert caught.value.line == 1


def test_needrestart_reads_kernel_status_and_stale_services_ignoring_unknown_keys() -> None:
    result = parsing.parse_needrestart(fixture("needrestart-batch.txt") + "NEEDRESTART-FUTURE: x\n")
    assert result.kernel_status == 3
    assert result.reboot_needed
    assert result.services == ["nginx.service", "postgresql@16-main.service"]
    assert parsing.parse_needrestart("NEEDRESTART-KSTA: 0\n").reboot_needed is False  # 0 is unknown, not ok
    with pytest.raises(parsing.ReportError) as caught:
        parsing.parse_needrestart("NEEDRESTART-VER: 3.6\nNEEDRESTART-KSTA: 9\n")
    assert caught.value.line == 2


def test_renovate_reads_new_and_old_field_names() -> None:
    updates = parsing.parse_renovate(json.loads(fixture("renovate-report.json")))
    assert [(u.package, u.current, u.new, u.update_type, u.security) for u in updates] == [
        ("django", "4.2.10", "4.2.11", "patch", True),
        ("postgres", "15.6", "17.2", "major", False),
    ]
    old = {
        "repositories": {
            "a/b": {"branches": [{"upgrades": [{"lookupName": "x", "fromVersion": "1", "toVersion": "2"}]}]}
        }
    }
    assert [(u.package, u.current, u.new) for u in parsing.parse_renovate(old)] == [("x", "1", "2")]
    with pytest.raises(parsing.ReportError):
        parsing.parse_renovate({"repositories": {"a/b": {"branches": [{"upgrades": [{"depName": "x"}]}]}}})
