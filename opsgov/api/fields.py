"""Serializer fields every app's API shares (incidents' history import and on-call rotations today)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 instant that must carry its offset: history is never guessed into a time zone."""

    default_error_messages = {
        "naive": "Include a time zone offset, e.g. 2026-11-20T10:15:30Z or 2026-11-20T11:15:30+01:00.",
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)
