"""The networks each personal API token was used from (opsgov.tokens.networks)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TokenNetwork(models.Model):
    """One network (/24 of IPv4, /64 of IPv6) a knox token was used from; the first use from a network
    the token had not been used from before raises a "token_new_network" security signal."""

    token = models.ForeignKey(settings.KNOX_TOKEN_MODEL, on_delete=models.CASCADE, related_name="networks")
    network = models.CharField(max_length=64, help_text="e.g. 203.0.113.0/24 or 2001:db8:1:2::/64")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(help_text="Refreshed at most once a day (the check is cached).")

    class Meta:
        ordering = ["first_seen_at", "id"]
        constraints = [models.UniqueConstraint(fields=["token", "network"], name="opsgov_token_network_once")]

    def __str__(self) -> str:
        return f"{self.network} for token {self.token_id[:8]}"
