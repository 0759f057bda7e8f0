"""The improvement backlog: action items created, changed, closed and reopened; overdue in the
policy's time zone; the action item closing rate per window, by hand-computed values."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError

from incidents.models import ActionItem, ActionStatus, Incident
from incidents.reviews import services as reviews
from incidents.reviews.metrics import CLOSING_RATE, KEY, compute_closing_rate
from incidents.reviews.selectors import backlog_summary, overdue_action_items, policy_today
from opsgov.errors import DomainError
from opsgov.models import MetricSnapshot
from opsgov.policy import clear_policy_cache
from opsgov.registry import metrics
from opsgov.services import compute_metrics

from ..factories import ServiceFactory
from .factories import IncidentFactory

pytestmark = pytest.mark.django_db


def at(moment: datetime) -> Any:
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def incident() -> Incident:
    return IncidentFactory.create(severity="SEV-3")


# --- Lifecycle -----------------------------------------------------------------------------


def test_an_item_of_an_incident_starts_open(incident: Incident) -> None:
    item = reviews.action_item_create(incident=incident, title="Add an alert", due_date=date(2026, 2, 1))

    assert item.status == ActionStatus.OPEN
    assert item.closed_at is None
    assert item.incident == incident


def test_an_item_cannot_start_closed(incident: Incident) -> None:
    with pytest.raises(DomainError) as excinfo:
        reviews.action_item_create(incident=incident, title="Done already", status=ActionStatus.DONE)
    assert excinfo.value.field == "status"


def test_a_title_is_required() -> None:
    with pytest.raises(ValidationError) as excinfo:
        reviews.action_item_create(title="")
    assert "title" in excinfo.value.message_dict


def test_closing_sets_closed_at_and_reopening_clears_it(incident: Incident) -> None:
    item = reviews.action_item_create(incident=incident, title="Add an alert")
    moment = datetime(2026, 1, 20, 9, 30, tzinfo=UTC)

    with at(moment):
        item = reviews.action_item_close(item=item, resolution=ActionStatus.WONT_DO)
    assert (item.status, item.closed_at) == (ActionStatus.WONT_DO, moment)

    item = reviews.action_item_reopen(item=item)
    assert (item.status, item.closed_at) == (ActionStatus.OPEN, None)

    item = reviews.action_item_close(item=item)
    assert item.status == ActionStatus.DONE


def test_closing_twice_or_reopening_an_open_item_is_refused(incident: Incident) -> None:
    item = reviews.action_item_create(incident=incident, title="Add an alert")
    with pytest.raises(DomainError, match="not closed"):
        reviews.action_item_reopen(item=item)
    reviews.action_item_close(item=item)
    with pytest.raises(DomainError, match="already closed"):
        reviews.action_item_close(item=item)
    with pytest.raises(DomainError):
        reviews.action_item_close(item=item, resolution="open")


def test_an_update_cannot_close_an_item_or_change_a_closed_ones_status(incident: Incident) -> None:
    item = reviews.action_item_create(incident=incident, title="Add an alert")
    item = reviews.action_item_update(item=item, data={"status": ActionStatus.IN_PROGRESS, "title": "Alert on 5xx"})
    assert (item.status, item.title) == (ActionStatus.IN_PROGRESS, "Alert on 5xx")

    with pytest.raises(DomainError, match="close action"):
        reviews.action_item_update(item=item, data={"status": ActionStatus.DONE})
    reviews.action_item_close(item=item)
    with pytest.raises(DomainError, match="reopen"):
        reviews.action_item_update(item=item, data={"status": ActionStatus.OPEN})


# --- Overdue -------------------------------------------------------------------------------


def test_an_open_item_is_overdue_the_day_after_its_due_date(incident: Incident) -> None:
    due = reviews.action_item_create(incident=incident, title="Due on the 10th", due_date=date(2026, 3, 10))
    later = reviews.action_item_create(incident=incident, title="Due on the 11th", due_date=date(2026, 3, 11))
    reviews.action_item_create(incident=incident, title="No due date")
    closed = reviews.action_item_create(incident=incident, title="Closed", due_date=date(2026, 3, 1))
    reviews.action_item_close(item=closed)
    in_progress = reviews.action_item_create(
        incident=incident, title="In progress", due_date=date(2026, 3, 2), status=ActionStatus.IN_PROGRESS
    )

    with at(datetime(2026, 3, 10, 23, 59, tzinfo=UTC)):
        assert list(overdue_action_items()) == [in_progress]
    with at(datetime(2026, 3, 11, 0, 1, tzinfo=UTC)):
        assert list(overdue_action_items()) == [in_progress, due]
        assert backlog_summary().open == 4
        assert backlog_summary().overdue == 2
        assert backlog_summary().overdue_percent == 50
    assert later not in overdue_action_items(today=date(2026, 3, 11))


@pytest.fixture
def auckland_policy(tmp_path: Path, settings: Any) -> Iterator[None]:
    path = tmp_path / "policy.toml"
    path.write_text('[business_calendar]\ntime_zone = "Pacific/Auckland"\n', encoding="utf-8")
    settings.OPSGOV_POLICY = str(path)
    clear_policy_cache()
    yield
    clear_policy_cache()


@pytest.mark.usefixtures("auckland_policy")
def test_today_is_the_date_in_the_policy_time_zone(incident: Incident) -> None:
    item = reviews.action_item_create(incident=incident, title="Due on the 10th", due_date=date(2026, 3, 10))

    # 11:30 UTC on the 10th is already 00:30 on the 11th in Auckland (UTC+13 in March).
    with at(datetime(2026, 3, 10, 11, 30, tzinfo=UTC)):
        assert policy_today() == date(2026, 3, 11)
        assert list(overdue_action_items()) == [item]
    with at(datetime(2026, 3, 10, 10, 30, tzinfo=UTC)):
        assert list(overdue_action_items()) == []


# --- Closing rate --------------------------------------------------------------------------

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)  # the 30-day window starts 2026-03-01 12:00


@pytest.fixture
def backlog() -> dict[str, Any]:
    """Items around the 30-day window ending at NOW (see the test for the hand count)."""
    checkout = ServiceFactory.create(slug="checkout")
    auth = ServiceFactory.create(slug="auth")
    ServiceFactory.create(slug="search")  # no items at all
    with at(datetime(2026, 1, 30, tzinfo=UTC)):
        on_checkout = IncidentFactory.create(service=checkout, severity="SEV-3")
        on_auth = IncidentFactory.create(service=auth, severity="SEV-3")

    def item(created: datetime, incident: Incident | None, closed: datetime | None = None, **kw: Any) -> ActionItem:
        with at(created):
            made = reviews.action_item_create(incident=incident, title=f"Item {created:%m-%d}")
        if closed is not None:
            with at(closed):
                made = reviews.action_item_close(item=made, **kw)
        return made

    feb1 = datetime(2026, 2, 1, tzinfo=UTC)
    items = {
        "1 open since February": item(feb1, on_checkout),
        "2 closed in the window": item(feb1, on_checkout, datetime(2026, 3, 10, tzinfo=UTC)),
        "3 closed before the window": item(feb1, on_checkout, datetime(2026, 2, 15, tzinfo=UTC)),
        "4 created and closed in the window": item(
            datetime(2026, 3, 5, tzinfo=UTC), on_checkout, datetime(2026, 3, 20, tzinfo=UTC)
        ),
        "5 created in the window, open": item(datetime(2026, 3, 6, tzinfo=UTC), on_auth),
        "6 no incident, won't do in the window": item(
            datetime(2026, 2, 10, tzinfo=UTC), None, datetime(2026, 3, 25, tzinfo=UTC), resolution="wont_do"
        ),
    }
    return items


@pytest.mark.usefixtures("backlog")
def test_the_closing_rate_over_30_days_by_hand() -> None:
    values = {value.scope: value for value in compute_closing_rate(window="30d", now=NOW)}

    # checkout: open at start {1, 2}, created {4}, closed {2, 4}: 2 / 3.
    assert values["service:checkout"].value == pytest.approx(2 / 3)
    assert values["service:checkout"].details == {"closed": 2, "open_at_start": 2, "created": 1}
    assert values["service:checkout"].sample_size == 3
    # auth: created {5}, nothing closed: 0 / 1 — a real zero, not "no data".
    assert values["service:auth"].value == 0.0
    # search: nothing open or created: no data.
    assert values["service:search"].value is None
    assert values["service:search"].details["display"] == "no data"
    # global: closed {2, 4, 6}, open at start {1, 2, 6}, created {4, 5}: 3 / 5.
    assert values["global"].value == pytest.approx(0.6)
    assert values["global"].details == {"closed": 3, "open_at_start": 3, "created": 2}


@pytest.mark.usefixtures("backlog")
def test_the_closing_rate_over_7_days_by_hand() -> None:
    values = {value.scope: value for value in compute_closing_rate(window="7d", now=NOW)}

    # From 2026-03-24 12:00: open at start {1, 5, 6}, nothing created, closed {6}: 1 / 3.
    assert values["global"].value == pytest.approx(1 / 3)
    assert values["service:checkout"].value == 0.0  # item 1 open, nothing closed
    assert values["service:auth"].value == 0.0


@pytest.mark.usefixtures("backlog")
def test_a_reopened_item_counts_as_never_closed(backlog: dict[str, Any]) -> None:
    with at(datetime(2026, 3, 28, tzinfo=UTC)):
        reviews.action_item_reopen(item=backlog["2 closed in the window"])

    values = {value.scope: value for value in compute_closing_rate(window="30d", now=NOW)}
    assert values["service:checkout"].value == pytest.approx(1 / 3)


def test_the_closing_rate_is_computed_into_snapshots_with_one_query_per_window(
    backlog: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    registered = KEY in metrics  # incidents.metrics registers it; leave the registry as found
    metrics.register(CLOSING_RATE)
    try:
        with django_assert_max_num_queries(2):
            compute_closing_rate(window="30d", now=NOW)
        compute_metrics(now=NOW, keys=[KEY])
    finally:
        if not registered:
            metrics.unregister(KEY)

    snapshot = MetricSnapshot.objects.get(metric=KEY, scope="global", window="30d", is_current=True)
    assert snapshot.value == pytest.approx(0.6)
    assert snapshot.sample_size == 5
    assert set(MetricSnapshot.objects.filter(metric=KEY).values_list("window", flat=True)) == {"7d", "30d", "90d"}
    assert CLOSING_RATE.unit == "ratio"
    assert CLOSING_RATE.meets_target(0.6) is True
    assert CLOSING_RATE.meets_target(None) is None


def test_a_window_without_items_has_no_data() -> None:
    values = compute_closing_rate(window="90d", now=NOW + timedelta(days=1))

    assert [(value.scope, value.value) for value in values] == [("global", None)]
