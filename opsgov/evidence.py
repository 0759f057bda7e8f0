"""Evidence: records that gates, reports and auditors rely on, and which nobody may delete.

Incidents, raw events, timelines, gate evaluations, metric snapshots, waivers, reviews, action
items and audit rows are what opsgov's claims are "computed from". Deleting one would rewrite
history, so deletion is refused at every layer:

- the model layer (here): a ``pre_delete`` receiver per evidence model raises
  ``EvidenceProtectedError``. Having a receiver also stops Django's fast delete, so queryset
  deletes (``Incident.objects.all().delete()``) and cascades from a parent send it too;
- the admin: ``EvidenceAdminMixin`` offers neither the delete button nor the bulk action;
- the API: ``NoEvidenceDeleteMixin`` drops DELETE from a viewset (405, and the OpenAPI schema
  documents no DELETE).

The one way out is ``evidence_deletion(reason)``, used by the retention command
(``manage.py apply_retention``) and the snapshot thinning it documents; both write an audit row.

An app declares its evidence models in its ``AppConfig.ready()`` with ``register_evidence(Model)``
(opsgov's own are listed in ``EVIDENCE_MODELS`` below).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import ProtectedError
from django.db.models.signals import pre_delete
from django.http import HttpRequest
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request

# "app_label.ModelName" of the evidence models known at start-up; apps may add theirs with register_evidence().
EVIDENCE_MODELS: tuple[str, ...] = (
    "auditlog.LogEntry",
    "opsgov.AuditSeal",
    "opsgov.GateEvaluation",
    "opsgov.MetricSnapshot",
    "opsgov.GateWaiver",
)

_registered: dict[str, type[models.Model]] = {}
# Set (to the reason) only inside evidence_deletion(): the retention command's window.
_deletion_reason: ContextVar[str | None] = ContextVar("opsgov_evidence_deletion", default=None)


class EvidenceProtectedError(ProtectedError):
    """Raised when something tries to delete evidence outside the retention command.

    A ProtectedError, so code that already answers "other records protect this" (409 in the API,
    the admin's message) treats it the same way.
    """

    def __init__(self, obj: models.Model) -> None:
        label = obj._meta.label
        super().__init__(
            f"{label} {obj.pk} is evidence and cannot be deleted; retire or archive it instead. "
            "Old evidence is removed only by `manage.py apply_retention` under the policy's retention periods.",
            {obj},
        )


def _refuse_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if _deletion_reason.get() is None:
        raise EvidenceProtectedError(instance)


def register_evidence(model: type[models.Model]) -> type[models.Model]:
    """Declare `model` evidence: its rows can then be deleted only inside evidence_deletion().

    Usable as a class decorator or called from an AppConfig.ready(); idempotent.
    """
    label = model._meta.label
    if label not in _registered:
        _registered[label] = model
        pre_delete.connect(_refuse_delete, sender=model, dispatch_uid=f"opsgov-evidence-{label}")
    return model


def register_default_evidence() -> None:
    """Register EVIDENCE_MODELS (those of installed apps); called from opsgov's AppConfig.ready()."""
    for label in EVIDENCE_MODELS:
        register_evidence(apps.get_model(label))


def evidence_models() -> list[type[models.Model]]:
    """The registered evidence models, by label."""
    return [_registered[label] for label in sorted(_registered)]


def is_evidence(model: type[models.Model] | models.Model) -> bool:
    return model._meta.label in _registered


def evidence_delete_permissions() -> set[str]:
    """The "app_label.delete_model" permission codes no role is granted (opsgov.roles)."""
    labels = set(EVIDENCE_MODELS) | set(_registered)
    return {f"{label.split('.')[0]}.delete_{label.split('.')[1].lower()}" for label in labels}


@contextlib.contextmanager
def evidence_deletion(reason: str) -> Iterator[None]:
    """Allow evidence rows to be deleted inside this block: for the retention command only.

    The caller is responsible for deleting only what the policy's retention periods allow and
    for writing the audit row that says what went.
    """
    token = _deletion_reason.set(reason)
    try:
        yield
    finally:
        _deletion_reason.reset(token)


class EvidenceAdminMixin:
    """Admin for an evidence model: no delete button, no "delete selected" action, for anyone."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NoEvidenceDeleteMixin:
    """Viewset for an evidence model: DELETE is not an allowed method (405, absent from the schema).

    Answered before the permission check, so everyone (not only superusers) learns that the method
    does not exist rather than that they lack a delete permission nobody has.
    """

    http_method_names: Sequence[str] = ("get", "post", "put", "patch", "head", "options")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method and request.method.lower() not in self.http_method_names:
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
