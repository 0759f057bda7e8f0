"""Beat schedules that follow the policy's time zone.

`PolicyCrontab` is a Celery crontab read in ``policy.business_calendar.time_zone``
rather than CELERY_TIMEZONE, so "Monday 07:00" is 07:00 where the organisation
works, through DST changes, whatever time zone the servers run in. The zone is
read when beat evaluates the schedule (the policy is loaded lazily), so the
settings module can name the schedule before Django is set up.
"""

from __future__ import annotations

from datetime import tzinfo

from celery.schedules import crontab

from .policy import get_policy


class PolicyCrontab(crontab):
    """A crontab evaluated in the policy's time zone."""

    @property
    def tz(self) -> tzinfo:  # type: ignore[override]
        return get_policy().business_calendar.zone
