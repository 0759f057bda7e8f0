"""The PromQL pull (monitoring.slos.prometheus_pull) against a real Prometheus holding known samples.

promtool backfills counters at chosen timestamps a few hours back (samples
every 15 s, events between samples), Debian's Prometheus serves them on
loopback, and the puller reads them with time frozen after them. Every expected
bucket is worked out by hand in the comments. tests/integration/test_prometheus.py
runs the same pull on series that Prometheus scrapes live.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine

from monitoring import tasks
from monitoring.models import SLO, SLIBucket, SLISource
from monitoring.promql import is_counter_selector
from monitoring.slos.prometheus_pull import MAX_CATCH_UP, PrometheusClient, pull_prometheus_slis
from monitoring.slos.sli import SLIReading, record_sli
from tests.factories import ServiceFactory
from tests.prometheus_server import PrometheusServer, Sample, backfill, free_port

pytestmark = pytest.mark.django_db

#: The series' minute 0: a whole hour, five hours back (inside Prometheus' retention, outside its head block).
T0 = datetime.fromtimestamp((int(time.time()) // 3600 - 5) * 3600, tz=UTC)
SCRAPE = 15


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def minute(number: int) -> datetime:
    return T0 + timedelta(minutes=number)


def counter(
    name: str, labels: dict[str, str], changes: Sequence[tuple[int, float | str]], *, first: int, last: int
) -> list[Sample]:
    """A counter scraped every 15 s over [first, last] (seconds after T0): it starts at 0 and, at each
    change's time, gains that many events or, for "reset", restarts from 0 (a process restart)."""
    pending = sorted(changes, key=lambda change: change[0])
    value = 0.0
    samples = []
    for moment in range(first, last + 1, SCRAPE):
        while pending and pending[0][0] <= moment:
            _, change = pending.pop(0)
            value = 0.0 if change == "reset" else value + float(change)
        samples.append(Sample(name, labels, value, T0.timestamp() + moment))
    return samples


def history() -> dict[str, tuple[str, list[Sample]]]:
    # A: two instances, 200s and 500s, minutes -5 to 10. In minute m: a1 serves 10 + m good requests
    # (at +10 s) and m % 3 errors (at +40 s), a2 serves 5 good ones (at +40 s).
    a_samples: list[Sample] = []
    for instance, code, events in [
        ("a1", "200", [(m * 60 + 10, 10 + m) for m in range(10)]),
        ("a1", "500", [(m * 60 + 40, m % 3) for m in range(10) if m % 3]),
        ("a2", "200", [(m * 60 + 40, 5) for m in range(10)]),
        ("a2", "500", []),
    ]:
        a_samples += counter("a_requests_total", {"instance": instance, "code": code}, events, first=-300, last=600)
    # B: 10 requests a minute at +10 s in minutes 0-5; the process restarts at 3:35 and serves 4 at 3:40.
    b_events: list[tuple[int, float | str]] = [(m * 60 + 10, 10) for m in range(6)] + [(215, "reset"), (220, 4)]
    # C: 10 a minute at +10 s; scraped in minutes 0-3 (to 3:00) and again from 10:00 to 14:00, not in between.
    c_events: list[tuple[int, float | str]] = [(m * 60 + 10, 10) for m in range(15)]
    c_samples = counter("c_requests_total", {}, c_events, first=0, last=180)
    c_samples += counter("c_requests_total", {}, c_events, first=600, last=840)
    return {
        "a_requests": ("counter", a_samples),
        "b_requests": ("counter", counter("b_requests_total", {"instance": "b1"}, b_events, first=-60, last=360)),
        "c_requests": ("counter", c_samples),
        # D: "good" grows by 5 a minute, "total" by 3: mismatched selectors.
        "d_good": ("counter", counter("d_good_total", {}, [(m * 60 + 10, 5) for m in range(3)], first=0, last=180)),
        "d_all": ("counter", counter("d_all_total", {}, [(m * 60 + 10, 3) for m in range(3)], first=0, last=180)),
        # E: a gauge that is sometimes NaN: not an event counter.
        "e_temperature": (
            "gauge",
            [
                Sample("e_temperature", {}, 21.5, T0.timestamp() + 15),
                Sample("e_temperature", {}, float("nan"), T0.timestamp() + 30),
            ],
        ),
    }


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    workdir = tmp_path_factory.mktemp("prometheus-history")
    storage = workdir / "data"
    backfill(storage, history(), workdir)
    server = PrometheusServer.start(workdir, config={"global": {"scrape_interval": "15s"}}, storage=storage)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pulling(settings: Any, prometheus: PrometheusServer) -> PrometheusServer:
    settings.PROMETHEUS_URL = prometheus.url
    settings.PROMETHEUS_TIMEOUT = 5.0
    settings.PROMETHEUS_PULL_DELAY = 30
    return prometheus


def pulled_slo(name: str, good: str, total: str, **fields: Any) -> SLO:
    return SLO.objects.create(
        service=ServiceFactory.create(),
        name=name,
        objective_percent=Decimal("99"),
        source=SLISource.PROMETHEUS,
        good_query=good,
        total_query=total,
        **fields,
    )


def buckets(slo: SLO) -> dict[int, tuple[int, int]]:
    """Stored buckets by their minute relative to T0: (good, total)."""
    return {
        round((start - T0).total_seconds() / 60): (good, total)
        for start, good, total in SLIBucket.objects.filter(slo=slo).values_list("start", "good", "total")
    }


def test_the_first_pull_reads_the_last_hour_and_adds_up_every_series(pulling: PrometheusServer) -> None:
    slo = pulled_slo("A", 'a_requests_total{code!~"5.."}', "a_requests_total")
    # 10:40 with a 30 s delay: the last complete minute is 9 (it ended at 10:00, 40 s ago).
    with time_machine.travel(at(640), tick=False):
        written = tasks.pull_prometheus_slis()
    # Minutes -5 to -1: the counters exist, nothing happens: 0 / 0. Earlier: no series, no bucket.
    # Minute m (0-9): good = (10 + m) + 5, total = good + m % 3.
    expected = {m: (0, 0) for m in range(-5, 0)} | {m: (15 + m, 15 + m + m % 3) for m in range(10)}
    assert buckets(slo) == expected
    assert written == 15
    # The sums are the counters' whole change: good 150 + 45 = 195, errors 0+1+2 x 3 = 9.
    assert sum(good for good, _ in expected.values()) == 195
    assert sum(total for _, total in expected.values()) == 204
    slo.refresh_from_db()
    assert slo.last_pull_error == ""
    assert slo.last_pull_at == at(640)
    assert slo.last_sli_at == minute(10), "fresh up to the end of minute 9"
    assert all(seconds == 60 for seconds in SLIBucket.objects.values_list("seconds", flat=True))


def test_the_next_pull_carries_on_from_the_newest_bucket_without_counting_twice(pulling: PrometheusServer) -> None:
    slo = pulled_slo("A", 'a_requests_total{code!~"5.."}', "a_requests_total")
    with time_machine.travel(at(640), tick=False):
        tasks.pull_prometheus_slis()
    with time_machine.travel(at(14 * 60 + 40), tick=False):
        (result,) = pull_prometheus_slis()
    # From minute 9 (read again, same values) to minute 13: minute 10 holds the last sample (10:00),
    # no events in it (0 / 0); after it the series are gone: no data, no bucket.
    assert (result.start, result.end, result.buckets, result.error) == (minute(9), minute(14), 2, "")
    stored = buckets(slo)
    assert stored[9] == (24, 24)  # 10 + 9 + 5 good, 9 % 3 = 0 errors
    assert stored[10] == (0, 0)
    assert sorted(stored) == list(range(-5, 11))


def test_a_counter_reset_counts_the_events_after_it(pulling: PrometheusServer) -> None:
    slo = pulled_slo("B", 'b_requests_total{instance="b1"}', "b_requests_total")
    with time_machine.travel(at(6 * 60 + 30), tick=False):
        pull_prometheus_slis()
    # Minute 3: 30 -> 40 (10 events at 3:10), then the restart: 40 -> 4 counts 4. 10 + 4 = 14.
    # Other minutes 10 each; minute -1 has the counter at 0.
    assert buckets(slo) == {-1: (0, 0), 0: (10, 10), 1: (10, 10), 2: (10, 10), 3: (14, 14), 4: (10, 10), 5: (10, 10)}


def test_minutes_without_samples_get_no_bucket_and_a_stale_series_starts_again(pulling: PrometheusServer) -> None:
    slo = pulled_slo("C", "c_requests_total", "c_requests_total")
    with time_machine.travel(at(14 * 60 + 30), tick=False):
        pull_prometheus_slis()
    # Minutes 0-2: 10 each; minute 3 holds the 3:00 sample only (no event since 2:10): 0.
    # Minutes 4-9: no sample, no bucket. At 10:00 the series is back after 7 minutes (more than
    # Prometheus' 5-minute staleness): it starts again, so the 70 events of the gap are not put on
    # minute 10; the event at 10:10 is. Minutes 10-13: 10 each.
    assert buckets(slo) == {0: (10, 10), 1: (10, 10), 2: (10, 10), 3: (0, 0)} | {m: (10, 10) for m in range(10, 14)}


def test_more_good_than_total_events_is_stored_clamped_and_reported(pulling: PrometheusServer) -> None:
    slo = pulled_slo("D", "d_good_total", "d_all_total")
    with time_machine.travel(at(3 * 60 + 30), tick=False):
        (result,) = pull_prometheus_slis()
    # Minutes 0-2: 5 "good" against 3 in all, stored as 3 / 3.
    assert buckets(slo) == {0: (3, 3), 1: (3, 3), 2: (3, 3)}
    slo.refresh_from_db()
    assert slo.last_pull_error == result.error
    assert result.error.startswith("3 minute(s) had more good than total events")


@pytest.mark.parametrize(
    ("good", "message"),
    [
        # Not a selector: refused before asking Prometheus.
        (
            "sum(rate(a_requests_total[5m]))",
            "good_query: 'sum(rate(a_requests_total[5m]))' is not a counter selector",
        ),
        # A selector Prometheus cannot parse (a broken regular expression): its HTTP 400.
        ('a_requests_total{code=~"(5.."}', "good_query: Prometheus refused the query (HTTP 400, bad_data): "),
        # NaN: not an event counter.
        ("e_temperature", "good_query: series e_temperature{} has the value NaN at "),
    ],
)
def test_a_failing_pull_is_kept_on_the_slo_and_the_others_go_on(
    pulling: PrometheusServer, good: str, message: str
) -> None:
    broken = pulled_slo("Broken", good, "a_requests_total")
    fine = pulled_slo("B", 'b_requests_total{instance="b1"}', "b_requests_total")
    with time_machine.travel(at(6 * 60 + 30), tick=False):
        results = pull_prometheus_slis()
    assert [result.slo_id for result in results] == [broken.pk, fine.pk]
    broken.refresh_from_db()
    assert message in broken.last_pull_error
    assert broken.last_pull_at == at(6 * 60 + 30)
    assert not SLIBucket.objects.filter(slo=broken).exists()
    fine.refresh_from_db()
    assert fine.last_pull_error == ""
    assert sum(total for _, total in buckets(fine).values()) == 64  # 10 x 6 + 4: pulled all the same


def test_an_unreachable_prometheus_is_asked_once_and_every_slo_says_so(settings: Any) -> None:
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    first = pulled_slo("A", "a_requests_total", "a_requests_total")
    second = pulled_slo("B", "b_requests_total", "b_requests_total")
    started = time.monotonic()
    assert tasks.pull_prometheus_slis() == 0
    assert time.monotonic() - started < 5
    for slo in (first, second):
        slo.refresh_from_db()
        assert slo.last_pull_error.startswith(f"Prometheus at {settings.PROMETHEUS_URL} cannot be reached")
        assert slo.last_pull_at is not None
    assert not SLIBucket.objects.exists()


def test_a_slow_prometheus_times_out_after_the_configured_seconds(settings: Any) -> None:
    import socket

    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        settings.PROMETHEUS_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"
        settings.PROMETHEUS_TIMEOUT = 0.5
        slo = pulled_slo("A", "a_requests_total", "a_requests_total")
        pull_prometheus_slis()
    slo.refresh_from_db()
    assert slo.last_pull_error == f"Prometheus at {settings.PROMETHEUS_URL} did not answer within 0.5 s"


def test_nothing_is_pulled_while_prometheus_url_is_empty(settings: Any) -> None:
    settings.PROMETHEUS_URL = ""
    slo = pulled_slo("A", "a_requests_total", "a_requests_total")
    assert tasks.pull_prometheus_slis() == 0
    slo.refresh_from_db()
    assert slo.last_pull_at is None


def test_only_enabled_slos_with_source_prometheus_are_pulled(pulling: PrometheusServer) -> None:
    pulled = pulled_slo("B", "b_requests_total", "b_requests_total")
    disabled = pulled_slo("Off", "b_requests_total", "b_requests_total", enabled=False)
    pushed = SLO.objects.create(service=ServiceFactory.create(), name="Pushed", objective_percent=Decimal("99"))
    with time_machine.travel(at(6 * 60 + 30), tick=False):
        results = pull_prometheus_slis()
    assert [result.slo_id for result in results] == [pulled.pk]
    for slo in (disabled, pushed):
        slo.refresh_from_db()
        assert slo.last_pull_at is None
        assert not SLIBucket.objects.filter(slo=slo).exists()


def test_a_long_silence_is_caught_up_at_most_seven_days_back(pulling: PrometheusServer) -> None:
    slo = pulled_slo("B", "b_requests_total", "b_requests_total")
    record_sli(slo=slo, readings=[SLIReading(start=minute(-8 * 24 * 60), good=1, total=1)], now=minute(0))
    with time_machine.travel(at(6 * 60 + 30), tick=False):
        (result,) = pull_prometheus_slis()
    assert result.end == minute(6)
    assert result.start == minute(6) - MAX_CATCH_UP
    assert sum(total for _, total in buckets(slo).values()) == 1 + 64  # the old bucket and minutes -1 to 5


def test_the_client_reads_raw_samples_of_a_range(prometheus: PrometheusServer) -> None:
    with PrometheusClient(prometheus.url, timeout=5) as client:
        (series,) = client.raw_samples('b_requests_total{instance="b1"}', start=at(0), end=at(60))
    # [0:00, 1:00]: samples at 0:00 (before the event at 0:10), 0:15, 0:30, 0:45 and 1:00.
    assert [(float(moment) - T0.timestamp(), value) for moment, value in series["values"]] == [
        (0.0, "0"),
        (15.0, "10"),
        (30.0, "10"),
        (45.0, "10"),
        (60.0, "10"),
    ]


@pytest.mark.parametrize(
    ("query", "selector"),
    [
        ("http_requests_total", True),
        ('http_requests_total{job="api",code!~"5.."}', True),
        ('http_requests_total{job="api", code=~"2..|3.."} ', True),
        ('{__name__="http_requests_total", job="a,b}"}', True),
        ("http_request_duration_seconds_bucket{le='0.3'}", True),
        ("", False),
        ("{}", False),
        ("sum(http_requests_total)", False),
        ("rate(http_requests_total[5m])", False),
        ("http_requests_total[5m]", False),
        ('http_requests_total{job="api"} offset 5m', False),
        ("a_total / b_total", False),
    ],
)
def test_queries_must_be_counter_selectors(query: str, selector: bool) -> None:
    assert is_counter_selector(query) is selector


def test_prometheus_settings_are_checked_at_start_up(tmp_path: Path) -> None:
    from tests.opsgov.test_settings import manage

    for name, value, message in [
        ("PROMETHEUS_URL", "prometheus:9090", "PROMETHEUS_URL: 'prometheus:9090' is not an http(s) URL"),
        ("PROMETHEUS_TIMEOUT", "0", "PROMETHEUS_TIMEOUT: must be a positive number of seconds"),
        ("PROMETHEUS_TIMEOUT", "soon", "Environment variable PROMETHEUS_TIMEOUT"),
        ("PROMETHEUS_PULL_DELAY", "-1", "PROMETHEUS_PULL_DELAY: must be 0 or more seconds"),
    ]:
        result = manage("check", env={name: value}, tmp_path=tmp_path)
        assert result.returncode != 0
        assert message in result.stderr


def test_an_slo_pulled_from_prometheus_is_validated_with_counter_selectors() -> None:
    from django.core.exceptions import ValidationError

    slo = SLO(
        service=ServiceFactory.create(),
        name="Checkout",
        objective_percent=Decimal("99.9"),
        source=SLISource.PROMETHEUS,
        good_query='sum(rate(http_requests_total{code!~"5.."}[5m]))',
        total_query="",
    )
    with pytest.raises(ValidationError) as caught:
        slo.full_clean()
    errors = caught.value.message_dict
    assert errors["total_query"] == ["An SLO pulled from Prometheus needs both PromQL queries."]
    assert errors["good_query"][0].startswith("'sum(rate(http_requests_total{code!~\"5..\"}[5m]))' is not a counter")
    slo.good_query, slo.total_query = 'http_requests_total{code!~"5.."}', "http_requests_total"
    slo.full_clean()
