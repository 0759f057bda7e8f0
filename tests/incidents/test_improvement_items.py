"""opsgov.events.ImprovementItem: another app's finding becomes one ActionItem of the backlog (incidents)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidents.models import ActionItem
from opsgov.events import ImprovementItem, raise_improvement_item
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_an_item_is_filed_once_per_key() -> None:
    service = ServiceFactory.create()
    item = ImprovementItem(
        key="dr-drill:7:0",
        title="Runbook names the old bucket",
        source="dr-drill",
        at=AT,
        service_id=service.pk,
        description="Found in a drill.",
    )
    assert raise_improvement_item(item) >= 1
    raise_improvement_item(item)
    (action,) = ActionItem.objects.all()
    assert (action.title, action.service_id, action.source_key, action.status) == (
        "Runbook names the old bucket",
        service.pk,
        "improvement:dr-drill:7:0",
        "open",
    )
    assert action.description == "Found in a drill.\n\nSource: dr-drill."


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": ""}, "key"),
        ({"key": "x" * 201}, "key"),
        ({"title": "  "}, "title"),
        ({"at": datetime(2026, 11, 20, 9, 0)}, "timezone-aware"),
    ],
)
def test_an_invalid_item_is_refused(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"key": "k", "title": "t", "source": "s", "at": AT, **fields}
    with pytest.raises(ValueError, match=message):
        ImprovementItem(**values)  # type: ignore[arg-type]
