"""Scheduled email reports: the weekly operations report and the monthly governance report.

Reports
-------
* **weekly** (for SRE leads, sent Monday 07:00 in the policy's time zone): the
  week Monday 00:00 to Monday 00:00 that just ended — gates whose status changed
  since the week before, the metrics against their targets (7 and 30 days), and
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

from ..dashboard import MetricRow, gate_url, metric_specs, snapshots_as_of
from ..models import (
    DeliveryStatus,
    GateEvaluation,
    GateStatus,
    GateWaiver,
    ReportDelivery,
    ReportKind,
    ReportSubscription,
    WaiverState,
)
from ..outbox import Outbox, OutboxPolicy
from ..policy import get_policy
from ..registry import gates
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


class SectionRegistry:
    def __init__(self) -> None:
        self._providers: dict[str, SectionProvider] = {}

    def register(self, provider: SectionProvider) -> SectionProvider:
        existing = self._providers.get(provider.key)
        if existing is not None and existing != provider:
            raise ValueError(f"report section {provider.key!r} is registered twice")
        unknown = set(provider.kinds) - set(ReportKind.values)
        if unknown:
            raise ValueError(f"report section {provider.key!r}: unknown report kinds {sorted(unknown)}")
        self._providers[provider.key] = provider
        return provider

    def unregister(self, key: str) -> None:
        self._providers.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._providers

    def for_kind(self, kind: str) -> list[SectionProvider]:
        return sorted(
            (provider for provider in self._providers.values() if kind in provider.kinds),
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


def weekly_gates_section(*, period: ReportPeriod, now: datetime) -> Section:
    """Gates: status a week ago and now, and the changes in between (three queries)."""
    registered = gates.all()
    keys = [gate.key for gate in registered]
    before = gate_statuses_as_of(keys, period.start)
    after = gate_statuses_as_of(keys, period.end)
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
        rows.append(
            [
                Cell(f"{gate.step}. {gate.title}", gate_url(gate.key)),
                _status_cell(before.get(gate.key)),
                _status_cell(after.get(gate.key)),
                Cell("changed" if moved else "unchanged", tone="warning" if moved else ""),
                Cell(str(len(gate_changes_))),
                Cell(_stamp(last.at, period.zone) if last else "—"),
            ]
        )
    counts: dict[str, int] = defaultdict(int)
    for key in keys:
        counts[after.get(key) or GateStatus.NO_EVIDENCE] += 1
    now_line = ", ".join(f"{counts[status]} {str(status.label).lower()}" for status in GateStatus if counts[status])
    return Section(
        key="gates",
        title="Quality gates: changes since last week",
        summary=f"{pluralize(changed, 'gate')} of {len(keys)} changed status over the week; at its end: {now_line}.",
        tables=[
            Table(
                columns=["Gate", "A week before", "At the end of the week", "Status", "Changes", "Last change"],
                rows=rows,
            )
        ],
        notes=["A gate without evidence is never counted as a pass."],
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
                    *(f"{status.label} (share of evaluations)" for status in GateStatus),
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
    )


# --- Core sections: metrics ------------------------------------------------------------------------


def _figure_cell(row: MetricRow) -> Cell:
    if not row.has_data:
        return Cell("no data", tone="muted")
    return Cell(f"{row.display} ({row.verdict_label.lower()})", tone=row.badge)


def weekly_metrics_section(*, period: ReportPeriod, now: datetime) -> Section:
    """The operational metrics at the end of the week over 7 and 30 days, against their targets (two queries)."""
    specs = metric_specs()
    keys = [spec.key for spec in specs]
    at = min(period.end, now)
    figures = {window: snapshots_as_of(keys, at=at, window=window) for window in ("7d", "30d")}
    rows = []
    missed = no_data = 0
    for spec in specs:
        by_window = {
            window: MetricRow(
                key=spec.key,
                title=spec.title,
                unit=spec.unit,
                comparison=spec.comparison,
                target=spec.target,
                registered=spec.registered,
                snapshot=figures[window].get(spec.key),
            )
            for window in figures
        }
        month = by_window["30d"]
        missed += month.verdict == "missed"
        no_data += month.verdict == "no_data"
        rows.append(
            [
                Cell(spec.title),
                Cell(month.target_display),
                _figure_cell(by_window["7d"]),
                _figure_cell(month),
            ]
        )
    return Section(
        key="metrics",
        title="Operational metrics against targets",
        summary=(
            f"Over the last 30 days, {len(specs) - missed - no_data} of {len(specs)} metrics met their target, "
            f"{missed} missed it and {no_data} had no data."
        ),
        tables=[Table(columns=["Metric", "Target", "Last 7 days", "Last 30 days"], rows=rows)],
        notes=[f"Organisation-wide figures as computed at the end of the week ({_stamp(at, period.zone)})."],
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
        .order_by("gate", "service__slug", "-created_at")
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
                Cell(waiver.service.name),
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


def _text_table(table: Table) -> list[str]:
    """A table as aligned plain text, with each link written out after its row."""
    cells = [list(table.columns)] + [[cell.text for cell in row] for row in table.rows]
    widths = [max(len(row[index]) for row in cells) for index in range(len(table.columns))]
    lines = []
    if table.caption:
        lines.append(table.caption + ":")
    lines.append("  ".join(text.ljust(width) for text, width in zip(cells[0], widths, strict=True)).rstrip())
    lines.append("  ".join("-" * width for width in widths))
    for row, texts in zip(table.rows, cells[1:], strict=True):
        lines.append("  ".join(text.ljust(width) for text, width in zip(texts, widths, strict=True)).rstrip())
        links = [absolute_url(cell.url) for cell in row if cell.url]
        if links:
            lines.append("    " + " ".join(f"<{link}>" for link in links))
    if table.more:
        lines.append(f"... and {table.more} more.")
    return lines


def render_text(report: Report) -> str:
    blocks = []
    for section in report.sections:
        lines = [section.title, "=" * len(section.title), section.summary]
        for table in section.tables:
            lines.append("")
            lines.extend(_text_table(table) if table.rows else [f"{table.caption}: none." if table.caption else ""])
        for note in section.notes:
            lines.extend(["", note])
        blocks.append("\n".join(lines))
    return render_to_string(
        "opsgov/email/report.txt",
        {"report": report, "blocks": blocks, **_common_context(report)},
    )


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
