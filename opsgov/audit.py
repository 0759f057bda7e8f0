"""The audit trail beyond django-auditlog's model registrations.

- Security events (logins, logouts, failed logins, lockouts, unlocks, retention runs) become
  LogEntry rows with action "access" and the event's name in ``additional_data["event"]``,
  so they appear in the admin's audit trail and its CSV export next to record changes.
- API tokens (knox AuthToken) are audited here rather than by auditlog's registry: knox's
  primary key and ``str()`` are the token's digest, which must never reach the trail; the
  rows name the token by its ``token_key`` prefix only.
- Every LogEntry is sealed (AuditSeal): a SHA-256 hash chained to the previous seal, written
  while the chain head is locked, in the transaction that wrote the entry when there is one.
  ``verify_chain`` (``manage.py verify_audit_trail``) walks the chain and names the first
  broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.http import HttpRequest

from .models import AuditChainHead, AuditSeal

GENESIS_HASH = "0" * 64

# additional_data["event"] of the security events.
LOGIN = "login"
LOGOUT = "logout"
LOGIN_FAILED = "login_failed"
LOCKED_OUT = "locked_out"
LOGIN_REFUSED_LOCKED = "login_refused_locked"
UNLOCKED = "unlocked"
RETENTION_APPLIED = "retention_applied"


def mask_secret(value: str) -> str:
    """auditlog's mask for password hashes: that it changed shows, nothing of the value does
    (auditlog's default mask keeps half of the string)."""
    return "(unset)" if value in ("", "None") else "(hidden)"


def remote_addr_of(request: HttpRequest | None) -> str | None:
    """The client address as the server saw it (REMOTE_ADDR; a proxy in front sets it, see README)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record_event(
    event: str,
    *,
    request: HttpRequest | None = None,
    actor: Any = None,
    target: models.Model | None = None,
    target_repr: str = "",
    details: dict[str, Any] | None = None,
    changes: dict[str, list[Any]] | None = None,
) -> LogEntry:
    """Write one security or system event to the audit trail (sealed in the same transaction).

    `target` is the record the event is about (the user who logged in); without one the row is
    filed under the audit trail itself. `details` must never hold secrets (passwords, tokens).
    """
    content_type = ContentType.objects.get_for_model(target if target is not None else LogEntry)
    pk = target.pk if target is not None else None
    with transaction.atomic():
        return LogEntry.objects.create(
            content_type=content_type,
            object_pk="" if pk is None else str(pk),
            object_id=pk if isinstance(pk, int) else None,
            object_repr=target_repr or (str(target) if target is not None else event),
            action=LogEntry.Action.ACCESS,
            changes=changes or {},
            actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
            remote_addr=remote_addr_of(request),
            additional_data={"event": event, **(details or {})},
        )


# --- Logins, logouts, failed logins -------------------------------------------------


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record_event(LOGIN, request=request, actor=user, target=user)


def on_user_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record_event(LOGOUT, request=request, actor=user, target=user)


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """A failed login names the username tried (never the password, which Django has already masked)."""
    user_model = get_user_model()
    username = str(credentials.get(user_model.USERNAME_FIELD) or credentials.get("username") or "")[:150]
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first() if username else None
    record_event(
        LOGIN_FAILED,
        request=request,
        target=user,
        target_repr=username or "(no username)",
        details={"username": username, "known_user": user is not None},
    )


def on_user_locked_out(sender: Any, request: HttpRequest | None, username: str | None, **kwargs: Any) -> None:
    """django-axes locked an account after too many failures, or refused a login while it is locked.

    Axes sends the signal in both cases; only the lockout itself has counted the failures.
    """
    failures = getattr(request, "axes_failures_since_start", None)
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first() if username else None
    record_event(
        LOCKED_OUT if failures is not None else LOGIN_REFUSED_LOCKED,
        request=request,
        target=user,
        target_repr=username or "(no username)",
        details={
            "username": username or "",
            "failures": failures,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "lockout_minutes": settings.LOGIN_LOCKOUT_MINUTES,
        },
    )


# --- API tokens (knox) ----------------------------------------------------------------


def _token_changes(token: Any, *, created: bool) -> dict[str, list[Any]]:
    values = {
        "token_key": token.token_key,
        "user": str(token.user_id),
        "expiry": token.expiry.isoformat() if token.expiry else None,
    }
    return {field: [None, value] if created else [value, None] for field, value in values.items()}


def _token_repr(token: Any) -> str:
    return f"API token {token.token_key}… of {token.user}"


def _log_token(token: Any, action: int, *, created: bool) -> None:
    """A token row named by its key prefix; actor and address come from auditlog's request context."""
    with transaction.atomic():
        LogEntry.objects.create(
            content_type=ContentType.objects.get_for_model(type(token)),
            object_pk=token.token_key,
            object_repr=_token_repr(token),
            action=action,
            changes=_token_changes(token, created=created),
            additional_data={"event": "token_created" if created else "token_revoked"},
        )


def on_token_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        _log_token(instance, LogEntry.Action.CREATE, created=True)


def on_token_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _log_token(instance, LogEntry.Action.DELETE, created=False)


# --- Seals: the hash chain ------------------------------------------------------------


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


# The LogEntry columns a seal covers, fixed so that a column a later django-auditlog adds does not
# change the content of rows sealed before it.
SEALED_FIELDS: tuple[str, ...] = (
    "action",
    "actor_email",
    "actor_id",
    "additional_data",
    "changes",
    "changes_text",
    "cid",
    "content_type_id",
    "id",
    "object_id",
    "object_pk",
    "object_repr",
    "remote_addr",
    "remote_port",
    "serialized_data",
    "timestamp",
)


def canonical_rows(model: type[models.Model], pks: list[int]) -> dict[int, str]:
    """Canonical JSON of each entry as stored (read back from the database, so sealing and
    verification see the same values)."""
    fields = SEALED_FIELDS
    rows = model._default_manager.filter(pk__in=pks).values(*fields)
    return {
        row["id"]: json.dumps(
            {name: _canonical_value(row[name]) for name in fields}, sort_keys=True, separators=(",", ":"), default=str
        )
        for row in rows
    }


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def seal_entries(
    entry_ids: list[int],
    *,
    entry_model: type[models.Model] = LogEntry,
    seal_model: type[models.Model] = AuditSeal,
    head_model: type[models.Model] = AuditChainHead,
) -> None:
    """Append seals for `entry_ids` (in that order) under the chain head's row lock.

    Takes the models as arguments so the migration that introduced seals can seal existing rows
    with historical models.
    """
    with transaction.atomic():
        head: Any = head_model._default_manager.select_for_update().filter(pk=1).first()
        if head is None:  # a fresh or flushed database: create the head, then lock it
            head_model._default_manager.get_or_create(pk=1)
            head = head_model._default_manager.select_for_update().get(pk=1)
        contents = canonical_rows(entry_model, entry_ids)
        for entry_id in entry_ids:
            content = contents[entry_id]
            sequence = head.sequence + 1
            digest = chain_hash(head.hash, content)
            seal_model._default_manager.create(
                entry_id=entry_id, sequence=sequence, prev_hash=head.hash, hash=digest, content=content
            )
            head.sequence, head.hash = sequence, digest
        head.save(update_fields=["sequence", "hash", "updated_at"])


def on_log_entry_saved(sender: Any, instance: LogEntry, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """Seal each new entry. Inside the writer's transaction when it has one (admin, services);
    an entry written in autocommit is already committed, and a failure here leaves it unsealed,
    which verify_audit_trail then reports."""
    if created and not raw:
        seal_entries([instance.pk])


# --- Verification ---------------------------------------------------------------------


@dataclass
class ChainReport:
    checked: int
    broken: str | None  # the first broken link, described; None when intact
    last_sequence: int


def _describe_difference(sealed: str, current: str) -> str:
    before, after = json.loads(sealed), json.loads(current)
    changed = [
        f"{name}: sealed {before.get(name)!r}, now {after.get(name)!r}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
    return "; ".join(changed) or "content differs"


def verify_chain(*, batch_size: int = 1000, progress: Callable[[int], None] | None = None) -> ChainReport:
    """Walk the seals in sequence order, in batches, and stop at the first broken link."""
    expected_prev = GENESIS_HASH
    checked = 0
    last_sequence = 0

    def broken(message: str) -> ChainReport:
        return ChainReport(checked=checked, broken=message, last_sequence=last_sequence)

    while True:
        batch = list(AuditSeal.objects.filter(sequence__gt=last_sequence).order_by("sequence")[:batch_size])
        if not batch:
            break
        current = canonical_rows(LogEntry, [seal.entry_id for seal in batch])
        for seal in batch:
            if seal.sequence != last_sequence + 1:
                return broken(
                    f"seal {last_sequence + 1} is missing (the next seal is {seal.sequence}, entry {seal.entry_id})"
                )
            if seal.prev_hash != expected_prev:
                return broken(
                    f"entry {seal.entry_id} (seal {seal.sequence}): prev_hash does not match the previous seal's hash"
                )
            if chain_hash(seal.prev_hash, seal.content) != seal.hash:
                return broken(
                    f"entry {seal.entry_id} (seal {seal.sequence}): the seal's hash does not match its content"
                )
            if seal.entry_id not in current:
                return broken(f"entry {seal.entry_id} (seal {seal.sequence}) has been deleted")
            if current[seal.entry_id] != seal.content:
                difference = _describe_difference(seal.content, current[seal.entry_id])
                return broken(f"entry {seal.entry_id} (seal {seal.sequence}) was changed after sealing: {difference}")
            expected_prev = seal.hash
            last_sequence = seal.sequence
            checked += 1
        if progress is not None:
            progress(checked)
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.sequence, head.hash) != (last_sequence, expected_prev):
        return broken(
            f"the chain ends at seal {last_sequence} but its head records seal {head.sequence}: "
            "the last seals have been deleted"
        )
    unsealed = LogEntry.objects.filter(seal__isnull=True).order_by("pk").values_list("pk", flat=True).first()
    if unsealed is not None:
        return broken(f"entry {unsealed} has no seal")
    return ChainReport(checked=checked, broken=None, last_sequence=last_sequence)


def iter_batches(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
