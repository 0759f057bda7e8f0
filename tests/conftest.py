"""Shared fixtures: personas (one user per seed role plus an outsider), API clients, policy reset."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth.models import User
from knox.models import AuthToken
from rest_framework.test import APIClient

from opsgov.policy import clear_policy_cache
from opsgov.roles import ALL_ROLES

from .factories import UserFactory


def missing_service(what: str, how: str) -> NoReturn:
    """A service a test needs is not on this machine.

    In CI (CI set) that fails the test: CI provides every service and never
    skips. On a developer machine without it, the test is skipped with the
    reason, so `make test` still runs everything else on a bare machine.
    """
    message = f"{what} is not available here; {how}."
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message + " CI runs this test.")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _own_cache_keys(settings: Any) -> None:
    """Each test counts its rate limits (opsgov.ratelimit) afresh: its own cache key prefix, nothing flushed."""
    settings.CACHES = {
        alias: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"} for alias, config in settings.CACHES.items()
    }


@pytest.fixture(autouse=True)
def _fresh_policy() -> Iterator[None]:
    clear_policy_cache()
    yield
    clear_policy_cache()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(username: str, *roles: str, **extra: object) -> User:
        return UserFactory.create(username=username, roles=list(roles), **extra)

    return make


@pytest.fixture
def personas(make_user: Callable[..., User]) -> dict[str, User]:
    """One user per seed role, keyed by role name, plus "outsider" (no role)."""
    users = {role: make_user(role.lower().replace(" ", "_"), role) for role in ALL_ROLES}
    users["outsider"] = make_user("outsider")
    return users


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    """An API client authenticated with a fresh bearer token of `user`."""

    def make(user: User) -> APIClient:
        _, token = AuthToken.objects.create(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


# --- A real SMTP server on loopback (aiosmtpd) -----------------------------------------------------


class Sink:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `command` from the project folder in a session of its own (stop it with its group),
    its output appended to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Sink]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    settings.OPSGOV_BASE_URL = "https://ops.example.com"
    settings.DEFAULT_FROM_EMAIL = "opsgov <opsgov@example.com>"
    try:
        yield sink
    finally:
        controller.stop()
