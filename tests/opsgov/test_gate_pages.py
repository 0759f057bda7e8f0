"""Gate pages: index, a gate's evidence with filters, waivers, timeline, "as of" replay, scorecard, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from opsgov.gates import services as gates_engine
from opsgov.gates import waivers
from opsgov.models import GateEvaluation, GateStatus, GateWaiver, MetricSnapshot, WaiverState
from opsgov.registry import gates

from ..factories import ServiceFactory, TeamFactory
from .gate_support import KEY, NOW, ScriptedGate, World, row, script, scripted_gate, world

__all__ = ["scripted_gate", "world"]  # fixtures used by the tests below

pytestmark = pytest.mark.django_db

GATE_URL = f"/gates/{KEY}/"


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    assert isinstance(response, HttpResponse), type(response)
    return response.content.decode()


def evaluate(at: Any = NOW) -> GateEvaluation:
    return gates_engine.evaluate_gate(gate=gates.get(KEY), now=at)


@pytest.fixture
def failing(scripted_gate: type[ScriptedGate], world: World) -> World:
    script(
        GateStatus.FAIL,
        row(GateStatus.FAIL, "checkout", "escalation:checkout", label="Checkout: no escalation policy"),
        row(GateStatus.PASS, "search", "escalation:search", label="Search: covered for 7 days"),
        row(GateStatus.AT_RISK, "", "response_targets", label="Response targets met for 80 %"),
        reason="1 of 2 active services lack a complete escalation path",
    )
    evaluate()
    return world


# --- Access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/gates/", GATE_URL, "/gates/export.csv", "/services/checkout/scorecard/"])
def test_every_gate_page_needs_a_login(failing: World, client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_an_unknown_gate_is_404(failing: World) -> None:
    assert client_for(failing.sre).get("/gates/nope/").status_code == 404


# --- Index --------------------------------------------------------------------------------------


def test_the_index_lists_every_gate_with_status_reason_and_counts(failing: World) -> None:
    page = text(client_for(failing.support).get("/gates/"))
    for gate in gates.all():
        assert f'href="/gates/{gate.key}/"' in page
    assert "1 of 2 active services lack a complete escalation path" in page
    assert 'class="badge badge-danger status-fail"' in page
    # Never evaluated gates show "No evidence", never pass.
    assert page.count("status-no_evidence") >= 1
    assert 'href="/gates/export.csv"' in page
    assert '<a href="/gates/"' in text(client_for(failing.support).get("/"))  # the navigation link


# --- A gate's page ----------------------------------------------------------------------------------


def test_the_gate_page_shows_the_evidence_rows_with_links_services_and_teams(failing: World) -> None:
    page = text(client_for(failing.support).get(GATE_URL))
    assert "<h1>Scripted gate" in page and "status-fail" in page
    assert '<a href="/services/checkout/">Checkout: no escalation policy</a>' in page
    assert '<a href="/services/checkout/scorecard/">Checkout</a>' in page
    assert '<a href="/teams/platform/">Platform</a>' in page
    assert '<code class="evidence-key">escalation:checkout</code>' in page
    assert "3 of 3 rows" in page
    assert "Owner: SRE Lead, Tech Lead" in page and "Waivers approved by: SRE Lead" in page


@pytest.mark.parametrize(
    ("query", "labels"),
    [
        ("service=checkout", ["Checkout: no escalation policy"]),
        ("team=discovery", ["Search: covered for 7 days"]),
        ("status=at_risk", ["Response targets met for 80 %"]),
        ("q=covered", ["Search: covered for 7 days"]),
        ("service=checkout&status=pass", []),
    ],
)
def test_the_evidence_filters_by_service_team_status_and_text(failing: World, query: str, labels: list[str]) -> None:
    page = text(client_for(failing.support).get(f"{GATE_URL}?{query}"))
    every = ["Checkout: no escalation policy", "Search: covered for 7 days", "Response targets met for 80 %"]
    shown = [label for label in every if f">{label}</a>" in page]
    assert shown == labels
    if not labels:
        assert "No evidence rows match these filters" in page


def test_an_unknown_service_in_the_filter_is_an_error_next_to_the_field(failing: World) -> None:
    page = text(client_for(failing.support).get(f"{GATE_URL}?service=nope"))
    assert "Select a valid choice. nope is not one of the available choices." in page


def test_the_timeline_shows_each_status_change_with_time_and_reason(failing: World) -> None:
    script(GateStatus.PASS, row(GateStatus.PASS, "checkout", "escalation:checkout"), reason="All covered")
    evaluate(NOW + timedelta(hours=1))
    evaluate(NOW + timedelta(hours=2))  # unchanged: not on the timeline
    page = text(client_for(failing.support).get(GATE_URL))
    timeline = page[page.index('id="timeline-heading"') :]
    assert timeline.count('class="gate-timeline-item') == 2
    assert "Fail → <strong>Pass</strong>" in timeline and "All covered" in timeline
    assert "First evaluation: <strong>Fail</strong>" in timeline
    assert timeline.index("2026-11-25 13:00") < timeline.index("2026-11-25 12:00")
    # Each change links to its replay, which shows that evaluation (to the microsecond).
    first_change = timeline[timeline.index('class="gate-timeline-replay" href="') :].split('"')[3]
    assert first_change == "?at=2026-11-25T13%3A00%3A00%2B00%3A00"
    replayed = text(client_for(failing.support).get(GATE_URL + first_change))
    assert 'the evaluation of <time datetime="2026-11-25T13:00:00+00:00">' in replayed


def test_as_of_replay_shows_the_evaluation_current_then(failing: World) -> None:
    script(GateStatus.PASS, row(GateStatus.PASS, "checkout", "escalation:checkout", label="Checkout: covered"))
    evaluate(NOW + timedelta(days=3))
    client = client_for(failing.support)

    then = text(client.get(f"{GATE_URL}?at=2026-11-26T00:00"))
    assert "Checkout: no escalation policy" in then and "Checkout: covered" not in then
    assert "the evaluation of <time" in then and "2026-11-25 12:00 UTC" in then
    assert "Request a waiver" not in then and "Evaluate now" not in then  # the past is read-only

    now = text(client.get(f"{GATE_URL}?at=2026-11-28T12:00"))
    assert "Checkout: covered" in now
    before = text(client.get(f"{GATE_URL}?at=2026-11-01T00:00"))
    assert "the gate had not been evaluated yet" in before and "status-no_evidence" in before
    # Filters apply to the replayed evaluation too.
    filtered = text(client.get(f"{GATE_URL}?at=2026-11-26T00:00&team=discovery"))
    assert "Search: covered for 7 days" in filtered and "Checkout: no escalation policy" not in filtered


def test_a_bad_as_of_date_is_an_error_and_shows_the_current_evaluation(failing: World) -> None:
    page = text(client_for(failing.support).get(f"{GATE_URL}?at=yesterday"))
    assert "Enter a valid date/time." in page
    assert "Checkout: no escalation policy" in page


def test_evaluate_now_needs_the_permission_and_reports_the_change(failing: World) -> None:
    assert client_for(failing.support).post(f"{GATE_URL}evaluate/").status_code == 403
    script(GateStatus.PASS, row(GateStatus.PASS, "checkout", "escalation:checkout"))
    client = client_for(failing.sre)
    response = client.post(f"{GATE_URL}evaluate/", follow=True)
    assert "Re-evaluated: Pass (was Fail). The gate&#x27;s owners are notified." in text(response)
    assert GateEvaluation.objects.filter(gate=KEY).count() == 2
    assert "Evaluate now" in text(client.get(GATE_URL))
    assert "Evaluate now" not in text(client_for(failing.support).get(GATE_URL))


# --- Waivers on the page --------------------------------------------------------------------------


def waiver_form(world: World, **overrides: str) -> dict[str, str]:
    data = {
        "check": "checkout|escalation:checkout",
        "approver": str(world.sre.pk),
        "reason": "Vendor rota starts next month",
        "compensating_control": "Team lead carries the pager",
        "expires_at": "2026-12-20T12:00",
    }
    data.update(overrides)
    return data


def test_a_waiver_is_requested_approved_and_revoked_from_the_gate_page(failing: World) -> None:
    tech, sre = client_for(failing.tech), client_for(failing.sre)
    page = text(tech.get(GATE_URL))
    assert 'value="checkout|escalation:checkout"' in page  # the failing check of a service

    response = tech.post(f"{GATE_URL}waivers/", waiver_form(failing))
    waiver = GateWaiver.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{GATE_URL}#waiver-{waiver.pk}"
    assert (waiver.requested_by, waiver.approver, waiver.state) == (failing.tech, failing.sre, WaiverState.PENDING)
    # A check with an open waiver is not offered again; the organisation-wide row still is.
    form = text(tech.get(GATE_URL)).split('id="request-waiver"')[1]
    assert 'value="checkout|escalation:checkout"' not in form and 'value="|response_targets"' in form

    # Only the named approver sees (and may use) the approve button.
    assert f"/waivers/{waiver.pk}/approve/" not in text(tech.get(GATE_URL))
    refused = client_for(failing.sre2).post(f"{GATE_URL}waivers/{waiver.pk}/approve/", follow=True)
    assert "Could not approve the waiver: Only the approver the request names can approve it." in text(refused)
    assert f"/waivers/{waiver.pk}/approve/" in text(sre.get(GATE_URL))
    approved = text(sre.post(f"{GATE_URL}waivers/{waiver.pk}/approve/", follow=True))
    assert "Waiver approved; the gate was re-evaluated with it." in approved
    assert "status-waived" in approved and "Waived (would be fail)" in approved

    revoked = text(tech.post(f"{GATE_URL}waivers/{waiver.pk}/revoke/", {"reason": "Rota live"}, follow=True))
    assert "Waiver revoked; the check counts again." in revoked
    assert GateEvaluation.objects.filter(gate=KEY).latest("pk").status == GateStatus.FAIL


def test_an_organisation_wide_check_is_waived_from_the_gate_page(failing: World) -> None:
    tech, sre = client_for(failing.tech), client_for(failing.sre)
    form = text(tech.get(GATE_URL)).split('id="request-waiver"')[1]
    assert '<option value="|response_targets">Response targets met for 80 % (organisation-wide)</option>' in form

    response = tech.post(f"{GATE_URL}waivers/", waiver_form(failing, check="|response_targets"))
    waiver = GateWaiver.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{GATE_URL}#waiver-{waiver.pk}"
    assert (waiver.evidence_key, waiver.service, waiver.state) == ("response_targets", None, WaiverState.PENDING)
    page = text(tech.get(GATE_URL))
    assert '<code>response_targets</code> (<span class="waiver-scope">organisation-wide</span>)' in page
    assert 'value="|response_targets"' not in page.split('id="request-waiver"')[1]  # not offered again
    latest = GateEvaluation.objects.filter(gate=KEY).latest("pk")
    assert [r["status"] for r in latest.evidence] == ["fail", "pass", "at_risk"]  # pending: does not count
    # Posted again (a stale form), the same check is refused next to the field.
    stale = waiver_form(failing, check="|response_targets", approver=str(failing.sre2.pk))
    again = tech.post(f"{GATE_URL}waivers/", stale)
    assert again.status_code == 400
    field = text(again).split('for="id_check"')[1]
    assert "This organisation-wide check already has an open waiver; revoke it first." in field[: field.index("</div>")]
    assert GateWaiver.objects.count() == 1

    approved = text(sre.post(f"{GATE_URL}waivers/{waiver.pk}/approve/", follow=True))
    assert "Waiver approved; the gate was re-evaluated with it." in approved
    assert "Waived (would be at risk)" in approved
    latest = GateEvaluation.objects.filter(gate=KEY).latest("pk")
    assert (latest.status, [r["status"] for r in latest.evidence]) == ("fail", ["fail", "pass", "waived"])


def test_an_invalid_waiver_request_shows_the_errors_next_to_the_fields(failing: World) -> None:
    tech = client_for(failing.tech)
    response = tech.post(f"{GATE_URL}waivers/", waiver_form(failing, approver=str(failing.support.pk)))
    assert response.status_code == 400
    assert "Select a valid choice. That choice is not one of the available choices." in text(response)
    response = tech.post(f"{GATE_URL}waivers/", waiver_form(failing, expires_at="2028-01-01T00:00"))
    assert response.status_code == 400
    page = text(response)
    expiry = page[page.index('for="id_expires_at"') :]
    assert "A waiver runs at most 365 days; choose an earlier expiry." in expiry[: expiry.index("</div>")]
    assert not GateWaiver.objects.exists()


def test_the_requester_is_not_offered_as_approver(failing: World) -> None:
    page = text(client_for(failing.sre).get(GATE_URL))
    form = page[page.index('id="request-waiver"') :]
    assert f'<option value="{failing.sre2.pk}">sre2</option>' in form
    assert f'<option value="{failing.sre.pk}">' not in form


def test_requesting_a_waiver_needs_the_permission(failing: World, make_user: Callable[..., User]) -> None:
    outsider = make_user("outsider")
    assert client_for(outsider).post(f"{GATE_URL}waivers/", waiver_form(failing)).status_code == 403
    assert "Request a waiver" not in text(client_for(outsider).get(GATE_URL))


# --- Query counts -----------------------------------------------------------------------------------


def grow_history(world: World, *, evaluations: int, services: int) -> None:
    """Many evaluations of the scripted gate, flipping status, with a row per service, and open waivers."""
    team = TeamFactory.create(slug="bulk", name="Bulk")
    slugs = [ServiceFactory.create(slug=f"bulk-{n}", owner_team=team).slug for n in range(services)]
    rows = [row(GateStatus.FAIL, slug, f"escalation:{slug}").as_json() for slug in slugs]
    GateEvaluation.objects.bulk_create(
        GateEvaluation(
            gate=KEY,
            status="fail" if n % 2 else "at_risk",
            previous_status="at_risk" if n % 2 else "fail",
            status_changed=True,
            reason=f"evaluation {n}",
            evidence=rows,
            evaluated_at=NOW - timedelta(minutes=5 * (n + 1)),
        )
        for n in range(evaluations)
    )
    script(GateStatus.FAIL, *(row(GateStatus.FAIL, slug, f"escalation:{slug}") for slug in slugs[:50]))
    evaluate()
    for slug in slugs[:5]:
        world.waiver(key=f"escalation:{slug}", service=ServiceFactory.create(slug=slug), approve=False)


def count_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "path", [GATE_URL, f"{GATE_URL}?service=checkout&team=platform&status=fail", f"{GATE_URL}?at=2026-11-25T10:00"]
)
def test_the_gate_page_costs_the_same_queries_with_a_long_history(
    failing: World, path: str, django_assert_max_num_queries: Any
) -> None:
    evaluate(NOW - timedelta(hours=3))  # so that the replayed time has an evaluation in the small history too
    client = client_for(failing.sre)
    small = count_queries(client, path)
    grow_history(failing, evaluations=300, services=60)
    with django_assert_max_num_queries(small):
        response = client.get(path)
    assert response.status_code == 200
    assert small <= 17, small


def test_the_index_and_the_scorecard_cost_a_fixed_number_of_queries(
    failing: World, django_assert_max_num_queries: Any
) -> None:
    client = client_for(failing.sre)
    small = {path: count_queries(client, path) for path in ("/gates/", "/services/checkout/scorecard/")}
    grow_history(failing, evaluations=300, services=60)
    for path, queries in small.items():
        with django_assert_max_num_queries(queries):
            assert client.get(path).status_code == 200
    assert small["/gates/"] <= 5 and small["/services/checkout/scorecard/"] <= 8, small


# --- Scorecard ---------------------------------------------------------------------------------------


def test_the_scorecard_shows_every_gates_rows_for_the_service_and_its_metrics(failing: World) -> None:
    MetricSnapshot.objects.create(metric="mtta", scope="service:checkout", window="30d", value=600.0, sample_size=4)
    MetricSnapshot.objects.create(
        metric="mttr", scope="service:checkout", window="30d", value=6 * 3600.0, sample_size=4
    )
    MetricSnapshot.objects.create(
        metric="mtbf",
        scope="service:checkout",
        window="30d",
        value=None,
        sample_size=0,
        details={"no_failures": True, "display": "> 30 d"},
    )
    page = text(client_for(failing.support).get("/services/checkout/scorecard/"))
    [scripted] = [part for part in page.split('id="gate-') if part.startswith(f'{KEY}"')]
    assert "Checkout: no escalation policy" in scripted
    assert "Search: covered" not in page  # another service's row
    assert "Response targets met" not in page  # a global row
    assert "Status for this service: </span>Fail" in scripted
    # Every other gate has no row about checkout: "No evidence" for it, never pass.
    assert page.count("No evidence about Checkout in this gate") == len(gates.all()) - 1
    # Metrics against their targets: MTTA 10 min < 15 min met; MTTR 6 h > 4 h missed; MTBF no failure met.
    assert "10 min" in page and "6 h" in page and "&gt; 30 d" in page
    assert page.count("verdict-met") == 2 and page.count("verdict-missed") == 1
    assert "< 15 min" in page or "&lt; 15 min" in page


def test_the_scorecard_lists_the_services_open_waivers(failing: World) -> None:
    waiver = failing.waiver()
    page = text(client_for(failing.support).get("/services/checkout/scorecard/"))
    assert f'<a href="/gates/{KEY}/#waiver-{waiver.pk}">Scripted gate</a>' in page
    assert "waived until 2026-12-25" in page
    assert "No open waiver for this service." in text(client_for(failing.support).get("/services/search/scorecard/"))


def test_an_unknown_service_scorecard_is_404(failing: World) -> None:
    assert client_for(failing.sre).get("/services/nope/scorecard/").status_code == 404


# --- CSV export --------------------------------------------------------------------------------------


def read_csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, text(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(text(response))))


def test_the_csv_has_a_line_per_evidence_row_and_one_per_gate_without_rows(failing: World) -> None:
    response = client_for(failing.support).get("/gates/export.csv")
    assert response["Content-Disposition"].startswith('attachment; filename="opsgov-gates-')
    lines = read_csv(response)
    scripted = [line for line in lines if line["gate"] == KEY]
    assert [(line["evidence_key"], line["evidence_status"], line["service"], line["team"]) for line in scripted] == [
        ("escalation:checkout", "fail", "checkout", "platform"),
        ("escalation:search", "pass", "search", "discovery"),
        ("response_targets", "at_risk", "", ""),
    ]
    assert scripted[0]["url"] == "http://127.0.0.1:8000/services/checkout/"
    assert scripted[0]["gate_status"] == "fail" and scripted[0]["title"] == "Scripted gate"
    others = [line for line in lines if line["gate"] != KEY]
    assert len(others) == len(gates.all()) - 1  # never evaluated: one line each, no evidence
    assert {line["gate_status"] for line in others} == {"no_evidence"}


def test_the_csv_filters_by_gate_and_service_and_rejects_unknown_ones(failing: World) -> None:
    client = client_for(failing.support)
    lines = read_csv(client.get(f"/gates/export.csv?gate={KEY}&service=search"))
    assert [(line["gate"], line["evidence_key"]) for line in lines] == [(KEY, "escalation:search")]
    assert client.get("/gates/export.csv?gate=nope").status_code == 400
    assert client.get("/gates/export.csv?service=nope").status_code == 400


def test_the_csv_neutralises_cells_a_spreadsheet_would_run(failing: World) -> None:
    script(GateStatus.FAIL, row(GateStatus.FAIL, "checkout", "k", label='=HYPERLINK("http://evil")'))
    evaluate(NOW + timedelta(minutes=1))
    [line] = read_csv(client_for(failing.support).get(f"/gates/export.csv?gate={KEY}"))
    assert line["evidence_label"] == '\'=HYPERLINK("http://evil")'


def test_waived_rows_carry_their_waiver_in_the_csv(failing: World) -> None:
    waiver = failing.waiver()
    lines = read_csv(client_for(failing.support).get(f"/gates/export.csv?gate={KEY}&status=waived"))
    assert [(line["evidence_key"], line["waiver_id"], line["gate_status"]) for line in lines] == [
        ("escalation:checkout", str(waiver.pk), "at_risk")  # the at-risk global row still counts
    ]
    assert waivers.open_waivers().count() == 1
    assert reverse("gate-export") == "/gates/export.csv"
