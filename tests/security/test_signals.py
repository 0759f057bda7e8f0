"""opsgov's own signals join the security alert queue: repeated failed logins, a lockout, a permission-denied burst."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from opsgov.roles import COMPLIANCE_OFFICER, SRE_LEAD
from security.models import AlertSource, SecurityAlert

pytestmark = pytest.mark.django_db


def _log_in(client: Client, username: str, password: str) -> object:
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR="192.0.2.50")


def test_failed_logins_then_lockout_raise_one_alert_each(client: Client, make_user: Callable[..., User]) -> None:
    make_user("dana", SRE_LEAD)
    for attempt in range(4):
        _log_in(client, "dana", f"wrong-{attempt}")
    assert not SecurityAlert.objects.exists()  # four: below the policy's five
    _log_in(client, "dana", "wrong-4")
    (alert,) = SecurityAlert.objects.all()
    assert (alert.source, alert.rule, alert.severity) == (AlertSource.OPSGOV, "Repeated failed logins", "medium")
    assert alert.title == "5 failed logins for dana within 15 minutes"
    assert alert.fields["remote_addr"] == "192.0.2.50"
    for attempt in range(5, settings.LOGIN_FAILURE_LIMIT + 2):  # the lockout, then a refused attempt while locked
        _log_in(client, "dana", f"wrong-{attempt}")
    assert list(SecurityAlert.objects.order_by("pk").values_list("rule", "severity")) == [
        ("Repeated failed logins", "medium"),
        ("Account locked out", "high"),
    ]


def test_a_burst_of_refused_api_requests_raises_an_alert(
    client_for: Callable[..., object], make_user: Callable[..., User]
) -> None:
    api = client_for(make_user("carol", COMPLIANCE_OFFICER))
    for _ in range(19):
        assert api.post("/api/v1/security/alerts/", {"title": "t", "severity": "low"}, format="json").status_code == 403  # type: ignore[attr-defined]
    assert not SecurityAlert.objects.exists()
    api.post("/api/v1/security/alerts/", {"title": "t", "severity": "low"}, format="json")  # type: ignore[attr-defined]
    (alert,) = SecurityAlert.objects.all()
    assert alert.rule == "Permission-denied burst"
    assert alert.fields["path"] == "/api/v1/security/alerts/"
