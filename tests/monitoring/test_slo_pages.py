"""The SLO pages: the list (budget bars, burn rates, alerts, freshness) and one SLO with its charts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries

from monitoring.models import SLO, SLISource
from monitoring.slos import engine
from monitoring.slos.selectors import slo_url
from opsgov.context_processors import NAVIGATION
from opsgov.roles import SUPPORT_TEAM
from tests.factories import ServiceFactory

from .support import make_slo, series

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC)  # windows end at 12:00
TWO_HOURS_AGO = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen() -> object:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def reader(client: Client, make_user: Callable[..., User]) -> Client:
    client.force_login(make_user("support", SUPPORT_TEAM))  # every role reads
    return client


def body(response: object) -> str:
    assert response.status_code == 200  # type: ignore[attr-defined]
    return response.content.decode()  # type: ignore[attr-defined]


def row_of(html: str, slo: SLO) -> str:
    start = html.index(f'data-slo="{slo.uuid}"')
    return html[start : html.index("</tr>", start)]


def with_data(name: str, *, bad: int, start: datetime = TWO_HOURS_AGO, minutes: int = 120) -> SLO:
    """A 99.9 % SLO (budget ratio 0.001) with `minutes` 1-minute buckets of 10,000 events, `bad` of them bad."""
    slo = make_slo(ServiceFactory.create(slug=name.lower(), name=name), name=f"{name} availability")
    series(slo, start, minutes, good=10_000 - bad, total=10_000, now=NOW)
    return slo


@pytest.fixture
def four_slos() -> dict[str, SLO]:
    slos = {
        # consumed = bad / (0.001 x total) per bucket alike: 0 -> remaining 1.0
        "ok": with_data("Alpha", bad=0),
        # 8 / (0.001 x 10,000) = 0.8 consumed -> 0.2 remaining, below the 25 % at-risk line
        "at-risk": with_data("Bravo", bad=8),
        # 20 / 10 = 2.0 consumed -> -1.0 remaining; burn rate 2x over every window: the ticket alert (1x) fires
        "exhausted": with_data("Charlie", bad=20),
        "no-data": make_slo(ServiceFactory.create(slug="delta", name="Delta"), name="Delta availability"),
    }
    engine.evaluate_slos(now=NOW)
    return slos


@pytest.mark.parametrize("name", ["monitoring:slo-list", "monitoring:slo-detail"])
def test_slo_pages_need_a_login(client: Client, name: str) -> None:
    kwargs = {"uuid": uuid.uuid4()} if name.endswith("detail") else {}
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_list_without_slos_says_how_to_define_them(reader: Client) -> None:
    html = body(reader.get(reverse("monitoring:slo-list")))
    assert "No SLOs yet" in html
    assert "/api/v1/slos/" in html


def test_the_list_shows_each_budget_state_in_words_beside_the_bar(reader: Client, four_slos: dict[str, SLO]) -> None:
    html = body(reader.get(reverse("monitoring:slo-list")))
    assert "4 SLOs" in html
    ok, at_risk = row_of(html, four_slos["ok"]), row_of(html, four_slos["at-risk"])
    exhausted, no_data = row_of(html, four_slos["exhausted"]), row_of(html, four_slos["no-data"])
    assert 'data-state="ok"' in ok and ">OK<" in ok and "100.0 % left" in ok
    assert 'data-state="at-risk"' in at_risk and "At risk" in at_risk and "20.0 % left" in at_risk
    assert 'data-state="exhausted"' in exhausted and "Exhausted" in exhausted and "-100.0 % left" in exhausted
    assert 'data-state="no-data"' in no_data and "No data" in no_data
    # the bar is clamped to 0..100 % wide
    assert '<rect class="budget-bar-fill" width="0.0"' in exhausted
    assert '<rect class="budget-bar-fill" width="20.0"' in at_risk


def test_the_list_shows_sli_burn_rates_and_firing_alerts(reader: Client, four_slos: dict[str, SLO]) -> None:
    html = body(reader.get(reverse("monitoring:slo-list")))
    at_risk, exhausted = row_of(html, four_slos["at-risk"]), row_of(html, four_slos["exhausted"])
    # SLI 9,992 / 10,000 = 99.920 %; burn rate (8 / 10,000) / 0.001 = 0.80x over 1h, 6h, 1d and 3d alike
    assert "99.920 %" in at_risk
    assert at_risk.count("0.80x") == 4
    # (20 / 10,000) / 0.001 = 2.00x >= 1x over 3d and 6h: the ticket alert fires, the pages (14.4x, 6x) do not
    assert exhausted.count("2.00x") == 4
    assert ">ticket<" in exhausted and "page-fast" not in exhausted
    assert "None" in at_risk  # no alert firing
    no_data = row_of(html, four_slos["no-data"])
    assert no_data.count("No traffic in the window") == 4


def test_the_list_marks_stale_data(reader: Client) -> None:
    fresh = with_data("Fresh", bad=0)  # last interval ends at 12:00, 30 s ago
    stale = with_data("Stale", bad=0, start=TWO_HOURS_AGO - timedelta(hours=1), minutes=60)  # ends at 10:00
    never = make_slo(ServiceFactory.create(slug="never", name="Never"), name="Never availability")
    html = body(reader.get(reverse("monitoring:slo-list")))
    assert "Stale" not in row_of(html, fresh)
    assert "Stale" in row_of(html, stale)  # 2 h > the policy's 1 hour
    assert "Stale" in row_of(html, never) and "No data" in row_of(html, never)


def test_the_list_filters_by_service_team_and_search(reader: Client, four_slos: dict[str, SLO]) -> None:
    html = body(reader.get(reverse("monitoring:slo-list"), {"service": "bravo"}))
    assert str(four_slos["at-risk"].uuid) in html and str(four_slos["ok"].uuid) not in html
    html = body(reader.get(reverse("monitoring:slo-list"), {"q": "charlie"}))
    assert "1 SLO matching these filters" in html
    response = reader.get(reverse("monitoring:slo-list"), {"q": "nothing-like-it"})
    assert "No SLOs match these filters" in body(response)


@pytest.mark.parametrize("count", [2, 20])
def test_the_list_costs_a_fixed_number_of_queries(
    reader: Client, django_assert_max_num_queries: DjangoAssertNumQueries, count: int
) -> None:
    for index in range(count):
        slo = make_slo(ServiceFactory.create(slug=f"svc-{index}"), name=f"SLO {index}")
        series(slo, TWO_HOURS_AGO, 3, good=999, total=1000, now=NOW)
    engine.evaluate_slos(now=NOW)
    # session, user, service choices, team choices, count, rows (SLO + service + team + status), roles (layout)
    with django_assert_max_num_queries(8):
        html = body(reader.get(reverse("monitoring:slo-list")))
    assert html.count('class="slo-row') == count


def test_the_detail_page_shows_the_definition_figures_and_alerts(reader: Client, four_slos: dict[str, SLO]) -> None:
    slo = four_slos["exhausted"]
    html = body(reader.get(slo.get_absolute_url()))
    assert slo.name in html and "99.9 % of events good" in html
    assert "-100.0 % left" in html and "Exhausted" in html
    # consumed 2.000 = 200 %; 120 buckets x 10,000 = 1,200,000 events, 2,400 bad
    assert "2.000" in html and "1197600 / 1200000" in html
    rows = dict(re.findall(r'data-alert="([a-z-]+)">(.*?)</tr>', html, re.S))
    assert set(rows) == {"page-fast", "page-slow", "ticket"}
    assert "14.4x" in rows["page-fast"] and "Not firing" in rows["page-fast"]
    assert "6x" in rows["page-slow"] and "Not firing" in rows["page-slow"]
    assert "Firing" in rows["ticket"] and "Not firing" not in rows["ticket"] and "SEV-3" in rows["ticket"]


def test_the_detail_page_draws_the_sli_and_budget_from_the_rollups(reader: Client, four_slos: dict[str, SLO]) -> None:
    slo = four_slos["at-risk"]
    # Daily: the hours 10:00 and 11:00 of the 20th are rolled up into one day (12:00 is still being collected).
    html = body(reader.get(slo.get_absolute_url()))
    assert html.count('data-points="1"') == 2  # the SLI chart and the budget chart
    assert '<title id="sli-chart-title">' in html and '<desc id="budget-chart-desc">' in html
    assert "Objective 99.9 %" in html
    # Hourly: two points; cumulative budget after each hour 1 - 480 / (0.001 x 600,000) = 0.2 -> 20.0 %
    html = body(reader.get(slo.get_absolute_url(), {"resolution": "hour"}))
    assert html.count('data-points="2"') == 2
    table = html[html.index('class="table chart-table"') :]
    assert table.count("99.920 %") == 2 and table.count("20.0 %") == 2
    assert html.count("<circle") == 4


def test_the_detail_page_without_data_says_so(reader: Client, four_slos: dict[str, SLO]) -> None:
    html = body(reader.get(four_slos["no-data"].get_absolute_url()))
    assert "No SLI data in the window yet" in html and 'class="slo-chart"' not in html


def test_an_slo_never_evaluated_has_a_page_too(reader: Client) -> None:
    slo = make_slo(name="Fresh one")
    html = body(reader.get(slo.get_absolute_url()))
    assert "Not evaluated yet" in html and "Stale" in html


def test_the_detail_page_shows_the_last_pull_error_of_a_prometheus_slo(reader: Client) -> None:
    slo = make_slo(
        source=SLISource.PROMETHEUS,
        good_query='http_requests_total{job="api",code!~"5.."}',
        total_query='http_requests_total{job="api"}',
    )
    SLO.objects.filter(pk=slo.pk).update(last_pull_error="connection refused by 127.0.0.1:9090")
    html = body(reader.get(slo.get_absolute_url()))
    assert "Last pull error" in html and "connection refused by 127.0.0.1:9090" in html


def test_an_unknown_slo_is_a_404(reader: Client) -> None:
    assert reader.get(reverse("monitoring:slo-detail", kwargs={"uuid": uuid.uuid4()})).status_code == 404


def test_the_detail_page_costs_a_bounded_number_of_queries(
    reader: Client, four_slos: dict[str, SLO], django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    # session, user, the SLO with its status, the rollups, the alert states, roles (layout)
    with django_assert_max_num_queries(6):
        body(reader.get(four_slos["exhausted"].get_absolute_url(), {"resolution": "hour"}))


def test_monitoring_pages_link_to_each_other_and_the_navigation_opens_the_slos(reader: Client) -> None:
    pages = ("monitoring:slo-list", "monitoring:alert-rule-list", "monitoring:runbook-list", "monitoring:check-list")
    for name in pages:
        html = body(reader.get(reverse(name)))
        for href in ("/monitoring/slos/", "/monitoring/alert-rules/", "/monitoring/runbooks/", "/monitoring/checks/"):
            assert f'href="{href}"' in html, (name, href)
    assert (1, "Monitoring", "monitoring:slo-list") in NAVIGATION
    assert 'href="/monitoring/slos/"' in body(reader.get(reverse("home")))


def test_the_dashboard_links_an_slo_to_its_page() -> None:
    slo = make_slo(objective_percent=Decimal("99.5"))
    assert slo_url(slo) == f"/monitoring/slos/{slo.uuid}/"
