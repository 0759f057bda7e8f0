"""System checks of opsgov's own settings, run by `manage.py check` (the deploy ones by `check --deploy`).

Registered from OpsgovConfig.ready(). Ids are opsgov.E0xx (errors).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.security, deploy=True)
def metrics_token_set(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """opsgov.E010: in production /metrics must require its bearer token.

    Without OPSGOV_METRICS_TOKEN, /metrics answers anyone who reaches it with
    the governance figures (services, open incidents, SLOs): fine on a laptop
    with DEBUG on, not for a deployment.
    """
    if settings.DEBUG or settings.OPSGOV_METRICS_TOKEN:
        return []
    return [
        Error(
            "OPSGOV_METRICS_TOKEN is not set, so /metrics is open to anyone who can reach it.",
            hint="Set OPSGOV_METRICS_TOKEN (or OPSGOV_METRICS_TOKEN_FILE) and give Prometheus the same bearer token "
            "(README, 'Prometheus scraping opsgov').",
            id="opsgov.E010",
        )
    ]
