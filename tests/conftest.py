"""Shared fixtures: personas (one user per seed role plus an outsider), API clients, policy reset."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
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
