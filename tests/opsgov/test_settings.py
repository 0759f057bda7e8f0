"""Start-up configuration: strict environment parsing, production guards, check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-secret-" + "x9Z!k" * 10,
    "ALLOWED_HOSTS": "opsgov.example.com",
    "DATABASE_URL": "postgresql://opsgov@db.internal:5432/opsgov",
    "OPSGOV_METRICS_TOKEN": "a-scrape-token-" + "k3Pq" * 8,
}


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {*PRODUCTION, "OPSGOV_METRICS_TOKEN_FILE"}}
    clean.update({"OPSGOV_VAR_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_reports_an_open_metrics_endpoint_in_production(tmp_path: Path) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "OPSGOV_METRICS_TOKEN"}
    result = manage("check", "--deploy", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "opsgov.E010" in result.stderr
    assert "OPSGOV_METRICS_TOKEN is not set" in result.stderr
    # `check` without --deploy (and DEBUG on) does not ask for it.
    assert manage("check", env=env, tmp_path=tmp_path).returncode == 0
    assert manage("check", "--deploy", env={}, tmp_path=tmp_path).stderr.count("opsgov.E010") == 0


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without_a_required_variable(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"these environment variables are required: {missing}" in result.stderr


def test_production_refuses_sqlite(tmp_path: Path) -> None:
    result = manage("check", env={**PRODUCTION, "DATABASE_URL": "sqlite:///x.db"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DATABASE_URL: production needs PostgreSQL" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"), [("DEBUG", "maybe"), ("CONN_MAX_AGE", "ten"), ("SECURE_SSL_REDIRECT", "perhaps")]
)
def test_a_malformed_variable_stops_start_up_naming_it(tmp_path: Path, name: str, value: str) -> None:
    result = manage("check", env={name: value}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"Environment variable {name}" in result.stderr


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file-" + "q7#Lm" * 10 + "\n")
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        env={**env, "SECRET_KEY_FILE": str(secret_file)},
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("from-a-file-" + "q7#Lm" * 10)


def test_a_bad_policy_file_stops_start_up_naming_the_field(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[incidents]\nreview_severities = ["SEV-1", "SEV-5"]\n')
    result = manage("check", env={"OPSGOV_POLICY": str(policy)}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "incidents.review_severities: item 1: unknown severity 'SEV-5'" in result.stderr


def test_policy_command_shows_and_checks(tmp_path: Path) -> None:
    shown = manage("policy", "show", env={}, tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert 'response_target = "15 minutes"' in shown.stdout
    good = tmp_path / "good.toml"
    good.write_text(shown.stdout)
    assert manage("policy", "check", str(good), env={}, tmp_path=tmp_path).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[targets]\npatch_compliance_percent = 120\n[business_calendar]\ntime_zone = "Nowhere/City"\n')
    checked = manage("policy", "check", str(bad), env={}, tmp_path=tmp_path)
    assert checked.returncode != 0
    assert "targets.patch_compliance_percent: Input should be less than or equal to 100" in checked.stderr
    assert "business_calendar.time_zone: unknown time zone 'Nowhere/City'" in checked.stderr
