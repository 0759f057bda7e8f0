"""Access reviews (writes and reads): campaigns, CSV account lists, decisions, close, escalation, report.

- ``open_campaign``: a campaign due ``security.access_review_due_within`` (30 days) after it
  opens, listing every opsgov user (active ones, with their groups as entitlements) as rows of
  the system "opsgov". The policy's ``security.access_review_every`` (quarterly) is the cadence:
  ``next_due_at`` is when the next campaign should be closed by.
- ``import_accounts``: a CSV of another system's accounts (header ``system,account,person,
  entitlements,last_login``; entitlements separated by ``;``; last_login an ISO 8601 date or
  date-time, or empty). Every error names its line; one bad line refuses the whole file (one
  transaction). A row already listed (same system and account) is an error too.
- ``decide``: keep, revoke or change (with the entitlements to remove) for one row, by someone
  who is not the account's person (four eyes: the row's opsgov user, or a person matching the
  reviewer's username or e-mail).
- ``close_campaign``: once every row is decided; applies the decisions about opsgov accounts
  (revoke: the user is deactivated; change: removed from the named groups), each change written
  to the audit trail (django-auditlog, with the closer as actor) and noted on the row.
- ``escalate_due``: campaigns past their deadline with undecided rows get one e-mail to the
  Security Leads (an AccessReviewNotice through opsgov.outbox); a campaign is escalated once.
- ``report_rows``: the auditors' report, downloaded as CSV (opsgov.admin_export.csv_response) or
  shown as an HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time
from typing import Any

from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from opsgov.models import OutboxStatus
from opsgov.outbox import Outbox, OutboxPolicy
from opsgov.policy import get_policy
from opsgov.roles import SECURITY_LEAD

from . import csv_rows
from .models import (
    OPSGOV_SYSTEM,
    AccessDecision,
    AccessReviewCampaign,
    AccessReviewNotice,
    CampaignStatus,
    ReviewedAccount,
)

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("system", "account", "person", "entitlements", "last_login")
#: Most rows one CSV may hold.
MAX_CSV_ROWS = 20_000
NOTICES: Outbox[AccessReviewNotice] = Outbox(AccessReviewNotice, OutboxPolicy())


# --- Reads -----------------------------------------------------------------------------------


def campaigns() -> QuerySet[AccessReviewCampaign]:
    """Campaigns newest first, with their row counts (``total``, ``decided``, ``revoked``, ``changed``)."""
    return AccessReviewCampaign.objects.select_related("opened_by", "closed_by").annotate(
        total=Count("accounts"),
        decided=Count("accounts", filter=~Q(accounts__decision="")),
        revoked=Count("accounts", filter=Q(accounts__decision=AccessDecision.REVOKE)),
        changed=Count("accounts", filter=Q(accounts__decision=AccessDecision.CHANGE)),
    )


def last_completed(now: datetime) -> AccessReviewCampaign | None:
    return (
        AccessReviewCampaign.objects.filter(status=CampaignStatus.CLOSED, closed_at__lte=now)
        .order_by("-closed_at", "-id")
        .first()
    )


def next_due_at(now: datetime) -> datetime | None:
    """When the next campaign should be completed by: the last one's close plus the cadence (None: never run)."""
    last = last_completed(now)
    if last is None or last.closed_at is None:
        return None
    return get_policy().security.access_review_every.after(last.closed_at)


def _person_matches(user: Any, person: str) -> bool:
    person = person.strip().lower()
    if not person:
        return False
    names = {user.get_username().lower(), (user.email or "").lower(), user.get_full_name().lower()}
    return person in names - {""}


def may_decide(row: ReviewedAccount, user: Any) -> bool:
    """Four eyes: nobody decides about their own account."""
    if row.user_id is not None and row.user_id == user.pk:
        return False
    return not _person_matches(user, row.person)


# --- Campaigns -------------------------------------------------------------------------------


@transaction.atomic
def open_campaign(*, title: str, actor: Any, due_at: datetime | None = None, now: datetime | None = None) -> Any:
    """Open a campaign listing opsgov's own users (active ones) with their groups as entitlements."""
    now = now or timezone.now()
    due_at = due_at or get_policy().security.access_review_due_within.after(now)
    campaign = AccessReviewCampaign(title=title, opened_at=now, opened_by=actor, due_at=due_at, created_at=now)
    campaign.full_clean()
    campaign.save()
    users = get_user_model().objects.filter(is_active=True).prefetch_related("groups").order_by("username")
    ReviewedAccount.objects.bulk_create(
        [
            ReviewedAccount(
                campaign=campaign,
                system=OPSGOV_SYSTEM,
                account=user.get_username(),
                person=user.email or user.get_full_name(),
                user=user,
                entitlements=sorted(group.name for group in user.groups.all())
                + (["superuser"] if user.is_superuser else []),
                last_login=user.last_login,
                created_at=now,
            )
            for user in users
        ]
    )
    return campaign


def _parse_login(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            if day is None:
                raise ValueError
            moment = datetime.combine(day, time.min)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or date-time (e.g. 2026-11-30 or 2026-11-30T08:15Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _open(campaign: AccessReviewCampaign) -> AccessReviewCampaign:
    locked = AccessReviewCampaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status != CampaignStatus.OPEN:
        raise ValidationError({"campaign": [f"The campaign {locked.title!r} is closed."]})
    return locked


@transaction.atomic
def import_accounts(*, campaign: AccessReviewCampaign, text: str, now: datetime | None = None) -> int:
    """Add another system's accounts from CSV (all or nothing); returns the rows added."""
    now = now or timezone.now()
    campaign = _open(campaign)
    existing = set(campaign.accounts.values_list("system", "account"))
    errors: list[str] = []
    rows: list[ReviewedAccount] = []
    for line, values in csv_rows.read(text, CSV_COLUMNS, max_rows=MAX_CSV_ROWS, errors=errors):
        problems = []
        for column in ("system", "account"):
            if not values[column]:
                problems.append(f"{column}: required")
        if values["system"].lower() == OPSGOV_SYSTEM:
            problems.append(f"system: {OPSGOV_SYSTEM!r} accounts are listed from opsgov itself, not imported")
        try:
            last_login = _parse_login(values["last_login"])
        except ValueError as exc:
            problems.append(f"last_login: {exc}")
            last_login = None
        key = (values["system"], values["account"])
        if not problems and key in existing:
            problems.append(f"account: {key[0]}:{key[1]} is listed already")
        if problems:
            errors.extend(f"line {line}: {problem}" for problem in problems)
            continue
        existing.add(key)
        rows.append(
            ReviewedAccount(
                campaign=campaign,
                system=values["system"][:100],
                account=values["account"][:200],
                person=values["person"][:200],
                entitlements=[part.strip() for part in values["entitlements"].split(";") if part.strip()],
                last_login=last_login,
                line=line,
                created_at=now,
            )
        )
    if errors:
        raise ValidationError({"csv": errors})
    if not rows:
        raise ValidationError({"csv": ["the file lists no account"]})
    ReviewedAccount.objects.bulk_create(rows)
    return len(rows)


@transaction.atomic
def decide(
    *,
    row: ReviewedAccount,
    decision: str,
    actor: Any,
    remove_entitlements: list[str] | None = None,
    comment: str = "",
    now: datetime | None = None,
) -> ReviewedAccount:
    """Record a reviewer's decision on one row (a later decision before close replaces it)."""
    now = now or timezone.now()
    _open(row.campaign)
    row = ReviewedAccount.objects.select_for_update().get(pk=row.pk)
    if not may_decide(row, actor):
        raise PermissionDenied("Four eyes: you may not review your own account; another reviewer decides it.")
    if decision not in AccessDecision.values:
        raise ValidationError({"decision": [f"{decision!r} is not one of {', '.join(AccessDecision.values)}"]})
    remove = [name for name in (remove_entitlements or []) if name]
    if decision == AccessDecision.CHANGE:
        unknown = [name for name in remove if name not in row.entitlements]
        if not remove:
            raise ValidationError({"remove_entitlements": ["a change names the entitlements to remove"]})
        if unknown:
            raise ValidationError(
                {
                    "remove_entitlements": [
                        f"{', '.join(unknown)}: not among the account's {', '.join(row.entitlements)}"
                    ]
                }
            )
    elif remove:
        raise ValidationError({"remove_entitlements": ["only a change removes entitlements"]})
    row.decision, row.remove_entitlements, row.comment = decision, remove, comment
    row.decided_by, row.decided_at = actor, now
    row.full_clean()
    row.save(update_fields=["decision", "remove_entitlements", "comment", "decided_by", "decided_at", "updated_at"])
    return row


@transaction.atomic
def close_campaign(*, campaign: AccessReviewCampaign, actor: Any, now: datetime | None = None) -> Any:
    """Close a fully decided campaign and apply its decisions about opsgov accounts (audited)."""
    now = now or timezone.now()
    campaign = _open(campaign)
    undecided = campaign.accounts.filter(decision="").count()
    if undecided:
        raise ValidationError({"campaign": [f"{undecided} row(s) are undecided: decide every row before closing."]})
    rows = (
        campaign.accounts.select_for_update()
        .filter(system=OPSGOV_SYSTEM, user__isnull=False)
        .exclude(decision=AccessDecision.KEEP)
        .select_related("user")
    )
    with set_actor(actor):
        for row in rows:
            row.apply_result = _apply(row, campaign)
            row.applied_at = now
            row.save(update_fields=["apply_result", "applied_at", "updated_at"])
    campaign.status, campaign.closed_at, campaign.closed_by = CampaignStatus.CLOSED, now, actor
    campaign.save(update_fields=["status", "closed_at", "closed_by", "updated_at"])
    return campaign


def _apply(row: ReviewedAccount, campaign: AccessReviewCampaign) -> str:
    user = row.user
    assert user is not None
    if row.decision == AccessDecision.REVOKE:
        if not user.is_active:
            return "already deactivated"
        user.is_active = False
        user.save(update_fields=["is_active"])  # audited: auditlog registers the user model (opsgov.apps)
        _note(row, campaign, f"deactivated {user.get_username()}")
        return "deactivated"
    groups = list(Group.objects.filter(name__in=row.remove_entitlements, user=user))
    user.groups.remove(*groups)  # audited as an m2m change of the user (opsgov.apps)
    removed = sorted(group.name for group in groups)
    _note(row, campaign, f"removed {user.get_username()} from {', '.join(removed) or 'no group'}")
    return f"removed from {', '.join(removed)}" if removed else "no group to remove"


def _note(row: ReviewedAccount, campaign: AccessReviewCampaign, what: str) -> None:
    """The campaign's reason, next to the user's own change rows in the audit trail."""
    LogEntry.objects.log_create(
        row,
        force_log=True,
        action=LogEntry.Action.UPDATE,
        changes={"applied": [None, what]},
        additional_data={"access_review": campaign.pk, "decision": row.decision, "decided_by": row.decided_by_id},
    )


# --- Escalation ------------------------------------------------------------------------------


def _leads() -> list[str]:
    users = get_user_model().objects.filter(groups__name=SECURITY_LEAD, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def escalate_due(*, now: datetime | None = None) -> int:
    """Escalate once each open campaign past its deadline with undecided rows; deliver due notices.

    Returns the messages sent. A campaign is claimed with a conditional UPDATE of ``escalated_at``,
    so two workers never write two notices for it.
    """
    now = now or timezone.now()
    for campaign_id in AccessReviewCampaign.objects.filter(
        status=CampaignStatus.OPEN, due_at__lte=now, escalated_at__isnull=True
    ).values_list("pk", flat=True):
        _write_notice(campaign_id, now)
    NOTICES.fail_lost(now=now)
    sent = 0
    for notice_id in NOTICES.due(now=now).order_by("pk").values_list("pk", flat=True)[:50]:
        sent += _deliver(notice_id, now=now)
    return sent


def _write_notice(campaign_id: int, now: datetime) -> None:
    with transaction.atomic():
        if not AccessReviewCampaign.objects.filter(pk=campaign_id, escalated_at__isnull=True).update(escalated_at=now):
            return
        campaign = AccessReviewCampaign.objects.get(pk=campaign_id)
        undecided = list(campaign.accounts.filter(decision="").order_by("system", "account")[:51])
        if not undecided:
            return
        count = campaign.accounts.filter(decision="").count()
        recipients = _leads()
        if not recipients:
            logger.error(
                "Access review %s: %d undecided row(s) past due and no Security Lead e-mail", campaign_id, count
            )
            return
        base = settings.OPSGOV_BASE_URL.rstrip("/")
        lines = [
            f"The access review {campaign.title!r} was due {campaign.due_at:%Y-%m-%d %H:%M} UTC "
            f"and {count} row(s) are still undecided:",
            "",
            *(f"- {row.system}:{row.account} ({row.person or 'no person'})" for row in undecided[:50]),
        ]
        if count > 50:
            lines.append(f"- and {count - 50} more")
        lines += [
            "",
            "Decide them (keep, revoke or change), then close the campaign:",
            f"{base}{reverse('security:access-review-detail', args=[campaign.pk])}",
            "",
            "You get this e-mail as a Security Lead.",
        ]
        AccessReviewNotice.objects.create(
            campaign=campaign,
            undecided=count,
            recipients=recipients,
            subject=f"[opsgov] Access review {campaign.title}: {count} row(s) undecided past the deadline",
            body="\n".join(lines),
            next_attempt_at=now,
            created_at=now,
        )


def _deliver(notice_id: int, *, now: datetime) -> int:
    return int(NOTICES.send_email(notice_id, _email, now=now) == OutboxStatus.SENT)


def _email(notice: AccessReviewNotice) -> EmailMessage:
    return EmailMessage(
        subject=notice.subject,
        body=notice.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(notice.recipients),
        headers={"Auto-Submitted": "auto-generated", "X-Opsgov-Access-Review": str(notice.campaign_id)},
    )


# --- Report ----------------------------------------------------------------------------------

REPORT_COLUMNS = (
    "system",
    "account",
    "person",
    "entitlements",
    "last_login",
    "decision",
    "remove_entitlements",
    "decided_by",
    "decided_at",
    "comment",
    "applied_at",
    "apply_result",
)


def report_rows(campaign: AccessReviewCampaign) -> Iterator[list[str]]:
    def stamp(moment: datetime | None) -> str:
        return moment.astimezone(UTC).isoformat() if moment else ""

    for row in campaign.accounts.select_related("decided_by").order_by("system", "account"):
        yield [
            row.system,
            row.account,
            row.person,
            "; ".join(row.entitlements),
            stamp(row.last_login),
            row.decision,
            "; ".join(row.remove_entitlements),
            row.decided_by.get_username() if row.decided_by else "",
            stamp(row.decided_at),
            row.comment,
            stamp(row.applied_at),
            row.apply_result,
        ]
