"""The audit trail is tamper-evident: a hash chain over its rows, checked by `manage.py verify_audit_trail`,
and on PostgreSQL a trigger that refuses UPDATE and DELETE of audit rows and seals."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from opsgov.models import AuditChainHead, AuditSeal, Service

from ..factories import ServiceFactory

pytestmark = pytest.mark.django_db


@contextmanager
def triggers_off() -> Iterator[None]:
    """What an attacker with database superuser rights does first: switch the append-only triggers off
    (replica mode fires no ordinary triggers). On SQLite there are none."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit_trail", "--batch-size", "3", stdout=out)
    return out.getvalue()


def some_history() -> list[LogEntry]:
    service = ServiceFactory.create(slug="checkout", name="Checkout")
    for tier in (1, 2, 3):
        service.tier = tier
        service.save()
    return list(LogEntry.objects.order_by("pk"))


def test_every_entry_is_sealed_and_the_chain_verifies() -> None:
    entries = some_history()
    seals = list(AuditSeal.objects.order_by("sequence"))
    assert [seal.entry_id for seal in seals] == [entry.pk for entry in entries]
    assert [seal.sequence for seal in seals] == list(range(1, len(entries) + 1))
    assert all(seal.prev_hash == before.hash for before, seal in itertools.pairwise(seals))
    head = AuditChainHead.objects.get(pk=1)
    assert (head.sequence, head.hash) == (seals[-1].sequence, seals[-1].hash)
    output = verify()
    assert f"Audit trail intact: {len(entries)} entries" in output
    assert "checked 3 entries" in output  # progress, batch by batch


def test_an_entry_edited_in_sql_is_caught() -> None:
    entries = some_history()
    victim = entries[-2]  # an update of the service
    sequence = AuditSeal.objects.get(entry=victim).sequence
    with triggers_off(), connection.cursor() as cursor:
        cursor.execute("UPDATE auditlog_logentry SET object_repr = %s WHERE id = %s", ["Nothing happened", victim.pk])
    with pytest.raises(CommandError) as caught:
        verify()
    message = str(caught.value)
    assert f"entry {victim.pk} (seal {sequence}) was changed after sealing" in message
    assert "object_repr: sealed 'Checkout', now 'Nothing happened'" in message


def test_exit_status_is_1_when_broken() -> None:
    entries = some_history()
    with triggers_off(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE auditlog_logentry SET changes = %s WHERE id = %s", ['{"tier": ["1", "9"]}', entries[-1].pk]
        )
    with pytest.raises(CommandError) as caught:
        verify()
    assert caught.value.returncode == 1
    assert "changes: sealed" in str(caught.value)


def test_a_deleted_seal_is_caught() -> None:
    entries = some_history()
    with triggers_off(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM opsgov_auditseal WHERE sequence = 2")
    with pytest.raises(CommandError, match=r"seal 2 is missing \(the next seal is 3, entry " + str(entries[2].pk)):
        verify()


def test_deleting_the_last_entry_and_its_seal_is_caught() -> None:
    entries = some_history()
    with triggers_off(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM opsgov_auditseal WHERE entry_id = %s", [entries[-1].pk])
        cursor.execute("DELETE FROM auditlog_logentry WHERE id = %s", [entries[-1].pk])
    with pytest.raises(CommandError, match="the last seals have been deleted"):
        verify()


def test_an_unsealed_entry_is_caught() -> None:
    some_history()
    with triggers_off(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM opsgov_auditseal WHERE sequence = (SELECT MAX(sequence) FROM opsgov_auditseal)")
        cursor.execute("UPDATE opsgov_auditchainhead SET sequence = sequence - 1")
    with pytest.raises(CommandError):
        verify()


def test_postgresql_refuses_update_and_delete_of_audit_rows_and_seals() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's (RunPython guarded by the vendor)")
    entry = some_history()[0]
    statements = [
        ("UPDATE auditlog_logentry SET object_repr = 'x' WHERE id = %s", [entry.pk]),
        ("DELETE FROM auditlog_logentry WHERE id = %s", [entry.pk]),
        ("UPDATE opsgov_auditseal SET hash = 'x' WHERE entry_id = %s", [entry.pk]),
        ("DELETE FROM opsgov_auditseal WHERE entry_id = %s", [entry.pk]),
    ]
    for sql, params in statements:
        with (
            pytest.raises(DatabaseError, match="the audit trail is append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)
    # The ORM's way is refused as well (an update, say to blank an actor).
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LogEntry.objects.filter(pk=entry.pk).update(object_repr="x")
    assert "intact" in verify()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_build_one_unbroken_chain() -> None:
    """Two threads writing audited changes at once: one chain, no gap, no fork (the head row is locked)."""
    services = [ServiceFactory.create(slug=f"s{n}") for n in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(service_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            for tier in (1, 2, 3, 1, 2):
                with transaction.atomic():
                    service = Service.objects.get(pk=service_id)
                    service.tier = tier
                    service.save()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(service.pk,)) for service in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert AuditSeal.objects.count() == LogEntry.objects.count()
    assert "intact" in verify()
