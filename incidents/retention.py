"""The incidents app's evidence under the policy's retention periods (opsgov.retention)."""

from __future__ import annotations

from datetime import datetime

from opsgov.policy import Policy
from opsgov.retention import RetentionRule, cutoff_before

from .models import RawEvent


def raw_event_rule(policy: Policy, moment: datetime) -> RetentionRule:
    """Processed raw events received before the cut-off; unprocessed and dead-lettered ones stay."""
    period = policy.retention.raw_events
    return RetentionRule(
        label="incidents.RawEvent",
        description=f"processed raw events received before the cut-off (retention.raw_events = {period})",
        cutoff=cutoff_before(period, moment),
        queryset=lambda cutoff: RawEvent.objects.filter(processed_at__isnull=False, received_at__lt=cutoff),
    )
