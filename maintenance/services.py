"""Writes of the maintenance area: windows, freezes, change records and their approvals, change events from CI,
maintenance logs, hosts and their patch reports (obligations).

Every function takes keyword-only arguments, validates with ``full_clean()``,
runs in one transaction and raises :class:`opsgov.errors.DomainError` (a 400
with the field) for a broken business rule. Instants are opsgov's: a change
event's ``timestamp`` and a history log's dates are data, kept and shown.

Approvals (the seed's "Approvals"): the Product Owner approves windows; a
normal change needs the Tech Lead's technical validation, or the Security
Lead's for a security patch; a change outside its services' approved windows
or inside a freeze needs a conflict approval (Product Owner); a normal change
to a service whose availability budget is spent needs the SRE Lead's. A
standard change is pre-approved (only a conflict needs approval); an emergency
change may be implemented first and approved within the policy's
``maintenance.emergency_approval_within``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from opsgov import pings, ratelimit
from opsgov.errors import DomainError
from opsgov.models import Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import error_budgets, security
from opsgov.roles import DEVOPS_LEAD, PRODUCT_OWNER, SECURITY_LEAD, SRE_LEAD, TECH_LEAD

from . import compliance, parsing, recurrence
from .models import (
    STATE_ORDER,
    ApprovalReason,
    ChangeApproval,
    ChangeCategory,
    ChangeIncidentLink,
    ChangeIntegration,
    ChangeKind,
    ChangeOutcome,
    ChangeRecord,
    ChangeSource,
    ChangeState,
    ChangeTemplate,
    Component,
    EndOfLife,
    FreezePeriod,
    Host,
    LogOutcome,
    LogSource,
    MaintenanceAutomation,
    MaintenanceLog,
    MaintenanceWindow,
    ObligationSource,
    PatchClass,
    PatchObligation,
    PatchReport,
    UpgradePlan,
)

#: Who gives each approval.
APPROVER_ROLES: dict[str, str] = {
    ApprovalReason.TECHNICAL: TECH_LEAD,
    ApprovalReason.SECURITY: SECURITY_LEAD,
    ApprovalReason.CONFLICT: PRODUCT_OWNER,
    ApprovalReason.ERROR_BUDGET: SRE_LEAD,
}

User = AbstractBaseUser | AnonymousUser


def has_role(user: Any, role: str) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser or user.groups.filter(name=role).exists())


def _clean(instance: Any, exclude: Sequence[str] = ()) -> None:
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise DomainError(f"{field}: {' '.join(messages)}", field=None if field == "__all__" else field) from None


# --- Windows and freezes ------------------------------------------------------------------------------------


def create_window(
    *,
    name: str,
    services: Iterable[Service],
    first_start: datetime,
    duration: timedelta,
    timezone_name: str = "UTC",
    kind: str = "rrule",
    rrule: str = "",
    cron: str = "",
    notes: str = "",
) -> MaintenanceWindow:
    """A new window, not yet approved (inactive until a Product Owner approves it)."""
    services = list(services)
    if not services:
        raise DomainError("A window covers at least one service.", field="services")
    window = MaintenanceWindow(
        name=name,
        first_start=first_start,
        duration=duration,
        timezone=timezone_name,
        kind=kind,
        rrule=rrule,
        cron=cron,
        notes=notes,
    )
    _clean(window)
    with transaction.atomic():
        window.save()
        window.services.set(services)
    return window


def approve_window(*, window: MaintenanceWindow, user: Any, now: datetime | None = None) -> MaintenanceWindow:
    if not has_role(user, PRODUCT_OWNER):
        raise DomainError("Only a Product Owner approves maintenance windows.")
    with transaction.atomic():
        locked = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
        if locked.withdrawn_at is not None:
            raise DomainError("A withdrawn window cannot be approved; create a new one.", field="window")
        if locked.approved_at is None:
            locked.approved_by = user
            locked.approved_at = now or timezone.now()
            locked.save(update_fields=["approved_by", "approved_at", "updated_at"])
    return locked


#: What an edit may change; changing any of them withdraws the Product Owner's approval.
WINDOW_EDITABLE = ("name", "services", "first_start", "duration", "timezone", "kind", "rrule", "cron", "notes")
#: Edits that do not change when or what a window covers keep its approval.
_WINDOW_NEUTRAL = ("name", "notes")


def edit_window(*, window: MaintenanceWindow, changes: dict[str, Any], user: Any = None) -> MaintenanceWindow:
    """Change a window (the fields of WINDOW_EDITABLE). An approved window whose timing or services change needs
    a Product Owner's approval again: until then it is inactive. The audit trail keeps every version."""
    unknown = set(changes) - set(WINDOW_EDITABLE)
    if unknown:
        raise DomainError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    with transaction.atomic():
        locked = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
        if locked.withdrawn_at is not None:
            raise DomainError("A withdrawn window cannot be edited.", field="window")
        material = False
        services = changes.get("services")
        if services is not None:
            services = list(services)
            if not services:
                raise DomainError("A window covers at least one service.", field="services")
            if {s.pk for s in services} != set(locked.services.values_list("pk", flat=True)):
                material = True
        for field, value in changes.items():
            if field == "services":
                continue
            if getattr(locked, field) != value:
                setattr(locked, field, value)
                material = material or field not in _WINDOW_NEUTRAL
        if locked.kind == "rrule":
            locked.cron = ""
        elif locked.kind == "cron":
            locked.rrule = ""
        _clean(locked)
        if material and locked.approved_at is not None:
            locked.approved_at = None
            locked.approved_by = None
        locked.save()
        if services is not None:
            locked.services.set(services)
    return locked


def withdraw_window(
    *, window: MaintenanceWindow, user: Any, reason: str, now: datetime | None = None
) -> MaintenanceWindow:
    """Withdraw a window (DevOps Lead or Product Owner): it no longer counts for conflicts, the gate, paging or
    the calendar; the record stays, with who withdrew it, when and why."""
    if not (has_role(user, DEVOPS_LEAD) or has_role(user, PRODUCT_OWNER)):
        raise DomainError("A DevOps Lead or a Product Owner withdraws maintenance windows.")
    if not reason.strip():
        raise DomainError("Say why the window is withdrawn.", field="reason")
    with transaction.atomic():
        locked = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
        if locked.withdrawn_at is not None:
            raise DomainError("This window is already withdrawn.", field="window")
        locked.withdrawn_at = now or timezone.now()
        locked.withdrawn_by = user
        locked.withdraw_reason = reason.strip()
        locked.save(update_fields=["withdrawn_at", "withdrawn_by", "withdraw_reason", "updated_at"])
    return locked


def create_freeze(
    *,
    name: str,
    services: Iterable[Service] = (),
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    freeze_start: str = "",
    freeze_end: str = "",
    timezone_name: str = "UTC",
    reason: str = "",
) -> FreezePeriod:
    """A freeze: one-off (starts_at, ends_at) or recurring (a pair of cron expressions in a time zone)."""
    kind = "cron" if (freeze_start or freeze_end) else "once"
    freeze = FreezePeriod(
        name=name,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        freeze_start=freeze_start,
        freeze_end=freeze_end,
        timezone=timezone_name,
        reason=reason,
    )
    _clean(freeze)
    with transaction.atomic():
        freeze.save()
        freeze.services.set(list(services))
    return freeze


@dataclass(frozen=True)
class Conflicts:
    outside_window: bool
    in_freeze: bool
    window: MaintenanceWindow | None
    freezes: list[FreezePeriod]


def check_conflicts(*, service_ids: Sequence[int], start: datetime, end: datetime | None) -> Conflicts:
    """Whether [start, end) lies inside an approved window of every service, and which freezes it overlaps."""
    end = end if end is not None and end > start else start + timedelta(minutes=1)
    windows = list(
        MaintenanceWindow.objects.active().filter(services__id__in=service_ids).distinct().prefetch_related("services")
    )
    covering: MaintenanceWindow | None = None
    outside = False
    for service_id in service_ids:
        found = None
        for window in windows:
            if service_id not in {s.pk for s in window.services.all()}:
                continue
            if any(s <= start and end <= e for s, e in window.occurrences(start, end)):
                found = window
                break
        if found is None:
            outside = True
        covering = covering or found
    freezes = [
        freeze
        for freeze in FreezePeriod.objects.filter(Q(services__isnull=True) | Q(services__id__in=service_ids)).distinct()
        if freeze.occurrences(start, end)
    ]
    return Conflicts(
        outside_window=outside, in_freeze=bool(freezes), window=None if outside else covering, freezes=freezes
    )


def window_open(*, service_id: int, at: datetime) -> bool:
    """Whether an approved window of the service is open at `at` (opsgov.registry.maintenance.in_window)."""
    for window in MaintenanceWindow.objects.active().filter(services__id=service_id):
        if window.occurrences(at, at + timedelta(seconds=1)):
            return True
    return False


# --- Change records ----------------------------------------------------------------------------------------


def required_approvals(change: ChangeRecord) -> list[str]:
    """The approvals `change` needs, by reason."""
    needed: list[str] = []
    if change.kind != ChangeKind.STANDARD:
        needed.append(
            ApprovalReason.SECURITY if change.category == ChangeCategory.SECURITY_PATCH else ApprovalReason.TECHNICAL
        )
        if change.kind == ChangeKind.NORMAL and change.budget_spent:
            needed.append(ApprovalReason.ERROR_BUDGET)
    if change.outside_window or change.in_freeze:
        needed.append(ApprovalReason.CONFLICT)
    return needed


def missing_approvals(change: ChangeRecord) -> list[str]:
    given = {approval.reason for approval in change.approvals.all()}
    return [reason for reason in required_approvals(change) if reason not in given]


def _flag(change: ChangeRecord, *, now: datetime) -> None:
    """Set the conflict and error-budget flags from the planned (else actual) times."""
    ids = list(change.services.values_list("pk", flat=True))
    spent = error_budgets.spent(service_ids=ids, now=now)
    change.budget_spent = any(spent.get(i, False) for i in ids)
    start = change.planned_start or change.actual_start
    if start is None:
        return
    end = change.planned_end if change.planned_start else change.actual_end
    conflicts = check_conflicts(service_ids=ids, start=start, end=end)
    # A standard change (a CI deploy) is pre-approved whenever it runs; only a freeze stops it.
    change.outside_window = conflicts.outside_window and change.kind != ChangeKind.STANDARD
    # An emergency change is allowed during a freeze: that is what emergencies are.
    change.in_freeze = conflicts.in_freeze and change.kind != ChangeKind.EMERGENCY
    if change.window is None and conflicts.window is not None:
        change.window = conflicts.window


def template_approver_role(category: str) -> str:
    return SECURITY_LEAD if category == ChangeCategory.SECURITY_PATCH else TECH_LEAD


def create_template(
    *,
    name: str,
    services: Iterable[Service],
    category: str = ChangeCategory.TECHNICAL,
    description: str = "",
    risk: str = "low",
    backout_plan: str = "",
) -> ChangeTemplate:
    """A standard-change template, not yet approved (unusable until the lead of its category approves it)."""
    services = list(services)
    if not services:
        raise DomainError("A template covers at least one service.", field="services")
    template = ChangeTemplate(
        name=name, category=category, description=description, risk=risk, backout_plan=backout_plan
    )
    _clean(template)
    with transaction.atomic():
        template.save()
        template.services.set(services)
    return template


def approve_template(*, template: ChangeTemplate, user: Any, now: datetime | None = None) -> ChangeTemplate:
    """Pre-approve a template once (the Tech Lead; the Security Lead for security patches)."""
    role = template_approver_role(template.category)
    if not has_role(user, role):
        raise DomainError(f"A {role} approves templates of {template.get_category_display().lower()}.")
    with transaction.atomic():
        locked = ChangeTemplate.objects.select_for_update().get(pk=template.pk)
        if locked.retired_at is not None:
            raise DomainError("A retired template cannot be approved.", field="template")
        if locked.approved_at is None:
            locked.approved_by = user
            locked.approved_at = now or timezone.now()
            locked.save(update_fields=["approved_by", "approved_at", "updated_at"])
    return locked


def retire_template(*, template: ChangeTemplate, now: datetime | None = None) -> ChangeTemplate:
    """A retired template creates no more changes; the changes made from it keep it."""
    with transaction.atomic():
        locked = ChangeTemplate.objects.select_for_update().get(pk=template.pk)
        if locked.retired_at is None:
            locked.retired_at = now or timezone.now()
            locked.save(update_fields=["retired_at", "updated_at"])
    return locked


def create_change(
    *,
    title: str = "",
    services: Iterable[Service] = (),
    kind: str = ChangeKind.NORMAL,
    category: str = ChangeCategory.TECHNICAL,
    description: str = "",
    risk: str = "low",
    backout_plan: str = "",
    planned_start: datetime | None = None,
    planned_end: datetime | None = None,
    template: ChangeTemplate | None = None,
    user: Any = None,
    now: datetime | None = None,
) -> ChangeRecord:
    """A new change. A standard change comes from a pre-approved `template` (its category, risk and backout plan;
    its services or some of them; its name as the title unless one is given) and needs no authorisation."""
    now = now or timezone.now()
    services = list(services)
    if template is not None:
        if not template.usable:
            raise DomainError(f"The template {template.name!r} is not approved (or is retired).", field="template")
        allowed = {s.pk for s in template.services.all()}
        services = services or list(template.services.all())
        outside = [s.slug for s in services if s.pk not in allowed]
        if outside:
            raise DomainError(f"The template does not cover {', '.join(outside)}.", field="services")
        kind = ChangeKind.STANDARD
        category = template.category
        risk = template.risk
        backout_plan = backout_plan or template.backout_plan
        title = title or template.name
        description = description or template.description
    elif kind == ChangeKind.STANDARD:
        raise DomainError("A standard change is created from a pre-approved template.", field="template")
    if not title.strip():
        raise DomainError("A change needs a title.", field="title")
    if not services:
        raise DomainError("A change touches at least one service.", field="services")
    if kind != ChangeKind.STANDARD and not backout_plan.strip() and kind == ChangeKind.NORMAL and risk != "low":
        raise DomainError("A normal change above low risk needs a backout plan.", field="backout_plan")
    change = ChangeRecord(
        title=title,
        description=description,
        kind=kind,
        category=category,
        risk=risk,
        backout_plan=backout_plan,
        planned_start=planned_start,
        planned_end=planned_end,
        template=template,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    _clean(change, exclude=["window", "integration", "created_by", "template"])
    with transaction.atomic():
        change.save()
        change.services.set(services)
        _flag(change, now=now)
        change.save()
    return change


def _allowed(change: ChangeRecord, to_state: str) -> bool:
    if to_state == ChangeState.CANCELLED:
        return change.state not in (ChangeState.CLOSED, ChangeState.CANCELLED)
    if change.state not in STATE_ORDER or to_state not in STATE_ORDER:
        return False
    here, there = STATE_ORDER.index(change.state), STATE_ORDER.index(to_state)
    if there == here + 1:
        return True
    if change.state == ChangeState.NEW and change.kind == ChangeKind.STANDARD and to_state == ChangeState.SCHEDULED:
        return True
    return change.state == ChangeState.NEW and change.kind == ChangeKind.EMERGENCY and to_state == ChangeState.IMPLEMENT


def advance_change(
    *,
    change: ChangeRecord,
    to_state: str,
    user: Any = None,
    outcome: str = "",
    now: datetime | None = None,
) -> ChangeRecord:
    """Move a change one step along new → assess → authorise → scheduled → implement → review → closed.

    Scheduling recomputes the conflict flags and needs every required approval
    (an emergency change may be approved afterwards); implement and review
    stamp the actual start and end; closing needs an outcome.
    """
    now = now or timezone.now()
    with transaction.atomic():
        change = ChangeRecord.objects.select_for_update().get(pk=change.pk)
        if not _allowed(change, to_state):
            raise DomainError(f"A {change.kind} change cannot move from {change.state} to {to_state}.", field="state")
        if to_state == ChangeState.SCHEDULED:
            if change.planned_start is None or change.planned_end is None:
                raise DomainError("Plan the start and end before scheduling.", field="planned_start")
            _flag(change, now=now)
            missing = missing_approvals(change)
            if missing:
                raise DomainError(f"Missing approvals: {', '.join(missing)}.", field="approvals")
        if to_state == ChangeState.IMPLEMENT:
            change.actual_start = change.actual_start or now
            if change.kind == ChangeKind.EMERGENCY and change.planned_start is None:
                _flag(change, now=now)
        if to_state == ChangeState.REVIEW:
            change.actual_end = change.actual_end or now
        if to_state == ChangeState.CLOSED and outcome not in ChangeOutcome.values and not change.outcome:
            raise DomainError("Closing a change needs its outcome (successful, failed, backed_out).", field="outcome")
        if outcome:
            if outcome not in ChangeOutcome.values:
                raise DomainError(f"Unknown outcome {outcome!r}.", field="outcome")
            change.outcome = outcome
        change.state = to_state
        change.save()
    return change


def approve_change(
    *, change: ChangeRecord, reason: str, user: Any, comment: str = "", now: datetime | None = None
) -> ChangeApproval:
    now = now or timezone.now()
    if reason not in APPROVER_ROLES:
        raise DomainError(f"Unknown approval reason {reason!r}.", field="reason")
    role = APPROVER_ROLES[reason]
    if not has_role(user, role):
        raise DomainError(f"This approval ({reason}) is given by a {role}.", field="reason")
    if reason not in required_approvals(change):
        raise DomainError(f"{change.number} does not need a {reason} approval.", field="reason")
    try:
        with transaction.atomic():
            return ChangeApproval.objects.create(
                change=change, reason=reason, role=role, approved_by=user, approved_at=now, comment=comment
            )
    except IntegrityError:
        raise DomainError(f"{change.number} already has its {reason} approval.", field="reason") from None


# --- Change events from CI -----------------------------------------------------------------------------------


def create_change_integration(*, name: str, service: Service) -> tuple[ChangeIntegration, str]:
    integration = ChangeIntegration(name=name, service=service)
    token = integration.set_new_token()
    _clean(integration, exclude=["token_hash", "token_prefix"])
    integration.save()
    return integration, token


def record_change_event(
    *,
    integration: ChangeIntegration,
    summary: str,
    source: str = "",
    sender_timestamp: datetime | None = None,
    details: dict[str, Any] | None = None,
    links: list[dict[str, str]] | None = None,
    received_at: datetime | None = None,
) -> tuple[ChangeRecord, bool]:
    """A standard change (a deploy) from a PagerDuty change event; (change, created). The same sender
    change id (custom_details.change_id) again returns the change already recorded."""
    received_at = received_at or timezone.now()
    details = details or {}
    external_id = str(details.get("change_id") or "")[:255]
    with transaction.atomic():
        if external_id:
            existing = ChangeRecord.objects.filter(integration=integration, external_id=external_id).first()
            if existing is not None:
                return existing, False
        description = f"Source: {source}" if source else ""
        change = ChangeRecord.objects.create(
            title=summary,
            description=description,
            kind=ChangeKind.STANDARD,
            category=ChangeCategory.DEPLOY,
            state=ChangeState.CLOSED,
            outcome=ChangeOutcome.SUCCESSFUL,
            actual_start=received_at,
            actual_end=received_at,
            source=ChangeSource.PAGERDUTY,
            external_id=external_id,
            links=links or [],
            details=details,
            sender_timestamp=sender_timestamp,
            integration=integration,
        )
        change.services.set([integration.service])
        _flag(change, now=received_at)
        change.save()
    return change, True


# --- Changes and incidents ----------------------------------------------------------------------------------


def link_incident(
    *, incident_id: int, service_id: int, triggered_at: datetime, label: str, url: str
) -> list[dict[str, str]]:
    """Link an incident to the changes on its service that started within the policy period before it."""
    within = get_policy().maintenance.change_incident_link_within.as_timedelta()
    changes = ChangeRecord.objects.filter(
        services__id=service_id, actual_start__lte=triggered_at, actual_start__gte=triggered_at - within
    ).exclude(state=ChangeState.CANCELLED)
    linked: list[dict[str, str]] = []
    for change in changes:
        _, created = ChangeIncidentLink.objects.get_or_create(
            change=change,
            incident_id=incident_id,
            defaults={
                "service_id": service_id,
                "triggered_at": triggered_at,
                "incident_label": label[:255],
                "incident_url": url[:255],
            },
        )
        if created:
            linked.append({"number": change.number, "title": change.title[:200], "url": change.get_absolute_url()})
    return linked


# --- Maintenance logs (the cadences) --------------------------------------------------------------------------


def record_log(
    *,
    service: Service,
    activity: str,
    performed_at: datetime,
    duration: timedelta | None,
    outcome: str = LogOutcome.DONE,
    notes: str = "",
    change: ChangeRecord | None = None,
    source: str = LogSource.MANUAL,
    user: Any = None,
) -> MaintenanceLog:
    activities = get_policy().maintenance.activities
    if activity not in activities:
        raise DomainError(f"Unknown activity {activity!r} (the policy has: {', '.join(activities)}).", field="activity")
    if duration is None or duration <= timedelta(0):
        raise DomainError("Give the duration, how long it took (positive).", field="duration")
    if performed_at > timezone.now() + timedelta(minutes=5):
        raise DomainError("Maintenance is logged once it was performed, not in the future.", field="performed_at")
    flag = duration_flag(activity, duration)
    log = MaintenanceLog(
        service=service,
        activity=activity,
        performed_at=performed_at,
        duration=duration,
        outcome=outcome,
        notes=notes,
        change=change,
        source=source,
        performed_by=user if getattr(user, "is_authenticated", False) else None,
        duration_flag=flag,
    )
    _clean(log, exclude=["performed_by", "change"])
    with transaction.atomic():
        log.save()
    return log


def duration_flag(activity: str, duration: timedelta | None) -> str:
    """ "short" or "long" when `duration` falls outside the policy's range for `activity`; "" otherwise."""
    policy = get_policy().maintenance.activities.get(activity)
    if policy is None or duration is None:
        return ""
    if policy.duration_min and duration < policy.duration_min.approximate():
        return "short"
    if policy.duration_max and duration > policy.duration_max.approximate():
        return "long"
    return ""


# --- Automation by ping -------------------------------------------------------------------------------------

#: Pings beyond this rate per automation get 429. A job pings a few times per run; 30 a minute is plenty.
PING_RATE = ratelimit.Rate(30, 60)
#: The most of a ping body kept in the log's notes.
PING_NOTES_LIMIT = 4000


def create_automation(*, name: str, service: Service, activity: str) -> MaintenanceAutomation:
    """A job that reports an activity of `service` by pinging /ping/<uuid> (or posting a log through the API)."""
    activities = get_policy().maintenance.activities
    if activity not in activities:
        raise DomainError(f"Unknown activity {activity!r} (the policy has: {', '.join(activities)}).", field="activity")
    automation = MaintenanceAutomation(name=name, service=service, activity=activity)
    _clean(automation)
    automation.save()
    return automation


def handle_ping(ping: pings.Ping) -> pings.PingResult | None:
    """maintenance's receiver of opsgov.pings: None for a uuid that is no automation's; 429 beyond PING_RATE."""
    with transaction.atomic():
        automation = MaintenanceAutomation.objects.select_for_update().filter(uuid=ping.uuid).first()
        if automation is None:
            return None
        verdict = pings.admit("maintenance", ping.uuid, PING_RATE, counted=ping.counted)
        if not verdict.allowed:
            return pings.PingResult(accepted=False, retry_after=verdict.retry_after)
        record_automation_ping(automation=automation, ping=ping)
    return pings.PingResult()


def record_automation_ping(*, automation: MaintenanceAutomation, ping: pings.Ping) -> MaintenanceLog | None:
    """Apply one ping: /start opens a run; an end (success, /fail, an exit status) logs the occurrence, done or
    failed, timed from the open run's start when there is one (with the same ?rid= when the end has one), else
    of unknown duration; /log only counts. Returns the log written, if any."""
    now = ping.received_at
    with transaction.atomic():
        automation = MaintenanceAutomation.objects.select_for_update().get(pk=automation.pk)
        automation.n_pings += 1
        automation.last_ping_at = now
        log: MaintenanceLog | None = None
        if not automation.enabled or ping.kind == "log":
            pass
        elif ping.kind == "start":
            automation.started_at = now
            automation.start_rid = ping.rid
        else:
            started = automation.started_at
            if started is not None and ping.rid is not None and automation.start_rid not in (None, ping.rid):
                started = None  # the end of another run than the one open
            duration = now - started if started is not None and now > started else None
            notes = ping.body[:PING_NOTES_LIMIT].decode("utf-8", errors="replace").strip()
            if ping.exit_status is not None:
                notes = f"exit status {ping.exit_status}" + (f"\n{notes}" if notes else "")
            if duration is None:
                notes = "Duration unknown: no /start ping before this end." + (f"\n{notes}" if notes else "")
            log = MaintenanceLog.objects.create(
                service=automation.service,
                activity=automation.activity,
                performed_at=started or now,
                duration=duration,
                outcome=LogOutcome.DONE if ping.kind == "success" else LogOutcome.FAILED,
                notes=notes,
                source=LogSource.AUTOMATION,
                automation=automation,
                duration_flag=duration_flag(automation.activity, duration),
            )
            if started is not None:
                automation.started_at = None
                automation.start_rid = None
        automation.save()
    return log


# --- Hosts and patch reports ----------------------------------------------------------------------------------

_DATABASE_PACKAGES = ("postgresql", "mysql", "mariadb", "redis", "mongodb", "libpq")
_INFRASTRUCTURE_PACKAGES = ("docker", "containerd", "kube", "runc", "nginx", "haproxy", "openssh-server")


def classify_package(package: str, *, security: bool) -> str:
    """The policy's patch class of a pending apt update: security origins are security patches
    (class security_critical, 48 h by default); database servers, container and edge infrastructure have
    their own cadence; the rest are OS patches."""
    if security:
        return PatchClass.SECURITY_CRITICAL
    if package.startswith(_DATABASE_PACKAGES):
        return PatchClass.DATABASE
    if package.startswith(_INFRASTRUCTURE_PACKAGES):
        return PatchClass.INFRASTRUCTURE
    return PatchClass.OS


def create_host(*, name: str, service: Service | None = None, timezone_name: str = "UTC") -> tuple[Host, str]:
    host = Host(name=name, service=service, timezone=timezone_name)
    token = host.set_new_token()
    try:
        recurrence.zone(timezone_name)
    except recurrence.RecurrenceError as error:
        raise DomainError(str(error), field="timezone") from None
    _clean(host, exclude=["token_hash", "token_prefix"])
    host.save()
    return host, token


def _deadline(patch_class: str, start: datetime) -> datetime:
    deadlines = get_policy().maintenance.patch_deadlines
    return next(span for key, span in deadlines.items() if key == patch_class).after(start)


@dataclass(frozen=True)
class ReportOutcome:
    """What a patch report did: ``report`` is the stored report, None when it repeated the host's previous one
    (then only ``last_report_at`` moved)."""

    host: Host
    received_at: datetime
    report: PatchReport | None
    pending: int
    security: int
    installed: int
    reboot_required: bool | None


def report_digest(
    *,
    pending: Sequence[parsing.PendingUpdate],
    restart: parsing.NeedRestart | None,
    reboot_required: bool | None,
    reboot_packages: Sequence[str],
    timezone_name: str,
) -> str:
    """SHA-256 of a report's normalised content (what it would change), without the history stanzas: a report
    with a new stanza is never a repeat. Pending updates are sorted, so the order of apt's lines does not count."""
    content = {
        "pending": sorted([u.package, u.installed, u.candidate, u.origin, u.security] for u in pending),
        "needrestart": restart.as_json() if restart else None,
        "reboot_required": reboot_required,
        "reboot_packages": sorted(reboot_packages)[:500],
        "timezone": timezone_name,
    }
    return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()


def _forget_report_digests(service_ids: Iterable[int]) -> None:
    """The next report of these services' hosts is applied in full: something else wrote their components."""
    Host.objects.filter(service_id__in=list(service_ids)).exclude(report_digest="").update(
        report_digest="", report_raw_digest=""
    )


#: The fields of a patch report as the endpoint takes them (maintenance.api.serializers.PatchReportSerializer).
REPORT_FIELDS = frozenset(
    {"apt_simulate", "history", "needrestart", "reboot_required", "reboot_packages", "timezone", "hostname"}
)


def raw_report_digest(fields: Mapping[str, str]) -> str:
    """SHA-256 of a report's fields exactly as sent (names, values; any order of the fields), or "" when the fields
    cannot be a repeat recognised unparsed: a field the endpoint does not take, history lines (a new stanza is never
    a repeat) or no time zone (the host's declared one would count, and it is not part of what was sent).

    Two reports with the same raw digest have the same normalised content (``report_digest``); the converse does
    not hold (apt's lines in another order), which is why a report that is not a raw repeat is parsed and still
    recognised as a repeat by its normalised digest. Multipart boundaries and JSON spacing are not part of it."""
    if not fields.keys() <= REPORT_FIELDS:
        return ""
    if fields.get("history", "").strip() or not fields.get("timezone", "").strip():
        return ""
    digest = hashlib.sha256(b"opsgov-patch-report-1")
    for name in sorted(fields):
        value = fields[name].encode("utf-8", "surrogatepass")
        digest.update(b"\0%s\0%d\0" % (name.encode(), len(value)))
        digest.update(value)
    return digest.hexdigest()


@dataclass(frozen=True)
class SeenReport:
    """The answer to a raw repeat (record_raw_repeat): what the host's last report applied in full said."""

    host_name: str
    received_at: datetime
    pending: int
    security: int
    reboot_required: bool | None


# The statement of a raw repeat, one round trip: the host found by its token's hash, matched only while its last
# report's raw digest is still this one. Outside a transaction, the subquery turns synchronous_commit off for the
# statement's own transaction (set_config(..., true)): its commit does not wait for the WAL flush (_mark_seen).
_RAW_SEEN = (
    "UPDATE maintenance_host SET last_report_at = %s{async_from} "
    "WHERE token_hash = %s AND report_raw_digest = %s "
    "RETURNING name, pending_count, pending_security_count, reboot_required"
)
_ASYNC_FROM = " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"


def record_raw_repeat(*, token_hash: str, raw_digest: str, received_at: datetime | None = None) -> SeenReport | None:
    """Record a report whose fields, as sent, are those of its host's last report (``raw_report_digest``): one
    UPDATE of the host's ``last_report_at``, found by its token's hash. None when no host has that token or its
    last report was not this one (then the report goes through record_patch_report)."""
    if not raw_digest:
        return None
    received_at = received_at or timezone.now()
    asynchronous = connection.vendor == "postgresql" and not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute(
            _RAW_SEEN.format(async_from=_ASYNC_FROM if asynchronous else ""), [received_at, token_hash, raw_digest]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    name, pending, security_count, reboot_required = row
    return SeenReport(name, received_at, pending, security_count, reboot_required)


_SEEN = (
    "UPDATE maintenance_host SET last_report_at = %s, report_raw_digest = %s, pending_security_count = %s{async_from} "
    "WHERE id = %s AND report_digest = %s"
)


def _mark_seen(host_id: int, digest: str, at: datetime, *, raw_digest: str, security_count: int) -> bool:
    """Record a repeated report (one UPDATE, matching only while the host's digest is still `digest`); whether it
    matched. The report's raw digest is kept, so that the same fields again are recognised unparsed
    (record_raw_repeat). On PostgreSQL outside a transaction, synchronous_commit is off for the statement's own
    transaction: the UPDATE does not wait for its WAL flush, and a database crash within its last fraction of a
    second loses only that ``last_report_at`` (the report changed nothing else)."""
    asynchronous = connection.vendor == "postgresql" and not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute(
            _SEEN.format(async_from=_ASYNC_FROM if asynchronous else ""),
            [at, raw_digest, security_count, host_id, digest],
        )
        return cursor.rowcount == 1


def record_patch_report(
    *,
    host: Host,
    apt_simulate: str,
    history: str = "",
    needrestart: str = "",
    reboot_required: bool | None = None,
    reboot_packages: Sequence[str] = (),
    timezone_name: str = "",
    received_at: datetime | None = None,
    raw_digest: str = "",
) -> ReportOutcome:
    """Parse a host's report (raising parsing.ReportError naming the line, before anything is written).

    `raw_digest` is the report's ``raw_report_digest`` (the endpoint's); kept on the host with the normalised
    digest, so that the same fields again are recorded by record_raw_repeat without being parsed.

    A report whose normalised content (``report_digest``) is the host's last one and that brings no new history
    stanza (the steady state: the same pending updates again) changes nothing but the host's ``last_report_at``:
    one conditional UPDATE, no report row. Otherwise, in one transaction: store it, update the host, open an
    obligation per new pending update and close the host's obligations a report no longer lists (at the history
    log's install time when it shows one, read in the host's declared time zone and kept between the first
    detection and now)."""
    received_at = received_at or timezone.now()
    tz_name = timezone_name or host.timezone
    try:
        tz = recurrence.zone(tz_name)
    except recurrence.RecurrenceError as error:
        raise parsing.ReportError("timezone", None, str(error)) from None
    pending = parsing.parse_apt_simulate(apt_simulate)
    installed = parsing.parse_history(history, tz=tz) if history.strip() else []
    restart = parsing.parse_needrestart(needrestart) if needrestart.strip() else None
    reboot_packages = list(reboot_packages)[:500]
    digest = report_digest(
        pending=pending,
        restart=restart,
        reboot_required=reboot_required,
        reboot_packages=reboot_packages,
        timezone_name=tz_name,
    )

    security_count = sum(1 for u in pending if u.security)

    def outcome(host: Host, report: PatchReport | None = None, installed_count: int = 0) -> ReportOutcome:
        """What the report did; a repeat (no report row) installed nothing new."""
        return ReportOutcome(
            host=host,
            received_at=received_at,
            report=report,
            pending=len(pending),
            security=security_count,
            installed=installed_count,
            reboot_required=host.reboot_required,
        )

    def new_stanzas(host: Host) -> list[parsing.Installed]:
        # Stanzas already read by an earlier report are skipped (the script sends the log's new part, but may
        # repeat it).
        return [item for item in installed if not host.last_history_start or item.start > host.last_history_start]

    # The steady state, without a transaction: the conditional UPDATE matches only while the host's digest is
    # still this one (a concurrent different report changes it under the host's lock).
    if (
        host.report_digest == digest
        and not new_stanzas(host)
        and _mark_seen(host.pk, digest, received_at, raw_digest=raw_digest, security_count=security_count)
    ):
        return outcome(host)
    asset = f"host:{host.name}"
    with transaction.atomic():
        host = Host.objects.select_for_update().get(pk=host.pk)
        installed = new_stanzas(host)
        if host.report_digest == digest and not installed:
            host.last_report_at = received_at
            host.report_raw_digest = raw_digest
            host.pending_security_count = security_count
            host.save(update_fields=["last_report_at", "report_raw_digest", "pending_security_count"])
            return outcome(host)
        report = PatchReport.objects.create(
            host=host,
            received_at=received_at,
            pending=[
                {
                    "package": u.package,
                    "installed": u.installed,
                    "candidate": u.candidate,
                    "origin": u.origin,
                    "security": u.security,
                }
                for u in pending
            ],
            installed=[
                {"package": i.package, "version": i.version, "at": i.at.astimezone(UTC).isoformat()} for i in installed
            ],
            reboot_required=reboot_required,
            needrestart=restart.as_json() if restart else {},
            raw_apt=apt_simulate[:200_000],
        )
        by_package = {u.package: u for u in pending}
        existing = set(
            PatchObligation.objects.filter(asset=asset, package__in=list(by_package)).values_list("package", "version")
        )
        created = PatchObligation.objects.bulk_create(
            [
                PatchObligation(
                    asset=asset,
                    host=host,
                    service=host.service,
                    source=ObligationSource.APT,
                    package=u.package,
                    version=u.candidate,
                    installed_version=u.installed,
                    patch_class=(klass := classify_package(u.package, security=u.security)),
                    first_detected_at=received_at,
                    due_at=_deadline(klass, received_at),
                )
                for u in pending
                if (u.package, u.candidate) not in existing
            ],
            ignore_conflicts=True,  # the host is locked: nothing else writes its obligations meanwhile
        )
        compliance.record_new(created)
        installed_at = {(i.package, i.version): i.at.astimezone(UTC) for i in installed}
        open_obligations = PatchObligation.objects.filter(asset=asset, met_at__isnull=True).only(
            "id", "asset", "service_id", "package", "version", "first_detected_at", "due_at"
        )
        plain: list[int] = []
        met_now: list[tuple[str, int | None, datetime, datetime]] = []
        for obligation in open_obligations:
            still = by_package.get(obligation.package)
            if still is not None and still.installed != obligation.version:
                continue  # still pending (this version or a newer one not yet installed)
            at = installed_at.get((obligation.package, obligation.version))
            met = received_at if at is None else min(max(at, obligation.first_detected_at), received_at)
            met_now.append((obligation.asset, obligation.service_id, obligation.due_at, met))
            if at is None:
                plain.append(obligation.pk)
                continue
            PatchObligation.objects.filter(pk=obligation.pk).update(met_at=met, updated_at=timezone.now())
        if plain:
            PatchObligation.objects.filter(pk__in=plain).update(met_at=received_at, updated_at=timezone.now())
        compliance.record_met(met_now)
        _components_from_report(
            host, [(u.package, u.installed) for u in pending] + [(i.package, i.version) for i in installed]
        )
        host.last_report_at = received_at
        host.pending_count = len(pending)
        if timezone_name:
            host.timezone = tz_name
        if installed:
            host.last_history_start = max(i.start for i in installed)
        host.reboot_required = (
            (reboot_required or (restart.reboot_needed if restart else False))
            if (reboot_required is not None or restart is not None)
            else None
        )
        host.reboot_packages = reboot_packages
        if restart is not None:
            host.kernel_status = restart.kernel_status
            host.running_kernel = restart.running_kernel
            host.expected_kernel = restart.expected_kernel
            host.stale_services = restart.services[:500]
        host.report_digest = digest
        host.report_raw_digest = raw_digest
        host.pending_security_count = security_count
        host.save()
    return outcome(host, report, len(installed))


def record_renovate_report(*, data: Any, service: Service | None = None, received_at: datetime | None = None) -> int:
    """Dependency-update obligations per repository from a Renovate ``reportType=file`` report; returns how many
    updates it listed. A later report of the same repository that no longer lists an update meets it."""
    received_at = received_at or timezone.now()
    updates = parsing.parse_renovate(data)
    repos = {u.repository for u in updates} | set(data.get("repositories", {}) if isinstance(data, dict) else {})
    with transaction.atomic():
        for repo in repos:
            asset = f"repo:{repo}"
            listed = {(u.package, u.new): u for u in updates if u.repository == repo}
            existing = set(PatchObligation.objects.filter(asset=asset).values_list("package", "version"))
            new = []
            for (package, version), u in listed.items():
                if (package, version) in existing:
                    continue
                klass = (
                    PatchClass.SECURITY_CRITICAL
                    if u.security
                    else PatchClass.MAJOR
                    if u.update_type == "major"
                    else PatchClass.DEPENDENCY
                )
                published = _parse_instant(u.released_at)
                start = max(received_at, published) if published and published <= received_at else received_at
                new.append(
                    PatchObligation(
                        asset=asset,
                        service=service,
                        source=ObligationSource.RENOVATE,
                        package=package,
                        version=version,
                        installed_version=u.current,
                        patch_class=klass,
                        published_at=published,
                        first_detected_at=received_at,
                        due_at=_deadline(klass, start),
                    )
                )
            compliance.record_new(PatchObligation.objects.bulk_create(new, ignore_conflicts=True))
            gone = PatchObligation.objects.filter(asset=asset, met_at__isnull=True)
            for package, version in listed:
                gone = gone.exclude(package=package, version=version)
            compliance.record_met(compliance.met_rows(gone, received_at))
            gone.update(met_at=received_at, updated_at=timezone.now())
    return len(updates)


def sync_security_findings(*, now: datetime | None = None) -> int:
    """Security findings past their SLA (opsgov.registry.security.findings_past_sla, answered by security) as
    patch obligations of the security-critical class, one per (service, package, fixed version): asset
    ``security:<slug>`` (not ``service:<slug>``, which is the per-service scope of patch compliance), due
    when the finding was due. An obligation a later sync no longer lists (fixed, or
    under a risk acceptance) is met then, late. Returns how many findings were listed."""
    now = now or timezone.now()
    active = {s.pk: s for s in Service.objects.filter(lifecycle=Lifecycle.ACTIVE)}
    findings = security.findings_past_sla(service_ids=list(active), now=now)
    listed = 0
    # Only the services with findings now, or with security obligations still open (to meet them): two queries
    # in all when there is nothing to do, whatever the number of services.
    still_open = set(
        PatchObligation.objects.filter(source=ObligationSource.SECURITY, met_at__isnull=True)
        .values_list("service_id", flat=True)
        .distinct()
    )
    with transaction.atomic():
        for service_id, service in active.items():
            if service_id not in findings and service_id not in still_open:
                continue
            asset = f"security:{service.slug}"
            wanted: dict[tuple[str, str], dict[str, str]] = {}
            for finding in findings.get(service_id, []):
                package = str(finding.get("package") or finding.get("title") or "")[:255]
                version = str(finding.get("fixed_version") or f"finding {finding.get('id', '')}")[:255]
                if package:
                    wanted.setdefault((package, version), finding)
            listed += len(wanted)
            existing = set(
                PatchObligation.objects.filter(asset=asset, source=ObligationSource.SECURITY).values_list(
                    "package", "version"
                )
            )
            new = PatchObligation.objects.bulk_create(
                [
                    PatchObligation(
                        asset=asset,
                        service=service,
                        source=ObligationSource.SECURITY,
                        package=package,
                        version=version,
                        patch_class=PatchClass.SECURITY_CRITICAL,
                        first_detected_at=now,
                        due_at=_parse_instant(str(finding.get("due_at") or ""))
                        or _deadline(PatchClass.SECURITY_CRITICAL, now),
                    )
                    for (package, version), finding in wanted.items()
                    if (package, version) not in existing
                ],
                ignore_conflicts=True,
            )
            compliance.record_new(new)
            gone = PatchObligation.objects.filter(asset=asset, source=ObligationSource.SECURITY, met_at__isnull=True)
            for package, version in wanted:
                gone = gone.exclude(package=package, version=version)
            compliance.record_met(compliance.met_rows(gone, now))
            gone.update(met_at=now, updated_at=now)
    return listed


def sync_sbom_components() -> int:
    """Components from the security area's scans and SBOMs (opsgov.registry.security.components) whose name is a
    product of the end-of-life table, held per service for the end-of-life check. Returns how many were kept."""
    products = set(EndOfLife.objects.values_list("product", flat=True).distinct())
    if not products:
        return 0
    active = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).values_list("pk", flat=True))
    kept = 0
    current = {
        (service_id, product): (version, source)
        for service_id, product, version, source in Component.objects.values_list(
            "service_id", "product", "version", "source"
        )
    }
    changed: set[int] = set()
    with transaction.atomic():
        for service_id, components in security.components(service_ids=active).items():
            for item in components:
                product = str(item.get("name") or "").strip().lower()
                version = str(item.get("version") or "").strip()
                if product in products and version:
                    if current.get((service_id, product)) != (version[:64], "sbom"):
                        Component.objects.update_or_create(
                            service_id=service_id, product=product, defaults={"version": version[:64], "source": "sbom"}
                        )
                        changed.add(service_id)
                    kept += 1
        # The hosts' next reports write their installed versions again, as they did before the scan's.
        _forget_report_digests(changed)
    return kept


_DEBIAN_SUFFIX = re.compile(r"-?\d+(?:\.\d+)?$")


def upstream_version(debian_version: str) -> str:
    """The upstream part of a Debian version: without its epoch (``1:``) and its Debian revision (``-1+deb12u1``);
    ``+dfsg``-style suffixes dropped too."""
    version = debian_version.split(":", 1)[-1]
    version = version.rsplit("-", 1)[0] if "-" in version else version
    return re.split(r"[+~]", version, maxsplit=1)[0]


def _components_from_report(host: Host, packages: Iterable[tuple[str, str]]) -> None:
    """Components of the host's service from a patch report: a package named as a product of the end-of-life
    table (``postgresql``), or as one with its major version (``postgresql-15``), at its installed version."""
    if host.service_id is None:
        return
    products = set(EndOfLife.objects.values_list("product", flat=True).distinct())
    for package, version in packages:
        if not version:
            continue
        product = package if package in products else _DEBIAN_SUFFIX.sub("", package)
        if product in products:
            Component.objects.update_or_create(
                service_id=host.service_id,
                product=product,
                defaults={"version": upstream_version(version)[:64], "source": "patch_report"},
            )


def _parse_instant(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def grant_exception(*, obligation: PatchObligation, until: datetime, reason: str, user: Any) -> PatchObligation:
    if not has_role(user, SECURITY_LEAD):
        raise DomainError("A Security Lead grants patch exceptions.")
    if not reason.strip():
        raise DomainError("An exception needs its reason.", field="reason")
    obligation.exception_until = until
    obligation.exception_reason = reason
    obligation.save(update_fields=["exception_until", "exception_reason", "updated_at"])
    return obligation


# --- End of life and upgrade plans ------------------------------------------------------------------------


def import_eol(*, product: str, rows: Any) -> int:
    """Import (or update) the end-of-life table of `product`: a list of {cycle, releaseDate, eol, latest}, where
    `eol` is a date or true/false. A bad row is refused naming its index; nothing is written then."""
    if not isinstance(product, str) or not product.strip() or len(product) > 120:
        raise DomainError("A product name (at most 120 characters).", field="product")
    if not isinstance(rows, list) or not rows:
        raise DomainError("A non-empty list of release cycles.", field="cycles")
    parsed: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        where = f"cycles.{index}"
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("cycle"), str | int | float)
            or isinstance(row.get("cycle"), bool)
        ):
            raise DomainError(f"{where}: an object with a 'cycle'.", field=where)
        eol = row.get("eol")
        values: dict[str, Any] = {"eol_date": None, "eol_reached": False}
        if isinstance(eol, bool):
            values["eol_reached"] = eol
        elif isinstance(eol, str):
            values["eol_date"] = _date(eol, f"{where}.eol")
        elif eol is not None:
            raise DomainError(f"{where}.eol: a date (YYYY-MM-DD) or true/false.", field=f"{where}.eol")
        release = row.get("releaseDate")
        values["release_date"] = _date(release, f"{where}.releaseDate") if isinstance(release, str) else None
        values["latest"] = str(row.get("latest") or "")[:64]
        parsed.append({"cycle": str(row["cycle"])[:64], **values})
    with transaction.atomic():
        for values in parsed:
            EndOfLife.objects.update_or_create(product=product.strip(), cycle=values.pop("cycle"), defaults=values)
        # A report names the components of the table's products: the next one of every host is applied in full.
        Host.objects.exclude(report_digest="").update(report_digest="", report_raw_digest="")
    return len(parsed)


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DomainError(f"{field}: {text[:40]!r} is not a date (YYYY-MM-DD).", field=field) from None


def record_component(*, service: Service, product: str, version: str, source: str = "manual") -> Component:
    with transaction.atomic():
        component, _ = Component.objects.update_or_create(
            service=service, product=product.strip().lower(), defaults={"version": version.strip(), "source": source}
        )
        # The service's hosts' next reports write their installed version again, as before this one.
        _forget_report_digests([service.pk])
    return component


def create_upgrade_plan(
    *, component: Component, target_version: str, owner: Any, due_date: date, notes: str = ""
) -> UpgradePlan:
    if not target_version.strip():
        raise DomainError("The version to upgrade to.", field="target_version")
    plan = UpgradePlan(component=component, target_version=target_version, owner=owner, due_date=due_date, notes=notes)
    _clean(plan, exclude=["approved_by"])
    plan.save()
    return plan


def approve_upgrade_plan(*, plan: UpgradePlan, user: Any, now: datetime | None = None) -> UpgradePlan:
    if not has_role(user, TECH_LEAD):
        raise DomainError("A Tech Lead approves upgrade plans.")
    plan.approved_by = user
    plan.approved_at = now or timezone.now()
    plan.save(update_fields=["approved_by", "approved_at", "updated_at"])
    return plan
