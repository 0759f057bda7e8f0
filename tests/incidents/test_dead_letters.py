"""No accepted event is lost silently: a failing event is dead-lettered, listed, notified, gate evidence, replayable.

The failure is a genuine one, through the real ingestion and processing path: an
integration whose default severity the policy no longer defines (the policy was
edited after the integration was set up) accepts an alert without a severity
label (202), and opening its incident fails validation at every attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from incidents import tasks
from incidents.gates import IncidentManagementGate
from incidents.ingest import dead_letters
from incidents.ingest import services as ingestion
from incidents.models import DeadLetterNotice, Incident, Integration, RawEvent
from opsgov.models import GateStatus
from opsgov.roles import SRE_LEAD, TECH_LEAD

from ..conftest import free_port
from .test_ingest_support import NOW, alertmanager_url, make_integration, post, process_pending

pytestmark = pytest.mark.django_db

API = "/api/v1/dead-letters/"
PAGE = "/incidents/dead-letters/"


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def as_role(make_user: Callable[..., User], client_for: Callable[[User], APIClient]) -> Callable[[str], APIClient]:
    return lambda role: client_for(make_user(role.lower().replace(" ", "_") or "outsider", *([role] if role else [])))


def webhook(fingerprint: str = "fp1") -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": "DiskFull"},  # no severity label: the integration's default severity applies
        "startsAt": "2026-11-20T10:55:00Z",
        "fingerprint": fingerprint,
    }
    return {"version": "4", "groupKey": '{}:{alertname="DiskFull"}', "status": "firing", "alerts": [alert]}


def broken_integration() -> tuple[Integration, str]:
    """An integration whose default severity the policy does not define (any more): processing fails."""
    integration, token = make_integration("alertmanager")
    Integration.objects.filter(pk=integration.pk).update(default_severity="SEV-9")
    integration.refresh_from_db()
    return integration, token


def accept(token: str, fingerprint: str = "fp1") -> RawEvent:
    response = post(alertmanager_url(token), webhook(fingerprint))
    assert response.status_code == 202, response.content
    return RawEvent.objects.latest("id")


def fail_every_attempt(event: RawEvent) -> None:
    for _ in range(ingestion.MAX_ATTEMPTS):
        tasks.process_raw_event(event.pk)  # the task as a function; the sweeper would re-enqueue it meanwhile


def test_an_event_failing_every_attempt_is_dead_lettered_in_the_transaction_of_its_last_failure() -> None:
    _, token = broken_integration()
    event = accept(token)
    for attempt in range(1, ingestion.MAX_ATTEMPTS):
        result = ingestion.process_raw_event(event_id=event.pk)
        assert result.failed and result.dead_lettered == ()
        event.refresh_from_db()
        assert (event.attempts, event.dead_lettered_at, event.processed_at) == (attempt, None, None)
        assert "severity" in event.last_error.lower()
    result = ingestion.process_raw_event(event_id=event.pk)
    assert result.dead_lettered == (event.pk,)
    event.refresh_from_db()
    assert event.dead_lettered_at == NOW and event.processed_at is None
    assert event.last_error.startswith(f"Dead-lettered after {ingestion.MAX_ATTEMPTS} attempts. ValidationError")
    assert not Incident.objects.exists()
    # Neither the sweeper nor another processing run touches it again.
    assert ingestion.claim_stale_raw_events(older_than=timedelta(0)) == []
    assert ingestion.process_raw_event(event_id=event.pk).applied == 0
    event.refresh_from_db()
    assert event.attempts == ingestion.MAX_ATTEMPTS
    assert list(dead_letters.dead_letters()) == [event]


def test_a_dead_letter_holds_back_nothing_later_events_of_its_key_take_effect() -> None:
    integration, token = broken_integration()
    dead = accept(token)
    fail_every_attempt(dead)
    Integration.objects.filter(pk=integration.pk).update(default_severity="SEV-3")  # fixed
    later = accept(token, "fp2")
    assert process_pending() == 1  # only the later one: the dead letter waits for a replay
    later.refresh_from_db()
    assert later.processed_at is not None and later.incident is not None
    dead.refresh_from_db()
    assert dead.dead_lettered_at is not None and dead.processed_at is None


def test_the_api_lists_dead_letters_paginated_and_filtered_by_integration(
    sre: APIClient, as_role: Callable[[str], APIClient]
) -> None:
    integration, token = broken_integration()
    other, other_token = broken_integration()
    fail_every_attempt(accept(token))
    fail_every_attempt(accept(other_token))
    body = sre.get(API).json()
    assert [row["integration"] for row in body["results"]] == [str(other.uuid), str(integration.uuid)]
    row = sre.get(API, {"integration": str(integration.uuid)}).json()["results"]
    assert len(row) == 1
    assert row[0]["attempts"] == ingestion.MAX_ATTEMPTS and row[0]["replay_count"] == 0
    assert row[0]["payload"]["alerts"][0]["fingerprint"] == "fp1"
    assert "SEV-9" in row[0]["last_error"]
    assert len(sre.get(API, {"page_size": 1}).json()["results"]) == 1
    bad = sre.get(API, {"integration": "not-a-uuid"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "integration"
    assert as_role("").get(API).status_code == 403


def test_the_owners_are_told_once_by_email(make_user: Callable[..., User]) -> None:
    integration, token = broken_integration()
    team = integration.service.owner_team
    team.email = "checkout-team@example.com"
    team.save()
    make_user("lead", SRE_LEAD, email="lead@example.com")
    make_user("dev", TECH_LEAD, email="dev@example.com")
    fail_every_attempt(accept(token))
    assert dead_letters.notify_pending() == 1
    (message,) = mail.outbox
    assert sorted(message.to) == ["checkout-team@example.com", "lead@example.com"]
    assert "dead-lettered" in message.subject and integration.name in message.subject
    assert f"/incidents/dead-letters/?integration={integration.uuid}" in message.body
    assert "SEV-9" in message.body
    assert dead_letters.notify_pending() == 0  # told once
    assert len(mail.outbox) == 1


def test_a_notice_the_mail_server_refused_is_retried_by_the_outbox_then_sent(
    clock: time_machine.Traveller, make_user: Callable[..., User], settings: Any
) -> None:
    make_user("lead", SRE_LEAD, email="lead@example.com")
    _, token = broken_integration()
    fail_every_attempt(accept(token))
    # A real SMTP connection to a loopback port nothing listens on: refused.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    assert dead_letters.notify_pending() == 0
    notice = DeadLetterNotice.objects.get()
    assert (notice.status, notice.attempts, notice.events) == ("retrying", 1, 1)
    assert notice.next_attempt_at == NOW + timedelta(minutes=1) and "ConnectionRefusedError" in notice.last_error
    assert notice.recipients[-1] == "lead@example.com"  # after the owner team's address

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert dead_letters.notify_pending() == 0  # not due yet: nothing sent, nothing new written
    clock.shift(timedelta(minutes=1))
    assert dead_letters.notify_pending() == 1
    notice.refresh_from_db()
    assert (notice.status, notice.attempts, notice.sent_at) == ("sent", 2, NOW + timedelta(minutes=1))
    (message,) = mail.outbox
    assert message.subject == notice.subject and message.to == notice.recipients
    assert dead_letters.notify_pending() == 0 and DeadLetterNotice.objects.count() == 1


def test_the_incident_management_gate_fails_while_a_dead_letter_is_unresolved(sre: APIClient) -> None:
    integration, token = broken_integration()
    event = accept(token)
    fail_every_attempt(event)
    result = IncidentManagementGate().evaluate(now=NOW)
    assert result.status == GateStatus.FAIL
    (row,) = [row for row in result.evidence if row.key.startswith("dead_letters")]
    assert row.status == GateStatus.FAIL and row.service == integration.service.slug
    assert row.url == f"/incidents/dead-letters/?integration={integration.uuid}"
    assert "1 accepted alert event(s) dead-lettered" in result.reason

    Integration.objects.filter(pk=integration.pk).update(default_severity="SEV-3")  # the cause fixed
    assert sre.post(f"{API}{event.uuid}/replay/").status_code == 202
    process_pending()
    assert not [row for row in IncidentManagementGate().evaluate(now=NOW).evidence if row.key.startswith("dead_")]


def test_a_replay_needs_the_permission_is_audited_and_takes_effect_once_fixed(
    sre: APIClient,
    sre_user: User,
    as_role: Callable[[str], APIClient],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    integration, token = broken_integration()
    event = accept(token)
    fail_every_attempt(event)
    assert as_role(TECH_LEAD).post(f"{API}{event.uuid}/replay/").status_code == 403
    Integration.objects.filter(pk=integration.pk).update(default_severity="SEV-3")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = sre.post(f"{API}{event.uuid}/replay/")
    assert response.status_code == 202, response.content
    assert response.json()["replayed_by"] == "sre" and response.json()["dead_lettered_at"] is None
    assert len(callbacks) == 1  # processing enqueued once the replay commits
    event.refresh_from_db()
    assert (event.dead_lettered_at, event.attempts, event.replay_count) == (None, 0, 1)
    assert (event.replayed_by, event.replayed_at) == (sre_user, NOW)
    entry = LogEntry.objects.get_for_object(event).get()
    assert entry.actor == sre_user and entry.additional_data["replayed"] is True
    # Replaying what is not dead-lettered is refused with a clear 400.
    again = sre.post(f"{API}{event.uuid}/replay/")
    assert again.status_code == 400 and "nothing to replay" in str(again.json())

    assert process_pending() == 1
    event.refresh_from_db()
    assert event.processed_at is not None and event.incident == Incident.objects.get()
    assert not dead_letters.dead_letters().exists()


def test_a_replayed_event_that_fails_again_returns_to_the_list_and_is_notified_again(
    sre: APIClient, make_user: Callable[..., User]
) -> None:
    make_user("lead", SRE_LEAD, email="lead@example.com")
    _, token = broken_integration()
    event = accept(token)
    fail_every_attempt(event)
    assert dead_letters.notify_pending() == 1
    assert sre.post(f"{API}{event.uuid}/replay/").status_code == 202  # not fixed
    fail_every_attempt(event)
    event.refresh_from_db()
    assert event.dead_lettered_at is not None and event.replay_count == 1
    assert event.attempts == ingestion.MAX_ATTEMPTS
    assert list(dead_letters.dead_letters()) == [event]
    assert dead_letters.notify_pending() == 1
    assert len(mail.outbox) == 2


def test_the_page_lists_dead_letters_and_replays_for_an_sre_lead_only(
    client: Client, make_user: Callable[..., User]
) -> None:
    integration, token = broken_integration()
    event = accept(token)
    fail_every_attempt(event)
    client.force_login(make_user("dev", TECH_LEAD))
    page = client.get(PAGE).content.decode()
    assert str(event.uuid) in page and "SEV-9" in page and "Replay</button>" not in page
    assert client.post(f"{PAGE}{event.uuid}/replay/").status_code == 403
    assert 'href="/incidents/dead-letters/"' in client.get("/incidents/integrations/").content.decode()

    client.force_login(make_user("lead", SRE_LEAD))
    page = client.get(PAGE, {"integration": str(integration.uuid)}).content.decode()
    assert "Replay</button>" in page and "1 dead-lettered event" in page
    assert client.get(PAGE, {"integration": "nope"}).status_code == 302
    response = client.post(f"{PAGE}{event.uuid}/replay/", follow=True)
    assert "is being processed again" in response.content.decode()
    event.refresh_from_db()
    assert event.dead_lettered_at is None and event.replay_count == 1
