"""The server-rendered pages of the core app: home (gates), services, teams, policy, login."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import DjangoAssertNumQueries, Settings

from opsgov import selectors
from opsgov.context_processors import NAVIGATION
from opsgov.models import Lifecycle, ServiceTier
from opsgov.roles import SRE_LEAD

from ..factories import ServiceFactory, TeamFactory

pytestmark = pytest.mark.django_db

PAGES = [
    ("home", {}),
    ("policy", {}),
    ("service-list", {}),
    ("service-detail", {"slug": "checkout"}),
    ("team-list", {}),
    ("team-detail", {"slug": "payments"}),
]


@pytest.fixture
def sre(make_user: Callable[..., User]) -> User:
    return make_user("sre", SRE_LEAD, first_name="Sam", last_name="Reyes")


@pytest.fixture
def signed_in(client: Client, sre: User) -> Client:
    client.force_login(sre)
    return client


def text(response: HttpResponseBase) -> str:
    assert isinstance(response, HttpResponse)
    return response.content.decode()


# --- Access --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client: Client, name: str, kwargs: dict[str, str]) -> None:
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_the_login_page_shows_a_form_and_no_navigation(client: Client) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    body = text(response)
    assert 'name="username"' in body
    assert 'name="password"' in body
    assert 'autocomplete="current-password"' in body
    assert "Operations areas" not in body


def test_a_wrong_password_is_reported_on_the_login_page(client: Client, sre: User) -> None:
    response = client.post(reverse("login"), {"username": "sre", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in text(response)
    assert "Please enter a correct username and password" in text(response)


def test_logging_in_leads_to_the_home_page(client: Client, sre: User) -> None:
    response = client.post(reverse("login"), {"username": "sre", "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_logout_is_a_post_form_with_a_csrf_token(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("policy")))
    assert f'<form method="post" action="{reverse("logout")}"' in body
    assert "csrfmiddlewaretoken" in body
    response = signed_in.post(reverse("logout"))
    assert response.status_code == 302
    assert signed_in.get(reverse("home")).status_code == 302


# --- Layout ------------------------------------------------------------------------


def test_the_layout_shows_the_user_roles_and_the_eight_areas(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("policy")))
    assert "Sam Reyes" in body
    assert SRE_LEAD in body
    for label in ("Monitoring", "Incidents", "Maintenance", "Improvement", "Security", "Compliance", "Support"):
        assert label in body
    assert "Backups &amp; DR" in body
    # Areas without pages yet are shown but disabled.
    without_pages = [label for _, label, url_name in NAVIGATION if url_name is None]
    assert body.count('title="coming soon"') == len(without_pages)
    assert 'href="/api/v1/docs/"' in body
    assert 'href="/static/vendor/htmx.min.js"' in body or "/static/vendor/htmx.min.js" in body
    assert "<main" in body
    assert 'aria-current="page"' in body


def test_the_admin_link_is_only_for_staff(client: Client, make_user: Callable[..., User], signed_in: Client) -> None:
    assert 'href="/admin/"' not in text(signed_in.get(reverse("policy")))
    staff = make_user("staffer", SRE_LEAD, is_staff=True)
    client.force_login(staff)
    assert 'href="/admin/"' in text(client.get(reverse("policy")))


# The dashboard at / ("home"): tests/opsgov/test_dashboard.py.


# --- Services ------------------------------------------------------------------------


def test_the_service_list_links_names_and_owner_teams(signed_in: Client) -> None:
    team = TeamFactory(slug="payments", name="Payments")
    ServiceFactory(slug="checkout", name="Checkout", owner_team=team, tier=ServiceTier.TIER_1)
    body = text(signed_in.get(reverse("service-list")))
    assert 'href="/services/checkout/"' in body
    assert 'href="/teams/payments/"' in body
    assert "Tier 1 (critical)" in body
    assert "badge-success" in body
    assert "Active" in body


@pytest.mark.parametrize(
    ("query", "expected", "absent"),
    [
        ({"tier": "1"}, "Checkout", "Ledger"),
        ({"lifecycle": "deprecated"}, "Ledger", "Checkout"),
        ({"q": "check"}, "Checkout", "Ledger"),
        ({"owner_team": "payments"}, "Checkout", "Ledger"),
    ],
)
def test_the_service_list_filters(signed_in: Client, query: dict[str, str], expected: str, absent: str) -> None:
    ServiceFactory(slug="checkout", name="Checkout", tier=ServiceTier.TIER_1, owner_team=TeamFactory(slug="payments"))
    ServiceFactory(slug="ledger", name="Ledger", tier=ServiceTier.TIER_3, lifecycle=Lifecycle.DEPRECATED)
    body = text(signed_in.get(reverse("service-list"), query))
    assert f">{expected}</a>" in body
    assert f">{absent}</a>" not in body


def test_empty_filter_choices_mean_any(signed_in: Client) -> None:
    ServiceFactory(slug="checkout", name="Checkout")
    body = text(signed_in.get(reverse("service-list"), {"q": "", "owner_team": "", "tier": ""}))
    assert ">Checkout</a>" in body
    assert "field-error" not in body


def test_the_filter_form_is_labelled(signed_in: Client) -> None:
    TeamFactory(slug="payments", name="Payments")
    body = text(signed_in.get(reverse("service-list")))
    assert 'role="search"' in body
    assert '<label for="id_q">Search</label>' in body
    assert "<legend>Tier</legend>" in body
    assert "<legend>Lifecycle</legend>" in body
    assert '<label for="id_owner_team">Owner team</label>' in body
    assert '<option value="payments">Payments</option>' in body


def test_the_service_list_paginates_and_keeps_the_filters(signed_in: Client) -> None:
    ServiceFactory.create_batch(60, tier=ServiceTier.TIER_1)
    first = text(signed_in.get(reverse("service-list"), {"tier": "1"}))
    assert "Showing 1\u201350 of 60 services" in first
    assert 'href="?tier=1&amp;page=2"' in first

    second = signed_in.get(reverse("service-list"), {"tier": "1", "page": "2"})
    assert second.status_code == 200
    assert "Showing 51\u201360 of 60 services" in text(second)
    assert second.context["page"].number == 2
    assert len(second.context["page"].object_list) == 10


def test_the_service_list_says_when_there_are_no_services_yet(signed_in: Client) -> None:
    body = text(signed_in.get(reverse("service-list")))
    assert "No services yet" in body
    assert "POST /api/v1/services/" in body
    assert "No services match these filters" not in body


def test_the_service_list_says_when_no_service_matches(signed_in: Client) -> None:
    ServiceFactory(slug="checkout", name="Checkout")
    body = text(signed_in.get(reverse("service-list"), {"q": "nothing-like-this"}))
    assert "No services match these filters" in body
    assert "No services yet" not in body


def test_the_service_list_needs_a_fixed_number_of_queries(
    signed_in: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    teams = TeamFactory.create_batch(3)
    ServiceFactory.create_batch(5, owner_team=teams[0])
    with django_assert_max_num_queries(8) as few:
        signed_in.get(reverse("service-list"))
    for index in range(45):
        ServiceFactory(owner_team=teams[index % 3])
    with django_assert_max_num_queries(8) as many:
        signed_in.get(reverse("service-list"))
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_service_detail_shows_fields_links_and_owner(signed_in: Client) -> None:
    team = TeamFactory(slug="payments", name="Payments")
    ServiceFactory(
        slug="checkout",
        name="Checkout",
        owner_team=team,
        description="Takes the money.",
        links=[{"title": "Grafana", "url": "https://grafana.example.com/d/checkout"}],
    )
    response = signed_in.get(reverse("service-detail", kwargs={"slug": "checkout"}))
    assert response.status_code == 200
    body = text(response)
    assert "Checkout" in body
    assert "Takes the money." in body
    assert 'href="https://grafana.example.com/d/checkout"' in body
    assert 'rel="noopener noreferrer"' in body
    assert 'href="/teams/payments/"' in body
    assert "Tier 2 (important)" in body


def test_an_unknown_service_is_not_found(signed_in: Client) -> None:
    assert signed_in.get(reverse("service-detail", kwargs={"slug": "nope"})).status_code == 404


# --- Teams ---------------------------------------------------------------------------


def test_the_team_list_counts_services_and_searches(signed_in: Client) -> None:
    payments = TeamFactory(slug="payments", name="Payments")
    TeamFactory(slug="search", name="Search")
    ServiceFactory.create_batch(3, owner_team=payments)
    body = text(signed_in.get(reverse("team-list")))
    assert 'href="/teams/payments/"' in body
    assert '<td class="num">3</td>' in body
    filtered = text(signed_in.get(reverse("team-list"), {"q": "pay"}))
    assert ">Payments</a>" in filtered
    assert ">Search</a>" not in filtered


def test_the_team_list_empty_states(signed_in: Client) -> None:
    assert "No teams yet" in text(signed_in.get(reverse("team-list")))
    TeamFactory(slug="payments", name="Payments")
    assert "No teams match this search" in text(signed_in.get(reverse("team-list"), {"q": "zzz"}))


def test_the_team_detail_lists_its_services(signed_in: Client) -> None:
    payments = TeamFactory(slug="payments", name="Payments", description="Money in, money out.")
    ServiceFactory(slug="checkout", name="Checkout", owner_team=payments)
    ServiceFactory(slug="ledger", name="Ledger")
    body = text(signed_in.get(reverse("team-detail", kwargs={"slug": "payments"})))
    assert "Money in, money out." in body
    assert 'href="/services/checkout/"' in body
    assert "Ledger" not in body


def test_a_team_without_services_says_so(signed_in: Client) -> None:
    TeamFactory(slug="payments", name="Payments")
    body = text(signed_in.get(reverse("team-detail", kwargs={"slug": "payments"})))
    assert "Payments owns no services yet." in body


# --- Policy --------------------------------------------------------------------------


def test_the_policy_page_shows_every_section(signed_in: Client) -> None:
    response = signed_in.get(reverse("policy"))
    assert response.status_code == 200
    body = text(response)
    for heading in (
        "Business calendar",
        "Incident severities",
        "Support tiers",
        "Maintenance cadence",
        "Backup strategy",
        "Targets",
    ):
        assert f">{heading}</h2>" in body
    assert "OPSGOV_POLICY" in body
    assert "manage.py policy show" in body


def test_the_policy_page_shows_the_seed_values(signed_in: Client) -> None:
    response = signed_in.get(reverse("policy"))
    severities = {row["key"]: row for row in response.context["severities"]}
    assert severities["SEV-1"]["response_target"] == "15 minutes"
    assert severities["SEV-4"]["response_target"] == "1 business day"
    assert severities["SEV-1"]["failure"] and severities["SEV-1"]["review"]
    assert not severities["SEV-3"]["failure"]
    tiers = {row["key"]: row for row in response.context["tiers"]}
    assert tiers["P4"]["resolution"] == "2 weeks"
    assert tiers["P1"]["response"] == "15 minutes"

    body = text(response)
    assert "15 minutes" in body
    assert "1 business day" in body
    assert "2 weeks" in body
    assert "5 business days" in body
    assert "pauses while a ticket is waiting on the customer" in body
    assert "As needed" in body  # security patches have a deadline, not a cadence
    assert "48 hours" in body
    assert "2\u20134 hours" in body
    assert "Version control" in body
    assert "Per change" in body
    assert "&gt; 99.9 %" in body
    assert "&lt; 15 minutes" in body
    assert "&lt; 4 hours" in body
    assert "&gt; 720 hours" in body
    assert "&gt; 4.5 / 5" in body
    assert "≥ 100 %" in body
    assert "&gt; 95 %" in body
    assert "<code>UTC</code>" in body
    assert "09:00-17:00" in body
    assert "Closed" in body  # the weekend


def test_the_policy_page_reads_the_configured_file(signed_in: Client, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[business_calendar]\ntime_zone = "Europe/Berlin"\nholiday_country = "DE"\n'
        'extra_holidays = [2025-12-24]\n\n[incidents]\nfailure_severities = ["SEV-1"]\n'
        'review_severities = ["SEV-1"]\n\n[incidents.severities.SEV-1]\n'
        'description = "Everything is on fire"\nresponse_target = "5 minutes"\n',
        encoding="utf-8",
    )
    settings.OPSGOV_POLICY = str(path)
    body = text(signed_in.get(reverse("policy")))
    assert "Europe/Berlin" in body
    assert ">DE<" in body or "DE" in body
    assert "2025-12-24" in body
    assert "Everything is on fire" in body
    assert "5 minutes" in body
    assert "loaded from the TOML file" in body


def test_gate_states_come_from_one_query(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    with django_assert_num_queries(1):
        selectors.gate_states()
