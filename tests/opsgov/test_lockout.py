"""Login lockout (django-axes): twenty bad logins through the real login form lock the account; the lockout
is audited, says when it ends, is visible to the Security Lead, who unlocks it (audited too)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from auditlog.models import LogEntry
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from opsgov.roles import COMPLIANCE_OFFICER, SECURITY_LEAD, SRE_LEAD

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-horse-42"


def log_in(client: Client, username: str, password: str) -> object:
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR="192.0.2.50")


def events(name: str) -> list[LogEntry]:
    return list(LogEntry.objects.filter(additional_data__event=name).order_by("pk"))


@pytest.fixture
def dana(make_user: Callable[..., User]) -> User:
    user = make_user("dana", SRE_LEAD)
    user.set_password(PASSWORD)
    user.save()
    return user


def lock(client: Client, username: str = "dana") -> None:
    for attempt in range(1, settings.LOGIN_FAILURE_LIMIT + 1):
        response = log_in(client, username, f"wrong-{attempt}")
        expected = 429 if attempt == settings.LOGIN_FAILURE_LIMIT else 200
        assert response.status_code == expected, (attempt, response.status_code)  # type: ignore[attr-defined]


def test_the_limit_is_twenty() -> None:
    assert settings.LOGIN_FAILURE_LIMIT == settings.AXES_FAILURE_LIMIT == 20


def test_twenty_bad_logins_lock_the_account_even_for_the_right_password(client: Client, dana: User) -> None:
    assert log_in(client, "dana", "wrong").status_code == 200  # type: ignore[attr-defined]
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 2):
        log_in(client, "dana", "wrong")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        last = log_in(client, "dana", "wrong-20")
        assert last.status_code == 429  # type: ignore[attr-defined]
        page = last.content.decode()  # type: ignore[attr-defined]
        assert "Account locked" in page and "dana" in page and "after 20 failed logins" in page
        unlock = (timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)).strftime("%Y-%m-%d %H:%M")
        assert "It unlocks at" in page and unlock in page

        refused = log_in(client, "dana", PASSWORD)
        assert refused.status_code == 429  # type: ignore[attr-defined]
        assert "_auth_user_id" not in client.session

        locked = events("locked_out")
        assert len(locked) == 1
        assert locked[0].object_repr == "dana" and locked[0].remote_addr == "192.0.2.50"
        assert locked[0].additional_data["failures"] == 20
        assert len(events("login_failed")) == 21  # the refused right password is a failed login too
        assert len(events("login_refused_locked")) == 1

        # It unlocks by itself after the cool-off.
        clock.shift(timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES, seconds=1))
        assert log_in(client, "dana", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_other_accounts_are_not_locked(client: Client, dana: User, make_user: Callable[..., User]) -> None:
    erin = make_user("erin", SRE_LEAD)
    erin.set_password(PASSWORD)
    erin.save()
    lock(client)
    assert log_in(Client(), "erin", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_a_successful_login_clears_earlier_failures(client: Client, dana: User) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        log_in(client, "dana", "wrong")
    assert log_in(client, "dana", PASSWORD).status_code == 302  # type: ignore[attr-defined]
    assert log_in(Client(), "dana", "wrong").status_code == 200  # type: ignore[attr-defined]


def test_the_security_lead_sees_lockouts_and_unlocks_in_the_admin(
    client: Client, dana: User, make_user: Callable[..., User]
) -> None:
    lock(client)
    lead = make_user("sam", SECURITY_LEAD, is_staff=True)
    admin = Client()
    admin.force_login(lead)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "dana" in listing.content.decode()
    assert admin.get("/admin/axes/accessfailurelog/").status_code == 200
    attempts = list(AccessAttempt.objects.filter(username="dana").values_list("pk", flat=True))
    response = admin.post("/admin/axes/accessattempt/", {"action": "unlock_accounts", "_selected_action": attempts})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="dana").exists()
    unlocked = events("unlocked")
    assert [(entry.object_repr, entry.actor) for entry in unlocked] == [("dana", lead)]
    assert log_in(Client(), "dana", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_other_roles_do_not_see_login_attempts(client: Client, make_user: Callable[..., User]) -> None:
    client.force_login(make_user("olga", COMPLIANCE_OFFICER, is_staff=True))
    assert client.get("/admin/axes/accessattempt/").status_code == 403


def test_unlock_account_command_unlocks_and_audits(client: Client, dana: User, make_user: Callable[..., User]) -> None:
    lock(client)
    make_user("sam", SECURITY_LEAD)
    out = io.StringIO()
    call_command("unlock_account", "dana", "--actor", "sam", stdout=out)
    assert "dana: unlocked" in out.getvalue()
    entry = events("unlocked")[-1]
    assert entry.actor is not None and entry.actor.username == "sam"
    assert "manage.py unlock_account" in entry.additional_data["via"]
    assert log_in(Client(), "dana", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_force_login_and_test_client_login_still_work(dana: User) -> None:
    client = Client()
    assert client.login(username="dana", password=PASSWORD)
    other = Client()
    other.force_login(dana)
    assert other.get("/").status_code == 200
