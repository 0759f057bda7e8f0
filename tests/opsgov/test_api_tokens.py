"""Personal API tokens: an expiry from the policy, shown at creation (command and page); listed and revoked by
their owner only."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from opsgov.errors import DomainError
from opsgov.policy import clear_policy_cache
from opsgov.roles import SRE_LEAD
from opsgov.tokens.services import api_token_create

pytestmark = pytest.mark.django_db
PAGE = "/account/api-tokens/"


def use_policy(settings: Any, tmp_path: Path, toml: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(toml)
    settings.OPSGOV_POLICY = str(path)
    clear_policy_cache()


def works(token: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/services/").status_code == 200


def test_a_token_expires_after_the_policy_default_unless_a_shorter_life_is_asked(
    make_user: Callable[..., User], settings: Any, tmp_path: Path
) -> None:
    use_policy(settings, tmp_path, "[api_tokens]\ndefault_ttl_days = 30\nmax_ttl_days = 60\n")
    user = make_user("sre", SRE_LEAD)
    before = timezone.now()
    default = api_token_create(user=user)
    assert timedelta(days=30) <= default.expiry - before < timedelta(days=30, minutes=1)
    short = api_token_create(user=user, expires_in_days=7)
    assert timedelta(days=7) <= short.expiry - before < timedelta(days=7, minutes=1)
    with pytest.raises(DomainError, match="at most 60 days") as longer:
        api_token_create(user=user, expires_in_days=61)
    assert longer.value.field == "expires_in_days"
    assert AuthToken.objects.filter(user=user).count() == 2


def test_an_expired_token_no_longer_authenticates(make_user: Callable[..., User]) -> None:
    created = api_token_create(user=make_user("sre", SRE_LEAD), expires_in_days=1)
    assert works(created.token)
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        assert not works(created.token)


def test_the_command_prints_the_expiry_with_the_token(
    make_user: Callable[..., User], capsys: pytest.CaptureFixture[str]
) -> None:
    make_user("devops", SRE_LEAD)
    call_command("create_api_token", "devops")
    out, err = capsys.readouterr()
    token = out.strip()
    instance = AuthToken.objects.get()
    assert instance.expiry is not None
    assert f"prefix {instance.token_key}, expires {instance.expiry.isoformat()}" in err
    assert timedelta(days=89, hours=23) < instance.expiry - timezone.now() <= timedelta(days=90)
    assert works(token)
    with pytest.raises(CommandError, match="--expires-in-days: A token may live at most 365 days"):
        call_command("create_api_token", "devops", "--expires-in-days", "400")
    with pytest.raises(CommandError, match="positive number of days"):
        call_command("create_api_token", "devops", "--expires-in-days", "0")


def signed_in(user: User) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def test_the_page_creates_a_token_shown_once_with_its_expiry(make_user: Callable[..., User]) -> None:
    user = make_user("sre", SRE_LEAD)
    client = signed_in(user)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert b"You have no API tokens." in page.content
    assert b"csrfmiddlewaretoken" in page.content
    response = client.post(PAGE, {"expires_in_days": "14"})
    assert response.status_code == 200
    instance = AuthToken.objects.get(user=user)
    token = re.search(rb'value="([^"]+)" aria-label="New API token"', response.content)
    assert token is not None and token.group(1)
    text = token.group(1).decode()
    assert text.startswith(instance.token_key) and works(text)
    assert instance.expiry is not None
    assert timedelta(days=13, hours=23) < instance.expiry - timezone.now() <= timedelta(days=14)
    assert instance.expiry.strftime("%Y-%m-%d").encode() in response.content
    # Shown once: the list shows the prefix, never the token again.
    again = client.get(PAGE)
    assert instance.token_key.encode() in again.content
    assert text.encode() not in again.content


def test_the_page_refuses_an_expiry_past_the_policy_maximum_on_its_field(
    make_user: Callable[..., User], settings: Any, tmp_path: Path
) -> None:
    use_policy(settings, tmp_path, "[api_tokens]\ndefault_ttl_days = 10\nmax_ttl_days = 20\n")
    client = signed_in(make_user("sre", SRE_LEAD))
    response = client.post(PAGE, {"expires_in_days": "21"})
    assert response.status_code == 200
    assert response.context["form"].errors == {"expires_in_days": ["Ensure this value is less than or equal to 20."]}
    assert not AuthToken.objects.exists()
    assert client.post(PAGE, {"expires_in_days": ""}).status_code == 200  # empty: the policy's 10 days
    expiry = AuthToken.objects.get().expiry
    assert expiry is not None and timedelta(days=9, hours=23) < expiry - timezone.now() <= timedelta(days=10)


def test_the_owner_revokes_a_token_and_nobody_else_can(make_user: Callable[..., User]) -> None:
    owner, other = make_user("sre", SRE_LEAD), make_user("other", SRE_LEAD)
    created = api_token_create(user=owner)
    key = created.instance.token_key
    revoke = f"{PAGE}{key}/revoke/"
    assert signed_in(other).post(revoke, follow=True).status_code == 200
    assert works(created.token)  # someone else's revoke changes nothing
    assert key.encode() not in signed_in(other).get(PAGE).content  # nor do they see it
    response = signed_in(owner).post(revoke, follow=True)
    assert f"Token {key}… revoked".encode() in response.content
    assert not works(created.token)
    assert signed_in(owner).get(revoke).status_code == 405


def test_the_page_needs_a_login_and_csrf(make_user: Callable[..., User]) -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("sre", SRE_LEAD))
    assert strict.post(PAGE, {}).status_code == 403
    assert not AuthToken.objects.exists()


def test_the_policy_page_shows_the_token_expiry_and_the_access_limits(
    make_user: Callable[..., User], settings: Any, tmp_path: Path
) -> None:
    use_policy(
        settings,
        tmp_path,
        "[api_tokens]\ndefault_ttl_days = 30\n[monitoring.http_checks]\nallow_private_targets = false\n"
        'allowed_networks = ["10.20.0.0/16"]\n[incidents]\ningest_max_events_per_minute = 600\n',
    )
    page = signed_in(make_user("sre", SRE_LEAD)).get("/policy/").content.decode()
    assert "Expire after <strong>30 days</strong>" in page
    assert "Public addresses only, and <code>10.20.0.0/16</code>" in page
    assert "At most <strong>600 events a minute</strong>" in page
