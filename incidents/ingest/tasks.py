"""Celery task of ingestion: telling the owners about dead letters (incidents.ingest.dead_letters).

`notify_dead_letters()` runs from beat every minute ("notify-dead-letters" in
CELERY_BEAT_SCHEDULE) and right after a processing task dead-letters an event
(incidents.tasks), so the owners hear about it within a minute at the latest.
Its registered name is the one it had in incidents.dead_letter_tasks, which
the beat schedule and messages already queued use. incidents.tasks imports
this module, so that a worker knows the task.
"""

from __future__ import annotations

import logging

from opsgov.celery_tasks import opsgov_task
from opsgov.publishing import publish

from . import dead_letters

logger = logging.getLogger(__name__)


@opsgov_task("incidents.dead_letter_tasks.notify_dead_letters", time_limit=120, soft_time_limit=100)
def notify_dead_letters() -> int:
    """E-mail the owners of dead letters not notified yet; returns how many messages were sent."""
    return dead_letters.notify_pending()


def enqueue_notify() -> bool:
    """Publish notify_dead_letters now; False (logged) on a broker outage: beat runs it within a minute anyway."""
    return publish(
        notify_dead_letters,
        (),
        logger=logger,
        what="the dead-letter notification",
        then="beat runs it within a minute",
    )
