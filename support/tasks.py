"""Celery tasks of the support app; the beat entries are in settings.CELERY_BEAT_SCHEDULE."""

from __future__ import annotations

import logging

from django.conf import settings

from opsgov.celery_tasks import opsgov_task

from . import mail_in, mail_out, services

logger = logging.getLogger(__name__)


@opsgov_task("support.fetch_mail", time_limit=120, soft_time_limit=100)
def fetch_mail() -> int:
    """Fetch the support mailbox once (nothing while SUPPORT_IMAP_URL is empty); returns messages handled."""
    if not settings.SUPPORT_IMAP_URL:
        return 0
    try:
        result = mail_in.fetch_mailbox()
    except (OSError, ValueError) as exc:  # recorded on MailboxState; the gate shows a stale mailbox
        logger.warning("Support mailbox not fetched: %s", exc)
        return 0
    return result.handled


@opsgov_task("support.deliver_email", time_limit=60, soft_time_limit=45, retry_db_errors=True)
def deliver_email(email_id: int) -> str:
    return mail_out.deliver(email_id)


@opsgov_task("support.retry_emails", time_limit=60, soft_time_limit=45)
def retry_emails() -> int:
    return mail_out.retry_due()


@opsgov_task("support.sla_cycle", time_limit=120, soft_time_limit=100)
def sla_cycle() -> int:
    return services.run_sla_cycle()


@opsgov_task("support.auto_close", time_limit=300, soft_time_limit=280)
def auto_close() -> int:
    return services.auto_close()
