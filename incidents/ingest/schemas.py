"""Pydantic models of what alert sources send, validated before anything is stored.

- `AlertmanagerWebhook`: Prometheus Alertmanager's webhook payload, version "4",
  field names exactly as Alertmanager writes them. Unknown fields are kept
  (Alertmanager adds fields over time), so a newer Alertmanager is never refused.
- `PagerDutyEvent`: PagerDuty Events API v2 (`/v2/enqueue`) with its rules:
  a trigger needs payload.summary (at most 1024 characters), payload.source and
  payload.severity (critical, error, warning or info); acknowledge and resolve
  need a dedup_key; a dedup_key has at most 255 characters.

`parse_pagerduty_event` validates against the model of the event's action, so
error locations read like the request ("payload.summary", "dedup_key"), and
`error_lines` turns a ValidationError into ["payload.summary: Field required", ...].
Timestamps without an offset are read as UTC; "+0000" offsets (no colon) parse.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

# Alertmanager writes Go's zero time for "no end time yet".
_GO_ZERO_YEAR = 1


def _assume_utc(value: datetime) -> datetime:
    """`value` in UTC (read as UTC without an offset); an instant UTC cannot hold is refused.

    0001-01-01T00:00:00+01:00 lies before the first instant Python can represent in UTC:
    accepted, it failed every later computation with OverflowError and was lost after
    the retries. Refused here, the sender gets a 400 naming the field instead.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is out of range (before 0001-01-01 or after 9999-12-31 in UTC)") from None


Timestamp = Annotated[datetime, AfterValidator(_assume_utc)]


class _Open(BaseModel):
    """A source's object: unknown fields are allowed and kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AlertmanagerAlert(_Open):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: Timestamp
    endsAt: Timestamp | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1)

    @property
    def ends_at(self) -> datetime | None:
        """endsAt, or None while Alertmanager has no end time (it sends 0001-01-01)."""
        if self.endsAt is None or self.endsAt.year <= _GO_ZERO_YEAR:
            return None
        return self.endsAt


class AlertmanagerWebhook(_Open):
    version: Literal["4"]
    groupKey: str = Field(min_length=1)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1)


PagerDutySeverity = Literal["critical", "error", "warning", "info"]
PagerDutyAction = Literal["trigger", "acknowledge", "resolve"]


class PagerDutyPayload(_Open):
    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1, max_length=255)
    severity: PagerDutySeverity
    timestamp: Timestamp | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: Any = None


class PagerDutyEvent(_Open):
    """Fields common to every PagerDuty Events v2 event."""

    #: The integration token, as PagerDuty's "integration key": used when neither the URL nor an
    #: `Authorization: Bearer` header gives one (those win, and it is then ignored). When it is the
    #: integration's token, the stored event keeps only its first 8 characters: opsgov keeps tokens
    #: hashed (incidents.ingest.handling.pagerduty).
    routing_key: str | None = Field(
        default=None,
        description="The integration token, used when neither the URL nor an `Authorization: Bearer` header "
        "gives one (they win over it).",
    )
    event_action: PagerDutyAction
    dedup_key: str | None = Field(default=None, max_length=255)
    images: list[dict[str, Any]] | None = None
    links: list[dict[str, Any]] | None = None
    client: str | None = None
    client_url: str | None = None


class PagerDutyTrigger(PagerDutyEvent):
    event_action: Literal["trigger"]
    payload: PagerDutyPayload


class PagerDutyFollowUp(PagerDutyEvent):
    """acknowledge or resolve: only the dedup_key matters."""

    event_action: Literal["acknowledge", "resolve"]
    dedup_key: str = Field(min_length=1, max_length=255)


_BY_ACTION: dict[str, type[PagerDutyEvent]] = {
    "trigger": PagerDutyTrigger,
    "acknowledge": PagerDutyFollowUp,
    "resolve": PagerDutyFollowUp,
}


def parse_pagerduty_event(data: Any) -> PagerDutyEvent:
    """Validate `data` as the event its event_action names; raises pydantic.ValidationError."""
    action = data.get("event_action") if isinstance(data, dict) else None
    model = _BY_ACTION.get(action, PagerDutyEvent) if isinstance(action, str) else PagerDutyEvent
    return model.model_validate(data)


def error_lines(exc: ValidationError) -> list[str]:
    """["payload.summary: Field required", ...]: the field path from pydantic's loc, then its message."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"])
        lines.append(f"{path}: {error['msg']}" if path else str(error["msg"]))
    return lines
