"""Who leads an incident opened from an opsgov-internal alert that names one (opsgov.events.DETAIL_COMMANDER).

The security app escalates a true-positive security alert with the Security Lead who triaged it;
the incident opens with that user as commander. Only internal alerts (the service's "opsgov
monitoring" integration) are trusted with this; an unknown or inactive username names nobody.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from opsgov.events import DETAIL_COMMANDER


def commander_from(details: Any) -> Any:
    if not isinstance(details, dict):
        return None
    username = details.get(DETAIL_COMMANDER)
    if not isinstance(username, str) or not username:
        return None
    return get_user_model().objects.filter(username=username, is_active=True).first()
