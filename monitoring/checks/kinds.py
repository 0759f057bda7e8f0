"""The two kinds of synthetic checks, HTTP checks and heartbeats, as the API and the pages manage them.

A kind names its model and the words its pages use, and calls its services (monitoring.checks.services)
through one signature, so that one viewset (checks.api) and one set of page views (checks.views) serve both.
The services themselves differ: an HTTP check's change and resume record who made them, a heartbeat's do not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import QuerySet

from ..models import Heartbeat, HttpCheck
from . import selectors, services

Check = TypeVar("Check", HttpCheck, Heartbeat)


@dataclass(frozen=True)
class CheckKind(Generic[Check]):
    model: type[Check]
    #: Starts the pages' messages: "HTTP check", "Heartbeat".
    label: str
    #: Ends the pages' refusals ("Your roles do not allow adding HTTP checks."): "HTTP checks", "heartbeats".
    plural: str
    #: The selector that lists them with what their pages and answers show.
    listed: Callable[[], QuerySet[Check]]
    create: Callable[..., Check]
    #: (record, data, actor) -> the changed record.
    update: Callable[[Check, dict[str, Any], Any], Check]
    #: (record, actor) -> the record; pause and resume do nothing on a record already so.
    pause: Callable[[Check, Any], Check]
    resume: Callable[[Check, Any], Check]
    delete: Callable[[Check, Any], None]

    def permission(self, action: str) -> str:
        """The model permission of `action` (add, change or delete), e.g. "monitoring.change_httpcheck"."""
        return f"monitoring.{action}_{self.model._meta.model_name}"


HTTP_CHECK: CheckKind[HttpCheck] = CheckKind(
    model=HttpCheck,
    label="HTTP check",
    plural="HTTP checks",
    listed=selectors.http_check_list,
    create=lambda **data: services.http_check_create(**data),
    update=lambda check, data, actor: services.http_check_update(check=check, data=data, actor=actor),
    pause=lambda check, actor: services.http_check_pause(check=check, actor=actor),
    resume=lambda check, actor: services.http_check_resume(check=check, actor=actor),
    delete=lambda check, actor: services.http_check_delete(check=check, actor=actor),
)

HEARTBEAT: CheckKind[Heartbeat] = CheckKind(
    model=Heartbeat,
    label="Heartbeat",
    plural="heartbeats",
    listed=selectors.heartbeat_list,
    create=lambda **data: services.heartbeat_create(**data),
    update=lambda heartbeat, data, actor: services.heartbeat_update(heartbeat=heartbeat, data=data),
    pause=lambda heartbeat, actor: services.heartbeat_pause(heartbeat=heartbeat, actor=actor),
    resume=lambda heartbeat, actor: services.heartbeat_resume(heartbeat=heartbeat),
    delete=lambda heartbeat, actor: services.heartbeat_delete(heartbeat=heartbeat, actor=actor),
)
