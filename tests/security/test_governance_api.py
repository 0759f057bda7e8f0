"""The API of access reviews and training: the Security Lead owns, the Compliance Officer reads, bad input is a
400 naming the field (and the CSV line)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD

pytestmark = pytest.mark.django_db


def _post(client: Any, url: str, body: Any) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_access_review_through_the_api(client_for: Any, make_user: Any) -> None:
    lead, lead2 = make_user("lead", SECURITY_LEAD), make_user("lead2", SECURITY_LEAD)
    sre, officer = make_user("sre", SRE_LEAD), make_user("officer", COMPLIANCE_OFFICER)
    api, reader = client_for(lead), client_for(officer)
    assert _post(reader, "/api/v1/security/access-reviews/", {"title": "Q1"}).status_code == 403
    assert _post(api, "/api/v1/security/access-reviews/", {"title": "Q1", "extra": 1}).status_code == 400
    opened = _post(api, "/api/v1/security/access-reviews/", {"title": "Q1"})
    assert opened.status_code == 201, opened.json()
    campaign = opened.json()
    assert (campaign["status"], campaign["total"], campaign["decided"]) == ("open", 4, 0)
    url = f"/api/v1/security/access-reviews/{campaign['id']}/"
    bad = _post(api, url + "import-accounts/", {"csv": "system,account,person,entitlements,last_login\nvpn,x,,,nope\n"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "csv"
    assert bad.json()["errors"][0]["message"].startswith("line 2: last_login:")
    imported = _post(
        api, url + "import-accounts/", {"csv": "system,account,person,entitlements,last_login\nvpn,x,,,\n"}
    )
    assert imported.status_code == 200 and imported.json()["total"] == 5
    rows = reader.get(f"/api/v1/security/reviewed-accounts/?campaign={campaign['id']}&undecided=true").json()["results"]
    assert len(rows) == 5 and {row["decision"] for row in rows} == {""}  # undecided: empty, as documented
    by_account = {row["account"]: row for row in rows}
    decide = "/api/v1/security/reviewed-accounts/{}/decide/"
    assert _post(api, decide.format(by_account["lead"]["id"]), {"decision": "keep"}).status_code == 403  # own
    assert _post(reader, decide.format(by_account["sre"]["id"]), {"decision": "keep"}).status_code == 403
    wrong = _post(api, decide.format(by_account["sre"]["id"]), {"decision": "maybe"})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "decision"
    revoke = _post(api, decide.format(by_account["sre"]["id"]), {"decision": "revoke", "comment": "left"})
    assert revoke.status_code == 200 and revoke.json()["decided_by"] == "lead"
    for account in ("lead2", "officer", "x"):
        assert _post(api, decide.format(by_account[account]["id"]), {"decision": "keep"}).status_code == 200
    assert _post(api, url + "close/", {}).status_code == 400  # lead's own row is undecided
    assert _post(client_for(lead2), decide.format(by_account["lead"]["id"]), {"decision": "keep"}).status_code == 200
    closed = _post(api, url + "close/", {})
    assert closed.status_code == 200 and closed.json()["status"] == "closed" and closed.json()["revoked"] == 1
    sre.refresh_from_db()
    assert sre.is_active is False
    report = reader.get(url + "report/")
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert len(lines) == 6 and lines[0][0] == "system"


def test_training_through_the_api(client_for: Any, make_user: Any) -> None:
    lead, officer = make_user("lead", SECURITY_LEAD), make_user("officer", COMPLIANCE_OFFICER)
    api, reader = client_for(lead), client_for(officer)
    start = (timezone.now() - timedelta(days=60)).isoformat()
    course = {"slug": "phishing", "title": "Phishing", "roles": [SECURITY_LEAD, COMPLIANCE_OFFICER], "starts_at": start}
    assert _post(reader, "/api/v1/security/courses/", course).status_code == 403
    bad = _post(api, "/api/v1/security/courses/", {**course, "recurrence": "every year"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "recurrence"
    assert _post(api, "/api/v1/security/courses/", {**course, "recurrence": "12 months"}).status_code == 201
    done = _post(
        api,
        "/api/v1/security/training-records/",
        {"course": "phishing", "user": "officer", "completed_at": timezone.now().isoformat()},
    )
    assert done.status_code == 201, done.json()
    imported = _post(
        api,
        "/api/v1/security/training-records/import/",
        {"csv": f"course,user,completed_at\nphishing,lead,{(timezone.now() - timedelta(days=10)).date()}\n"},
    )
    assert imported.status_code == 200 and imported.json() == {"created": 1, "skipped": 0}
    refused = _post(
        api,
        "/api/v1/security/training-records/import/",
        {"csv": "course,user,completed_at\nphishing,nobody,2026-01-01\n"},
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == "line 2: user: no user 'nobody' (a username or e-mail)"
    completion = reader.get("/api/v1/security/courses/completion/").json()
    assert completion["count"] == 2
    assert {(row["role"], row["assigned"], row["completed"]) for row in completion["results"]} == {
        (SECURITY_LEAD, 1, 1),
        (COMPLIANCE_OFFICER, 1, 1),
    }
    assert reader.get("/api/v1/security/courses/overdue/").json()["results"] == []
    assert len(reader.get("/api/v1/security/training-records/?course=phishing").json()["results"]) == 2
