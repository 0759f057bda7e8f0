"""Sending an NPS campaign: manage.py send_nps_campaign (progress, dry run) and the API's send action."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from opsgov.roles import PRODUCT_OWNER, SRE_LEAD
from support.models import Contact, MailKind, NpsCampaign, NpsResponse, OutgoingEmail

pytestmark = pytest.mark.django_db


@pytest.fixture
def contacts() -> dict[str, Contact]:
    now = timezone.now()
    return {
        "fresh": Contact.objects.create(email="fresh@x.test"),
        "other": Contact.objects.create(email="other@x.test"),
        "old": Contact.objects.create(email="old@x.test", last_nps_survey_at=now - timedelta(days=100)),
        "recent": Contact.objects.create(email="recent@x.test", last_nps_survey_at=now - timedelta(days=30)),
        "bounced": Contact.objects.create(email="gone@x.test", bounced_at=now),
    }


def nps_mail() -> list[str]:
    return sorted(OutgoingEmail.objects.filter(kind=MailKind.NPS).values_list("to", flat=True))


def test_a_dry_run_counts_and_changes_nothing(contacts: dict[str, Contact]) -> None:
    out = StringIO()
    call_command("send_nps_campaign", "--name", "Q4", "--dry-run", stdout=out)
    assert out.getvalue().strip() == (
        "Dry run, nothing sent. 3 contact(s) to survey; left out: 1 bounced, "
        "1 surveyed within the policy's period, 0 already in this campaign."
    )
    assert NpsCampaign.objects.count() == 0 and nps_mail() == []


def test_the_command_surveys_in_batches_with_progress_and_respects_the_period(contacts: dict[str, Contact]) -> None:
    out = StringIO()
    call_command("send_nps_campaign", "--name", "Q4", "--batch", "2", stdout=out)
    campaign = NpsCampaign.objects.get()
    assert out.getvalue().splitlines() == [
        f"Campaign {campaign.pk} (Q4):",
        "  2/3 contacts surveyed",
        "  3/3 contacts surveyed",
        "3 survey(s) queued in the outbox. 3 contact(s) to survey; left out: 1 bounced, "
        "1 surveyed within the policy's period, 0 already in this campaign.",
    ]
    assert nps_mail() == ["fresh@x.test", "old@x.test", "other@x.test"]
    assert campaign.sent_at is not None
    # Resumed, the same campaign surveys nobody twice; a new one within 3 months reaches nobody either.
    again = StringIO()
    call_command("send_nps_campaign", "--campaign", str(campaign.pk), stdout=again)
    assert "0 survey(s) queued in the outbox. 0 contact(s) to survey; left out: 1 bounced, 1 surveyed " in (
        again.getvalue()
    )
    assert "3 already in this campaign." in again.getvalue()
    call_command("send_nps_campaign", "--name", "Q4 again", stdout=StringIO())
    assert len(nps_mail()) == 3 and NpsResponse.objects.count() == 3


def test_the_command_names_what_is_wrong(contacts: dict[str, Contact]) -> None:
    with pytest.raises(CommandError, match=r"--contact: no contact with the address nobody@x\.test"):
        call_command("send_nps_campaign", "--name", "Q4", "--contact", "nobody@x.test")
    with pytest.raises(CommandError, match="--campaign: no NPS campaign with id 999"):
        call_command("send_nps_campaign", "--campaign", "999")
    with pytest.raises(CommandError, match="--batch: must be at least 1"):
        call_command("send_nps_campaign", "--name", "Q4", "--batch", "0")
    out = StringIO()
    call_command("send_nps_campaign", "--name", "Only", "--contact", "FRESH@x.test", stdout=out)
    assert nps_mail() == ["fresh@x.test"]


def test_the_product_owner_sends_a_campaign_through_the_api(
    contacts: dict[str, Contact], make_user: Callable[..., User], client_for: Callable[[User], APIClient]
) -> None:
    owner = client_for(make_user("po", PRODUCT_OWNER))
    created = owner.post("/api/v1/support/nps-campaigns/", {"name": "Q4"}, format="json")
    assert created.status_code == 201, created.content
    # The created campaign has the list's shape: nothing sent yet.
    assert {key: created.json()[key] for key in ("name", "sent_at", "surveys", "answers")} == {
        "name": "Q4",
        "sent_at": None,
        "surveys": 0,
        "answers": 0,
    }
    url = f"/api/v1/support/nps-campaigns/{created.json()['id']}/send/"
    # Contacts come as one JSON array; a form upload is refused (415), whatever its size.
    form = owner.post(url, {"contacts": ["fresh@x.test"]}, format="multipart")
    assert form.status_code == 415
    dry = owner.post(url, {"dry_run": True}, format="json")
    assert dry.json() == {"dry_run": True, "sent": 0, "eligible": 3, "bounced": 1, "recent": 1, "already": 0}
    assert nps_mail() == []
    sent = owner.post(url, {"contacts": ["fresh@x.test", "recent@x.test"]}, format="json")
    assert sent.json() == {"dry_run": False, "sent": 1, "eligible": 1, "bounced": 0, "recent": 1, "already": 0}
    assert nps_mail() == ["fresh@x.test"]
    listed = owner.get(f"/api/v1/support/nps-campaigns/{created.json()['id']}/").json()
    assert (listed["surveys"], listed["answers"]) == (1, 0) and listed["sent_at"]
    bad = owner.post(url, {"contacts": ["nobody@x.test"], "extra": 1}, format="json")
    assert bad.status_code == 400
    assert {error["field"] for error in bad.json()["errors"]} == {"contacts", "extra"}
    reader = client_for(make_user("sre", SRE_LEAD))
    assert reader.post(url, {}, format="json").status_code == 403
