"""Fixtures shared by the incidents tests: an SRE Lead and an API client authenticated as them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from opsgov.roles import SRE_LEAD


@pytest.fixture
def sre_user(make_user: Callable[..., User]) -> User:
    return make_user("sre", SRE_LEAD)


@pytest.fixture
def sre(sre_user: User, client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(sre_user)
