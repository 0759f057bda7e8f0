"""Requesters: the people and organisations tickets come from."""

from __future__ import annotations

from django.db import models

from opsgov.models import TimeStampedModel


class Contact(TimeStampedModel):
    """A requester, known by e-mail address; bounces are recorded against the address."""

    email = models.EmailField(unique=True, help_text="Stored lower-case; the key a reply is matched on.")
    name = models.CharField(max_length=200, blank=True)
    organisation = models.CharField(max_length=200, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True, help_text="The last delivery failure reported.")
    bounce_reason = models.TextField(blank=True)
    last_nps_survey_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email
