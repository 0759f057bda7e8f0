"""/metrics for Prometheus.

Two parts make up a scrape:

- the process metrics (``opsgov_http_requests_total``...). Under gunicorn with
  several workers, set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does) and the
  counters of every worker are merged from their files;
- the governance figures, read from the database at each scrape by
  :func:`governance_families` and written by :func:`render`, so every worker
  answers the same values and no process keeps state of its own.

Governance figures: a fixed number of queries
---------------------------------------------
The governance figures never scan history: they read precomputed rows (the
current metric snapshots, the newest evaluation of each gate, the SLO engine's
status rows) or bounded counts. Their cost is a fixed number of SQL queries,
whatever the amount of data:

1. one query for every *row source*: the sources (current snapshots, newest
   gate evaluations, and whatever apps add with :meth:`GovernanceRegistry.add_source`)
   are shaped to the same five columns and read together with UNION ALL;
2. collectors that need a table of their own run one query each. Today only
   monitoring's (the SLO status rows) does, so a scrape costs two queries
   (tests/opsgov/test_prometheus_governance.py holds it to that).

Apps plug in from their ``prometheus_metrics`` module, which opsgov.apps
discovers (opsgov imports no app):

    from opsgov.prometheus import governance
    governance.add_source("open_incidents", open_incident_rows)   # a shaped queryset
    governance.add_collector("incidents", collect)                 # rows -> metric families

Labels stay low-cardinality: services, teams, severities, gates, SLOs and
windows, never incidents or events.

Protected by a bearer token when OPSGOV_METRICS_TOKEN is set.
"""

from __future__ import annotations

import hmac
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import CharField, Expression, F, FloatField, QuerySet, Value
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest, multiprocess

from .models import GateEvaluation, GateStatus
from .registry import app_position, gates
from .selectors import latest_snapshots, newest_gate_evaluations_filter

HTTP_REQUESTS = Counter(
    "opsgov_http_requests", "HTTP requests answered, by method and status class", ["method", "status"]
)

#: The five columns every row source is shaped to (see :func:`shape_rows`).
ROW_COLUMNS = ("scrape_source", "scrape_key", "scrape_label", "scrape_detail", "scrape_value")


class ScrapeRow(NamedTuple):
    """One row read for a scrape: which source it came from, three text keys and a value.

    What the keys mean is the source's business, e.g. for snapshots
    (metric, scope, window) and for gates (gate key, status, "").
    """

    source: str
    key: str
    label: str
    detail: str
    value: float | None


def shape_rows(
    queryset: QuerySet[Any],
    *,
    source: str,
    key: Expression | F | str,
    label: Expression | F | str = "",
    detail: Expression | F | str = "",
    value: Expression | F | float | None = None,
) -> QuerySet[Any]:
    """`queryset` as rows of the five scrape columns, ready to be UNIONed with the other sources.

    Strings are constants; pass F("field") (or any expression) for columns.
    """

    def text(part: Expression | F | str) -> Expression:
        return Value(part, output_field=CharField()) if isinstance(part, str) else Cast(part, CharField())

    number: Expression = (
        Cast(Value(value), FloatField())
        if value is None or isinstance(value, float | int)
        else Cast(value, FloatField())
    )
    return (
        queryset.order_by()
        .annotate(
            scrape_source=Value(source, output_field=CharField()),
            scrape_key=text(key),
            scrape_label=text(label),
            scrape_detail=text(detail),
            scrape_value=number,
        )
        .values_list(*ROW_COLUMNS)
    )


class ScrapeData:
    """The rows of one scrape, by source, as collectors read them."""

    def __init__(self, rows: Iterable[ScrapeRow]) -> None:
        self._by_source: dict[str, list[ScrapeRow]] = defaultdict(list)
        for row in rows:
            self._by_source[row.source].append(row)

    def rows(self, source: str) -> list[ScrapeRow]:
        return list(self._by_source.get(source, []))

    def snapshots(self, metric: str, *, scope_prefix: str = "") -> list[ScrapeRow]:
        """Current snapshot rows of `metric` (key=metric, label=scope, detail=window), optionally of one scope kind."""
        return [
            row
            for row in self._by_source.get("snapshot", [])
            if row.key == metric and row.label.startswith(scope_prefix)
        ]


class Family:
    """One metric family of the governance figures: a gauge with fixed label names and its samples.

    Lighter than prometheus_client's families: a scrape writes thousands of
    these samples (13 per SLO), and :func:`render` writes them as text directly.
    """

    __slots__ = ("documentation", "labels", "name", "samples")

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.samples: list[tuple[tuple[str, ...], float]] = []

    def add(self, values: Sequence[str], value: float) -> None:
        self.samples.append((values if isinstance(values, tuple) else tuple(values), value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """The Prometheus text exposition format (0.0.4) of `families`, all gauges.

    Written directly rather than through prometheus_client's exposition, which
    checks every label name of every sample: with hundreds of SLOs that was most
    of a scrape's time. Label names are fixed per family (valid by construction);
    label values are escaped, each distinct value once.
    """
    lines: list[str] = []
    escaped: dict[str, str] = {}
    for family in families:
        documentation = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {family.name} {documentation}")
        lines.append(f"# TYPE {family.name} gauge")
        # Label names in alphabetical order, as prometheus_client writes them.
        order = sorted(range(len(family.labels)), key=family.labels.__getitem__)
        pairs = ",".join(f'{family.labels[index]}="%s"' for index in order)
        template = f"{family.name}{{{pairs}}} %s" if order else f"{family.name} %s"
        for values, value in family.samples:
            texts = []
            for index in order:
                text = values[index]
                cleaned = escaped.get(text)
                if cleaned is None:
                    cleaned = escaped[text] = _escape(text)
                texts.append(cleaned)
            texts.append(_number(value))
            lines.append(template % tuple(texts))
    return "\n".join(lines) + "\n" if lines else ""


RowSource = Callable[[], QuerySet[Any] | None]
GovernanceCollect = Callable[[ScrapeData], Iterable[Family]]


class GovernanceRegistry:
    """Row sources and collectors of the governance part of /metrics (apps add theirs in their
    ``prometheus_metrics`` module, which opsgov.apps discovers). Both are kept by app (INSTALLED_APPS
    order), then in the order each app added them, so /metrics lists families in that order whatever
    order the modules were imported in."""

    def __init__(self) -> None:
        self._sources: dict[str, RowSource] = {}
        self._collectors: dict[str, GovernanceCollect] = {}
        self._positions: dict[str, int] = {}

    def add_source(self, name: str, build: RowSource) -> None:
        """`build()` returns a queryset shaped by :func:`shape_rows` with source=`name` (None: nothing to read)."""
        if self._sources.get(name, build) is not build:
            raise ValueError(f"scrape source {name!r} is registered twice")
        self._positions.setdefault(f"source:{name}", app_position(build))
        self._sources[name] = build

    def add_collector(self, name: str, collect: GovernanceCollect) -> None:
        """`collect(data)` yields metric families; it may run at most one query of its own."""
        if self._collectors.get(name, collect) is not collect:
            raise ValueError(f"scrape collector {name!r} is registered twice")
        self._positions.setdefault(f"collector:{name}", app_position(collect))
        self._collectors[name] = collect

    def remove(self, name: str) -> None:
        self._sources.pop(name, None)
        self._collectors.pop(name, None)
        self._positions.pop(f"source:{name}", None)
        self._positions.pop(f"collector:{name}", None)

    def sources(self) -> dict[str, RowSource]:
        return dict(sorted(self._sources.items(), key=lambda item: self._positions[f"source:{item[0]}"]))

    def collectors(self) -> dict[str, GovernanceCollect]:
        return dict(sorted(self._collectors.items(), key=lambda item: self._positions[f"collector:{item[0]}"]))


governance = GovernanceRegistry()


# --- The core's own sources and collector --------------------------------------------


def snapshot_rows() -> QuerySet[Any]:
    """The current metric snapshots: (metric, scope, window, value)."""
    return shape_rows(
        latest_snapshots(),
        source="snapshot",
        key=F("metric"),
        label=F("scope"),
        detail=F("window"),
        value=F("value"),
    )


def gate_rows() -> QuerySet[Any] | None:
    """The newest evaluation of each registered gate: (gate, status)."""
    keys = [gate.key for gate in gates.all()]
    if not keys:
        return None
    return shape_rows(
        GateEvaluation.objects.filter(newest_gate_evaluations_filter(keys)),
        source="gate",
        key=F("gate"),
        label=F("status"),
    )


def collect_core(data: ScrapeData) -> Iterator[Family]:
    current = {row.key: row.label for row in data.rows("gate")}
    gate_family = Family(
        "opsgov_gate_status", "1 for the current status of each quality gate", ["gate", "step", "status"]
    )
    for gate in gates.all():
        for status in GateStatus:
            gate_family.add(
                [gate.key, str(gate.step), status.value], 1.0 if current.get(gate.key) == status.value else 0.0
            )
    yield gate_family

    value_family = Family("opsgov_metric_value", "Latest computed operational metric", ["metric", "scope", "window"])
    for row in data.rows("snapshot"):
        if row.value is not None:
            value_family.add([row.key, row.label, row.detail], row.value)
    yield value_family


governance.add_source("snapshot", snapshot_rows)
governance.add_source("gate", gate_rows)
governance.add_collector("core", collect_core)


def read_rows(registry: GovernanceRegistry) -> list[ScrapeRow]:
    """Every source's rows, in one query (UNION ALL)."""
    querysets = [queryset for build in registry.sources().values() if (queryset := build()) is not None]
    if not querysets:
        return []
    first, *others = querysets
    combined = first.union(*others, all=True) if others else first
    return [ScrapeRow._make(row) for row in combined]


def governance_families(registry: GovernanceRegistry | None = None) -> Iterator[Family]:
    """The governance figures, read now: one UNION query over the row sources, then each collector."""
    registry = registry or governance
    data = ScrapeData(read_rows(registry))
    for collect in registry.collectors().values():
        yield from collect(data)


def _authorised(request: HttpRequest) -> bool:
    token = settings.OPSGOV_METRICS_TOKEN
    if not token:
        return True
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


@require_GET
@login_not_required
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorised(request):
        response = HttpResponse("A valid bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    output = generate_latest(registry) + render(governance_families()).encode()
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


class RequestCounterMiddleware:
    """Counts answered requests for /metrics (low cardinality: method and status class)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        HTTP_REQUESTS.labels(request.method, f"{response.status_code // 100}xx").inc()
        return response
