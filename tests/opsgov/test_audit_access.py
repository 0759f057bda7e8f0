"""Who may do what, and who came in, is audited: users, groups, memberships, permissions, the superuser and
staff flags, API tokens, logins, logouts and failed logins, all in the admin's audit CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from knox.models import AuthToken

from opsgov.roles import SRE_LEAD

pytestmark = pytest.mark.django_db


def audit_csv(client: Client, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/admin/auditlog/logentry/export.csv{query}")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]


def log_in(client: Client, username: str, password: str, address: str = "203.0.113.7") -> Any:
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address, follow=False
    )


def user_change_form(user: User, **changes: Any) -> dict[str, Any]:
    """The admin's user change form as a browser would post it (dates split into date and time)."""
    data: dict[str, Any] = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "user_permissions": [str(pk) for pk in user.user_permissions.values_list("pk", flat=True)],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_making_someone_superuser_and_sre_lead_in_the_admin_is_in_the_audit_csv(client: Client) -> None:
    User.objects.create_superuser("root", "root@example.com", "root-pass-123")
    bob = User.objects.create_user("bob", "bob@example.com", "bob-pass-123")
    sre_lead = Group.objects.get(name=SRE_LEAD)
    assert log_in(client, "root", "root-pass-123").status_code == 302

    response = client.post(
        f"/admin/auth/user/{bob.pk}/change/",
        user_change_form(bob, is_superuser="on", is_staff="on", groups=[str(sre_lead.pk)]),
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    bob.refresh_from_db()
    assert bob.is_superuser and bob.is_staff and list(bob.groups.all()) == [sre_lead]

    rows = [
        row for row in audit_csv(client, "?q=bob") if row["object_type"] == "auth.user" and row["action"] == "update"
    ]
    by_field = {row["field"]: row for row in rows}
    assert by_field["is_superuser"] | {"before": "False", "after": "True"} == by_field["is_superuser"]
    assert by_field["is_staff"]["after"] == "True"
    assert by_field["groups"]["after"] == f"added: {SRE_LEAD}"
    for field in ("is_superuser", "groups"):
        assert by_field[field]["actor"] == "root"
        assert by_field[field]["remote_addr"] == "203.0.113.7"
    assert "password" not in by_field  # unchanged, and never shown in clear when it is


def test_group_permissions_and_user_permissions_are_audited(client: Client) -> None:
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    bob = User.objects.create_user("bob")
    group = Group.objects.create(name="Auditors")
    permission = Permission.objects.get(codename="view_logentry", content_type__app_label="auditlog")
    group.permissions.add(permission)
    bob.user_permissions.add(permission)
    bob.user_permissions.remove(permission)
    client.force_login(root)
    rows = audit_csv(client)
    group_rows = [row for row in rows if row["object"] == "Auditors" and row["field"] == "permissions"]
    assert [row["after"] for row in group_rows] == [f"added: {permission}"]
    user_rows = [row for row in rows if row["object_type"] == "auth.user" and row["field"] == "user_permissions"]
    assert [row["after"] for row in user_rows] == [f"added: {permission}", f"removed: {permission}"]


def test_password_changes_are_audited_without_the_hash(client: Client) -> None:
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    bob = User.objects.create_user("bob", password="first-Pa55word")
    bob.set_password("second-Pa55word")
    bob.save()
    client.force_login(root)
    rows = [row for row in audit_csv(client, "?q=bob") if row["field"] == "password"]
    assert rows, "a password change leaves a row"
    assert [(row["action"], row["before"], row["after"]) for row in rows] == [
        ("create", "(unset)", "(hidden)"),
        ("update", "(hidden)", "(hidden)"),
    ]


def test_api_tokens_created_and_revoked_are_audited_by_key_prefix_only(client: Client) -> None:
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    alice = User.objects.create_user("alice")
    token, secret = AuthToken.objects.create(alice)
    digest, key = token.digest, token.token_key
    token.delete()
    client.force_login(root)
    rows = [row for row in audit_csv(client) if row["object_type"] == "knox.authtoken"]
    events = {(row["event"], row["action"]) for row in rows}
    assert events == {("token_created", "create"), ("token_revoked", "delete")}
    assert {row["object_id"] for row in rows} == {key}
    dump = repr(list(LogEntry.objects.values()))
    assert digest not in dump and secret not in dump


def test_logins_logouts_and_failed_logins_are_audited_with_their_address(
    client: Client, make_user: Callable[..., User]
) -> None:
    carol = make_user("carol", SRE_LEAD)
    carol.set_password("carol-pass-123")
    carol.save()

    assert log_in(client, "carol", "wrong-password", "198.51.100.9").status_code == 200
    assert log_in(client, "nobody", "whatever", "198.51.100.9").status_code == 200
    assert log_in(client, "carol", "carol-pass-123", "198.51.100.10").status_code == 302
    assert client.post("/accounts/logout/", REMOTE_ADDR="198.51.100.10").status_code == 302

    events = list(
        LogEntry.objects.filter(action=LogEntry.Action.ACCESS)
        .order_by("pk")
        .values_list("additional_data__event", "object_repr", "remote_addr", "actor__username")
    )
    assert events == [
        ("login_failed", "carol", "198.51.100.9", None),
        ("login_failed", "nobody", "198.51.100.9", None),
        ("login", "carol", "198.51.100.10", "carol"),
        ("logout", "carol", "198.51.100.10", "carol"),
    ]
    dump = repr(list(LogEntry.objects.values()))
    assert "wrong-password" not in dump and "carol-pass-123" not in dump
