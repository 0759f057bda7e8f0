"""Pull SLI data from Prometheus into 1-minute SLI buckets (SLOs with source "prometheus").

A beat task (``monitoring.tasks.pull_prometheus_slis``, every minute) runs
:func:`pull_prometheus_slis` while ``PROMETHEUS_URL`` is set. Every reading goes
through monitoring.slos.sli.record_sli, like pushed data.

How good_query and total_query are read
---------------------------------------
Each is a PromQL *selector of event counters*: a counter's name with label
matchers, not an expression, e.g.

    good_query:  http_requests_total{job="checkout", code!~"5.."}
    total_query: http_requests_total{job="checkout"}

or, for a latency SLI (requests faster than 300 ms are good):

    good_query:  http_request_duration_seconds_bucket{job="checkout", le="0.3"}
    total_query: http_request_duration_seconds_count{job="checkout"}

(the form Pyrra and Google's slo-generator take). The selector may match many
series (instances, status codes...): their events are added up. Being a plain
selector, it is what ``export_prometheus_rules`` puts inside ``rate(...[5m])``.

The events of a minute are the increases of the selected counters observed
by the scrapes of that minute. The puller reads the raw samples (an instant
query of the selector over a range, ``selector[<seconds>s]``, so Prometheus
neither evaluates nor extrapolates anything) and, per series, takes the
difference between each sample and the one before; a value lower than the one
before is a counter reset and counts as its new value (as ``increase()``
does). The difference goes to the minute [S, S + 60 s) holding the later
sample's timestamp. A series' first sample (in the range read, which reaches
:data:`LOOKBACK` before the first minute) adds nothing: a new series has no
known start, as with ``increase()``; nor does a sample more than 5 minutes
after the one before (the series went stale, as Prometheus' lookback says),
so the figures never depend on when the pulls ran.

Why not ``increase(x[1m])`` per minute: Prometheus extrapolates ``increase()``
to the edges of each window, so per-minute values are fractional estimates
that do not add up to the counters' change. Sample differences are whole
numbers of events, and the buckets of any range add up to exactly the
counters' change over it. This needs a scrape interval of at most a minute
(a minute without a scrape of the total counter has no data).

A minute gets a bucket when a total series has a sample with a predecessor in
it; then total may be 0 (no traffic) and good is 0 when no good series has
one. Without a total, the minute has no data and no bucket (the SLO's
freshness shows the gap). A minute with more good than total events
(selectors that do not match the same requests) is written with good =
total, and the pull reports it in ``last_pull_error``.

Which minutes
-------------
From the start of the newest stored bucket, read again (its last scrape may
have landed after the previous pull), or the last hour on the first pull, to
the last complete minute: the one that ended at least PROMETHEUS_PULL_DELAY
seconds ago (scrapes and ingestion take time). At most :data:`MAX_CATCH_UP`
back (Prometheus keeps 15 days by default), :data:`CHUNK` per request.

Errors
------
Nothing here raises into the beat. Per SLO, a failed pull is logged and kept
on the SLO (``last_pull_error``, empty after a success; ``last_pull_at``):
a query that is not a counter selector (checked before asking), Prometheus
refusing the query (HTTP 400 ``bad_data``: bad PromQL), an answer that is not a
range vector of finite, non-negative numbers. Prometheus unreachable (refused,
timed out after PROMETHEUS_TIMEOUT, HTTP 5xx without its API's answer) stops
the run after the first attempt: every remaining SLO gets the same error
without waiting for a timeout each. Minutes already written stay written
(one transaction per chunk); the next run carries on from there.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from ..models import SLO, SLISource
from ..promql import selector_errors
from .sli import SLIReading, newest_bucket_start, record_sli

logger = logging.getLogger(__name__)

BUCKET_SECONDS = 60
#: How far back the first pull of an SLO reads.
FIRST_PULL = timedelta(hours=1)
#: How far back a pull reads at most, however old the newest bucket.
MAX_CATCH_UP = timedelta(days=7)
#: Time read per request to Prometheus (raw samples: 1,440 per series at a 15 s scrape interval).
CHUNK = timedelta(hours=6)
#: How far before a range its samples are read, so its first minute has the samples before it.
LOOKBACK = timedelta(minutes=5)
#: Seconds without a sample after which a series counts as new (Prometheus' staleness, its lookback delta).
STALE_AFTER = LOOKBACK.total_seconds()


class PullError(Exception):
    """A pull of one SLO failed; the message says why, for the SLO's last_pull_error."""


class PrometheusUnreachable(PullError):
    """Prometheus did not answer: no point asking it again for the other SLOs in this run."""


class PrometheusClient:
    """The part of Prometheus' HTTP API the puller uses (range queries), over httpx."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers={"User-Agent": "opsgov"})

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def raw_samples(self, selector: str, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The raw samples of `selector` with timestamps in [start, end], per series ("result" of a range vector).

        An instant query of ``selector[<seconds>s]`` at `end`; POSTed as a form, as
        Prometheus allows, so a long selector never meets a URL length limit.
        """
        seconds = max(1, round((end - start).total_seconds()))
        form = {"query": f"{selector.strip()}[{seconds}s]", "time": f"{end.timestamp():.3f}"}
        try:
            response = self._http.post("/api/v1/query", data=form)
        except httpx.TimeoutException:
            raise PrometheusUnreachable(
                f"Prometheus at {self.base_url} did not answer within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise PrometheusUnreachable(f"Prometheus at {self.base_url} cannot be reached: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            message = f"Prometheus at {self.base_url} answered HTTP {response.status_code} without its API's JSON"
            raise PrometheusUnreachable(message) if response.status_code >= 500 else PullError(message)
        if body["status"] != "success":
            raise PullError(
                f"Prometheus refused the query (HTTP {response.status_code}, {body.get('errorType', 'error')}): "
                f"{body.get('error', '')}"
            )
        data = body.get("data")
        if not isinstance(data, dict):
            data = {}
        result_type = data.get("resultType")
        if result_type != "matrix" or not isinstance(data.get("result"), list):
            raise PullError(f"Prometheus answered a {result_type or 'malformed'} result, not a range vector (matrix)")
        return list(data["result"])


@dataclass(frozen=True)
class PullResult:
    """What one pull of one SLO did."""

    slo_id: int
    buckets: int = 0
    start: datetime | None = None
    end: datetime | None = None
    error: str = ""


def _floor(at: datetime, step: int) -> datetime:
    seconds = int(at.timestamp()) // step * step
    return datetime.fromtimestamp(seconds, tz=UTC)


def _series_name(series: dict[str, Any]) -> str:
    labels = dict(series.get("metric") or {})
    name = labels.pop("__name__", "")
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"


def events_per_bucket(
    series_list: Sequence[dict[str, Any]], *, start: int, end: int, step: int, field: str
) -> dict[int, float]:
    """Events per bucket start (epoch seconds) of [start, end), from raw samples; buckets without data are absent."""
    events: dict[int, float] = {}
    for series in series_list:
        samples = []
        for at, text in series.get("values") or []:
            number = float(text)
            if not math.isfinite(number) or number < 0:
                moment = datetime.fromtimestamp(float(at), tz=UTC).isoformat()
                raise PullError(
                    f"{field}: series {_series_name(series)} has the value {text} at {moment}: not an event counter"
                )
            samples.append((float(at), number))
        samples.sort()
        for (before_at, before), (at, after) in itertools.pairwise(samples):
            if not start <= at < end or at - before_at > STALE_AFTER:
                continue  # outside the range, or the series went stale in between: it starts again
            bucket = start + math.floor((at - start) / step) * step
            # A drop is a counter reset: the new value is what was counted since.
            events[bucket] = events.get(bucket, 0.0) + (after - before if after >= before else after)
    return events


def _chunks(start: datetime, end: datetime, step: int) -> Iterator[tuple[datetime, datetime]]:
    size = max(CHUNK, timedelta(seconds=step))
    while start < end:
        stop = min(start + size, end)
        yield start, stop
        start = stop


def pull_slo(
    slo: SLO, *, client: PrometheusClient, now: datetime, step: int = BUCKET_SECONDS, delay: int | None = None
) -> PullResult:
    """Pull `slo`'s minutes not stored yet (and its newest stored one again); raises PullError.

    `step` is the bucket length in seconds (60 in production).
    """
    errors = selector_errors(slo)
    if errors:
        raise PullError("; ".join(f"{field}: {message}" for field, message in errors.items()))
    delay = settings.PROMETHEUS_PULL_DELAY if delay is None else delay
    end = _floor(now - timedelta(seconds=delay), step)
    newest = newest_bucket_start(slo)
    start = _floor(newest, step) if newest is not None else end - FIRST_PULL
    start = max(start, end - MAX_CATCH_UP)
    written = 0
    clamped = 0
    for chunk_start, chunk_end in _chunks(start, end, step):
        first, stop = int(chunk_start.timestamp()), int(chunk_end.timestamp())
        counted = {}
        for field in ("good_query", "total_query"):
            try:
                series = client.raw_samples(getattr(slo, field), start=chunk_start - LOOKBACK, end=chunk_end)
            except PrometheusUnreachable:
                raise
            except PullError as exc:
                raise PullError(f"{field}: {exc}") from exc
            counted[field] = events_per_bucket(series, start=first, end=stop, step=step, field=field)
        readings = []
        for bucket, events in sorted(counted["total_query"].items()):
            total_events = round(events)
            good_events = round(counted["good_query"].get(bucket, 0.0))
            if good_events > total_events:
                clamped += 1
                good_events = total_events
            at = datetime.fromtimestamp(bucket, tz=UTC)
            readings.append(SLIReading(start=at, good=good_events, total=total_events, seconds=step))
        try:
            written += record_sli(slo=slo, readings=readings, now=now)
        except ValidationError as exc:  # pragma: no cover - the readings are built valid
            raise PullError(f"the readings were refused: {exc.messages}") from exc
    error = (
        f"{clamped} minute(s) had more good than total events and were stored with good = total: "
        "do the two queries select the same requests?"
        if clamped
        else ""
    )
    return PullResult(slo_id=slo.pk, buckets=written, start=start, end=end, error=error)


def _record(slo: SLO, *, at: datetime, error: str) -> None:
    SLO.objects.filter(pk=slo.pk).update(last_pull_at=at, last_pull_error=error)
    slo.last_pull_at, slo.last_pull_error = at, error


def pull_prometheus_slis(
    *, now: datetime | None = None, client: PrometheusClient | None = None, step: int = BUCKET_SECONDS
) -> list[PullResult]:
    """Pull every enabled SLO with source "prometheus"; nothing while PROMETHEUS_URL is empty (and no client given).

    Never raises for a pull that fails: see the module's docstring, "Errors".
    """
    if client is None:
        if not settings.PROMETHEUS_URL:
            return []
        with PrometheusClient(settings.PROMETHEUS_URL, timeout=settings.PROMETHEUS_TIMEOUT) as own:
            return pull_prometheus_slis(now=now, client=own, step=step)
    now = now or timezone.now()
    results: list[PullResult] = []
    unreachable = ""
    slos = SLO.objects.filter(enabled=True, source=SLISource.PROMETHEUS).select_related("service").order_by("pk")
    for slo in slos:
        if unreachable:
            result = PullResult(slo_id=slo.pk, error=unreachable)
        else:
            try:
                result = pull_slo(slo, client=client, now=now, step=step)
            except PrometheusUnreachable as exc:
                unreachable = str(exc)
                result = PullResult(slo_id=slo.pk, error=unreachable)
            except PullError as exc:
                result = PullResult(slo_id=slo.pk, error=str(exc))
            except Exception as exc:  # one SLO's surprise must not stop the others' pulls
                logger.exception("Pulling SLO %s from Prometheus failed unexpectedly", slo.uuid)
                result = PullResult(slo_id=slo.pk, error=f"unexpected error: {type(exc).__name__}: {exc}")
        if result.error:
            logger.warning("Prometheus pull of SLO %s (%s): %s", slo.uuid, slo, result.error)
        _record(slo, at=now, error=result.error)
        results.append(result)
    return results
