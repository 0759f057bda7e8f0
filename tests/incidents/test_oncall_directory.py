"""opsgov.registry.on_call, answered by incidents: who a service's escalation path reaches first, now."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User

from incidents.models import EscalationLevel, EscalationPolicy, ServiceEscalation
from opsgov.registry import on_call

from ..factories import ServiceFactory, UserFactory
from .test_gates import NOW, covered_policy

pytestmark = pytest.mark.django_db


def test_it_names_the_person_on_call_and_the_levels_named_users_and_nobody_without_a_path() -> None:
    person = UserFactory.create(username="ana", first_name="Ana", last_name="Silva")
    lead = UserFactory.create(username="bo")
    covered, office, bare = ServiceFactory.create(), ServiceFactory.create(), ServiceFactory.create()
    with time_machine.travel(NOW, tick=False):
        covered_policy(covered, person)
        policy = covered_policy(office, person, office_hours=True)
        EscalationLevel.objects.get(policy=policy, position=1).users.add(lead)
        ids = [covered.pk, office.pk, bare.pk]
        assert on_call.responders(service_ids=ids, now=NOW) == {
            covered.pk: ["Ana Silva"],
            office.pk: ["Ana Silva", "bo"],
            bare.pk: [],
        }
        # Wednesday 22:00: the office-hours rota is in a gap; its named user still answers.
        night = NOW + timedelta(hours=10)
        assert on_call.responders(service_ids=[office.pk], now=night) == {office.pk: ["bo"]}


def test_a_policy_without_levels_reaches_nobody(django_assert_max_num_queries) -> None:
    service = ServiceFactory.create()
    policy = EscalationPolicy.objects.create(slug="empty", name="Empty")
    ServiceEscalation.objects.create(service=service, policy=policy)
    with django_assert_max_num_queries(8):
        assert on_call.responders(service_ids=[service.pk], now=NOW) == {service.pk: []}


def test_the_lookup_costs_the_same_for_many_services(django_assert_max_num_queries) -> None:
    person: User = UserFactory.create()
    services = [ServiceFactory.create() for _ in range(12)]
    with time_machine.travel(NOW, tick=False):
        for service in services:
            covered_policy(service, person)
        with django_assert_max_num_queries(8):
            found = on_call.responders(service_ids=[service.pk for service in services], now=NOW)
    assert found is not None
    assert all(found[service.pk] == [person.username] for service in services)
