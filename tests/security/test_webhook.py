"""GitHub's Dependabot webhook: X-Hub-Signature-256 over the raw body, then the alert imported by its state."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings

from security.models import Finding, FindingStatus, Scan
from tests.factories import ServiceFactory

from .support import copy_of, fixture

pytestmark = pytest.mark.django_db
URL = "/api/v1/security/dependabot/webhook/"
SECRET = "It's a Secret to Everybody"


def _delivery(action: str, state: str, **alert: Any) -> bytes:
    body = copy_of(fixture("dependabot-alert.json"))
    body.update(state=state, **alert)
    return json.dumps({"action": action, "alert": body, "repository": {"full_name": "acme/checkout"}}).encode()


def _signed(body: bytes, secret: str = SECRET) -> str:
    # Computed here independently of the code under test, as GitHub's documentation describes it.
    return "sha256=" + hmac.new(secret.encode(), msg=body, digestmod=hashlib.sha256).hexdigest()


def _post(body: bytes, *, signature: str | None, event: str = "dependabot_alert", query: str = "") -> Any:
    headers: dict[str, Any] = {
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }
    if signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return Client().post(URL + query, data=body, content_type="application/json", **headers)


@override_settings(DEPENDABOT_WEBHOOK_SECRET=SECRET)
def test_github_documents_this_signature_for_its_example() -> None:
    # GitHub's docs ("Validating webhook deliveries"): secret "It's a Secret to Everybody", payload
    # "Hello, World!" -> this signature. Our check accepts exactly it (then ignores the unknown event).
    body = b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert _signed(body) == expected
    assert _post(body, signature=expected, event="push").status_code == 202


@override_settings(DEPENDABOT_WEBHOOK_SECRET=SECRET)
def test_alert_lifecycle_through_signed_deliveries() -> None:
    ServiceFactory.create(slug="checkout")
    query = "?create_asset=true&service=checkout"
    created = _delivery("created", "open")
    response = _post(created, signature=_signed(created), query=query)
    assert response.status_code == 201, response.json()
    finding = Finding.objects.get()
    assert finding.asset.name == "acme/checkout"
    assert finding.asset.service is not None and finding.asset.service.slug == "checkout"
    assert (finding.vulnerability_id, finding.status) == ("CVE-2024-27351", FindingStatus.OPEN)
    assert finding.aliases == ["GHSA-xxxx-4c2h-mm6c"]
    # GitHub retries a delivery: the same body changes nothing.
    again = _post(created, signature=_signed(created), query=query)
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert Scan.objects.count() == 1

    dismissed = _delivery("dismissed", "dismissed", dismissed_reason="tolerable_risk", dismissed_comment="internal")
    assert _post(dismissed, signature=_signed(dismissed)).status_code == 201
    finding.refresh_from_db()
    assert finding.status == FindingStatus.NOT_APPLICABLE
    assert finding.justification == "Dependabot: tolerable_risk: internal"

    reopened = _delivery("reopened", "open")
    assert _post(reopened, signature=_signed(reopened)).status_code == 201
    fixed = _delivery("fixed", "fixed", fixed_at="2026-03-02T10:00:00Z")
    assert _post(fixed, signature=_signed(fixed)).status_code == 201
    finding.refresh_from_db()
    assert finding.status == FindingStatus.FIXED
    assert Finding.objects.count() == 1


@override_settings(DEPENDABOT_WEBHOOK_SECRET=SECRET)
def test_missing_or_bad_signatures_are_refused_before_anything_is_read() -> None:
    body = _delivery("created", "open")
    missing = _post(body, signature=None, query="?create_asset=true")
    assert missing.status_code == 401
    assert "Missing X-Hub-Signature-256" in json.dumps(missing.json())
    wrong_secret = _post(body, signature=_signed(body, "another secret"), query="?create_asset=true")
    assert wrong_secret.status_code == 403
    assert "does not match the body" in json.dumps(wrong_secret.json())
    tampered = _post(body.replace(b"medium", b"low"), signature=_signed(body), query="?create_asset=true")
    assert tampered.status_code == 403
    sha1 = _post(body, signature="sha1=" + "0" * 40, query="?create_asset=true")
    assert sha1.status_code == 403
    assert "sha256=<64 lowercase hex digits>" in json.dumps(sha1.json())
    assert not Scan.objects.exists()
    assert not Finding.objects.exists()


def test_without_a_configured_secret_the_webhook_is_off() -> None:
    body = _delivery("created", "open")
    with override_settings(DEPENDABOT_WEBHOOK_SECRET=""):
        response = _post(body, signature=_signed(body, ""), query="?create_asset=true")
    assert response.status_code == 403
    assert "DEPENDABOT_WEBHOOK_SECRET" in json.dumps(response.json())
    assert not Scan.objects.exists()


@override_settings(DEPENDABOT_WEBHOOK_SECRET=SECRET)
def test_ping_other_events_and_bad_deliveries() -> None:
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    assert _post(ping, signature=_signed(ping), event="ping").json() == {"pong": True}
    push = b"{}"
    other = _post(push, signature=_signed(push), event="push")
    assert other.status_code == 202
    assert "push" in other.json()["ignored"]
    broken = b"{not json"
    assert _post(broken, signature=_signed(broken)).status_code == 400
    unknown = json.dumps({"action": "exploded", "alert": {}}).encode()
    response = _post(unknown, signature=_signed(unknown))
    assert response.status_code == 400
    assert "action" in [error["field"] for error in response.json()["errors"]]
    no_state = json.loads(_delivery("created", "open"))
    del no_state["alert"]["security_advisory"]
    body = json.dumps(no_state).encode()
    response = _post(body, signature=_signed(body), query="?create_asset=true")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("$.alert.security_advisory: missing")
    # An unknown repository without a mapping rule: refused with the rule to add.
    body = _delivery("created", "open")
    refused = _post(body, signature=_signed(body))
    assert refused.status_code == 400
    assert "mapping rule" in json.dumps(refused.json())
