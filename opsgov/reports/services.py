"""Scheduled email reports: the weekly operations report and the monthly governance report.

Reports
-------
* **weekly** (for SRE leads, sent Monday 07:00 in the policy's time zone): the
  week Monday 00:00 to Monday 00:00 that just ended — gates whose status changed
  since the week before, the metrics against their targets (7 and 30 days, each
  judged over a window at least as long as its target), and
  the sections apps provide: incidents of the week, SLOs at risk, overdue
  post-incident reviews, overdue action items.
* **monthly** (for compliance officers, sent on the 1st at 07:00): the calendar
  month that just ended — gate history over the month, waivers (from the app that
  records them), and a summary of the audit trail.

Periods are whole local days of the policy's time zone
(``policy.business_calendar.time_zone``): a week is [Monday, next Monday), a
month [1st, next 1st); their instants are the first moments those days start.

Sections from other apps
------------------------
opsgov does not import its sibling apps (DESIGN.md, "Layout"). An app adds a
section by registering a :class:`SectionProvider` (a key, the report kinds, a
title and ``build(period=..., now=...)`` returning a :class:`Section`) in its
``report_sections`` module, which opsgov.apps discovers. Each report also names the sections it expects
(:data:`EXPECTED_SECTIONS`); one that no installed app provides is still shown,
saying it is not tracked yet, never silently left out.

The plain-text part keeps within :data:`TEXT_WIDTH` (100) columns whatever the
data: tables too wide for it wrap their long text within its columns.

Recipients and delivery
-----------------------
Users with the report's role (:data:`REPORT_ROLES`) and an email address are
subscribed unless they opted out; anyone may opt in (ReportSubscription rows,
the settings page at /reports/subscriptions/). Delivery is once per period and
recipient: :func:`send_report` first makes sure a ReportDelivery row exists for
each recipient (insert, ignoring the unique conflict), then claims each row with
a conditional UPDATE (pending or failed, or "sending" whose lease expired, to
"sending" with a fresh claim token and lease); only the sender that changed the
row sends, and it records "sent" (or "failed") only while it still holds the
claim. So a doubled beat, two workers or a retried task send once. A sender
that dies after the mail server accepted the message but before recording it
leaves a "sending" row that another run may take over after the lease
(at-least-once, as for incident notifications).
"""

from __future__ import annotations

import logging
import textwrap
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from auditlog.models import LogEntry
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Lag
from django.template.loader import render_to_string
from django.utils import timezone

from ..dashboard import MetricRow, MetricSpec, gate_url, metric_specs, snapshots_as_of
from ..gates import services as gate_services
from ..models import (
    DeliveryStatus,
    GateEvaluation,
    GateStatus,
    GateWaiver,
    MetricSnapshot,
    ReportDelivery,
    ReportKind,
    ReportSubscription,
    WaiverState,
)
from ..outbox import Outbox, OutboxPolicy
from ..policy import get_policy
from ..registry import WINDOWS, KeyedRegistry, gates
from ..roles import COMPLIANCE_OFFICER, SRE_LEAD
from ..sla import first_instant_showing

logger = logging.getLogger(__name__)

#: Who receives each report unless they opt out.
REPORT_ROLES: dict[str, str] = {ReportKind.WEEKLY: SRE_LEAD, ReportKind.MONTHLY: COMPLIANCE_OFFICER}
#: Who the report is written for (in its introduction).
AUDIENCES: dict[str, str] = {ReportKind.WEEKLY: "SRE leads", ReportKind.MONTHLY: "compliance officers"}
#: Deliveries are an outbox (opsgov.outbox): five attempts before a delivery is left as failed for a person
#: to look at; a claimed ("sending") delivery is its sender's for 10 minutes (in lease_until), after which
#: another run may take it over; a failed one waits as "failed" for the task's next run, which comes 11,
#: 22, then 44 minutes later (opsgov.reports.tasks).
POLICY = OutboxPolicy(
    max_attempts=5,
    lease=timedelta(minutes=10),
    backoff=tuple(timedelta(minutes=11 * 2**retry) for retry in range(3)),
    publish_grace=timedelta(0),
    retry_status=DeliveryStatus.FAILED,
)
DELIVERIES: Outbox[ReportDelivery] = Outbox(ReportDelivery, POLICY, lease_field="lease_until", retry_at_field=None)
#: Rows listed per table; the rest is counted ("and 12 more").
ROWS_SHOWN = 20
#: Status changes listed in the monthly gate history.
CHANGES_SHOWN = 50
ERROR_LIMIT = 1000


# --- Periods -------------------------------------------------------------------------------------


def policy_zone() -> ZoneInfo:
    return get_policy().business_calendar.zone


@dataclass(frozen=True)
class ReportPeriod:
    """Whole local days [first_day, next_day) in `zone`: one week (Monday to Monday) or one calendar month."""

    kind: str
    first_day: date
    next_day: date
    zone: ZoneInfo

    @classmethod
    def containing(cls, kind: str, day: date, zone: ZoneInfo | None = None) -> ReportPeriod:
        zone = zone or policy_zone()
        if kind == ReportKind.WEEKLY:
            first = day - timedelta(days=day.weekday())
            return cls(kind, first, first + timedelta(days=7), zone)
        if kind == ReportKind.MONTHLY:
            first = day.replace(day=1)
            following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
            return cls(kind, first, following, zone)
        raise ValueError(f"unknown report kind {kind!r} (weekly or monthly)")

    @classmethod
    def last_complete(cls, kind: str, now: datetime, zone: ZoneInfo | None = None) -> ReportPeriod:
        """The newest period that has ended by `now` (the week or month before the current one)."""
        zone = zone or policy_zone()
        today = timezone.localtime(now, zone).date()
        current = cls.containing(kind, today, zone)
        return cls.containing(kind, current.first_day - timedelta(days=1), zone)

    @property
    def start(self) -> datetime:
        return first_instant_showing(datetime.combine(self.first_day, time()), self.zone)

    @property
    def end(self) -> datetime:
        return first_instant_showing(datetime.combine(self.next_day, time()), self.zone)

    @property
    def last_day(self) -> date:
        return self.next_day - timedelta(days=1)

    @property
    def label(self) -> str:
        if self.kind == ReportKind.MONTHLY:
            return self.first_day.strftime("%B %Y")
        first, last = self.first_day, self.last_day
        week = first.isocalendar()
        return f"week {week.week} of {week.year}, {first:%a %-d %b} to {last:%a %-d %b %Y}"

    def previous(self) -> ReportPeriod:
        return ReportPeriod.containing(self.kind, self.first_day - timedelta(days=1), self.zone)


# --- Sections ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: its words, an optional link (site-relative or absolute) and tone (colour beside words)."""

    text: str
    url: str = ""
    tone: str = ""  # "success", "warning", "danger", "muted" or ""

    @property
    def absolute_url(self) -> str:
        return absolute_url(self.url)


@dataclass(frozen=True)
class Table:
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    caption: str = ""
    #: Rows left out of `rows` (the report says "and N more").
    more: int = 0


@dataclass(frozen=True)
class Section:
    """A titled part of a report: a one-line summary, tables, notes; `empty` when there is nothing to list."""

    key: str
    title: str
    summary: str
    tables: Sequence[Table] = ()
    notes: Sequence[str] = ()
    #: True when no installed app provides this section (shown as "not tracked yet").
    missing: bool = False


@dataclass(frozen=True)
class SectionProvider:
    """A section an app contributes to one or more report kinds."""

    key: str
    kinds: tuple[str, ...]
    title: str
    #: Called as ``build(period=..., now=...)``.
    build: Callable[..., Section]
    order: int = 100


class SectionRegistry(KeyedRegistry[SectionProvider]):
    label = "report section"

    def check(self, entry: SectionProvider) -> None:
        unknown = set(entry.kinds) - set(ReportKind.values)
        if unknown:
            raise ValueError(f"report section {entry.key!r}: unknown report kinds {sorted(unknown)}")

    def for_kind(self, kind: str) -> list[SectionProvider]:
        return sorted(
            (provider for provider in self._entries.values() if kind in provider.kinds),
            key=lambda provider: (provider.order, provider.key),
        )


report_sections = SectionRegistry()

#: Sections each report must show; those no installed app provides say "not tracked yet": (key, title, order).
EXPECTED_SECTIONS: dict[str, tuple[tuple[str, str, int], ...]] = {
    ReportKind.WEEKLY: (
        ("incidents", "Incidents of the week", 30),
        ("slos-at-risk", "SLOs at risk", 40),
        ("overdue-reviews", "Overdue post-incident reviews", 50),
        ("overdue-action-items", "Overdue action items", 60),
    ),
    ReportKind.MONTHLY: (),
}


def missing_section(key: str, title: str) -> Section:
    return Section(
        key=key,
        title=title,
        summary="Not tracked yet: no installed part of opsgov records this, so there is nothing to report.",
        missing=True,
    )


def pluralize(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


# --- Core sections: gates --------------------------------------------------------------------------


def gate_statuses_as_of(keys: Sequence[str], at: datetime) -> dict[str, str]:
    """The status of each gate's newest evaluation at or before `at`: one query, an index entry per gate."""
    if not keys:
        return {}
    newest = [
        Subquery(
            GateEvaluation.objects.filter(gate=key, evaluated_at__lte=at).order_by("-evaluated_at").values("pk")[:1]
        )
        for key in keys
    ]
    return dict(GateEvaluation.objects.filter(pk__in=newest).values_list("gate", "status"))


@dataclass(frozen=True)
class GateChange:
    gate: str
    at: datetime
    before: str | None
    after: str


def gate_changes(start: datetime, end: datetime, before: dict[str, str]) -> list[GateChange]:
    """Status changes of every gate in [start, end), oldest first: one query.

    Each evaluation in the period is compared with the one before it (LAG over the
    gate's evaluations); the period's first evaluation of a gate is compared with
    its status at `start` (`before`). The database returns only the rows whose
    status differs from the previous one, or that have none.
    """
    rows = (
        GateEvaluation.objects.filter(evaluated_at__gte=start, evaluated_at__lt=end)
        .annotate(
            previous=Window(Lag("status"), partition_by=[F("gate")], order_by=[F("evaluated_at").asc(), F("id").asc()])
        )
        .filter(Q(previous__isnull=True) | ~Q(previous=F("status")))
        .order_by("evaluated_at", "id")
        .values_list("gate", "evaluated_at", "previous", "status")
    )
    changes = []
    for gate, at, previous, status in rows:
        earlier = previous if previous is not None else before.get(gate)
        if earlier != status:
            changes.append(GateChange(gate=gate, at=at, before=earlier, after=status))
    return changes


def _status_cell(status: str | None, url: str = "") -> Cell:
    if status is None:
        return Cell("not evaluated", url, "muted")
    value = GateStatus(status)
    return Cell(str(value.label), url, value.badge)


def _stamp(moment: datetime, zone: ZoneInfo) -> str:
    return timezone.localtime(moment, zone).strftime("%a %-d %b %H:%M")


def _is_recent(period: ReportPeriod, now: datetime) -> bool:
    """Whether `period` is in progress at `now` or is the last one that ended by then."""
    if period.start > now:
        return False
    return period.end > now or period.first_day >= ReportPeriod.last_complete(period.kind, now, period.zone).first_day


def first_evaluations_after(keys: Sequence[str], at: datetime) -> dict[str, GateEvaluation]:
    """Each gate's first evaluation after `at`: one query, an index entry per gate."""
    if not keys:
        return {}
    first = [
        Subquery(GateEvaluation.objects.filter(gate=key, evaluated_at__gt=at).order_by("evaluated_at").values("pk")[:1])
        for key in keys
    ]
    return {evaluation.gate: evaluation for evaluation in GateEvaluation.objects.filter(pk__in=first)}


def later_evaluations(keys: Sequence[str], *, period: ReportPeriod, now: datetime) -> dict[str, GateEvaluation]:
    """For the gates of `keys`, those without an evaluation by the end of `period`: the nearest one after it.

    Only for the period in progress or the one just ended (a fresh install has
    evaluated nothing yet, and its first report must not call all eight gates
    "no evidence"): each gate's first evaluation after the end of the period,
    and a gate never evaluated at all is evaluated now and stored, as the
    dashboard's first visit does (so building the report again adds nothing).
    An older period is never given a later state: its gates stay "not evaluated".
    """
    if not keys or not _is_recent(period, now):
        return {}
    found = first_evaluations_after(keys, period.end)
    never = [key for key in keys if key not in found]
    if never:
        found.update({evaluation.gate: evaluation for evaluation in gate_services.evaluate_gates(now=now, keys=never)})
    return found


def _status_counts(statuses: Sequence[str]) -> str:
    """ "1 pass, 1 at risk, 5 no evidence": the statuses counted, in GateStatus order."""
    counts: dict[str, int] = defaultdict(int)
    for status in statuses:
        counts[status] += 1
    return ", ".join(f"{counts[status]} {str(status.label).lower()}" for status in GateStatus if counts[status])


def _later_cell(evaluation: GateEvaluation, zone: ZoneInfo) -> Cell:
    """The status of a gate evaluated after the end of the week, with the time it was evaluated at."""
    status = GateStatus(evaluation.status)
    return Cell(f"{status.label} ({_stamp(evaluation.evaluated_at, zone)})", tone=status.badge)


def weekly_gates_section(*, period: ReportPeriod, now: datetime) -> Section:
    """Gates: status a week before and at the end of the week, and the changes in between (three queries).

    The status at the end of the week is each gate's newest evaluation at or
    before it. A gate without one, when the week is the one just ended or in
    progress, is shown with its first evaluation after the end of the week (made
    now if it has none, see :func:`later_evaluations`) and that evaluation's
    time: never passed off as its status at the end of the week.
    """
    registered = gates.all()
    keys = [gate.key for gate in registered]
    ended = period.end <= now
    before = gate_statuses_as_of(keys, period.start)
    after = gate_statuses_as_of(keys, period.end)
    unevaluated = [key for key in keys if key not in after]
    late = later_evaluations(unevaluated, period=period, now=now)
    changes = gate_changes(period.start, period.end, before)
    by_gate: dict[str, list[GateChange]] = defaultdict(list)
    for change in changes:
        by_gate[change.gate].append(change)
    rows = []
    changed = 0
    for gate in registered:
        moved = before.get(gate.key) != after.get(gate.key)
        changed += moved
        gate_changes_ = by_gate.get(gate.key, [])
        last = gate_changes_[-1] if gate_changes_ else None
        evaluated = gate.key in after
        rows.append(
            [
                Cell(f"{gate.step}. {gate.title}", gate_url(gate.key)),
                _status_cell(before.get(gate.key)),
                _status_cell(after.get(gate.key))
                if evaluated or gate.key not in late
                else _later_cell(late[gate.key], period.zone),
                Cell("changed" if moved else "unchanged", tone="warning" if moved else "") if evaluated else Cell("—"),
                Cell(str(len(gate_changes_))),
                Cell(_stamp(last.at, period.zone) if last else "—"),
            ]
        )
    by_then = "by the end of the week" if ended else "yet this week"
    notes = ["A gate without evidence is never counted as a pass."]
    if len(unevaluated) == len(keys):
        summary = f"No gate had an evaluation {by_then}"
    else:
        summary = (
            f"{pluralize(changed, 'gate')} of {len(keys)} changed status over the week; "
            f"{'at its end' if ended else 'so far'}: {_status_counts([after[key] for key in keys if key in after])}."
        )
        if unevaluated:
            others = "The other gate" if len(unevaluated) == 1 else f"The other {len(unevaluated)}"
            summary += f" {others} had no evaluation {by_then}"
    if late:
        moments = sorted(evaluation.evaluated_at for evaluation in late.values())
        moment = _stamp(moments[0], period.zone)
        if moments[-1] != moments[0]:
            moment = f"between {moment} and {_stamp(moments[-1], period.zone)}"
        counts = _status_counts([late[key].status for key in keys if key in late])
        if ended:
            whose = "each gate's" if len(unevaluated) == len(keys) else ("its" if len(late) == 1 else "their")
            summary += f"; shown instead: {whose} first evaluation after it ({moment}): {counts}."
            note = "its first evaluation after the end of the week, made then"
        else:
            summary += f"; evaluated now ({moment}): {counts}."
            note = "evaluated then"
        notes.insert(
            0,
            f"A time in brackets: the gate had no evaluation {by_then}; {note} "
            "(a gate never evaluated is evaluated as this report is written).",
        )
    elif unevaluated:
        summary += ": not evaluated, so never counted as passing (no later evaluation is shown for an older period)."
    return Section(
        key="gates",
        title="Quality gates: changes since last week",
        summary=summary,
        tables=[
            Table(
                columns=[
                    "Gate",
                    "A week before",
                    "At the end of the week" if ended else "Now (week in progress)",
                    "Status",
                    "Changes",
                    "Last change",
                ],
                rows=rows,
            )
        ],
        notes=notes,
    )


def monthly_gate_history_section(*, period: ReportPeriod, now: datetime) -> Section:
    """Gates over the month: status at its start and end, share of evaluations per status, every change (4 queries)."""
    registered = gates.all()
    keys = [gate.key for gate in registered]
    before = gate_statuses_as_of(keys, period.start)
    after = gate_statuses_as_of(keys, period.end)
    changes = gate_changes(period.start, period.end, before)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, status, count in (
        GateEvaluation.objects.filter(evaluated_at__gte=period.start, evaluated_at__lt=period.end)
        .values("gate", "status")
        .annotate(count=Count("id"))
        .order_by()
        .values_list("gate", "status", "count")
    ):
        counts[key][status] += count
    per_gate_changes: dict[str, int] = defaultdict(int)
    for change in changes:
        per_gate_changes[change.gate] += 1
    rows = []
    for gate in registered:
        total = sum(counts[gate.key].values())
        shares = [
            Cell(f"{100 * counts[gate.key][status] / total:.0f} %" if total else "—", tone=status.badge)
            for status in GateStatus
        ]
        rows.append(
            [
                Cell(f"{gate.step}. {gate.title}", gate_url(gate.key)),
                _status_cell(before.get(gate.key)),
                _status_cell(after.get(gate.key)),
                *shares,
                Cell(str(per_gate_changes[gate.key])),
            ]
        )
    titles = {gate.key: f"{gate.step}. {gate.title}" for gate in registered}
    change_rows = [
        [
            Cell(_stamp(change.at, period.zone)),
            Cell(titles.get(change.gate, change.gate), gate_url(change.gate)),
            _status_cell(change.before),
            _status_cell(change.after),
        ]
        for change in changes[:CHANGES_SHOWN]
    ]
    evaluated = sum(1 for key in keys if counts[key])
    return Section(
        key="gate-history",
        title="Quality gate history",
        summary=(
            f"{pluralize(len(changes), 'status change')} over the month; "
            f"{evaluated} of {len(keys)} gates were evaluated in it."
        ),
        tables=[
            Table(
                columns=[
                    "Gate",
                    "Start of month",
                    "End of month",
                    *(str(status.label) for status in GateStatus),
                    "Changes",
                ],
                rows=rows,
            ),
            Table(
                columns=["When", "Gate", "From", "To"],
                rows=change_rows,
                caption="Status changes",
                more=max(len(changes) - CHANGES_SHOWN, 0),
            ),
        ],
        notes=[
            f"{', '.join(str(status.label) for status in GateStatus)}: the share of the gate's evaluations "
            "in the month that had that status."
        ],
    )


# --- Core sections: metrics ------------------------------------------------------------------------


#: The windows the weekly report shows each metric over.
SHOWN_WINDOWS = ("7d", "30d")
#: The window a metric is judged over against its target (the dashboard's), unless its target is longer.
VERDICT_WINDOW = "30d"


def _window_label(window: str) -> str:
    return pluralize(WINDOWS[window].days, "day")


def long_enough(spec: MetricSpec, window: str) -> bool:
    """Whether a figure over `window` can be judged against the target: a duration target (MTBF above 720 h)
    needs a window at least that long; a mean time between failures over 7 days says nothing about 30 days."""
    return spec.unit != "seconds" or WINDOWS[window].total_seconds() >= spec.target


def verdict_window(spec: MetricSpec) -> str | None:
    """The window `spec` is judged over: 30 days, or the shortest longer one that is at least as long as
    its target; None when no window is."""
    candidates = sorted((w for w in WINDOWS if WINDOWS[w] >= WINDOWS[VERDICT_WINDOW]), key=WINDOWS.__getitem__)
    return next((window for window in candidates if long_enough(spec, window)), None)


def _figure_cell(row: MetricRow, *, judged: bool = True) -> Cell:
    if not row.has_data:
        return Cell("no data", tone="muted")
    if not judged:
        return Cell(f"{row.display} (not judged)", tone="muted")
    return Cell(f"{row.display} ({row.verdict_label.lower()})", tone=row.badge)


def _metric_row(spec: MetricSpec, snapshot: MetricSnapshot | None) -> MetricRow:
    return MetricRow(
        key=spec.key,
        title=spec.title,
        unit=spec.unit,
        comparison=spec.comparison,
        target=spec.target,
        registered=spec.registered,
        snapshot=snapshot,
    )


def _computed_note(at: datetime, ended: bool, snapshots: Sequence[MetricSnapshot], zone: ZoneInfo) -> str:
    """Says which figures these are and when they were computed: the newest by the end of the week (or now)."""
    when = (
        f"at the end of the week ({_stamp(at, zone)})" if ended else f"now ({_stamp(at, zone)}; the week is not over)"
    )
    if not snapshots:
        return f"Organisation-wide figures: none had been computed {'by the end of the week' if ended else 'yet'}."
    oldest = min(snapshot.computed_at for snapshot in snapshots)
    newest = max(snapshot.computed_at for snapshot in snapshots)
    computed = (
        _stamp(newest, zone) if oldest == newest else f"between {_stamp(oldest, zone)} and {_stamp(newest, zone)}"
    )
    return f"Organisation-wide figures as they stood {when}: the newest computed by then, computed {computed}."


def weekly_metrics_section(*, period: ReportPeriod, now: datetime) -> Section:
    """The operational metrics at the end of the week over 7 and 30 days, against their targets (two queries).

    Each metric is judged over a window at least as long as its target
    (:func:`verdict_window`: 30 days, or longer for a longer duration target, one
    more query); a figure over a shorter window is shown but not judged.
    """
    specs = metric_specs()
    keys = [spec.key for spec in specs]
    ended = period.end <= now
    at = min(period.end, now)
    judged_over = {spec.key: verdict_window(spec) for spec in specs}
    windows = list(SHOWN_WINDOWS) + sorted(
        {window for window in judged_over.values() if window and window not in SHOWN_WINDOWS},
        key=WINDOWS.__getitem__,
    )
    figures = {
        window: snapshots_as_of(
            keys if window in SHOWN_WINDOWS else [key for key in keys if judged_over[key] == window],
            at=at,
            window=window,
        )
        for window in windows
    }
    rows = []
    met = missed = at_risk = no_data = unjudged = 0
    notes = []
    for spec in specs:
        by_window = {window: _metric_row(spec, figures[window].get(spec.key)) for window in windows}
        window = judged_over[spec.key]
        verdict = by_window[window].verdict if window else None
        met += verdict == "met"
        missed += verdict == "missed"
        at_risk += verdict == "at_risk"
        no_data += verdict == "no_data"
        unjudged += verdict is None
        if window is None:
            judged = Cell("no window as long as the target", tone="muted")
        elif window in SHOWN_WINDOWS:
            judged = Cell(_window_label(window))
        else:
            judged = Cell(
                f"{_window_label(window)}: {_figure_cell(by_window[window]).text}", tone=by_window[window].badge
            )
        rows.append(
            [
                Cell(spec.title),
                Cell(by_window[VERDICT_WINDOW].target_display),
                *(_figure_cell(by_window[shown], judged=long_enough(spec, shown)) for shown in SHOWN_WINDOWS),
                judged,
            ]
        )
        short = [shown for shown in SHOWN_WINDOWS if not long_enough(spec, shown)]
        if short:
            notes.append(
                f"{spec.title} is judged over "
                + (f"the last {_window_label(window)}" if window else "no window")
                + f", as long as its target ({by_window[VERDICT_WINDOW].target_display}) or longer; "
                + f"its figure over {' and '.join(_window_label(shown) for shown in short)} is shown, not judged."
            )
    longer = [spec.title for spec in specs if judged_over[spec.key] not in (VERDICT_WINDOW, None)]
    exceptions = f" ({', '.join(longer)}: over the longer window in the last column)" if longer else ""
    summary = (
        f"Over the last 30 days{exceptions}, "
        f"{met} of {len(specs)} metrics met their target, {missed} missed it"
        # "At risk" (a figure on too small a sample, e.g. support satisfaction) is neither met nor missed.
        + (f", {at_risk} {'was' if at_risk == 1 else 'were'} at risk" if at_risk else "")
        + f" and {no_data} had no data"
        + (f"; {unjudged} had no window as long as its target to be judged over." if unjudged else ".")
    )
    shown_snapshots = [snapshot for window in figures for snapshot in figures[window].values()]
    return Section(
        key="metrics",
        title="Operational metrics against targets",
        summary=summary,
        tables=[Table(columns=["Metric", "Target", "Last 7 days", "Last 30 days", "Judged over"], rows=rows)],
        notes=[*notes, _computed_note(at, ended, shown_snapshots, period.zone)],
    )


# --- Core sections: audit trail --------------------------------------------------------------------

_ACTIONS = {0: "Created", 1: "Updated", 2: "Deleted", 3: "Accessed"}


def audit_section(*, period: ReportPeriod, now: datetime) -> Section:
    """The audit trail of the month: changes per kind of record and action, and how many people made them."""
    entries = LogEntry.objects.filter(timestamp__gte=period.start, timestamp__lt=period.end)
    grouped = (
        entries.values("content_type__app_label", "content_type__model", "action")
        .annotate(count=Count("id"))
        .order_by()
        .values_list("content_type__app_label", "content_type__model", "action", "count")
    )
    table: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for app_label, model, action, count in grouped:
        table[app_label, model][action] += count
    totals = entries.aggregate(entries=Count("id"), people=Count("actor", distinct=True))
    rows = []
    for (app_label, model), actions in sorted(table.items(), key=lambda item: -sum(item[1].values())):
        try:
            name = str(apps.get_model(app_label, model)._meta.verbose_name_plural).capitalize()
        except LookupError:
            name = f"{app_label}.{model}"
        rows.append(
            [Cell(name), *(Cell(str(actions.get(code, 0))) for code in _ACTIONS), Cell(str(sum(actions.values())))]
        )
    shown = rows[:ROWS_SHOWN]
    return Section(
        key="audit-trail",
        title="Audit trail",
        summary=(
            f"{pluralize(totals['entries'] or 0, 'change')} to governed records, made by "
            f"{pluralize(totals['people'] or 0, 'person', 'people')} "
            f"(changes made by the system itself have no person) on {pluralize(len(rows), 'kind')} of record."
        ),
        tables=[Table(columns=["Record", *_ACTIONS.values(), "Total"], rows=shown, more=len(rows) - len(shown))]
        if rows
        else [],
        notes=[
            "The full trail, with every change and who made it, is in the admin site (Audit log), exportable as CSV."
        ],
    )


def waivers_section(*, period: ReportPeriod, now: datetime) -> Section:
    """Waivers alive at some point of the month: requested before its end, not revoked or expired before its start.

    A waiver counts while it is approved, not revoked and not expired. Each
    row gives its state at the end of the month (or now, for the month in
    progress), so a compliance officer sees what was waived, by whose approval,
    against which compensating control, and until when. Two queries.
    """
    end = min(period.end, now)
    # Alive at some point of the month: requested before its end, neither revoked nor expired before its start.
    touched = (
        GateWaiver.objects.filter(created_at__lt=end, expires_at__gte=period.start)
        .exclude(revoked_at__lt=period.start)
        .select_related("service", "approver", "requested_by")
        # Organisation-wide waivers (no service) first in each gate, on every database.
        .order_by("gate", F("service__slug").asc(nulls_first=True), "-created_at")
    )
    waivers, more = first_rows(touched)
    counts: dict[WaiverState, int] = defaultdict(int)
    rows = []
    tones = {WaiverState.ACTIVE: "warning", WaiverState.PENDING: "warning", WaiverState.EXPIRED: "muted"}
    for waiver in waivers:
        state = waiver.state_at(end)
        counts[state] += 1
        title = gates.get(waiver.gate).title if waiver.gate in gates else waiver.gate
        rows.append(
            [
                Cell(title, waiver.get_absolute_url()),
                Cell(waiver.evidence_key),
                Cell(waiver.service_label),
                Cell(state.label, tone=tones.get(state, "muted")),
                Cell(waiver.approver.get_username() if waiver.approver else "—"),
                Cell(_stamp(waiver.expires_at, period.zone)),
                Cell(waiver.compensating_control[:120]),
            ]
        )
    shown = len(rows)
    summary = (
        "No check was waived this month."
        if not shown
        else (
            f"{pluralize(shown + more, 'waiver')} this month: "
            + ", ".join(f"{counts[state]} {state.label.lower()}" for state in WaiverState if counts[state])
            + (f" (of the first {shown})" if more else "")
            + ". A waived check is shown as waived, never as passing."
        )
    )
    return Section(
        key="waivers",
        title="Waivers",
        summary=summary,
        tables=[
            Table(
                columns=["Gate", "Check", "Service", "State", "Approved by", "Expires", "Compensating control"],
                rows=rows,
                more=more,
            )
        ]
        if rows
        else [],
    )


#: Sections opsgov itself writes, per report kind.
CORE_SECTIONS: tuple[SectionProvider, ...] = (
    SectionProvider("gates", (ReportKind.WEEKLY,), "Quality gates", weekly_gates_section, order=10),
    SectionProvider("metrics", (ReportKind.WEEKLY,), "Operational metrics", weekly_metrics_section, order=20),
    SectionProvider("gate-history", (ReportKind.MONTHLY,), "Quality gate history", monthly_gate_history_section, 10),
    SectionProvider("waivers", (ReportKind.MONTHLY,), "Waivers", waivers_section, order=20),
    SectionProvider("audit-trail", (ReportKind.MONTHLY,), "Audit trail", audit_section, order=90),
)


# --- Building and rendering -----------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    kind: str
    period: ReportPeriod
    generated_at: datetime
    title: str
    sections: list[Section]

    @property
    def subject(self) -> str:
        return f"[opsgov] {self.title}: {self.period.label}"

    def section(self, key: str) -> Section:
        return next(section for section in self.sections if section.key == key)


def build_report(*, kind: str, period: ReportPeriod, now: datetime | None = None) -> Report:
    """Every section of the report for `period`: opsgov's own, the registered ones, and placeholders."""
    now = now or timezone.now()
    providers = [provider for provider in CORE_SECTIONS if kind in provider.kinds]
    providers += report_sections.for_kind(kind)
    seen = {provider.key for provider in providers}
    ordered: list[tuple[int, str, Section]] = [
        (provider.order, provider.key, provider.build(period=period, now=now)) for provider in providers
    ]
    for key, title, order in EXPECTED_SECTIONS.get(kind, ()):
        if key not in seen:
            ordered.append((order, key, missing_section(key, title)))
    ordered.sort(key=lambda item: (item[0], item[1]))
    return Report(
        kind=kind,
        period=period,
        generated_at=now,
        title=str(ReportKind(kind).label),
        sections=[section for _, _, section in ordered],
    )


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    text: str
    html: str


def absolute_url(url: str) -> str:
    if url.startswith("/"):
        return settings.OPSGOV_BASE_URL.rstrip("/") + url
    return url


#: Columns of the plain-text part: every line fits, whatever the names in the data.
TEXT_WIDTH = 100
#: Text up to this long in a table (a time, a figure, a status) is not wrapped while long text can be.
SHORT_TEXT = 16
#: The narrowest a table column gets when nothing else is left to wrap.
MIN_COLUMN = 6
#: Where a link too long for a line is broken: after one of these characters, if it can be.
_LINK_BREAKS = "&?/"


def _break_token(token: str, width: int, indent: str) -> list[str]:
    """A word longer than a line (in practice a link) over several lines, each at most `width` columns.

    A link is written in angle brackets and broken after a "/", "?" or "&", its
    continuation lines indented: RFC 3986 (appendix C) has readers drop the
    whitespace inside <...> when they take a link out of the text.
    """
    if token.startswith(("http://", "https://")):
        token = f"<{token}>"
    lines = []
    prefix, rest = indent, indent + "    "
    while len(prefix) + len(token) > width:
        room = max(width - len(prefix), 1)
        cut = max(token.rfind(char, 0, room) + 1 for char in _LINK_BREAKS)
        cut = cut if cut > room // 2 else room
        lines.append(prefix + token[:cut])
        token, prefix = token[cut:], rest
    lines.append(prefix + token)
    return lines


def fit_line(line: str, width: int = TEXT_WIDTH) -> list[str]:
    """`line` as lines of at most `width` columns: words wrapped, its indentation kept (see _break_token)."""
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip(" "))]
    wrapped = textwrap.wrap(
        line.strip(),
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    fitted = []
    for piece in wrapped:
        fitted.extend([piece] if len(piece) <= width else _break_token(piece.strip(), width, indent))
    return fitted


def fit_text(text: str, width: int = TEXT_WIDTH) -> list[str]:
    """The lines of `text`, each fitted to `width` columns (fit_line)."""
    return [fitted for line in text.split("\n") for fitted in fit_line(line, width)]


def _column_widths(cells: Sequence[Sequence[str]], width: int) -> list[int]:
    """Each column's width: its longest text, unless the row would then be wider than `width`.

    Then the widest columns give way first, down to the longest of their short
    texts (a time, a figure, a status: up to SHORT_TEXT characters) and of their
    heading's words, so that what wraps is long text, such as names and titles;
    then, if that is not enough, down to MIN_COLUMN. Text wraps within its column.
    """
    count = len(cells[0])
    widths = [max(len(row[index]) for row in cells) for index in range(count)]
    room = width - 2 * (count - 1)
    kept = [
        max(
            max((len(word) for word in cells[0][index].split()), default=0),
            max((min(len(row[index]), SHORT_TEXT) for row in cells[1:]), default=0),
        )
        for index in range(count)
    ]
    for floors in ([min(keep, wide) for keep, wide in zip(kept, widths, strict=True)], [MIN_COLUMN] * count):
        while sum(widths) > room:
            shrinkable = [index for index in range(count) if widths[index] > floors[index]]
            if not shrinkable:
                break
            widths[max(shrinkable, key=lambda index: widths[index])] -= 1
    return widths


def _cell_lines(text: str, size: int) -> list[str]:
    """A cell's text within `size` columns; its continuation lines are indented, to read as one cell."""
    if len(text) <= size:
        return [text]
    return textwrap.wrap(text, width=size, subsequent_indent="  ", break_on_hyphens=False) or [""]


def _table_lines(texts: Sequence[str], widths: Sequence[int]) -> list[str]:
    """One row of a table: its cells side by side, each wrapped within its column."""
    parts = [_cell_lines(text, size) for text, size in zip(texts, widths, strict=True)]
    return [
        "  ".join(
            (part[line] if line < len(part) else "").ljust(size) for part, size in zip(parts, widths, strict=True)
        ).rstrip()
        for line in range(max(len(part) for part in parts))
    ]


def _text_table(table: Table) -> list[str]:
    """A table as aligned plain text within TEXT_WIDTH columns, with each link written out after its row.

    A table too wide for a line wraps the words of its widest columns within
    them (continuation lines indented), and then ends each row with a blank
    line, or with its links, so that each reads as one.
    """
    cells = [list(table.columns)] + [[cell.text for cell in row] for row in table.rows]
    widths = _column_widths(cells, TEXT_WIDTH)
    wrapped = any(len(text) > size for row in cells for text, size in zip(row, widths, strict=True))
    lines = []
    if table.caption:
        lines.extend(fit_line(table.caption + ":"))
    lines.extend(_table_lines(cells[0], widths))
    lines.append("  ".join("-" * width for width in widths))
    for index, (row, texts) in enumerate(zip(table.rows, cells[1:], strict=True)):
        if wrapped and index and not any(cell.url for cell in table.rows[index - 1]):
            lines.append("")  # a wrapped row not followed by its links: a blank line ends it
        lines.extend(_table_lines(texts, widths))
        links = [absolute_url(cell.url) for cell in row if cell.url]
        if links:
            together = "    " + " ".join(f"<{link}>" for link in links)
            lines.extend(fit_line(together) if len(together) <= TEXT_WIDTH else _links_apart(links))
    if table.more:
        lines.append(f"... and {table.more} more.")
    return lines


def _links_apart(links: Sequence[str]) -> list[str]:
    """Links too long for one line together: one a line (each broken too if it must be)."""
    return [line for link in links for line in fit_line(f"    <{link}>")]


def render_text(report: Report) -> str:
    """The plain-text part: every line within TEXT_WIDTH columns, whatever the names in the data."""
    blocks = []
    for section in report.sections:
        title = fit_line(section.title)
        lines = [*title, "=" * max(len(line) for line in title), *fit_text(section.summary)]
        for table in section.tables:
            lines.append("")
            lines.extend(_text_table(table) if table.rows else [f"{table.caption}: none." if table.caption else ""])
        for note in section.notes:
            lines.extend(["", *fit_text(note)])
        blocks.append("\n".join(lines))
    text = render_to_string(
        "opsgov/email/report.txt",
        {"report": report, "blocks": blocks, **_common_context(report)},
    )
    return "\n".join(fit_text(text))


def _common_context(report: Report) -> dict[str, Any]:
    return {
        "audience": AUDIENCES[report.kind],
        "generated": timezone.localtime(report.generated_at, report.period.zone).strftime("%Y-%m-%d %H:%M %Z"),
        "dashboard_url": absolute_url("/"),
        "subscriptions_url": absolute_url("/reports/subscriptions/"),
    }


def render_html(report: Report) -> str:
    return render_to_string("opsgov/email/report.html", {"report": report, **_common_context(report)})


def render_report(report: Report) -> RenderedReport:
    return RenderedReport(subject=report.subject, text=render_text(report), html=render_html(report))


# --- Recipients ------------------------------------------------------------------------------------


def recipients(kind: str) -> QuerySet[Any]:
    """Active users with an email who get `kind`: the report's role unless opted out, or opted in. One query."""
    user_model = get_user_model()
    choices = ReportSubscription.objects.filter(user=OuterRef("pk"), kind=kind)
    in_role = Exists(user_model.groups.through.objects.filter(user=OuterRef("pk"), group__name=REPORT_ROLES[kind]))
    return (
        user_model.objects.filter(is_active=True)
        .exclude(email="")
        .filter((in_role & ~Exists(choices.filter(subscribed=False))) | Exists(choices.filter(subscribed=True)))
        .order_by("pk")
    )


def is_subscribed(user: Any, kind: str) -> bool:
    """Whether `user` gets `kind`: their own choice if they made one, else their role."""
    if not user.is_authenticated:
        return False
    choice = ReportSubscription.objects.filter(user=user, kind=kind).values_list("subscribed", flat=True).first()
    if choice is not None:
        return bool(choice)
    return bool(user.groups.filter(name=REPORT_ROLES[kind]).exists())


@transaction.atomic
def set_subscription(*, user: Any, kind: str, subscribed: bool) -> ReportSubscription:
    """Record `user`'s choice about `kind` (opt in or out); one row per user and report."""
    if kind not in ReportKind.values:
        raise ValueError(f"unknown report kind {kind!r}")
    subscription, _ = ReportSubscription.objects.update_or_create(
        user=user, kind=kind, defaults={"subscribed": subscribed}
    )
    return subscription


# --- Sending ---------------------------------------------------------------------------------------


@dataclass
class SendResult:
    """What one :func:`send_report` run did, per recipient address."""

    kind: str
    period: ReportPeriod
    sent: list[str] = field(default_factory=list)
    #: Already sent for this period (by this or an earlier run).
    already_sent: list[str] = field(default_factory=list)
    #: Claimed by another sender right now (its lease has not expired).
    busy: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Failed too often; left for a person to look at.
    given_up: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "period_start": self.period.first_day.isoformat(),
            "sent": len(self.sent),
            "already_sent": len(self.already_sent),
            "busy": len(self.busy),
            "failed": len(self.failed),
            "given_up": len(self.given_up),
        }


def _claim(delivery_filter: Q, *, email: str) -> ReportDelivery | None:
    """Take the delivery row for this sender if nobody holds it (opsgov.outbox); the row as claimed, or None.

    The row keeps a token of the sender holding it (`claim`), for a person reading the table.
    """
    if not DELIVERIES.claim(delivery_filter, now=timezone.now(), claim=uuid.uuid4(), email=email):
        return None
    return ReportDelivery.objects.get(delivery_filter)


def send_report(*, kind: str, period: ReportPeriod, now: datetime | None = None) -> SendResult:
    """Send `kind` for `period` to every recipient who has not had it yet; once per period and recipient."""
    now = now or timezone.now()
    users = list(recipients(kind))
    result = SendResult(kind=kind, period=period)
    if not users:
        return result
    ReportDelivery.objects.bulk_create(
        [
            ReportDelivery(
                kind=kind, period_start=period.first_day, period_end=period.next_day, user=user, email=user.email
            )
            for user in users
        ],
        ignore_conflicts=True,
    )
    states = dict(
        ReportDelivery.objects.filter(kind=kind, period_start=period.first_day, user__in=users).values_list(
            "user_id", "status"
        )
    )
    if all(states.get(user.pk) == DeliveryStatus.SENT for user in users):
        result.already_sent = [user.email for user in users]
        return result  # a repeated run: nothing to build
    rendered = render_report(build_report(kind=kind, period=period, now=now))
    for user in users:
        row = Q(kind=kind, period_start=period.first_day, user=user)
        if states.get(user.pk) == DeliveryStatus.SENT:
            result.already_sent.append(user.email)
            continue
        delivery = _claim(row, email=user.email)
        if delivery is None:
            status = ReportDelivery.objects.filter(row).values_list("status", flat=True).get()
            if status == DeliveryStatus.SENT:
                result.already_sent.append(user.email)
            elif status == DeliveryStatus.SENDING:
                result.busy.append(user.email)
            else:
                result.given_up.append(user.email)
            continue
        message = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[user.email],
            headers={"X-Opsgov-Report": f"{kind}/{period.first_day.isoformat()}"},
        )
        message.attach_alternative(rendered.html, "text/html")
        try:
            message.send()
        except Exception as exc:  # any failure to hand over the message is recorded, never raised
            logger.warning("%s report for %s to %s failed: %s", kind, period.first_day, user.email, exc)
            DELIVERIES.record(delivery, error=f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT], now=timezone.now())
            result.failed.append((user.email, str(exc)))
            continue
        DELIVERIES.record(delivery, now=timezone.now())
        result.sent.append(user.email)
    return result


def parse_period(kind: str, value: str | None, *, now: datetime | None = None) -> ReportPeriod:
    """The period containing the day `value` (YYYY-MM-DD), or the last complete one when `value` is None."""
    if value is None:
        return ReportPeriod.last_complete(kind, now or timezone.now())
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"period: {value!r} is not a date (YYYY-MM-DD)") from None
    return ReportPeriod.containing(kind, day)


def first_rows(queryset: QuerySet[Any], limit: int = ROWS_SHOWN) -> tuple[list[Any], int]:
    """The first `limit` rows and how many more there are (for "and N more"): one query, two when there are more."""
    rows = list(queryset[:limit])
    more = queryset.count() - limit if len(rows) == limit else 0
    return rows, max(more, 0)
