"""The gate engine: runs the registered gates, applies waivers, stores evaluations, tells owners of changes.

Evaluating (`evaluate_gates`, `evaluate_gate`)
---------------------------------------------
Called by the beat task every 5 minutes (opsgov.tasks.evaluate_gates), from
the gate page's "Evaluate now" button, by `manage.py evaluate_gates` and after
a waiver is approved or revoked. Each gate is one transaction:

1. `gate.evaluate(now=...)` returns a GateResult. A gate that raises is
   recorded as "no evidence" with the error as its reason (logged), so one
   broken gate neither stops the others nor ever shows as pass.
2. Waivers (`apply_waivers`): an evidence row that fails or is at risk and
   matches an active waiver (approved, not revoked, not expired) by (evidence
   key, service) becomes "waived" and stops counting; a row about no service
   (organisation-wide) matches a waiver without a service, and only that. The
   gate's status is then recomputed from the rows left: the worst of them if
   any fails or is at risk; else "no evidence" if a row left has none (a
   waiver never stands in for missing evidence); "waived" — never "pass" —
   when only waived problems remain. A status a gate gave without a row to
   justify it (worse than its worst row) is kept: waivers lift rows, not
   verdicts. A waiver that has expired matches nothing, so the row counts
   again at the next evaluation.
3. The evaluation is stored with the previous evaluation's status and whether
   the status changed (the gate page's timeline reads only the changes).
4. A change (not the first evaluation of a gate) creates one GateNotification
   per destination: every active user with an email in one of the gate's owner
   roles, and the email of each team whose service has a failing or at-risk row
   in the previous or the new evaluation (the teams the change concerns). Rows
   are unique per (previous evaluation, destination), so two evaluations racing
   from the same previous one notify once. Delivery is enqueued on commit.

Delivering (`deliver_notification`): once, even if retried
-----------------------------------------------------------
The rows are an outbox (opsgov.outbox, `NOTIFICATIONS`): each is claimed before
its email is sent and its outcome recorded only while the claim is held, so a
redelivered task, a retry or the sweeper (`due_notification_evaluations`, every
minute from beat) never send a message twice. A failed attempt waits as
"pending" for its retry after 1, 2, 4, 8 minutes; after 5 attempts the row is
"failed" (`POLICY`). Emails have a text and an HTML part
(templates/opsgov/gates/email/).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ..models import GateEvaluation, GateNotification, GateNotificationStatus, GateStatus, GateWaiver, Service
from ..outbox import Outbox, OutboxPolicy
from ..registry import Evidence, Gate, GateResult, gates

logger = logging.getLogger(__name__)

#: How bad a status is, for "the worst row". Waived sits between pass and at risk: it is not a pass.
SEVERITY: dict[str, int] = {
    GateStatus.PASS: 0,
    GateStatus.WAIVED: 1,
    GateStatus.AT_RISK: 2,
    GateStatus.FAIL: 3,
}
#: Statuses of a row that a waiver can cover.
WAIVABLE = frozenset({GateStatus.FAIL, GateStatus.AT_RISK})
REASON_LIMIT = 500

#: The outbox's default numbers (opsgov.outbox.OutboxPolicy): five attempts 1, 2, 4, 8 minutes apart, a
#: 3-minute lease, a new row left 30 s to its on-commit enqueue; a failed attempt waits as "pending".
POLICY = OutboxPolicy(retry_status=GateNotificationStatus.PENDING)
NOTIFICATIONS: Outbox[GateNotification] = Outbox(GateNotification, POLICY)
#: The task that delivers the notifications of one status change (opsgov.gates.tasks), published by name.
DELIVERY_TASK = "opsgov.gate_tasks.deliver_gate_notifications"
#: At most this many problem rows are listed in an email; the page has them all.
EMAIL_ROWS = 20


# --- Waivers --------------------------------------------------------------------------------


def active_waivers(gate_keys: Iterable[str], *, now: datetime) -> list[GateWaiver]:
    """Waivers in force at `now` for the gates named: approved, not revoked, not expired (one query)."""
    return list(
        GateWaiver.objects.filter(
            gate__in=list(gate_keys), revoked_at__isnull=True, approved_at__isnull=False, expires_at__gt=now
        )
        .select_related("service", "approver")
        .order_by("expires_at", "pk")
    )


def _worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda status: SEVERITY.get(status, 0), default=GateStatus.PASS)


def _waiver_json(waiver: GateWaiver, original: str) -> dict[str, Any]:
    return {
        "id": waiver.pk,
        "expires_at": waiver.expires_at.isoformat(),
        "approver": waiver.approver.get_username(),
        "status": str(original),
    }


def apply_waivers(result: GateResult, waivers: Sequence[GateWaiver]) -> GateResult:
    """`result` with the rows covered by `waivers` shown as waived and the status recomputed (module docstring).

    `waivers` must be in force (see `active_waivers`); those of other gates are the caller's to leave out.
    """
    if result.status == GateStatus.NO_EVIDENCE or not waivers or not result.evidence:
        return result
    # A waiver without a service covers the organisation-wide row of its key: the row's service is "".
    by_check = {
        (waiver.evidence_key, waiver.service.slug if waiver.service is not None else ""): waiver for waiver in waivers
    }
    rows: list[Evidence] = []
    waived: list[tuple[Evidence, GateWaiver]] = []
    for row in result.evidence:
        waiver = by_check.get((row.key, row.service or "")) if row.key else None
        if waiver is not None and row.status in WAIVABLE:
            rows.append(replace(row, status=GateStatus.WAIVED, waiver=_waiver_json(waiver, row.status)))
            waived.append((row, waiver))
        else:
            rows.append(row)
    if not waived:
        return result
    worst_all = _worst(row.status for row in result.evidence)
    # A verdict the rows do not explain stays: waivers lift rows, not the gate's own judgement.
    unexplained = result.status if SEVERITY.get(result.status, 0) > SEVERITY.get(worst_all, 0) else GateStatus.PASS
    remaining = _worst([*(row.status for row in rows if row.status != GateStatus.WAIVED), unexplained])
    count = len(waived)
    checks = f"{count} waived check{'s' if count != 1 else ''}"
    # A row left without evidence (severity 0, like a pass) must not end up behind "waived": a waiver lifts a
    # problem, it does not supply the evidence the gate lacks.
    missing = [row.label for row in rows if row.status == GateStatus.NO_EVIDENCE]
    if SEVERITY.get(remaining, 0) > SEVERITY[GateStatus.WAIVED]:
        status = GateStatus(remaining)
        reason = f"{result.reason} ({checks} not counted)"
    elif missing:
        status = GateStatus.NO_EVIDENCE
        reason = f"No evidence: {'; '.join(missing)} ({checks} not counted)"
    else:
        status = GateStatus.WAIVED
        first_expiry = min(waiver.expires_at for _, waiver in waived)
        labels = "; ".join(row.label for row, _ in waived)
        reason = (
            f"Passes only because of {checks} (first expiry {timezone.localtime(first_expiry):%Y-%m-%d %H:%M}): "
            f"{labels}"
        )
    return GateResult(status=status, reason=reason[:REASON_LIMIT], evidence=rows)


# --- Evaluating -----------------------------------------------------------------------------


def _run(gate: Gate, now: datetime) -> GateResult:
    try:
        with transaction.atomic():  # a savepoint: a gate's database error leaves ours usable
            return gate.evaluate(now=now)
    except Exception as exc:  # one broken gate must not stop the others, nor look like a pass
        logger.exception("Gate %s could not be evaluated", gate.key)
        return GateResult(status=GateStatus.NO_EVIDENCE, reason=f"Could not evaluate: {type(exc).__name__}: {exc}")


def previous_evaluation(gate_key: str) -> GateEvaluation | None:
    return GateEvaluation.objects.filter(gate=gate_key).order_by("-evaluated_at", "-pk").first()


@transaction.atomic
def evaluate_gate(*, gate: Gate, now: datetime | None = None) -> GateEvaluation:
    """Evaluate one gate now, apply its waivers, store the evaluation and notify a status change."""
    now = now or timezone.now()
    result = apply_waivers(_run(gate, now), active_waivers([gate.key], now=now))
    previous = previous_evaluation(gate.key)
    evaluation = GateEvaluation.objects.create(
        gate=gate.key,
        status=result.status,
        reason=result.reason[:REASON_LIMIT],
        evidence=[row.as_json() for row in result.evidence],
        evaluated_at=now,
        previous_status=previous.status if previous is not None else "",
        status_changed=previous is None or previous.status != result.status,
    )
    if previous is not None and previous.status != evaluation.status:
        notify_change(gate=gate, evaluation=evaluation, previous=previous, now=now)
    return evaluation


def evaluate_gates(*, now: datetime | None = None, keys: list[str] | None = None) -> list[GateEvaluation]:
    """Evaluate the registered gates (all, or those named), each in its own transaction, in seed order."""
    now = now or timezone.now()
    return [evaluate_gate(gate=gate, now=now) for gate in gates.all() if keys is None or gate.key in keys]


# --- Notifying ------------------------------------------------------------------------------


def _problem_services(evaluation: GateEvaluation) -> set[str]:
    return {
        str(row.get("service"))
        for row in evaluation.evidence or []
        if row.get("service") and row.get("status") in WAIVABLE
    }


def notify_change(
    *, gate: Gate, evaluation: GateEvaluation, previous: GateEvaluation, now: datetime
) -> list[GateNotification]:
    """Create the notifications of a status change and enqueue their delivery on commit (module docstring)."""
    user_model = get_user_model()
    owners = (
        user_model.objects.filter(groups__name__in=gate.owner_roles, is_active=True)
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )
    slugs = _problem_services(previous) | _problem_services(evaluation)
    services = Service.objects.filter(slug__in=slugs).select_related("owner_team").order_by("slug")
    rows: dict[str, GateNotification] = {}

    def add(destination: str, **who: Any) -> None:
        address = destination.strip()
        if address and address.lower() not in rows:
            rows[address.lower()] = GateNotification(
                gate=gate.key,
                evaluation=evaluation,
                previous_evaluation=previous,
                destination=address,
                next_attempt_at=NOTIFICATIONS.first_attempt_at(now),
                created_at=now,
                **who,
            )

    for user in owners:
        add(user.email, recipient=user)
    for service in services:
        add(service.owner_team.email, team=service.owner_team)
    # Racing evaluations from the same previous one: the first to commit notifies, the other adds nothing.
    GateNotification.objects.bulk_create(list(rows.values()), ignore_conflicts=True)
    NOTIFICATIONS.enqueue_on_commit(DELIVERY_TASK, [evaluation.pk], what=_DELIVERY_OF)
    return list(rows.values())


#: How a failed publish is logged ("Could not enqueue ...", opsgov.publishing).
_DELIVERY_OF = "gate notifications of evaluation %s"


def enqueue_deliveries(evaluation_ids: Iterable[int]) -> int:
    """Publish the delivery task for each id; stops at the first broker error (the sweeper retries).

    Returns how many were published.
    """
    return NOTIFICATIONS.enqueue(DELIVERY_TASK, evaluation_ids, what=_DELIVERY_OF)


def gate_title(key: str) -> str:
    return gates.get(key).title if key in gates else key


def absolute_url(path: str) -> str:
    return settings.OPSGOV_BASE_URL.rstrip("/") + path


def email_context(notification: GateNotification) -> dict[str, Any]:
    evaluation = notification.evaluation
    before = GateStatus(notification.previous_evaluation.status) if notification.previous_evaluation else None
    after = GateStatus(evaluation.status)
    title = gate_title(notification.gate)
    problems = [row for row in evaluation.evidence or [] if row.get("status") in (*WAIVABLE, GateStatus.WAIVED)]
    problems.sort(key=lambda row: -SEVERITY.get(row.get("status", ""), 0))
    listed = [
        {
            **row,
            "status_label": GateStatus(row["status"]).label if row.get("status") in GateStatus.values else "",
            "absolute_url": absolute_url(row["url"]) if str(row.get("url", "")).startswith("/") else row.get("url"),
        }
        for row in problems[:EMAIL_ROWS]
    ]
    recipient = notification.recipient
    # An ASCII subject: some clients show a folded, encoded one with a leading space.
    change = f"{after.label} (was {before.label})" if before else str(after.label)
    return {
        "subject": f"[opsgov] {title}: {change}",
        "title": title,
        "before": before.label if before else "",
        "after": after.label,
        "after_status": after.value,
        "evaluation": evaluation,
        "rows": listed,
        "more_rows": max(len(problems) - EMAIL_ROWS, 0),
        "gate_url": absolute_url(reverse("gate-detail", kwargs={"key": notification.gate})),
        "recipient_name": (recipient.get_full_name() or recipient.get_username()) if recipient is not None else "",
        "team": notification.team,
        "why": (
            f"your role owns the gate ({', '.join(gates.get(notification.gate).owner_roles)})"
            if recipient is not None and notification.gate in gates
            else "a service of your team is part of this change"
        ),
    }


def build_email(notification: GateNotification) -> EmailMultiAlternatives:
    context = email_context(notification)
    message = EmailMultiAlternatives(
        subject=context["subject"],
        body=render_to_string("opsgov/gates/email/status_change.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.destination],
        headers={
            "Auto-Submitted": "auto-generated",
            "X-Opsgov-Gate": notification.gate,
            "X-Opsgov-Delivery": f"gate-{notification.pk}",
        },
    )
    message.attach_alternative(render_to_string("opsgov/gates/email/status_change.html", context), "text/html")
    return message


def claim(notification_id: int, *, now: datetime) -> bool:
    """Take a notification for one attempt: a new one, a retry whose time came, or a lost send after its lease."""
    return NOTIFICATIONS.claim(notification_id, now=now)


def deliver_notification(*, notification_id: int, now: datetime | None = None) -> str | None:
    """One attempt at sending a notification if it can be claimed; returns its new status (None: nothing to do)."""
    now = now or timezone.now()
    if not claim(notification_id, now=now):
        return None
    notification = GateNotification.objects.select_related(
        "evaluation", "previous_evaluation", "recipient", "team"
    ).get(pk=notification_id)
    error = ""
    try:
        if build_email(notification).send(fail_silently=False) != 1:
            error = "the email backend did not send the message"
    except Exception as exc:  # every failure is a failed attempt, recorded and retried, never raised
        logger.warning("Gate notification %s failed: %s: %s", notification_id, type(exc).__name__, exc)
        error = f"{type(exc).__name__}: {exc}"
    return NOTIFICATIONS.record(notification, error=error[:1000], now=now).status


def deliver_for_evaluation(*, evaluation_id: int, now: datetime | None = None) -> dict[str, int]:
    """Try every due notification of one status change; returns how many ended in each status."""
    ids = list(
        GateNotification.objects.filter(
            evaluation_id=evaluation_id,
            status__in=[GateNotificationStatus.PENDING, GateNotificationStatus.SENDING],
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    outcome: dict[str, int] = {}
    for notification_id in ids:
        status = deliver_notification(notification_id=notification_id, now=now)
        if status is not None:
            outcome[status] = outcome.get(status, 0) + 1
    return outcome


def due_notification_evaluations(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Evaluations with notifications to (re)try now: pending past their time, or sends whose lease ran out.

    Lost sends that used their last attempt are marked failed here instead.
    """
    now = now or timezone.now()
    NOTIFICATIONS.fail_lost(now=now, error="the last attempt was lost")
    due = NOTIFICATIONS.due(now=now).order_by("evaluation_id").values_list("evaluation_id", flat=True).distinct()
    return list(due[:limit])
