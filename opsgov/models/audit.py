"""The audit trail's seals: a hash chain over django-auditlog's LogEntry rows (opsgov.audit)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditSeal(models.Model):
    """One audit row's link in the chain: hash = sha256(prev_hash + canonical JSON of the entry).

    Editing an entry, or deleting or re-ordering entries or seals, breaks a link that
    `manage.py verify_audit_trail` reports. A separate table because LogEntry is django-auditlog's.
    """

    # PROTECT (and the PostgreSQL trigger on both tables): a sealed entry stays.
    entry = models.OneToOneField("auditlog.LogEntry", on_delete=models.PROTECT, related_name="seal")
    sequence = models.PositiveBigIntegerField(unique=True, help_text="Position in the chain, from 1, without gaps.")
    prev_hash = models.CharField(max_length=64, help_text="The previous seal's hash (64 zeros for the first).")
    hash = models.CharField(max_length=64)
    # What was sealed, so a broken link can say which field changed.
    content = models.TextField(help_text="Canonical JSON of the entry's columns when it was sealed.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"seal {self.sequence} of entry {self.entry_id}"


class AuditChainHead(models.Model):
    """The chain's last link (one row, pk 1): locked FOR UPDATE while a seal is written, so concurrent
    writers append one after the other. Its sequence and hash also show whether the last seals went."""

    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"audit chain head at {self.sequence}"
