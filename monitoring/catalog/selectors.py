"""Reads of the alert-rule catalog and runbooks: list querysets, coverage, and the gate's selectors.

The lists serve both the API and the HTML pages (filtered by
monitoring.catalog.filters). They fetch what a row shows in the same query (or
one prefetch), so their query count does not grow with the rows.

Review due and overdue
----------------------
A runbook reviewed on day D is due for review on ``review_due_on(D)`` (policy
``monitoring.runbook_review_every``; see monitoring.models.catalog) and is
overdue from the day after, counted in the policy's time zone. In SQL that is
``last_reviewed_at < review_cutoff(today)``: the cutoff is the earliest review
day that is not yet overdue today, found by bisection because the due date
grows with the review date (:func:`review_cutoff`), so the policy's calendar
rules (months, business days) apply exactly while the database compares dates.

For the monitoring gate
-----------------------
* :func:`services_without_runbook_rule`: active services with no alert rule
  that carries a runbook (no rule at all, or only rules without one);
* :func:`rules_without_runbook_findings`: every alerting rule without a
  runbook, with the URL of its page, where a runbook is linked;
* :func:`overdue_runbook_findings`: runbooks past their review date, with the
  URL of their page, where the review is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import BooleanField, Case, Count, Exists, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.urls import reverse

from opsgov.models import Lifecycle, Service
from opsgov.policy import get_policy

from ..models import AlertRule, Runbook
from ..models.catalog import policy_today, review_due_on

#: A rule carries a runbook when it links an opsgov runbook or keeps an external runbook URL.
HAS_RUNBOOK = Q(runbook__isnull=False) | ~Q(runbook_url="")


def review_cutoff(today: date | None = None) -> date:
    """The earliest review day that is not overdue on `today`: overdue ⇔ ``last_reviewed_at < cutoff``.

    ``review_due_on`` never decreases as the review day grows and is never before
    it, so the answer lies in (low, today] once ``review_due_on(low) < today``.
    """
    today = today or policy_today()
    every = get_policy().monitoring.runbook_review_every
    step = max(timedelta(days=31), 2 * every.approximate(business_day_hours=24))
    low = today - step
    while review_due_on(low, every=every) >= today:
        step *= 2
        low = today - step
    high = today  # review_due_on(today) >= today: a runbook reviewed today is on time
    while (high - low).days > 1:
        middle = low + (high - low) // 2
        if review_due_on(middle, every=every) >= today:
            high = middle
        else:
            low = middle
    return high


def _with_overdue(queryset: QuerySet[Runbook], today: date | None) -> QuerySet[Runbook]:
    return queryset.annotate(
        review_overdue=Case(
            When(last_reviewed_at__lt=review_cutoff(today), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


# --- Runbooks ----------------------------------------------------------------------------


def runbook_list(*, today: date | None = None) -> QuerySet[Runbook]:
    """Runbooks with owner and services (one prefetch), annotated ``review_overdue`` and ``rule_count``; by title."""
    return (
        _with_overdue(Runbook.objects.select_related("owner", "last_reviewed_by"), today)
        .annotate(rule_count=Count("alert_rules", distinct=True))
        .prefetch_related(Prefetch("services", queryset=Service.objects.order_by("name")))
        .order_by("title", "id")
    )


def runbook_detail(*, today: date | None = None) -> QuerySet[Runbook]:
    """A runbook with owner, reviewer, services and its rules (with group, file and service), ``review_overdue``."""
    rules = AlertRule.objects.select_related("group__rule_file", "service").order_by("name", "id")
    return _with_overdue(Runbook.objects.select_related("owner", "last_reviewed_by"), today).prefetch_related(
        Prefetch("services", queryset=Service.objects.order_by("name")),
        Prefetch("alert_rules", queryset=rules),
    )


def overdue_runbooks(*, today: date | None = None) -> QuerySet[Runbook]:
    """Runbooks past their review date, the longest overdue first (index ``runbook_reviewed_idx``)."""
    return (
        Runbook.objects.select_related("owner")
        .filter(last_reviewed_at__lt=review_cutoff(today))
        .order_by("last_reviewed_at", "id")
    )


# --- Alert rules -------------------------------------------------------------------------


def alert_rule_list() -> QuerySet[AlertRule]:
    """Rules with group, file, service and runbook in the same query, annotated ``carries_runbook``.

    Ordered by file, group and position in the group, as written in the files.
    """
    return (
        AlertRule.objects.select_related("group__rule_file", "service", "runbook")
        .annotate(
            carries_runbook=Case(When(HAS_RUNBOOK, then=Value(True)), default=Value(False), output_field=BooleanField())
        )
        .order_by("group__rule_file__name", "group__position", "position", "id")
    )


def runbooks_for_alerts(*, service_id: int, alertnames: Iterable[str]) -> dict[str, str]:
    """{alertname: absolute runbook URL} of the rules named `alertnames` that carry a runbook: one query.

    The provider of opsgov.registry.runbooks (incidents shows it beside an alert
    without a ``runbook_url`` annotation). Among rules of the same name, one of
    service `service_id` wins over one without a service, then the first in
    catalog order; rules of other services are not used. An opsgov runbook is
    its page under OPSGOV_BASE_URL (as exported rules link it); else the rule's
    external ``runbook_url`` as the file wrote it.
    """
    names = sorted(set(alertnames))
    if not names:
        return {}
    rows = (
        AlertRule.objects.filter(HAS_RUNBOOK, Q(service_id=service_id) | Q(service__isnull=True), name__in=names)
        .order_by(
            Case(When(service_id=service_id, then=Value(0)), default=Value(1)),
            "group__rule_file__name",
            "group__position",
            "position",
            "id",
        )
        .values_list("name", "runbook__slug", "runbook_url")
    )
    base = settings.OPSGOV_BASE_URL.rstrip("/")
    found: dict[str, str] = {}
    for name, slug, url in rows:
        if name not in found:
            found[name] = (base + reverse("monitoring:runbook-detail", kwargs={"slug": slug})) if slug else url
    return found


@dataclass(frozen=True)
class Coverage:
    """How many alerting rules carry a runbook, and how many have no service."""

    total: int
    with_runbook: int
    without_service: int

    @property
    def without_runbook(self) -> int:
        return self.total - self.with_runbook

    @property
    def percent(self) -> float | None:
        """Share of rules with a runbook, 0-100; None without rules."""
        return 100 * self.with_runbook / self.total if self.total else None


def rule_coverage(queryset: QuerySet[AlertRule] | None = None) -> Coverage:
    """Runbook coverage of `queryset` (default: every rule), in one aggregate query."""
    rows = (queryset if queryset is not None else AlertRule.objects.all()).aggregate(
        total=Count("id"),
        with_runbook=Count("id", filter=HAS_RUNBOOK),
        without_service=Count("id", filter=Q(service__isnull=True)),
    )
    return Coverage(total=rows["total"], with_runbook=rows["with_runbook"], without_service=rows["without_service"])


def rules_without_runbook() -> QuerySet[AlertRule]:
    """Alerting rules with neither an opsgov runbook nor an external one (index ``alertrule_no_runbook_idx``)."""
    return alert_rule_list().exclude(HAS_RUNBOOK)


# --- For the monitoring gate -------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """Something the monitoring gate reports as missing, with where to fix it."""

    label: str
    detail: str
    url: str
    service: str = ""  # service slug, "" when the record has none


def services_without_runbook_rule() -> QuerySet[Service]:
    """Active services without any alert rule that carries a runbook, by name, annotated ``rule_count``."""
    carrying = AlertRule.objects.filter(HAS_RUNBOOK, service=OuterRef("pk"))
    return (
        Service.objects.filter(lifecycle=Lifecycle.ACTIVE)
        .annotate(rule_count=Count("alert_rules"))
        .filter(~Exists(carrying))
        .order_by("name")
    )


def _service_detail(rule_count: int) -> str:
    if not rule_count:
        return "No alert rule"
    return f"None of its {rule_count} alert rule{'s' if rule_count != 1 else ''} carries a runbook"


def service_findings() -> list[Finding]:
    """:func:`services_without_runbook_rule` as findings linking to the service's rules in the catalog."""
    url = reverse("monitoring:alert-rule-list")
    return [
        Finding(
            label=service.name,
            detail=_service_detail(getattr(service, "rule_count", 0)),
            url=f"{url}?service={service.slug}",
            service=service.slug,
        )
        for service in services_without_runbook_rule()
    ]


def rules_without_runbook_findings() -> list[Finding]:
    """Every alerting rule without a runbook, linking to the rule's page (where a runbook is linked)."""
    return [
        Finding(
            label=rule.name,
            detail=f"No runbook ({rule.group.rule_file.name}, group {rule.group.name})",
            url=rule.get_absolute_url(),
            service=rule.service.slug if rule.service else "",
        )
        for rule in rules_without_runbook()
    ]


def overdue_runbook_findings(*, today: date | None = None) -> list[Finding]:
    """Every runbook past its review date, linking to its page (where the review is recorded)."""
    findings = []
    services = Prefetch("services", queryset=Service.objects.order_by("name"))
    for runbook in overdue_runbooks(today=today).prefetch_related(services):
        detail = f"Review due on {runbook.review_due_on:%Y-%m-%d} (last reviewed {runbook.last_reviewed_at:%Y-%m-%d})"
        # One row per service, so the gate's evidence filters by service; "" for a runbook of no service.
        for slug in [service.slug for service in runbook.services.all()] or [""]:
            findings.append(Finding(label=runbook.title, detail=detail, url=runbook.get_absolute_url(), service=slug))
    return findings
