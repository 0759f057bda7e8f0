"""Quality-gate and operational-metric registries.

Each app registers its own gates and metrics when opsgov discovers its
``gates`` and ``metrics`` modules (opsgov.apps); the dashboard, the gate engine
and the metric computation read only these registries, so adding an app never
touches them. What a registry lists does not depend on the order modules were
imported in: gates by seed step, metrics by app (INSTALLED_APPS order), then in
the order each app registered them (:func:`app_position`).

Gate interface
--------------
A gate is a subclass of :class:`Gate` with a unique ``key``, the seed ``step``
(1-8) it governs, a ``title``, the seed roles that own it, and an
``evaluate(now=...)`` method returning a :class:`GateResult`: a status (pass,
at risk, fail, no evidence), a one-line reason, and evidence rows, each linking
to the record that supports or breaks the gate. "No evidence" is never pass.
Every gate builds its result the same way: ``evaluate`` makes a :class:`GateReport`,
calls one method per criterion that adds its rows (and names their problems), and
returns ``report.result(pass_reason)``.

Metric interface
----------------
A metric is a :class:`MetricDefinition`: a key, title, unit, how a value is
compared with the policy target (">" for availability, "<" for MTTR...),
the target (a callable reading the effective policy), and a
``compute(window=..., now=...)`` callable returning :class:`MetricValue` rows
(one per scope) that the metric task stores as MetricSnapshot rows; an optional
``prepare(now=...)`` runs once per cycle first (to bring rollups up to date).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from django.apps import apps

from .models import GateStatus


@dataclass(frozen=True)
class Evidence:
    """One row behind a gate's verdict: a record that supports or breaks it.

    ``key`` identifies the check within its gate, stable from one evaluation to
    the next, by convention ``"<check>:<subject>"`` (e.g.
    ``"escalation:checkout"``, ``"review_overdue:INC-42"``). A waiver names a
    row by (gate, key, service), so only rows with a key can be waived; a row
    without a service is an organisation-wide check, waived by a waiver without
    a service. ``waiver`` is set by the gate engine on a row an active waiver
    covers (its id, expiry, approver and the status it would have had).
    """

    label: str
    status: GateStatus
    detail: str = ""
    url: str = ""
    service: str = ""
    key: str = ""
    waiver: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "status": str(self.status),
            "detail": self.detail,
            "url": self.url,
            "service": self.service,
        }
        if self.waiver is not None:
            row["waiver"] = self.waiver
        return row


@dataclass(frozen=True)
class GateResult:
    status: GateStatus
    reason: str
    evidence: list[Evidence] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status == GateStatus.PASS and not self.evidence:
            # A pass must stand on something the reader can inspect.
            raise ValueError("a passing gate needs at least one evidence row")


#: How bad a row's status is for its gate's verdict, the worst highest: a failure outweighs missing
#: evidence, which outweighs a risk ("no evidence" is never pass, nor merely at risk).
SEVERITY: dict[GateStatus, int] = {
    GateStatus.PASS: 0,
    GateStatus.AT_RISK: 1,
    GateStatus.NO_EVIDENCE: 2,
    GateStatus.FAIL: 3,
}


def worst(statuses: Iterable[GateStatus | str]) -> GateStatus:
    """The worst of `statuses` by :data:`SEVERITY` ("no evidence" when there are none)."""
    return max((GateStatus(status) for status in statuses), key=SEVERITY.__getitem__, default=GateStatus.NO_EVIDENCE)


@dataclass
class _Problem:
    what: str
    noun: str = ""
    count: int = 0  # 0: stated as is

    def __str__(self) -> str:
        if not self.count:
            return self.what
        if not self.noun:
            return f"{self.count} {self.what}"
        singular, _, plural = self.noun.partition("|")
        return f"{self.count} {singular if self.count == 1 else plural or singular + 's'} {self.what}"


class GateReport:
    """The evidence rows of one gate evaluation and the problems they found; :meth:`result` is the verdict.

    A gate's ``evaluate`` makes one report and calls one method per criterion, each adding its rows::

        report = GateReport()
        self.slo_data_fresh(report, services, now=now)
        self.someone_on_call(report, services, now=now)
        return report.result("All 6 active services have fresh SLOs and on-call cover.")

    ``add(row, problem)`` names what a row that does not pass shows, and the reason counts them, in the
    order first found: ``add(row, "without an SLO", noun="service")`` reads "2 services without an SLO"
    (``noun`` agrees with the count: an "s" is added, or "activity|activities" names both forms; without a
    noun the problem is read as is after the count). A check
    that words its own problem (a share, a deadline) gives it to ``state``.

    The status is the worst of the rows (:data:`SEVERITY`): a passing gate stands on its rows; without
    rows, nothing was judged and it has no evidence, never a pass.
    """

    def __init__(self) -> None:
        self.rows: list[Evidence] = []
        self._problems: list[_Problem] = []
        self._counted: dict[tuple[str, str], _Problem] = {}

    def add(self, row: Evidence, problem: str = "", *, noun: str = "") -> None:
        """Add `row`; unless it passes, count one more of `problem` (if any) for the reason."""
        self.rows.append(row)
        if problem and row.status != GateStatus.PASS:
            counted = self._counted.get((noun, problem))
            if counted is None:
                counted = self._counted[(noun, problem)] = _Problem(problem, noun)
                self._problems.append(counted)
            counted.count += 1

    def extend(self, rows: Iterable[Evidence], problem: str = "", *, noun: str = "") -> None:
        """:meth:`add` each of `rows`."""
        for row in rows:
            self.add(row, problem, noun=noun)

    def state(self, problem: str | None) -> None:
        """A problem a check words itself (stated as is, in order with the counted ones); none: nothing."""
        if problem:
            self._problems.append(_Problem(problem))

    @property
    def status(self) -> GateStatus:
        """The worst status of the rows ("no evidence" without rows)."""
        return worst(row.status for row in self.rows)

    @property
    def problems(self) -> list[str]:
        """The problems found, as the reason lists them."""
        return [str(problem) for problem in self._problems]

    def result(self, pass_reason: str, *, end: str = ".", first_row: bool = False) -> GateResult:
        """The verdict: the worst status of the rows, and its reason.

        - pass: `pass_reason`;
        - nothing fails, but a row has no evidence: "Nothing fails; no evidence yet: <their labels>.";
        - otherwise the problems, joined by "; ", followed by `end`.

        With `first_row`, or when no problem was named, a gate that does not pass counts the rows that do
        not pass and names the first instead: "3 check(s) not passing; first: <label> (<detail>)".
        Without rows: "no evidence", never pass.
        """
        status = self.status
        if not self.rows:
            return GateResult(status=status, reason="No evidence: no check found anything to judge.")
        if status == GateStatus.PASS:
            return GateResult(status=status, reason=pass_reason, evidence=self.rows)
        if not first_row and status == GateStatus.NO_EVIDENCE:
            missing = "; ".join(row.label for row in self.rows if row.status == GateStatus.NO_EVIDENCE)
            reason = f"Nothing fails; no evidence yet: {missing}."
        elif not first_row and self._problems:
            reason = "; ".join(self.problems) + end
        else:
            failing = [row for row in self.rows if row.status != GateStatus.PASS]
            reason = f"{len(failing)} check(s) not passing; first: {failing[0].label} ({failing[0].detail})"
        return GateResult(status=status, reason=reason, evidence=self.rows)


class Gate(ABC):
    key: ClassVar[str]
    step: ClassVar[int]
    title: ClassVar[str]
    owner_roles: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""
    #: The roles that approve a waiver of one of this gate's checks: the role
    #: the seed's "Approvals" name as owning the area. Empty means `owner_roles`.
    approver_roles: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def evaluate(self, *, now: datetime) -> GateResult: ...

    def waiver_approver_roles(self) -> tuple[str, ...]:
        """Who may approve a waiver of this gate's checks (`approver_roles`, else `owner_roles`)."""
        return self.approver_roles or self.owner_roles


class NotTrackedGate(Gate):
    """A gate whose area has no records in opsgov yet: it reports "no evidence", never pass."""

    def evaluate(self, *, now: datetime) -> GateResult:
        return GateResult(
            status=GateStatus.NO_EVIDENCE,
            reason=f"No evidence: {self.title.lower()} is not tracked in opsgov yet.",
        )


def app_position(defined: object) -> int:
    """Where the app whose module defined `defined` (a function, a class) stands in INSTALLED_APPS; after
    them all for anything else (a test's lambda). Registries that keep registration order keep it per
    app, in this order, so the order modules happened to be imported in does not show."""
    configs = list(apps.get_app_configs())
    module = getattr(defined, "__module__", None)
    config = apps.get_containing_app_config(module) if isinstance(module, str) else None
    return configs.index(config) if config is not None else len(configs)


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=Keyed)


class KeyedRegistry(Generic[K]):
    """What apps contribute to core, by key: each entry registered once (the same entry again changes
    nothing; another one under a taken key is an error). Subclasses say how entries are listed."""

    #: What an entry is called in errors ("dashboard panel").
    label = "entry"

    def __init__(self) -> None:
        self._entries: dict[str, K] = {}

    def register(self, entry: K) -> K:
        existing = self._entries.get(entry.key)
        if existing is not None and existing != entry:
            raise ValueError(f"{self.label} {entry.key!r} is registered twice")
        self.check(entry)
        self._entries[entry.key] = entry
        return entry

    def check(self, entry: K) -> None:
        """Raise ValueError when `entry` cannot be registered (after the key check)."""

    def unregister(self, key: str) -> None:
        self._entries.pop(key, None)

    def get(self, key: str) -> K:
        return self._entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries


class GateRegistry:
    def __init__(self) -> None:
        self._gates: dict[str, Gate] = {}

    def register(self, gate_class: type[Gate]) -> type[Gate]:
        key = gate_class.key
        existing = self._gates.get(key)
        if existing is not None and type(existing) is not gate_class:
            raise ValueError(f"gate key {key!r} is registered twice")
        if not 1 <= gate_class.step <= 8:
            raise ValueError(f"gate {key!r}: step must be 1-8, not {gate_class.step}")
        self._gates[key] = gate_class()
        return gate_class

    def unregister(self, key: str) -> None:
        self._gates.pop(key, None)

    def get(self, key: str) -> Gate:
        return self._gates[key]

    def __contains__(self, key: str) -> bool:
        return key in self._gates

    def all(self) -> list[Gate]:
        return sorted(self._gates.values(), key=lambda gate: (gate.step, gate.key))


@dataclass(frozen=True)
class MetricValue:
    scope: str
    value: float | None
    sample_size: int
    details: dict[str, Any] = field(default_factory=dict)


WINDOWS: dict[str, timedelta] = {"7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}


@dataclass(frozen=True)
class MetricDefinition:
    key: str
    title: str
    unit: Literal["seconds", "percent", "score", "ratio"]
    comparison: Literal[">", ">=", "<", "<="]
    target: Callable[[], float]
    compute: Callable[..., Iterable[MetricValue]]
    description: str = ""
    # Called once per computation cycle before `compute` (e.g. to bring rollups up to date).
    prepare: Callable[..., None] | None = None

    def meets_target(self, value: float | None) -> bool | None:
        if value is None:
            return None
        target = self.target()
        return {
            ">": value > target,
            ">=": value >= target,
            "<": value < target,
            "<=": value <= target,
        }[self.comparison]


class MetricRegistry:
    """The operational metrics, listed by app (INSTALLED_APPS order), then in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, MetricDefinition] = {}
        self._positions: dict[str, int] = {}

    def register(self, metric: MetricDefinition) -> MetricDefinition:
        if metric.key in self._metrics and self._metrics[metric.key] is not metric:
            raise ValueError(f"metric key {metric.key!r} is registered twice")
        if metric.key not in self._metrics:
            self._positions[metric.key] = app_position(metric.compute)
        self._metrics[metric.key] = metric
        return metric

    def unregister(self, key: str) -> None:
        self._metrics.pop(key, None)
        self._positions.pop(key, None)

    def get(self, key: str) -> MetricDefinition:
        return self._metrics[key]

    def __contains__(self, key: str) -> bool:
        return key in self._metrics

    def all(self) -> list[MetricDefinition]:
        # sorted() is stable: within an app, registration order.
        return sorted(self._metrics.values(), key=lambda metric: self._positions[metric.key])


gates = GateRegistry()
metrics = MetricRegistry()


# --- Who answers for a service now -------------------------------------------------------

OnCallLookup = Callable[..., dict[int, list[str]]]


class OnCallDirectory:
    """Who would be paged for a service right now, answered by the app that knows (incidents).

    Gates of other apps ask here (the monitoring gate: "someone on call now")
    instead of importing incidents. `responders(service_ids=..., now=...)`
    returns, per service id, the display names of the people its escalation
    path reaches first at `now` (empty: nobody), or None when no app provides
    the lookup.
    """

    def __init__(self) -> None:
        self._lookup: OnCallLookup | None = None

    def provide(self, lookup: OnCallLookup) -> None:
        self._lookup = lookup

    def responders(self, *, service_ids: Iterable[int], now: datetime) -> dict[int, list[str]] | None:
        if self._lookup is None:
            return None
        return self._lookup(service_ids=list(service_ids), now=now)


on_call = OnCallDirectory()


# --- Customer-impacting downtime of a service -------------------------------------------

DowntimeLookup = Callable[..., dict[int, float]]


class DowntimeDirectory:
    """Seconds of customer-impacting downtime per service over [start, end), answered by incidents.

    The availability metric (monitoring) falls back to 1 - downtime ÷ window for
    a service without SLI data (DESIGN.md, "Metric definitions"); it asks here
    instead of importing incidents. `seconds(...)` is None when no app provides it.
    """

    def __init__(self) -> None:
        self._lookup: DowntimeLookup | None = None

    def provide(self, lookup: DowntimeLookup) -> None:
        self._lookup = lookup

    def seconds(self, *, service_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, float] | None:
        if self._lookup is None:
            return None
        return self._lookup(service_ids=list(service_ids), start=start, end=end)


downtime = DowntimeDirectory()


# --- The runbook of an alert ------------------------------------------------------------

RunbookLookup = Callable[..., dict[str, str]]


class RunbookDirectory:
    """The runbook URL of an alert rule, answered by the app that keeps the rule catalog (monitoring).

    incidents shows responders the runbook of an alert that names none itself
    (no `runbook_url` annotation) by asking here instead of importing monitoring.
    `for_alerts(service_id=..., alertnames=...)` returns {alertname: absolute URL}
    for the names the catalog has a runbook for (names without one are left out),
    in a fixed number of queries whatever the number of names; it is {} when no
    app provides the lookup.
    """

    def __init__(self) -> None:
        self._lookup: RunbookLookup | None = None

    def provide(self, lookup: RunbookLookup) -> None:
        self._lookup = lookup

    def for_alerts(self, *, service_id: int, alertnames: Iterable[str]) -> dict[str, str]:
        names = sorted({name for name in alertnames if name})
        if self._lookup is None or not names:
            return {}
        return self._lookup(service_id=service_id, alertnames=names)

    def for_alert(self, *, service_id: int, alertname: str) -> str | None:
        """The runbook URL of one alert rule, or None."""
        return self.for_alerts(service_id=service_id, alertnames=[alertname]).get(alertname)


runbooks = RunbookDirectory()


# --- Whether a service has spent its error budget ----------------------------------------

ErrorBudgetLookup = Callable[..., dict[int, bool]]


class ErrorBudgetDirectory:
    """Whether each service's availability SLO has spent its error budget, answered by monitoring.

    maintenance asks here (a normal change to a service whose budget is spent
    needs the SRE Lead's approval) instead of importing monitoring.
    `spent(service_ids=..., now=...)` returns {service id: True when spent};
    services without an availability SLO are left out. It is {} when no app
    provides the lookup.
    """

    def __init__(self) -> None:
        self._lookup: ErrorBudgetLookup | None = None

    def provide(self, lookup: ErrorBudgetLookup) -> None:
        self._lookup = lookup

    def spent(self, *, service_ids: Iterable[int], now: datetime) -> dict[int, bool]:
        ids = list(service_ids)
        if self._lookup is None or not ids:
            return {}
        return self._lookup(service_ids=ids, now=now)


error_budgets = ErrorBudgetDirectory()


# --- Maintenance in progress and changes, for incidents -----------------------------------

MaintenanceLookup = Callable[..., bool]
ChangeLinker = Callable[..., list[dict[str, str]]]


class MaintenanceDirectory:
    """What incidents asks maintenance, answered by maintenance (no sibling import).

    - `in_window(service_id=..., at=...)`: True when an approved maintenance window
      of the service is open at `at` (the incident is marked "during maintenance").
    - `link_incident(incident_id=..., service_id=..., triggered_at=..., label=..., url=...)`:
      link the incident to the changes on its service in the policy period before it
      (suspected causes); returns the changes newly linked, each {"number", "title", "url"}.

    Both answer "nothing" (False, []) when no app provides them.
    """

    def __init__(self) -> None:
        self._in_window: MaintenanceLookup | None = None
        self._linker: ChangeLinker | None = None

    def provide(self, *, in_window: MaintenanceLookup, link_incident: ChangeLinker) -> None:
        self._in_window = in_window
        self._linker = link_incident

    def in_window(self, *, service_id: int, at: datetime) -> bool:
        return bool(self._in_window and self._in_window(service_id=service_id, at=at))

    def link_incident(
        self, *, incident_id: int, service_id: int, triggered_at: datetime, label: str, url: str
    ) -> list[dict[str, str]]:
        if self._linker is None:
            return []
        return self._linker(
            incident_id=incident_id, service_id=service_id, triggered_at=triggered_at, label=label, url=url
        )


maintenance = MaintenanceDirectory()


# --- Security findings and software components, for maintenance --------------------------

SecurityFindingsLookup = Callable[..., dict[int, list[dict[str, str]]]]
ComponentsLookup = Callable[..., dict[int, list[dict[str, str]]]]


class SecurityDirectory:
    """What other areas ask the security area, answered by security (no sibling import).

    - `findings_past_sla(service_ids=..., now=...)`: per service id, its open security findings
      past their SLA at `now` and not under a valid risk acceptance, each
      {"id", "title", "severity", "package", "fixed_version", "due_at" (ISO 8601), "url"};
      maintenance turns them into patch obligations of the security-critical class.
    - `components(service_ids=...)`: per service id, the software components its assets run
      (from scans and SBOMs), each {"name", "version", "purl", "asset"}; maintenance holds them
      against the end-of-life table.

    Both answer {} when no app provides them, and leave out services with nothing to report.
    """

    def __init__(self) -> None:
        self._findings: SecurityFindingsLookup | None = None
        self._components: ComponentsLookup | None = None

    def provide(self, *, findings_past_sla: SecurityFindingsLookup, components: ComponentsLookup) -> None:
        self._findings = findings_past_sla
        self._components = components

    def findings_past_sla(self, *, service_ids: Iterable[int], now: datetime) -> dict[int, list[dict[str, str]]]:
        ids = list(service_ids)
        if self._findings is None or not ids:
            return {}
        return self._findings(service_ids=ids, now=now)

    def components(self, *, service_ids: Iterable[int]) -> dict[int, list[dict[str, str]]]:
        ids = list(service_ids)
        if self._components is None or not ids:
            return {}
        return self._components(service_ids=ids)


security = SecurityDirectory()


# --- Training completion, for compliance --------------------------------------------------


@dataclass(frozen=True)
class TrainingCompletion:
    """One course's completion among the people of one role who are assigned it, at an instant."""

    course: str
    audience: str
    role: str
    assigned: int
    completed: int
    overdue: int
    url: str = ""

    @property
    def rate(self) -> float | None:
        return self.completed / self.assigned if self.assigned else None


TrainingLookup = Callable[..., list[TrainingCompletion]]


class TrainingDirectory:
    """Who has completed which course, answered by the app that keeps training records (security).

    Compliance reports completion of its courses by role from here instead of keeping its own
    records. `completion(audience=..., now=...)` lists one :class:`TrainingCompletion` per
    (course, role) for the courses whose audience is `audience` (e.g. "security",
    "compliance"; empty: every course); it is [] when no app provides the lookup.
    """

    def __init__(self) -> None:
        self._lookup: TrainingLookup | None = None

    def provide(self, lookup: TrainingLookup) -> None:
        self._lookup = lookup

    def completion(self, *, audience: str = "", now: datetime) -> list[TrainingCompletion]:
        if self._lookup is None:
            return []
        return self._lookup(audience=audience, now=now)


training = TrainingDirectory()
