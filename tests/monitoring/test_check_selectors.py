"""Reads the monitoring gate will use: the checks down now, per service, since when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from monitoring.checks import selectors as check_selectors
from monitoring.checks import services as checks
from monitoring.models import HttpCheck
from tests.factories import ServiceFactory

from .check_support import make_heartbeat, make_http_check

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def fail(check: HttpCheck, at: datetime) -> None:
    checks.record_http_result(
        check=check,
        scheduled_for=at,
        probe=checks.Probe(at=at, ok=False, status_code=500, latency_ms=5, error="Answered 500."),
    )


def test_down_checks_are_grouped_by_service_longest_down_first(django_assert_num_queries) -> None:
    checkout = ServiceFactory.create(slug="checkout")
    auth = ServiceFactory.create(slug="auth")
    quiet = ServiceFactory.create(slug="quiet")
    payments = make_http_check("http://127.0.0.1:9/pay", service=checkout, name="Payments", failure_threshold=1)
    basket = make_http_check("http://127.0.0.1:9/basket", service=checkout, name="Basket", failure_threshold=1)
    make_http_check("http://127.0.0.1:9/fine", service=checkout, name="Fine")
    settlement = make_heartbeat(service=checkout, name="Settlement")
    login_job = make_heartbeat(service=auth, name="Token cleanup")
    make_heartbeat(service=quiet, name="Never pinged")

    fail(basket, T0)
    fail(payments, T0 + timedelta(minutes=5))
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        checks.heartbeat_ping(uuid=settlement.uuid, ping=checks.PingRequest(kind="fail", method="GET"))
    with time_machine.travel(T0 + timedelta(minutes=9), tick=False):
        checks.heartbeat_ping(uuid=login_job.uuid, ping=checks.PingRequest(kind="fail", method="GET"))
    fail(basket, T0 + timedelta(minutes=1))  # still down: no new flip, so still down since T0

    with django_assert_num_queries(2):
        down = check_selectors.down_checks_by_service()

    assert set(down) == {checkout.pk, auth.pk}
    assert [(d.kind, d.name, d.since) for d in down[checkout.pk]] == [
        ("http", "Basket", T0),
        ("heartbeat", "Settlement", T0 + timedelta(minutes=2)),
        ("http", "Payments", T0 + timedelta(minutes=5)),
    ]
    assert [(d.kind_label, d.url) for d in down[auth.pk]] == [("Heartbeat", login_job.get_absolute_url())]
    assert check_selectors.down_checks_by_service([auth.pk]) == {auth.pk: down[auth.pk]}
    assert check_selectors.down_checks_by_service([quiet.pk]) == {}
