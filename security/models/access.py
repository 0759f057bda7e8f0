"""Access reviews: campaigns in which reviewers decide, account by account, who keeps which access.

A campaign lists accounts of opsgov itself (its users and their groups, taken when the campaign
opens) and of other systems (imported as CSV). Each row gets a decision (keep, revoke, change);
when the campaign closes, the decisions about opsgov accounts are applied (security.access_reviews).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from opsgov.models import OutboxMessage, TimeStampedModel

#: The system name of opsgov's own accounts (its users; entitlements are its groups).
OPSGOV_SYSTEM = "opsgov"


class CampaignStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class AccessDecision(models.TextChoices):
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"
    CHANGE = "change", "Change"


class AccessReviewCampaign(TimeStampedModel):
    """One access review: opened on the policy's cadence (``security.access_review_every``), decided
    by its deadline, closed once every row is decided. It is the gate's "access review completed"."""

    title = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=CampaignStatus.choices, default=CampaignStatus.OPEN)
    opened_at = models.DateTimeField()
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_at = models.DateTimeField(help_text="Rows still undecided then are escalated to the Security Leads.")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    escalated_at = models.DateTimeField(
        null=True, blank=True, help_text="When its undecided rows were escalated (once per campaign)."
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(due_at__gt=F("opened_at")), name="accessreview_due_after_open"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True) | Q(status="closed", closed_at__isnull=False),
                name="accessreview_closed_has_time",
            ),
        ]
        indexes = [
            # The gate and the metric: the newest closed campaign; the escalation scan: open ones past due.
            models.Index(fields=["status", "closed_at"], name="security_review_status_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class ReviewedAccount(TimeStampedModel):
    """One account of one system in a campaign, with its entitlements as listed, and the decision on it.

    ``user`` is set for opsgov's own accounts (whose decisions are applied at close); ``person`` names
    who the account belongs to (the reviewer of a row may not be that person: four eyes).
    ``remove_entitlements`` lists what a "change" takes away (for opsgov accounts: group names).
    """

    campaign = models.ForeignKey(AccessReviewCampaign, on_delete=models.PROTECT, related_name="accounts")
    system = models.CharField(max_length=100)
    account = models.CharField(max_length=200)
    person = models.CharField(max_length=200, blank=True, help_text="Name or e-mail of the account's owner.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reviewed_accounts",
        help_text="The opsgov user (opsgov's own accounts only).",
    )
    entitlements = models.JSONField(default=list, blank=True)
    last_login = models.DateTimeField(null=True, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True, help_text="Its line in the imported CSV.")
    decision = models.CharField(max_length=8, choices=AccessDecision.choices, blank=True)
    remove_entitlements = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True, help_text="When the decision was applied in opsgov.")
    apply_result = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["campaign_id", "system", "account"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "system", "account"], name="security_reviewed_account_once"),
            models.CheckConstraint(
                condition=Q(decision="") | Q(decided_at__isnull=False), name="reviewedaccount_decision_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system}:{self.account}"


class AccessReviewNotice(OutboxMessage):
    """The e-mail escalating a campaign's undecided rows to the Security Leads at its deadline,
    delivered through opsgov.outbox (claimed once, retried with backoff)."""

    campaign = models.ForeignKey(AccessReviewCampaign, on_delete=models.PROTECT, related_name="notices")
    undecided = models.PositiveIntegerField()
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=255)
    body = models.TextField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="accessreviewnotice_due_idx")]

    def __str__(self) -> str:
        return self.subject
