"""The status report's compliance training (through opsgov.registry.training) and its PDF, read back."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from compliance import builtin
from compliance.pdf import status_pdf
from compliance.reports import status_rows
from compliance.selectors import status_report
from opsgov.registry import TrainingCompletion, training

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def training_records() -> Iterator[list[dict[str, Any]]]:
    """A training provider installed as security installs its own; the calls it got are kept."""
    calls: list[dict[str, Any]] = []

    def lookup(*, audience: str, now: datetime) -> list[TrainingCompletion]:
        calls.append({"audience": audience, "now": now})
        return [
            TrainingCompletion("Data protection basics", "compliance", "SRE Lead", 4, 3, 1, "/security/training/1/"),
            TrainingCompletion("Anti-bribery", "compliance", "Executive Sponsor", 0, 0, 0),
            TrainingCompletion("Data protection basics", "compliance", "Compliance Officer", 2, 2, 0),
        ]

    before = training._lookup
    training.provide(lookup)
    try:
        yield calls
    finally:
        training._lookup = before


def test_the_report_shows_compliance_training_by_role(training_records: list[dict[str, Any]]) -> None:
    framework = builtin.install_builtin(bind_gates=False).framework
    report = status_report(framework, now=NOW)
    assert training_records == [{"audience": "compliance", "now": NOW}]
    assert [(row.course, row.role) for row in report.training] == [
        ("Anti-bribery", "Executive Sponsor"),
        ("Data protection basics", "Compliance Officer"),
        ("Data protection basics", "SRE Lead"),
    ]
    rows = [row for row in status_rows(report) if row[0] == "training"]
    assert rows == [
        ["training", "Anti-bribery / Executive Sponsor", "nobody assigned", "0 of 0 completed, 0 overdue", ""],
        ["training", "Data protection basics / Compliance Officer", "100 %", "2 of 2 completed, 0 overdue", ""],
        [
            "training",
            "Data protection basics / SRE Lead",
            "75 %",
            "3 of 4 completed, 1 overdue",
            "/security/training/1/",
        ],
    ]


def test_without_a_training_provider_the_report_says_so() -> None:
    before = training._lookup
    training._lookup = None
    try:
        framework = builtin.install_builtin(bind_gates=False).framework
        assert status_report(framework, now=NOW).training == []
    finally:
        training._lookup = before


def test_the_status_report_pdf_opens_and_holds_the_reports_text(
    training_records: list[dict[str, Any]], officer: User
) -> None:
    framework = builtin.install_builtin(bind_gates=False).framework
    data = status_pdf(status_report(framework, now=NOW))
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert f"Compliance status: {framework}" in text
    assert "Generated 2026-06-01 12:00 UTC" in text
    assert "Requirements covered:" in text
    assert "Data protection basics / SRE Lead" in text and "3 of 4 completed, 1 overdue" in text
    assert reader.metadata is not None and reader.metadata.title == f"Compliance status: {framework}"
    # Served from the admin as a download.
    User.objects.filter(pk=officer.pk).update(is_staff=True)
    client = Client()
    client.force_login(officer)
    response = client.get(reverse("admin:compliance_framework_status", args=[framework.pk, "pdf"]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].endswith('.pdf"')
    assert "Compliance status" in PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
