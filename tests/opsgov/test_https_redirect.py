"""With SECURE_SSL_REDIRECT on, pages redirect to https but ingestion and heartbeat routes never answer a redirect.

A client re-sends a redirected POST as a GET (Alertmanager did: 301, GET, 405,
alert dropped). Those routes are served over the scheme that reached them
(README, "HTTPS and the ingestion routes").
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from monitoring.models import HeartbeatPing

from ..incidents.test_ingest_support import alertmanager_url, make_integration, payload, post
from ..monitoring.check_support import make_heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _https_redirect(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True


def test_a_page_over_plain_http_is_redirected_to_https() -> None:
    response = Client().get("/services/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/services/"


def test_an_alertmanager_post_over_plain_http_is_stored_not_redirected() -> None:
    _, token = make_integration("alertmanager")
    firing = payload("alertmanager-v4-firing")
    assert post(alertmanager_url(token), firing).status_code == 202
    assert post("/api/v1/ingest/alertmanager/", firing, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 202


def test_events_v2_over_plain_http_is_stored_not_redirected() -> None:
    _, token = make_integration("pagerduty")
    response = post("/api/v1/ingest/v2/enqueue", {**payload("pagerduty-v2-trigger"), "routing_key": token})
    assert response.status_code == 202


def test_a_refused_ingestion_request_over_plain_http_is_its_json_answer_not_a_redirect() -> None:
    response = post("/api/v1/ingest/alertmanager/" + "x" * 43 + "/", payload("alertmanager-v4-firing"))
    assert response.status_code == 403
    assert response.json()["status"] == "forbidden"


def test_heartbeat_pings_over_plain_http_are_recorded_not_redirected() -> None:
    heartbeat = make_heartbeat()
    client = Client()
    for path in (f"/ping/{heartbeat.uuid}", f"/ping/{heartbeat.uuid}/start", f"/ping/{heartbeat.uuid}/fail"):
        assert client.post(path, data=b"log", content_type="text/plain").status_code == 200, path
    assert HeartbeatPing.objects.filter(heartbeat=heartbeat).count() == 3
