"""`seed_demo`'s access review (two revocations), training at 85 % and pentest; idempotent."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from opsgov.models import GateStatus
from opsgov.registry import gates
from security import training
from security.models import AccessReviewCampaign, CampaignStatus, Finding, ReviewedAccount

pytestmark = pytest.mark.django_db


def test_seed_demo_access_review_training_and_pentest() -> None:
    call_command("seed_demo", allow_without_debug=True, stdout=io.StringIO())
    campaign = AccessReviewCampaign.objects.get()
    assert campaign.status == CampaignStatus.CLOSED
    revoked = ReviewedAccount.objects.filter(decision="revoke").order_by("account")
    assert [(row.system, row.account) for row in revoked] == [("opsgov", "former-contractor"), ("github", "old-intern")]
    assert get_user_model().objects.get(username="former-contractor").is_active is False
    assert not ReviewedAccount.objects.filter(decision="").exists()
    done = training.completion(now=timezone.now())
    assert (done.assigned, done.completed, done.percent) == (20, 17, 85.0)
    assert Finding.objects.filter(source="assessment").count() == 1
    rows = {row.key: row for row in gates.get("security_operations").evaluate(now=timezone.now()).evidence}
    assert rows["access-review"].status == GateStatus.PASS
    assert rows["training"].status == GateStatus.PASS
    # monitoring's demo writes the security incident runbook (reviewed a month ago): the row passes
    runbook = rows["incident-runbook"]
    assert (runbook.status, runbook.url) == (GateStatus.PASS, "/monitoring/runbooks/security-incident/")
    call_command("seed_demo", allow_without_debug=True, stdout=io.StringIO())
    assert AccessReviewCampaign.objects.count() == 1
    assert training.completion(now=timezone.now()).completed == 17
