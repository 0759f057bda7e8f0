"""The report parsers: every fixture format, detection, and the errors that name the line or field path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from backups import parsers
from backups.parsers import ReportError

from .support import fixture


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("restic-backup-ok.jsonl", "restic-backup"),
        ("restic-backup-partial-exit3.jsonl", "restic-backup"),
        ("restic-backup-failed-exit12.jsonl", "restic-backup"),
        ("restic-snapshots.json", "restic-snapshots"),
        ("restic-check.jsonl", "restic-check"),
        ("restic-restore.jsonl", "restic-restore"),
        ("pgbackrest-info.json", "pgbackrest-info"),
        ("pgbackrest-verify-ok.txt", "pgbackrest-verify"),
        ("pgbackrest-verify-invalid-plain.txt", "pgbackrest-verify"),
        ("barman-list-backups.json", "barman-list-backups"),
        ("barman-check.json", "barman-check"),
        ("velero-backups.json", "velero"),
    ],
)
def test_every_fixture_is_detected(name: str, fmt: str) -> None:
    assert parsers.detect(fixture(name)) == fmt


def test_restic_backup_ok_keeps_the_tools_times_in_utc() -> None:
    report = parsers.parse(fixture("restic-backup-ok.jsonl"))
    (run,) = report.runs
    assert run.status == "succeeded"
    assert run.key.startswith("a1b2c3d4")
    assert run.started_at == datetime(2026, 3, 2, 1, 0, 1, 500000, tzinfo=UTC)
    assert run.finished_at == datetime(2026, 3, 2, 1, 3, 44, 100000, tzinfo=UTC)
    assert run.size_bytes == 7516192768
    assert report.encrypted is True


def test_restic_partial_is_a_failure_with_the_unreadable_file_named() -> None:
    (run,) = parsers.parse(fixture("restic-backup-partial-exit3.jsonl")).runs
    assert run.status == "partial"
    assert run.key.startswith("b2c3")
    assert "/data/x: open /data/x: permission denied" in run.error
    # The exit status the wrapper saw wins: 3 is partial, 1 failed.
    assert parsers.parse(fixture("restic-backup-partial-exit3.jsonl"), exit_status=3).runs[0].status == "partial"
    assert parsers.parse(fixture("restic-backup-ok.jsonl"), exit_status=1).runs[0].status == "failed"


def test_restic_wrong_password_is_failed_without_snapshot() -> None:
    (run,) = parsers.parse(fixture("restic-backup-failed-exit12.jsonl")).runs
    assert (run.status, run.key, run.exit_status) == ("failed", "", 12)
    assert "wrong password" in run.error


def test_unknown_message_types_and_fields_are_ignored() -> None:
    text = '{"message_type": "future_thing", "x": 1}\n' + fixture("restic-backup-ok.jsonl").replace(
        '"files_new"', '"new_field": [1], "files_new"'
    )
    assert parsers.parse(text).runs[0].status == "succeeded"


def test_a_broken_json_line_is_named() -> None:
    text = fixture("restic-backup-ok.jsonl").splitlines()
    text.insert(1, '{"message_type": "status", oops}')
    with pytest.raises(ReportError) as error:
        parsers.parse("\n".join(text), "restic-backup")
    assert error.value.path == "line 2"


def test_a_time_without_zone_is_refused_with_its_path() -> None:
    text = fixture("restic-backup-ok.jsonl").replace("2026-03-02T02:03:44.1+01:00", "2026-03-02T02:03:44")
    with pytest.raises(ReportError) as error:
        parsers.parse(text)
    assert error.value.path == "line 3.backup_end"
    assert "no time zone" in error.value.message


def test_restic_nanoseconds_are_cut_to_microseconds() -> None:
    assert parsers.parse_time("2026-12-06T23:22:42.411036621Z", "t") == datetime(
        2026, 12, 6, 23, 22, 42, 411036, tzinfo=UTC
    )


def test_restic_snapshots_plain_and_grouped() -> None:
    report = parsers.parse(fixture("restic-snapshots.json"))
    assert [p.point_id[:8] for p in report.points or []] == ["0f1e2d3c", "a1b2c3d4"]
    old, new = report.points or []
    assert old.size_bytes is None  # restic 0.16 wrote no summary
    assert new.size_bytes == 7516192768
    assert old.taken_at == datetime(2025, 12, 1, 1, 0, 3, 100000, tzinfo=UTC)
    grouped = json.dumps(
        [{"group_key": {"hostname": "app-01"}, "snapshots": json.loads(fixture("restic-snapshots.json"))}]
    )
    assert [p.point_id for p in parsers.parse(grouped).points or []] == [p.point_id for p in report.points or []]


def test_restic_check_json_and_text() -> None:
    (check,) = parsers.parse(fixture("restic-check.jsonl")).checks
    assert (check.ok, check.errors) == (True, 0)
    bad = '{"message_type": "summary", "num_errors": 2, "broken_packs": ["abc"]}'
    (check,) = parsers.parse(bad).checks
    assert (check.ok, check.errors) == (False, 2)
    assert "abc" in check.detail
    (text_check,) = parsers.parse("load indexes\ncheck all packs\nno errors were found\n").checks
    assert text_check.ok


def test_restic_restore_summary() -> None:
    restore = parsers.parse(fixture("restic-restore.jsonl")).restore
    assert restore is not None
    assert (restore.seconds_elapsed, restore.files_restored, restore.bytes_restored) == (41.0, 10436, 7516192768)


def test_pgbackrest_info() -> None:
    report = parsers.parse(fixture("pgbackrest-info.json"))
    assert [(r.key, r.status) for r in report.runs] == [
        ("20260301-010000F", "succeeded"),
        ("20260301-010000F_20260302-010000I", "succeeded"),
    ]
    assert report.runs[0].started_at == datetime.fromtimestamp(1772326800, tz=UTC)
    assert report.runs[0].finished_at == datetime.fromtimestamp(1772328420, tz=UTC)
    assert report.encrypted is True
    assert report.wal_archive_max == "000000010000000C0000003F"
    assert not report.checks  # status 0


def test_pgbackrest_stanza_error_is_a_failed_check_and_bad_types_name_the_path() -> None:
    data = json.loads(fixture("pgbackrest-info.json"))
    data[0]["status"] = {"code": 2, "message": "no valid backups"}
    data[0]["cipher"] = "none"
    report = parsers.parse(json.dumps(data), "pgbackrest-info")
    assert [(c.ok, c.detail) for c in report.checks] == [(False, "stanza main: status 2 no valid backups")]
    assert report.encrypted is False
    data[0]["backup"][1]["timestamp"]["stop"] = "soon"
    with pytest.raises(ReportError) as error:
        parsers.parse(json.dumps(data), "pgbackrest-info")
    assert error.value.path == "[0].backup[1].timestamp.stop"


def test_barman_done_failed_and_times() -> None:
    report = parsers.parse(fixture("barman-list-backups.json"))
    assert [(r.key, r.status) for r in report.runs] == [
        ("20260302T020001", "succeeded"),
        ("20260301T020001", "failed"),
    ]
    assert report.runs[0].finished_at == datetime.fromtimestamp(1772417401, tz=UTC)
    assert [p.point_id for p in report.points or []] == ["20260302T020001"]


def test_barman_end_time_without_timestamp_is_read_in_the_jobs_zone() -> None:
    data = json.loads(fixture("barman-list-backups.json"))
    del data["pg-main"][0]["end_time_timestamp"]
    report = parsers.parse(json.dumps(data), tz=ZoneInfo("Europe/Paris"))
    # "Mon Mar  2 02:10:01 2026" in Paris (UTC+1 in March) is 01:10:01 UTC.
    assert report.runs[0].finished_at == datetime(2026, 3, 2, 1, 10, 1, tzinfo=UTC)


def test_barman_check() -> None:
    (check,) = parsers.parse(fixture("barman-check.json")).checks
    assert (check.ok, check.errors) == (False, 1)
    assert "backup_maximum_age: FAILED (interval provided: 1 day, latest backup age: 2 days)" in check.detail


def test_velero_only_completed_succeeds_and_in_progress_is_skipped() -> None:
    report = parsers.parse(fixture("velero-backups.json"))
    assert [(r.key, r.status) for r in report.runs] == [
        ("daily-apps-20260302020012", "partial"),
        ("daily-apps-20260303020009", "succeeded"),
    ]
    assert [p.point_id for p in report.points or []] == ["daily-apps-20260303020009"]
    assert (report.points or [])[0].expires_at == datetime(2026, 4, 2, 2, 0, 9, tzinfo=UTC)
    single = json.loads(fixture("velero-backups.json"))["items"][1]
    one = parsers.parse(json.dumps(single))
    assert [r.status for r in one.runs] == ["succeeded"]
    assert one.points_complete is False


@pytest.mark.parametrize("text", ["", "   ", "[]", "{}", "hello", '{"a": 1}', "[1, 2]"])
def test_what_is_no_known_report_is_refused(text: str) -> None:
    with pytest.raises(ReportError):
        parsers.parse(text)


def test_an_unknown_format_name_is_refused() -> None:
    with pytest.raises(ReportError) as error:
        parsers.parse("{}", "bacula")
    assert error.value.path == "format"


# --- pgbackrest verify (captured from Debian's pgBackRest 2.45) ----------------------------------


def test_pgbackrest_verify_of_a_clean_repository_is_a_passing_check() -> None:
    text = fixture("pgbackrest-verify-ok.txt")
    assert parsers.detect(text) == "pgbackrest-verify"
    report = parsers.parse(text)
    assert report.format == "pgbackrest-verify"
    assert report.checks == [
        parsers.ParsedCheck(ok=True, errors=0, detail="stanza main: ok; 1 backup(s) valid, 2 WAL segment(s) valid")
    ]
    assert report.raw[0]["backups"][0] == {
        "label": "20261207-025444F",
        "status": "valid",
        "checked": 964,
        "valid": 964,
        "counts": {"missing": 0, "checksum invalid": 0, "size invalid": 0, "other": 0},
    }
    assert report.runs == [] and report.points is None  # verify says nothing of runs or restore points


@pytest.mark.parametrize("name", ["pgbackrest-verify-invalid.txt", "pgbackrest-verify-invalid-plain.txt"])
def test_pgbackrest_verify_with_a_corrupted_file_is_a_failed_check_verbose_or_not(name: str) -> None:
    (check,) = parsers.parse(fixture(name)).checks
    assert check == parsers.ParsedCheck(
        ok=False, errors=1, detail="stanza main: error; backup 20261207-025444F invalid (checksum invalid: 1)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the report is empty"),
        ("status: ok\n", "line 1: expected 'stanza: <name>'"),
        ("stanza: main\nstatus: ok\nP00 INFO: verify command end\n", "line 3: not a line of pgbackrest verify"),
        ("stanza: main\n    missing: 0, other: 0\n", "line 2: counts without an archiveId or backup line"),
        ("stanza: main\n", "stanza main has no 'status:' line"),
    ],
)
def test_pgbackrest_verify_that_does_not_parse_names_the_line(text: str, message: str) -> None:
    with pytest.raises(parsers.ReportError, match=message):
        parsers.parse(text, "pgbackrest-verify")


def test_pgbackrest_verify_counts_missing_wal_and_keeps_other_lines() -> None:
    text = (
        "stanza: main\nstatus: error\n"
        "  archiveId: 15-1, total WAL checked: 5, total valid WAL: 3\n"
        "    missing: 1, checksum invalid: 1, size invalid: 0, other: 0\n"
        "  backup: 20261207-025444F, status: in-progress, total files checked: 0, total valid files: 0\n"
        "  some note pgBackRest printed\n"
    )
    (check,) = parsers.parse(text).checks
    # 2 counted + 2 not valid of 5 checked; an in-progress backup is no error.
    assert (check.ok, check.errors) == (False, 4)
    assert check.detail == "stanza main: error; archive 15-1: 2 WAL invalid; some note pgBackRest printed"
