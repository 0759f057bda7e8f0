"""The Celery application. Configuration lives in settings (CELERY_*), the beat schedule included.

Tasks are defined with opsgov.celery_tasks.opsgov_task and registered when their
modules are imported: opsgov.apps imports every installed app's ``tasks`` module
once Django is set up, in every process (Celery's Django fixup sets Django up in
a worker before it imports anything else), so no Celery autodiscovery is needed.
"""

import logging
import os
from typing import Any

from celery import Celery, signals

from opsgov.redaction import RedactSecretsFilter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsgov.settings")

app = Celery("opsgov")
app.config_from_object("django.conf:settings", namespace="CELERY")


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def redact_secrets_in_celery_logs(logger: logging.Logger, **kwargs: Any) -> None:
    """A worker or beat replaces the root's handlers with its own: they redact secrets too (settings.LOGGING)."""
    for handler in logger.handlers:
        if not any(isinstance(existing, RedactSecretsFilter) for existing in handler.filters):
            handler.addFilter(RedactSecretsFilter())
