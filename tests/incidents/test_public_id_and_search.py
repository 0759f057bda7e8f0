"""Incidents are found by their public id ("INC-316") and by the labels of their alerts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from incidents.models import Incident

from ..factories import ServiceFactory
from .factories import IncidentFactory
from .test_ingest_support import alertmanager_url, make_integration, payload, post, process_pending

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents/"


# --- Public id --------------------------------------------------------------------------------


def test_the_api_reads_and_acts_on_an_incident_by_its_public_id_or_number(sre: APIClient) -> None:
    incident = IncidentFactory.create(title="Checkout down")
    for key in (incident.public_id, incident.public_id.lower(), str(incident.pk)):
        response = sre.get(f"{URL}{key}/")
        assert response.status_code == 200, key
        assert response.json()["id"] == incident.public_id
    response = sre.post(f"{URL}{incident.public_id}/acknowledge/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"


@pytest.mark.parametrize("key", ["INC-999999", "INC-", "INC-12a", "INCIDENT-1", "12-INC"])
def test_an_unknown_or_malformed_public_id_is_not_found(sre: APIClient, key: str) -> None:
    IncidentFactory.create()
    assert sre.get(f"{URL}{key}/").status_code == 404


def test_the_page_of_a_public_id_redirects_to_the_incident(client: Client, sre_user: User) -> None:
    incident = IncidentFactory.create(title="Checkout down")
    client.force_login(sre_user)
    response = client.get(f"/incidents/{incident.public_id}/")
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/"
    page = client.get(f"/incidents/{incident.public_id}/", follow=True)
    assert page.status_code == 200
    assert "Checkout down" in page.content.decode()
    assert client.get("/incidents/INC-999999/", follow=True).status_code == 404


# --- q ----------------------------------------------------------------------------------------


def _alert_incident(group_labels: dict[str, str]) -> Incident:
    """An incident opened by an Alertmanager webhook (the fixture: HighErrorRate on checkout-1/-2)."""
    integration, token = make_integration()
    body = payload("alertmanager-v4-firing")
    body["groupLabels"] = body["commonLabels"] = group_labels
    body["commonAnnotations"] = {}
    for alert in body["alerts"]:
        alert["annotations"] = {}
    assert post(alertmanager_url(token), body).status_code == 202
    process_pending()
    return Incident.objects.get(integration=integration)


def _found(client: APIClient, q: str) -> list[str]:
    response = client.get(URL, {"q": q})
    assert response.status_code == 200
    return sorted(row["id"] for row in response.json()["results"])


def test_q_finds_incidents_by_the_labels_of_their_alerts(sre: APIClient) -> None:
    from_alert = _alert_incident({"job": "checkout"})  # the title is "job=checkout": no alertname in it
    assert "HighErrorRate" not in f"{from_alert.title} {from_alert.summary}"
    IncidentFactory.create(title="Login slow", summary="OIDC latency")
    assert _found(sre, "higherrorrate") == [from_alert.public_id]  # alertname, any case
    assert _found(sre, "checkout-2:8080") == [from_alert.public_id]  # another label's value
    assert _found(sre, "NoSuchAlert") == []


def test_q_still_finds_title_summary_and_the_public_id(sre: APIClient) -> None:
    login = IncidentFactory.create(title="Login slow", summary="OIDC latency", service=ServiceFactory.create())
    search = IncidentFactory.create(title="Index stale")
    assert _found(sre, "login") == [login.public_id]
    assert _found(sre, "oidc") == [login.public_id]
    assert _found(sre, search.public_id) == [search.public_id]
    assert _found(sre, search.public_id.lower()) == [search.public_id]


def test_q_on_the_html_list_uses_the_same_search(client: Client, sre_user: User) -> None:
    from_alert = _alert_incident({"job": "checkout"})
    IncidentFactory.create(title="Login slow")
    client.force_login(sre_user)
    body = client.get("/incidents/", {"q": "HighErrorRate"}).content.decode()
    assert from_alert.public_id in body
    assert "Login slow" not in body


def test_q_costs_a_fixed_number_of_queries(sre: APIClient, django_assert_max_num_queries) -> None:
    _alert_incident({"job": "checkout"})
    for index in range(5):
        IncidentFactory.create(title=f"High error rate {index}")
    with django_assert_max_num_queries(8) as captured:
        rows = sre.get(URL, {"q": "high"}).json()["results"]
    assert len(rows) == 6
    few = len(captured.captured_queries)
    for index in range(10):
        IncidentFactory.create(title=f"High error rate again {index}")
    with django_assert_max_num_queries(few) as captured:
        assert len(sre.get(URL, {"q": "high"}).json()["results"]) == 16
