"""CSAT surveys (one per resolved ticket), low-rating follow-ups, and NPS campaigns."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from opsgov.models import Service, Team, TimeStampedModel

from .contacts import Contact
from .tickets import Ticket


class CsatSurvey(TimeStampedModel):
    """The rating link sent on resolution, and the answer (1-5, one per ticket).

    Who worked the ticket is copied when the survey is sent, so results per agent, team, service and
    priority stay what they were when the customer answered.
    """

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="survey")
    sent_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True)
    service = models.ForeignKey(Service, on_delete=models.SET_NULL, null=True, blank=True)
    priority = models.CharField(max_length=8)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="csat_rating_1_to_5"
            ),
        ]
        indexes = [
            # The satisfaction metric: answers in a window.
            models.Index(fields=["answered_at"], condition=Q(rating__isnull=False), name="csat_answered_idx"),
        ]

    def __str__(self) -> str:
        return f"CSAT {self.ticket_id}: {self.rating or '—'}"


class FollowUp(TimeStampedModel):
    """Work for the team lead after a rating of 1 or 2."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="follow_ups")
    survey = models.OneToOneField(CsatSurvey, on_delete=models.CASCADE, related_name="follow_up")
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True)
    reason = models.CharField(max_length=300)
    done_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.reason


class NpsCampaign(TimeStampedModel):
    """A round of NPS surveys to contacts."""

    name = models.CharField(max_length=200)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class NpsResponse(TimeStampedModel):
    """One contact's survey in a campaign: 0-10 and a comment tagged by category."""

    campaign = models.ForeignKey(NpsCampaign, on_delete=models.CASCADE, related_name="responses")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="nps_responses")
    sent_at = models.DateTimeField()
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    categories = models.JSONField(default=list, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="nps_one_per_campaign_contact"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=10), name="nps_score_0_to_10"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.score}"
