"""The register of regulatory changes: record a change, assess its impact, map the controls it touches,
and the tasks it brings, each with an owner and a due date (reminded by e-mail, compliance.notices).

Every function takes keyword arguments, validates before writing (ValidationError naming the field),
is one transaction, and is audited (auditlog, registered in compliance.apps).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import ChangeStatus, Control, RegulatoryChange, RegulatoryTask


def task_counts(today: date) -> dict[str, Count]:
    """Annotations of a change: its open tasks, and those of them past their due date."""
    return {
        "open_tasks": Count("tasks", filter=Q(tasks__done_at__isnull=True)),
        "overdue_tasks": Count("tasks", filter=Q(tasks__done_at__isnull=True, tasks__due_on__lt=today)),
    }


def changes() -> QuerySet[RegulatoryChange]:
    """Every change with its open and overdue task counts (one query), soonest effective first."""
    return RegulatoryChange.objects.annotate(**task_counts(timezone.now().date())).order_by("effective_date", "pk")


def open_tasks(*, now: datetime | None = None) -> QuerySet[RegulatoryTask]:
    return RegulatoryTask.objects.filter(done_at__isnull=True).select_related("change", "owner").order_by("due_on")


def _controls(ids_or_controls: Iterable[Control | int]) -> list[Control]:
    items = list(ids_or_controls)
    ids = [item.pk if isinstance(item, Control) else int(item) for item in items]
    found = {control.pk: control for control in Control.objects.filter(pk__in=ids)}
    missing = [str(pk) for pk in ids if pk not in found]
    if missing:
        raise ValidationError({"affected_controls": f"No such control: {', '.join(missing)}."})
    return [found[pk] for pk in ids]


@transaction.atomic
def change_create(
    *,
    title: str,
    source: str,
    summary: str,
    effective_date: date,
    actor: Any,
    impact_assessment: str = "",
    affected_controls: Iterable[Control | int] = (),
) -> RegulatoryChange:
    """Register a change (status "new", or "assessed" when it comes with its impact assessment)."""
    controls = _controls(affected_controls)
    change = RegulatoryChange(
        title=title.strip(),
        source=source.strip(),
        summary=summary.strip(),
        effective_date=effective_date,
        impact_assessment=impact_assessment.strip(),
        status=ChangeStatus.ASSESSED if impact_assessment.strip() else ChangeStatus.NEW,
    )
    change.full_clean()
    change.save()
    change.affected_controls.set(controls)
    return change


# new → assessed → implemented; new or assessed → not applicable.
_MOVES = {
    ChangeStatus.NEW: {ChangeStatus.ASSESSED, ChangeStatus.NOT_APPLICABLE},
    ChangeStatus.ASSESSED: {ChangeStatus.IMPLEMENTED, ChangeStatus.NOT_APPLICABLE},
    ChangeStatus.IMPLEMENTED: set(),
    ChangeStatus.NOT_APPLICABLE: set(),
}


@transaction.atomic
def change_assess(
    *,
    change: RegulatoryChange,
    impact_assessment: str,
    actor: Any,
    affected_controls: Iterable[Control | int] | None = None,
) -> RegulatoryChange:
    """Record the impact assessment (and the controls it touches); a new change becomes "assessed"."""
    change = RegulatoryChange.objects.select_for_update().get(pk=change.pk)
    if not impact_assessment.strip():
        raise ValidationError({"impact_assessment": "Describe the impact on the organisation."})
    if change.status in (ChangeStatus.IMPLEMENTED, ChangeStatus.NOT_APPLICABLE):
        raise ValidationError({"status": f"This change is {change.get_status_display().lower()}; it is closed."})
    controls = _controls(affected_controls) if affected_controls is not None else None
    change.impact_assessment = impact_assessment.strip()
    change.status = ChangeStatus.ASSESSED
    change.save(update_fields=["impact_assessment", "status", "updated_at"])
    if controls is not None:
        change.affected_controls.set(controls)
    return change


@transaction.atomic
def change_set_status(*, change: RegulatoryChange, status: str, actor: Any) -> RegulatoryChange:
    """Move a change on: "implemented" only once assessed and with every task done."""
    change = RegulatoryChange.objects.select_for_update().get(pk=change.pk)
    if status not in ChangeStatus.values:
        raise ValidationError({"status": f"One of {', '.join(ChangeStatus.values)}."})
    current = ChangeStatus(change.status)
    if status not in _MOVES[current]:
        allowed = ", ".join(sorted(_MOVES[current])) or "nothing (closed)"
        raise ValidationError({"status": f"A {current.label.lower()} change moves to: {allowed}."})
    if status == ChangeStatus.IMPLEMENTED and change.tasks.filter(done_at__isnull=True).exists():
        raise ValidationError({"status": "Finish its tasks first: an implemented change has no open task."})
    change.status = status
    change.save(update_fields=["status", "updated_at"])
    return change


@transaction.atomic
def task_add(*, change: RegulatoryChange, description: str, owner: Any, due_on: date, actor: Any) -> RegulatoryTask:
    if change.status in (ChangeStatus.IMPLEMENTED, ChangeStatus.NOT_APPLICABLE):
        raise ValidationError({"change": "This change is closed; it takes no new task."})
    if owner is None or not getattr(owner, "is_active", False):
        raise ValidationError({"owner": "A task needs an active owner."})
    task = RegulatoryTask(change=change, description=description.strip(), owner=owner, due_on=due_on)
    task.full_clean()
    task.save()
    return task


@transaction.atomic
def task_complete(*, task: RegulatoryTask, actor: Any, now: datetime | None = None) -> RegulatoryTask:
    task = RegulatoryTask.objects.select_for_update().get(pk=task.pk)
    if task.done_at is not None:
        raise ValidationError({"done_at": "This task is done already."})
    task.done_at = now or timezone.now()
    task.save(update_fields=["done_at", "updated_at"])
    return task
