"""One way to write a metric: the dashboard and the service scorecard show the same figure the same way."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from opsgov.formatting import format_metric_value, format_target
from opsgov.models import MetricSnapshot, ServiceTier
from opsgov.registry import metrics
from opsgov.roles import SRE_LEAD

from ..factories import ServiceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

#: The same value stored for the organisation (the dashboard's figure) and for one service (its scorecard's).
FIGURES: dict[str, float] = {
    "availability": 99.9,  # a percentage
    "mtta": 390.0,  # durations
    "mttr": 3 * 3600 + 12 * 60.0,
    "mtbf": 12 * 86400 + 5 * 3600.0,
    "action_item_closing_rate": 0.5,  # a ratio
}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def signed_in(client: Client, make_user: Callable[..., User]) -> Client:
    ServiceFactory.create(slug="checkout", name="Checkout", tier=ServiceTier.TIER_1)
    for key, value in FIGURES.items():
        for scope in ("global", "service:checkout"):
            MetricSnapshot.objects.create(metric=key, scope=scope, window="30d", value=value, computed_at=NOW)
    client.force_login(make_user("sre", SRE_LEAD))
    return client


def _one(pattern: str, page: str) -> str:
    found = re.search(pattern, page, re.S)
    assert found, pattern
    return html.unescape(found.group(1)).strip()


def dashboard_strings(page: str, key: str) -> tuple[str, str]:
    """(target, figure) of the metric's row in the dashboard's table (global, 30 days)."""
    row = _one(rf'<tr id="metric-{key}"[^>]*>(.*?)</tr>', page)
    return _one(r'<td class="target">(.*?)</td>', row), _one(r'<span class="figure-value"[^>]*>(.*?)</span>', row)


def scorecard_strings(page: str, key: str) -> tuple[str, str]:
    """(target, 30-day figure) of the metric's row on the service scorecard (columns 7d, 30d, 90d)."""
    title = html.escape(metrics.get(key).title)
    row = _one(rf'<th scope="row">{re.escape(title)}</th>(.*?)</tr>', page)
    figures = [html.unescape(text).strip() for text in re.findall(r'<span class="figure-value">(.*?)</span>', row)]
    assert len(figures) == 3, figures
    return _one(r'<td class="nowrap">(.*?)</td>', row), figures[1]


def test_the_dashboard_and_the_scorecard_write_the_same_figure_the_same_way(signed_in: Client) -> None:
    dashboard = signed_in.get("/").content.decode()
    scorecard = signed_in.get("/services/checkout/scorecard/").content.decode()
    shown = {key: (dashboard_strings(dashboard, key), scorecard_strings(scorecard, key)) for key in FIGURES}
    for key, (on_dashboard, on_scorecard) in shown.items():
        assert on_dashboard == on_scorecard, key
    assert {key: pair[0] for key, pair in shown.items()} == {
        "availability": ("> 99.9 %", "99.9 %"),
        "mtta": ("< 15 min", "6 min 30 s"),
        "mttr": ("< 4 h", "3 h 12 min"),
        "mtbf": ("> 30 d", "12 d 5 h"),
        "action_item_closing_rate": ("≥ 50 %", "50 %"),
    }


def test_each_kind_of_figure_has_one_way_to_be_written() -> None:
    assert format_metric_value(99.95, "percent") == "99.95 %"
    assert format_metric_value(100.0, "percent") == "100 %"
    assert format_metric_value(0.3333, "ratio") == "33.3 %"
    assert format_metric_value(4.625, "score") == "4.62"
    assert format_metric_value(390, "seconds") == "6 min 30 s"
    assert format_metric_value(None, "seconds") == "no data"
    assert format_target(">=", 100.0, "percent") == "≥ 100 %"
    assert format_target("<", 900.0, "seconds") == "< 15 min"
