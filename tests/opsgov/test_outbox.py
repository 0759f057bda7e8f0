"""The outbox every delivery uses (opsgov.outbox): claimed once, retried with backoff, given up, swept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import Q

from opsgov import outbox as outbox_module
from opsgov.models import GateEvaluation, GateNotification, OutboxStatus, ReportDelivery
from opsgov.outbox import Outbox, OutboxPolicy

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
POLICY = OutboxPolicy(
    max_attempts=3,
    lease=timedelta(minutes=3),
    backoff=(timedelta(minutes=1), timedelta(minutes=5)),
    publish_grace=timedelta(seconds=30),
)
MESSAGES = Outbox(GateNotification, POLICY)


def new_message(now: datetime = NOW, **fields: Any) -> GateNotification:
    evaluation = GateEvaluation.objects.create(gate="demo", status="fail", reason="r", evaluated_at=now)
    fields.setdefault("next_attempt_at", MESSAGES.first_attempt_at(now))
    return GateNotification.objects.create(
        gate="demo", evaluation=evaluation, destination=f"owner{GateNotification.objects.count()}@example.com", **fields
    )


def claimed(message: GateNotification, now: datetime) -> GateNotification:
    assert MESSAGES.claim(message.pk, now=now)
    return GateNotification.objects.get(pk=message.pk)


def test_the_backoff_repeats_its_last_step_and_a_policy_needs_attempts_and_a_lease() -> None:
    assert [POLICY.retry_delay(attempt) for attempt in (1, 2, 3, 4)] == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=5),
        timedelta(minutes=5),
    ]
    with pytest.raises(ValueError, match="at least one attempt"):
        OutboxPolicy(max_attempts=0, lease=timedelta(minutes=1), backoff=(timedelta(minutes=1),))
    with pytest.raises(ValueError, match="positive lease"):
        OutboxPolicy(max_attempts=1, lease=timedelta(0), backoff=(timedelta(minutes=1),))


def test_a_row_is_claimed_by_one_sender_until_its_lease_runs_out() -> None:
    message = new_message()
    first = claimed(message, NOW)
    assert (first.status, first.attempts, first.next_attempt_at) == (OutboxStatus.SENDING, 1, NOW + POLICY.lease)
    assert MESSAGES.claim(message.pk, now=NOW + timedelta(minutes=1)) is False  # someone holds it

    # The first sender died: after the lease another one takes the row over, as attempt 2.
    second = claimed(message, NOW + POLICY.lease)
    assert second.attempts == 2
    # The first sender's late outcome is not recorded; the second one's is.
    late = MESSAGES.record(first, now=NOW + POLICY.lease + timedelta(seconds=1))
    assert late.held is False
    assert GateNotification.objects.get(pk=message.pk).status == OutboxStatus.SENDING
    done = MESSAGES.record(second, now=NOW + timedelta(minutes=4))
    assert (done.held, done.status) == (True, OutboxStatus.SENT)
    row = GateNotification.objects.get(pk=message.pk)
    assert (row.status, row.sent_at, row.last_error) == (OutboxStatus.SENT, NOW + timedelta(minutes=4), "")
    assert MESSAGES.claim(message.pk, now=NOW + timedelta(days=1)) is False  # sent is final


def test_a_failed_attempt_waits_its_backoff_and_the_last_one_gives_up() -> None:
    outbox = Outbox(GateNotification, POLICY)  # failed attempts wait as "retrying" (the default)
    message = new_message()
    attempt = claimed(message, NOW)
    outcome = outbox.record(attempt, error="SMTPException: try later", now=NOW)
    assert (outcome.status, attempt.next_attempt_at) == (OutboxStatus.RETRYING, NOW + timedelta(minutes=1))
    assert outbox.claim(message.pk, now=NOW + timedelta(seconds=59)) is False  # not due yet
    attempt = claimed(message, NOW + timedelta(minutes=1))
    assert outbox.record(attempt, error="again", now=NOW + timedelta(minutes=1)).status == OutboxStatus.RETRYING
    assert attempt.next_attempt_at == NOW + timedelta(minutes=6)
    attempt = claimed(message, NOW + timedelta(minutes=6))
    assert attempt.attempts == POLICY.max_attempts
    outcome = outbox.record(attempt, error="still", now=NOW + timedelta(minutes=6))
    assert outcome.status == OutboxStatus.FAILED
    row = GateNotification.objects.get(pk=message.pk)
    assert (row.status, row.attempts, row.last_error, row.sent_at) == (OutboxStatus.FAILED, 3, "still", None)
    assert outbox.claim(message.pk, now=NOW + timedelta(days=1)) is False


def test_the_sweeper_takes_new_rows_after_the_grace_retries_when_due_and_lost_sends() -> None:
    new = new_message()
    retry = new_message()
    MESSAGES.record(claimed(retry, NOW), error="refused", now=NOW)  # waits as "retrying" until NOW + 1 min
    lost = new_message()
    claimed(lost, NOW)  # its sender dies: the lease runs out at NOW + 3 min
    done = new_message()
    MESSAGES.record(claimed(done, NOW), now=NOW)

    def due(at: datetime) -> set[int]:
        return set(MESSAGES.due(now=at).values_list("pk", flat=True))

    assert due(NOW) == set()  # the new row's on-commit enqueue has its grace
    assert due(NOW + POLICY.publish_grace) == {new.pk}
    assert due(NOW + timedelta(minutes=1)) == {new.pk, retry.pk}
    assert due(NOW + POLICY.lease) == {new.pk, retry.pk, lost.pk}


def test_a_send_lost_on_its_last_attempt_is_marked_failed_once() -> None:
    message = new_message(attempts=POLICY.max_attempts - 1, status=OutboxStatus.RETRYING, next_attempt_at=NOW)
    claimed(message, NOW)
    seen: list[int] = []
    assert MESSAGES.fail_lost(now=NOW + timedelta(minutes=1), on_failed=lambda row: seen.append(row.pk)) == []
    failed = MESSAGES.fail_lost(now=NOW + POLICY.lease, error="lost", on_failed=lambda row: seen.append(row.pk))
    assert [row.pk for row in failed] == seen == [message.pk]
    row = GateNotification.objects.get(pk=message.pk)
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "lost")
    assert MESSAGES.fail_lost(now=NOW + timedelta(hours=1)) == []
    assert not MESSAGES.due(now=NOW + timedelta(hours=1)).exists()


def test_a_lease_of_its_own_and_no_retry_time_make_a_failed_row_claimable_at_once(
    django_user_model: type[User],
) -> None:
    deliveries = Outbox(
        ReportDelivery,
        OutboxPolicy(
            max_attempts=2, lease=timedelta(minutes=10), backoff=(timedelta(minutes=11),), retry_status="failed"
        ),
        lease_field="lease_until",
        retry_at_field=None,
    )
    user = django_user_model.objects.create(username="lead", email="lead@example.com")
    row = ReportDelivery.objects.create(
        kind="weekly", period_start=date(2026, 11, 23), period_end=date(2026, 11, 30), user=user, email=user.email
    )
    which = Q(kind="weekly", period_start=date(2026, 11, 23), user=user)
    assert deliveries.claim(which, now=NOW, email="lead@example.com")
    row.refresh_from_db()
    assert (row.status, row.lease_until) == (OutboxStatus.SENDING, NOW + timedelta(minutes=10))
    assert deliveries.record(row, error="refused", now=NOW).status == "failed"
    assert deliveries.claim(row.pk, now=NOW + timedelta(seconds=1))  # no stored retry time: claimable now
    row.refresh_from_db()
    assert deliveries.record(row, now=NOW + timedelta(seconds=2)).status == OutboxStatus.SENT
    row.refresh_from_db()
    assert (row.status, row.attempts, row.lease_until, row.last_error) == (OutboxStatus.SENT, 2, None, "")


def test_deliveries_are_enqueued_by_task_name_when_the_transaction_commits(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    published: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        outbox_module, "publish_each", lambda task, keys, **kwargs: published.append((task, list(keys), kwargs["what"]))
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        MESSAGES.enqueue_on_commit("opsgov.gate_tasks.deliver_gate_notifications", iter([7, 8]))
        MESSAGES.enqueue_on_commit("opsgov.gate_tasks.deliver_gate_notifications", [])  # nothing to enqueue
    assert len(callbacks) == 1
    assert published == [("opsgov.gate_tasks.deliver_gate_notifications", [7, 8], "delivery of gate notification %s")]
