"""``POST /api/v1/ingest/pagerduty/change/enqueue``: PagerDuty Events v2 change events, as CI tools send them.

Mirrors PagerDuty's ``https://events.pagerduty.com/v2/change/enqueue``: the
body's ``routing_key`` names the change integration (maintenance.ChangeIntegration,
its key stored hashed); the same endpoint takes the key in the path
(``pagerduty/<key>/change/enqueue``) or in an ``Authorization: Bearer`` header,
and then the path's or header's key wins. ``payload.summary`` is required (at
most 1024 characters); ``payload.timestamp`` is the sender's clock, kept as
data; ``links`` are optional. Each event records a standard change (a deploy)
on the integration's service, or, when ``custom_details.change_id`` repeats,
answers with the change already recorded.

Answers: 202 once stored; 400 with the field path; 401 without a known key;
413 over 256 KB; 415 when not JSON; 405 for anything but POST.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ..models import ChangeIntegration, hash_token
from ..services import record_change_event

MAX_BODY_BYTES = 256 * 1024


class _Link(BaseModel):
    model_config = ConfigDict(extra="ignore")
    href: AnyHttpUrl
    text: str = Field(default="", max_length=1024)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(default="", max_length=255)
    timestamp: AwareDatetime | None = None
    custom_details: dict[str, Any] = Field(default_factory=dict)


class ChangeEvent(BaseModel):
    """A PagerDuty Events v2 change event."""

    model_config = ConfigDict(extra="ignore")
    routing_key: str = Field(default="", max_length=255)
    payload: _Payload
    links: list[_Link] = Field(default_factory=list, max_length=50)


def _answer(status: int, message: str, **extra: Any) -> JsonResponse:
    kind = "success" if status < 300 else "invalid event" if status == 400 else "error"
    return JsonResponse({"status": kind, "message": message, **extra}, status=status)


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


@csrf_exempt
@login_not_required
def change_enqueue(request: HttpRequest, token: str | None = None) -> JsonResponse:
    if request.method != "POST":
        response = _answer(405, "Use POST.")
        response["Allow"] = "POST"
        return response
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        return _answer(413, f"The body is limited to {MAX_BODY_BYTES} bytes.")
    if (request.content_type or "").lower() != "application/json":
        return _answer(415, "Send the event as application/json.")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _answer(400, "The body is not JSON.", errors=["body: not JSON"])
    try:
        event = ChangeEvent.model_validate(data)
    except ValidationError as error:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:20]]
        return _answer(400, "The event does not validate.", errors=errors)
    key = token or _bearer(request) or event.routing_key
    integration = (
        ChangeIntegration.objects.select_related("service").filter(token_hash=hash_token(key), enabled=True).first()
        if key
        else None
    )
    if integration is None:
        return _answer(401, "No change integration has this routing key.")
    sender: datetime | None = event.payload.timestamp
    change, created = record_change_event(
        integration=integration,
        summary=event.payload.summary,
        source=event.payload.source,
        sender_timestamp=sender,
        details=event.payload.custom_details,
        links=[{"href": str(link.href), "text": link.text} for link in event.links],
    )
    return _answer(
        202,
        "Change event processed" if created else "Change already recorded",
        change=str(change.uuid),
        number=change.number,
        flagged=change.conflicted,
    )
