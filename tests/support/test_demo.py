"""seed_demo's support records: six months of tickets, CSAT about 4.3 (the gate at risk), NPS, 20 articles."""

from __future__ import annotations

from io import StringIO

import pytest
from django.db.models import Avg
from django.utils import timezone

from opsgov.models import GateStatus, OutboxStatus
from opsgov.registry import gates
from support import demo
from support.models import Article, CsatSurvey, NpsCampaign, OutgoingEmail, SlaBreach, Ticket

pytestmark = pytest.mark.django_db


def test_the_demo_is_realistic_idempotent_and_sends_nothing() -> None:
    demo.seed(stdout=StringIO())
    tickets = Ticket.objects.count()
    assert tickets > 150
    assert set(Ticket.objects.values_list("priority", flat=True)) == {"P1", "P2", "P3", "P4"}
    mean = CsatSurvey.objects.filter(rating__isnull=False).aggregate(mean=Avg("rating"))["mean"]
    assert 4.0 < mean < 4.5
    assert SlaBreach.objects.exists()
    assert (NpsCampaign.objects.count(), Article.objects.count()) == (1, 20)
    assert not OutgoingEmail.objects.exclude(status=OutboxStatus.SENT).exists()
    assert gates.get("support").evaluate(now=timezone.now()).status != GateStatus.PASS
    out = StringIO()
    demo.seed(stdout=out)
    assert Ticket.objects.count() == tickets and "skipped" in out.getvalue()
