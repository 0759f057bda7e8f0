"""Celery tasks of the security area (thin wrappers around its services; beat: CELERY_BEAT_SCHEDULE in settings).

- ``security.tasks.escalate_access_reviews``: every 15 minutes (beat), open access review campaigns
  past their deadline with undecided rows are escalated once to the Security Leads, and due
  escalation e-mails are delivered through the outbox (security.access_reviews.escalate_due).

- ``security.tasks.note_expired_acceptances`` (hourly): a risk acceptance that ran out while its finding
  is still open puts the finding back in the overdue count (it is computed at read time, so nothing
  else changes); so that people hear of it, each such expiry becomes one alert in the security alert
  queue ("Risk acceptance expired", severity of the finding, the finding and acceptance in its fields).
  Expiries of the last ``LOOKBACK`` are considered; an acceptance already noted is not noted again
  (looked up by the alert's fields), so a rerun, a late run or two workers change nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from opsgov.celery_tasks import opsgov_task

from . import access_reviews, alerts
from .models import AlertSource, FindingStatus, RiskAcceptance, SecurityAlert

EXPIRED_RULE = "Risk acceptance expired"
#: How far back expiries are looked for (a beat outage shorter than this loses nothing).
LOOKBACK = timedelta(days=30)


def note_expired(now: datetime) -> int:
    """Alert once per acceptance that expired in the last LOOKBACK with its finding still open; how many."""
    expired = list(
        RiskAcceptance.objects.filter(
            approved_at__isnull=False,
            revoked_at__isnull=True,
            expires_at__lte=now,
            expires_at__gt=now - LOOKBACK,
            finding__status=FindingStatus.OPEN,
        )
        .select_related("finding", "finding__asset", "requested_by", "approver")
        .order_by("expires_at", "id")
    )
    if not expired:
        return 0
    with transaction.atomic():
        # Serialise concurrent runs on the acceptances themselves, then skip those noted already.
        list(RiskAcceptance.objects.select_for_update().filter(pk__in=[a.pk for a in expired]).values_list("pk"))
        noted = set(
            SecurityAlert.objects.filter(
                source=AlertSource.OPSGOV, rule=EXPIRED_RULE, fields__acceptance__in=[a.pk for a in expired]
            ).values_list("fields__acceptance", flat=True)
        )
        count = 0
        for acceptance in expired:
            if acceptance.pk in noted:
                continue
            finding = acceptance.finding
            alerts.record_signal(
                rule=EXPIRED_RULE,
                title=f"Risk acceptance of {finding.vulnerability_id} in {finding.package_name} on "
                f"{finding.asset.name} expired: the finding counts as overdue again",
                severity=finding.severity,
                details={
                    "acceptance": acceptance.pk,
                    "finding": finding.pk,
                    "expired_at": acceptance.expires_at.isoformat(),
                    "requested_by": acceptance.requested_by.get_username(),
                    "approver": acceptance.approver.get_username(),
                },
                now=now,
            )
            count += 1
    return count


@opsgov_task("security.tasks.note_expired_acceptances", time_limit=120, soft_time_limit=100, retry_db_errors=True)
def note_expired_acceptances() -> int:
    return note_expired(timezone.now())


@opsgov_task("security.tasks.escalate_access_reviews", time_limit=120, soft_time_limit=100, retry_db_errors=True)
def escalate_access_reviews() -> int:
    return access_reviews.escalate_due()
