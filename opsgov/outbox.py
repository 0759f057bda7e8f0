"""One outbox for every delivery: a row per message, claimed before it is sent, retried until it is sent.

Incident notifications (incidents.oncall.notifications), gate status-change emails
(opsgov.gates.services) and the scheduled reports (opsgov.reports.services) are
delivered this way, and so is any new kind of message: its model subclasses
``opsgov.models.OutboxMessage``, and an :class:`Outbox` with its
:class:`OutboxPolicy` moves its rows through the states below.

    MESSAGES = Outbox(BackupAlert, OutboxPolicy())  # or OutboxPolicy(max_attempts=3, lease=..., ...)
    if MESSAGES.claim(alert_id, now=now):  # False: not due, or another sender holds it
        alert = BackupAlert.objects.get(pk=alert_id)
        MESSAGES.record(alert, error=send(alert), now=timezone.now())  # error "": sent

An e-mail is one call: ``MESSAGES.send_email(alert_id, build_email, now=now)`` claims the row, sends
the message ``build_email(row)`` makes, and records the outcome (None: not claimed).

The state machine
-----------------
::

    pending ──claim──▶ sending ──sent──────────────────────────▶ sent
                        │  ▲ │
                        │  │ └─failed, attempts left──▶ <retry status> ──claim, once due──▶ sending
                        │  └──claim after the lease ran out (the sender died)
                        └─failed (or lease lost) on the last attempt──▶ failed

- **Created** with the change it reports, in the same transaction: status
  "pending", no attempt yet, ``next_attempt_at`` = now + ``publish_grace``. Its
  delivery task is enqueued when that transaction commits
  (:meth:`Outbox.enqueue_on_commit`); the sweeper takes the row only after the
  grace, that is only if that enqueue was lost.
- **Claim** (:meth:`Outbox.claim`): one conditional UPDATE moves the row to
  "sending" (attempts + 1, a lease of ``policy.lease``) only from "pending"
  without an attempt, from the retry status once its time has come, or from
  "sending" whose lease ran out (the worker died mid-send) while attempts are
  left. Only the caller whose UPDATE changed the row sends, so two workers, a
  redelivered task (acks_late) and the sweeper never send it at the same time.
  No transaction or lock is held while talking to the network.
- **Record** (:meth:`Outbox.record`), conditional on still holding the claim
  (still "sending", with the attempt claimed): "sent" (``sent_at``, the error
  cleared); or, after a failed attempt, the policy's ``retry_status`` with the
  error and the next attempt ``policy.retry_delay(attempt)`` later; or "failed"
  once ``max_attempts`` attempts failed. A sender whose lease ran out and was
  taken over records nothing: the new holder records its own attempt.
- **Sweep**: a beat task (every minute) enqueues what is due
  (:meth:`Outbox.due`: rows whose next attempt came, and sends whose lease ran
  out with attempts left) and marks failed the sends whose lease ran out on the
  last attempt (:meth:`Outbox.fail_lost`). Retries are these rows, not Celery
  countdowns: a broker outage or a lost message delays a delivery, never drops it.

Delivery is at least once: a worker killed after the message left but before
the outcome was recorded sends it again after the lease; receivers can
deduplicate on the row's id (incidents' webhooks send it as ``X-Opsgov-Delivery``).

Columns: ``status``, ``attempts``, ``next_attempt_at`` (when the next attempt is
due; while "sending", when the lease runs out), ``sent_at``, ``last_error``, and
``updated_at``. A model may keep its lease in a column of its own
(``lease_field``) and have no stored retry time (``retry_at_field=None``): then
a failed row is claimable again at once, and whatever runs the next attempt
waits the policy's backoff itself (the scheduled reports: their task retries
with a countdown, the period fixed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .models import OutboxMessage, OutboxStatus
from .publishing import publish_each

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=OutboxMessage)


@dataclass(frozen=True)
class OutboxPolicy:
    """The numbers of one outbox: how often, how long, how soon again. The defaults are what incident
    notifications and gate emails use: five attempts 1, 2, 4, 8 minutes apart, a 3-minute lease (longer
    than their delivery tasks' time limits), a new row left 30 s to its on-commit enqueue."""

    #: Attempts before a row is given up as failed.
    max_attempts: int = 5
    #: How long a claimed ("sending") row is its sender's; longer than the delivery task's time limit.
    lease: timedelta = timedelta(minutes=3)
    #: The wait after failed attempt 1, 2, ...; the last one repeats.
    backoff: tuple[timedelta, ...] = tuple(timedelta(minutes=minutes) for minutes in (1, 2, 4, 8))
    #: A new row waits this long for the task enqueued on commit before the sweeper may take it.
    publish_grace: timedelta = timedelta(seconds=30)
    #: The status a row waits in for its next attempt: "retrying", or "pending"/"failed" where the model's
    #: status choices have no "retrying".
    retry_status: str = OutboxStatus.RETRYING

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or not self.backoff or self.lease <= timedelta(0):
            raise ValueError("an outbox needs at least one attempt, a backoff and a positive lease")

    def retry_delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt `attempt` (from 1): its backoff step, the last step after that."""
        return self.backoff[min(attempt, len(self.backoff)) - 1]


@dataclass(frozen=True)
class Outcome:
    """What :meth:`Outbox.record` wrote: the row's new status and columns; `held` False when the claim had
    been taken over (the lease ran out) and nothing was written."""

    status: str
    held: bool
    fields: dict[str, Any]


class Outbox(Generic[M]):
    """The delivery rows of one model, moved through the state machine of the module docstring."""

    def __init__(
        self,
        model: type[M],
        policy: OutboxPolicy,
        *,
        lease_field: str = "next_attempt_at",
        retry_at_field: str | None = "next_attempt_at",
    ) -> None:
        self.model = model
        self.policy = policy
        self.lease_field = lease_field
        self.retry_at_field = retry_at_field

    @property
    def _name(self) -> str:
        return str(self.model._meta.verbose_name).capitalize()

    def first_attempt_at(self, now: datetime) -> datetime:
        """``next_attempt_at`` of a new row: when the sweeper may take it if its enqueue was lost."""
        return now + self.policy.publish_grace

    # --- Which rows -----------------------------------------------------------------------------

    def _waiting(self, now: datetime) -> Q:
        """Rows whose next attempt is due: new ones, and those waiting for a retry whose time came."""
        retry = Q(status=self.policy.retry_status, attempts__lt=self.policy.max_attempts)
        if self.retry_at_field is not None:
            retry &= Q(**{f"{self.retry_at_field}__lte": now})
        return Q(status=OutboxStatus.PENDING, attempts=0) | retry

    def _lost(self, now: datetime) -> Q:
        """Sends whose lease ran out: their worker died, or is too slow to count."""
        return Q(status=OutboxStatus.SENDING, **{f"{self.lease_field}__lte": now})

    def claimable(self, now: datetime) -> Q:
        """Rows a sender may take now (see :meth:`claim`)."""
        return self._waiting(now) | (self._lost(now) & Q(attempts__lt=self.policy.max_attempts))

    def due(self, *, now: datetime) -> QuerySet[M]:
        """What the sweeper enqueues: rows due for an attempt, new ones only after their publish grace."""
        waiting = self._waiting(now)
        if self.retry_at_field is not None:
            # A new row's first attempt is the on-commit enqueue's; the sweeper waits out the grace.
            waiting &= Q(**{f"{self.retry_at_field}__lte": now})
        return self.model._default_manager.filter(
            waiting | (self._lost(now) & Q(attempts__lt=self.policy.max_attempts))
        )

    # --- Claiming and recording ------------------------------------------------------------------

    def claim(self, row: Any, *, now: datetime, **also: Any) -> bool:
        """Take one row (its pk, or a Q naming it) for one attempt, with one conditional UPDATE: False when
        the row is not due or another sender holds it. `also`: other columns to set in the same UPDATE.
        Load the row after a claim: its ``attempts`` is the attempt to :meth:`record`."""
        which = row if isinstance(row, Q) else Q(pk=row)
        return (
            self.model._default_manager.filter(which, self.claimable(now)).update(
                status=OutboxStatus.SENDING,
                attempts=F("attempts") + 1,
                updated_at=now,
                **{self.lease_field: now + self.policy.lease},
                **also,
            )
            == 1
        )

    def outcome_fields(self, *, attempt: int, error: str, now: datetime) -> dict[str, Any]:
        """The columns that record attempt `attempt`: sent (no `error`), waiting for a retry, or failed."""
        fields: dict[str, Any] = {"updated_at": now}
        if not error:
            fields.update(status=OutboxStatus.SENT, sent_at=now, last_error="")
            if self.lease_field != self.retry_at_field:
                fields[self.lease_field] = None  # a lease of its own ends with the send
        elif attempt >= self.policy.max_attempts:
            fields.update(status=OutboxStatus.FAILED, last_error=error)
        else:
            fields.update(status=self.policy.retry_status, last_error=error)
            if self.retry_at_field is not None:
                fields[self.retry_at_field] = now + self.policy.retry_delay(attempt)
        return fields

    def record(self, row: M, *, error: str = "", now: datetime, **also: Any) -> Outcome:
        """Record the outcome of `row`'s attempt (its ``attempts`` as loaded after the claim; `error` empty:
        sent), if the claim is still held; `row` then carries the columns written. `also`: more columns."""
        attempt = row.attempts
        fields = {**self.outcome_fields(attempt=attempt, error=error, now=now), **also}
        held = (
            self.model._default_manager.filter(pk=row.pk, status=OutboxStatus.SENDING, attempts=attempt).update(
                **fields
            )
            == 1
        )
        if held:
            for name, value in fields.items():
                setattr(row, name, value)
        else:
            # The lease ran out and another attempt took the row over; it records its own outcome.
            logger.warning("%s %s attempt %s finished after its lease; not recorded", self._name, row.pk, attempt)
        return Outcome(status=str(fields["status"]), held=held, fields=fields)

    def send_email(
        self,
        pk: Any,
        build: Callable[[M], EmailMessage],
        *,
        now: datetime,
        rows: QuerySet[M] | None = None,
    ) -> str | None:
        """One attempt at row `pk` as the e-mail `build(row)` makes, if it is due and nobody else holds it.

        Returns the row's status afterwards (sent, waiting for a retry, failed), or None when it was not
        claimed. A failure to hand the message over is recorded on the row (retried by the policy) and
        logged, never raised. `rows`: the queryset to load the row from (e.g. with select_related)."""
        if not self.claim(pk, now=now):
            return None
        row = (rows if rows is not None else self.model._default_manager.all()).get(pk=pk)
        error = ""
        try:
            build(row).send(fail_silently=False)
        except Exception as exc:  # any failure of the mail server: recorded and retried, never raised
            error = f"{type(exc).__name__}: {exc}"[:1000]
            logger.warning("%s %s not sent: %s", self._name, pk, error)
        return self.record(row, error=error, now=timezone.now()).status

    def fail_lost(
        self,
        *,
        now: datetime,
        error: str = "the last attempt was lost",
        limit: int = 100,
        on_failed: Callable[[M], None] | None = None,
    ) -> list[M]:
        """Mark failed the sends whose lease ran out on their last attempt (at most `limit`); returns them.

        Each row is its own transaction, conditional on still being that lost send; `on_failed(row)`
        runs inside it (e.g. to add the failure to a timeline).
        """
        failed = []
        lost = self.model._default_manager.filter(self._lost(now), attempts__gte=self.policy.max_attempts)
        for row in lost.order_by("pk")[:limit]:
            with transaction.atomic():
                held = self.model._default_manager.filter(
                    pk=row.pk, status=OutboxStatus.SENDING, attempts=row.attempts
                ).update(status=OutboxStatus.FAILED, last_error=error, updated_at=now)
                if held != 1:
                    continue
                row.status, row.last_error, row.updated_at = OutboxStatus.FAILED, error, now
                if on_failed is not None:
                    on_failed(row)
                failed.append(row)
        return failed

    # --- Enqueueing -------------------------------------------------------------------------------

    def enqueue(self, task: str, keys: Iterable[Any], *, what: str = "") -> int:
        """Publish the task registered as `task` with each key (a row's id, or what the task takes); stops
        at the first broker error, which the sweeper makes good. Returns how many were published."""
        return publish_each(
            task,
            keys,
            logger=logger,
            what=what or f"delivery of {self.model._meta.verbose_name} %s",
            then="the sweeper will retry",
        )

    def enqueue_on_commit(self, task: str, keys: Iterable[Any], *, what: str = "") -> None:
        """:meth:`enqueue` once the current transaction commits (never raises: the sweeper covers it)."""
        pending = list(keys)
        if pending:
            transaction.on_commit(lambda: self.enqueue(task, pending, what=what), robust=True)
