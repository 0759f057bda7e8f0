"""Records of the scheduled email reports: who wants which report, and what was sent to whom.

Written by opsgov.reports.services.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .core import TimeStampedModel
from .outbox import OutboxMessage


class ReportKind(models.TextChoices):
    WEEKLY = "weekly", "Weekly operations report"
    MONTHLY = "monthly", "Monthly governance report"


class ReportSubscription(TimeStampedModel):
    """A user's own choice about one report: receive it or not.

    Without a row the user's role decides (opsgov.reports.services.REPORT_ROLES: SRE leads
    get the weekly report, compliance officers the monthly one), so a row is
    written only when someone opts in or out.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions")
    kind = models.CharField(max_length=16, choices=ReportKind.choices)
    subscribed = models.BooleanField(help_text="Receive this report (opted in) or not (opted out).")

    class Meta:
        ordering = ["user", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="report_subscription_one_per_user_kind"),
            models.CheckConstraint(condition=Q(kind__in=["weekly", "monthly"]), name="report_subscription_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {'subscribed to' if self.subscribed else 'opted out of'} the {self.kind} report"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class ReportDelivery(OutboxMessage):
    """One report of one period to one recipient.

    The row is claimed (a conditional UPDATE to "sending" with a lease) before
    the message is handed to the mail server and marked "sent" after, and the
    unique (kind, period_start, user) makes it one row per period and recipient:
    a doubled beat, two workers or a retried task send the report once
    (opsgov.outbox: the lease is in `lease_until`, and a failed attempt waits as
    "failed" for the task's next run).
    """

    kind = models.CharField(max_length=16, choices=ReportKind.choices)
    period_start = models.DateField(help_text="First day of the reported period (policy time zone).")
    period_end = models.DateField(help_text="First day after the reported period.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_deliveries")
    email = models.EmailField(help_text="The address the report went (or goes) to.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    next_attempt_at = None  # type: ignore[assignment]  # no stored retry time; the lease is lease_until
    claim = models.UUIDField(null=True, blank=True, editable=False, help_text="The sender holding the row.")
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="While sending: after this another sender may take the row over."
    )

    class Meta:
        ordering = ["-period_start", "kind", "user"]
        verbose_name_plural = "report deliveries"
        constraints = [
            # opsgov.reports.services.send_report: one row, hence one message, per period and recipient.
            models.UniqueConstraint(fields=["kind", "period_start", "user"], name="report_delivery_once_per_period"),
            models.CheckConstraint(condition=Q(period_start__lt=models.F("period_end")), name="report_delivery_period"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "sent", "failed"]), name="report_delivery_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} report {self.period_start} to {self.email}: {self.status}"
