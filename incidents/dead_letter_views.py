"""The dead-letter page (incidents.dead_letters): accepted alert events whose processing failed, and their replay.

Seen by whoever may see integrations; replayed by holders of incidents.replay_rawevent
(SRE Lead), one event per POST (post/redirect/get, the outcome as a message).
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from opsgov.errors import DomainError
from opsgov.views import paginate

from . import dead_letters
from .ingestion import MAX_ATTEMPTS
from .models import Integration, RawEvent
from .views import VIEW_INTEGRATION_PERMISSION


def _integration_uuid(request: HttpRequest) -> uuid.UUID | None:
    """The ?integration=<uuid> filter; None when absent. ValueError for a value that is not a UUID."""
    value = request.GET.get("integration", "").strip()
    return uuid.UUID(value) if value else None


def dead_letter_list_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(VIEW_INTEGRATION_PERMISSION):
        raise PermissionDenied
    try:
        wanted = _integration_uuid(request)
    except ValueError:
        messages.error(request, "integration: not a valid UUID; showing every integration.")
        return redirect("dead-letter-list")
    integration = (
        get_object_or_404(Integration.objects.select_related("service"), uuid=wanted) if wanted is not None else None
    )
    events = dead_letters.dead_letters()
    if integration is not None:
        events = events.filter(integration=integration)
    context = {
        "page": paginate(request, events),
        "integration": integration,
        "by_integration": dead_letters.by_integration(),
        "can_replay": dead_letters.may_replay(request.user),
        "max_attempts": MAX_ATTEMPTS,
    }
    return render(request, "incidents/dead_letter_list.html", context)


@require_POST
def dead_letter_replay_view(request: HttpRequest, event_uuid: str) -> HttpResponseRedirect:
    if not dead_letters.may_replay(request.user):
        raise PermissionDenied("Your roles do not allow replaying dead letters (SRE Lead).")
    event = get_object_or_404(RawEvent.objects.select_related("integration"), uuid=event_uuid)
    try:
        dead_letters.replay(event=event, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Replayed: the {event.action} event for {event.dedup_key} is being processed again.")
    return HttpResponseRedirect(reverse("dead-letter-list") + f"?integration={event.integration.uuid}")
