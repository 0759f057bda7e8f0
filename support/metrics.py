"""Support metrics, the one source of their definitions (registered with opsgov.registry.metrics).

Windows are ``opsgov.registry.WINDOWS`` ending at ``now``; scopes ``global``, ``team:<slug>``,
``service:<slug>`` and ``priority:<key>`` (satisfaction and attainment), ``global`` for the others.

support_satisfaction (the seed's "Support satisfaction", target > policy targets.support_satisfaction)
    Mean CSAT rating (1-5) of the answers recorded in the window (``answered_at``); sample_size = answers.
    Under ``support.csat_min_sample`` answers the mean is still given but ``details["too_few_answers"]`` is
    true: the dashboard shows it "at risk (too few answers)", never met.
support_first_response_attainment / support_resolution_attainment (percent, >= the policy minimums)
    Of the tickets opened in the window whose clock stopped (answered / resolved) or ran out (breached),
    the share not breached.
support_median_first_response (seconds)
    Median of (first_response_at - opened_at) over first responses in the window (mean of the two middle
    values for an even count).
support_backlog_age (seconds, < support.max_backlog_age)
    Median age at ``now`` of the open tickets; ``details`` counts them by age (under 1 day, 1-7 days,
    7-30 days, over 30 days). The same for every window: it is a state, not a rate.
support_nps (score -100..100, >= support.min_nps)
    % promoters (9-10) - % detractors (0-6) over the answers in the window; details count each group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from django.db.models import Q

from opsgov.models import Service, Team
from opsgov.policy import get_policy
from opsgov.registry import WINDOWS, MetricDefinition, MetricValue, metrics

from .models import OPEN_STATUSES, CsatSurvey, NpsResponse, Ticket

GLOBAL = "global"


def _scopes(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by scope: global, team, service, priority."""
    teams = dict(Team.objects.values_list("id", "slug"))
    services = dict(Service.objects.values_list("id", "slug"))
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[GLOBAL].append(row)
        if row.get("team_id") in teams:
            grouped[f"team:{teams[row['team_id']]}"].append(row)
        if row.get("service_id") in services:
            grouped[f"service:{services[row['service_id']]}"].append(row)
        grouped[f"priority:{row['priority']}"].append(row)
    grouped.setdefault(GLOBAL, [])
    return grouped


def satisfaction(answers: list[int], *, min_sample: int) -> MetricValue:
    if not answers:
        return MetricValue(scope=GLOBAL, value=None, sample_size=0, details={"min_sample": min_sample})
    too_few = len(answers) < min_sample
    details: dict[str, Any] = {"min_sample": min_sample, "too_few_answers": too_few}
    return MetricValue(
        scope=GLOBAL, value=round(sum(answers) / len(answers), 4), sample_size=len(answers), details=details
    )


def compute_satisfaction(*, window: str, now: datetime) -> list[MetricValue]:
    start = now - WINDOWS[window]
    rows = CsatSurvey.objects.filter(answered_at__gt=start, answered_at__lte=now, rating__isnull=False).values(
        "rating", "team_id", "service_id", "priority"
    )
    min_sample = get_policy().support.csat_min_sample
    values = []
    for scope, members in sorted(_scopes([dict(row) for row in rows]).items()):
        value = satisfaction([int(row["rating"]) for row in members], min_sample=min_sample)
        values.append(MetricValue(scope=scope, value=value.value, sample_size=value.sample_size, details=value.details))
    return values


def _attainment(clock: str, *, window: str, now: datetime) -> list[MetricValue]:
    start = now - WINDOWS[window]
    stopped = "first_response_at" if clock == "response" else "resolved_at"
    breached = f"{clock}_breached"
    rows = (
        Ticket.objects.filter(opened_at__gt=start, opened_at__lte=now)
        .filter(Q(**{f"{stopped}__isnull": False}) | Q(**{breached: True}))
        .values(breached, "team_id", "service_id", "priority")
    )
    values = []
    for scope, members in sorted(_scopes(rows).items()):
        met = sum(1 for row in members if not row[breached])
        total = len(members)
        values.append(
            MetricValue(
                scope=scope,
                value=round(100 * met / total, 4) if total else None,
                sample_size=total,
                details={"met": met, "missed": total - met},
            )
        )
    return values


def compute_first_response_attainment(*, window: str, now: datetime) -> list[MetricValue]:
    return _attainment("response", window=window, now=now)


def compute_resolution_attainment(*, window: str, now: datetime) -> list[MetricValue]:
    return _attainment("resolution", window=window, now=now)


def compute_median_first_response(*, window: str, now: datetime) -> list[MetricValue]:
    start = now - WINDOWS[window]
    pairs = Ticket.objects.filter(first_response_at__gt=start, first_response_at__lte=now).values_list(
        "opened_at", "first_response_at"
    )
    seconds = [(answered - opened).total_seconds() for opened, answered in pairs if answered is not None]
    return [MetricValue(scope=GLOBAL, value=median(seconds) if seconds else None, sample_size=len(seconds))]


_AGE_BUCKETS = (("under_1d", timedelta(days=1)), ("1d_7d", timedelta(days=7)), ("7d_30d", timedelta(days=30)))


def compute_backlog_age(*, window: str, now: datetime) -> list[MetricValue]:
    ages = [
        (now - opened).total_seconds()
        for opened in Ticket.objects.filter(status__in=[s.value for s in OPEN_STATUSES], opened_at__lte=now)
        .values_list("opened_at", flat=True)
        .iterator()
    ]
    buckets = dict.fromkeys([name for name, _ in _AGE_BUCKETS] + ["over_30d"], 0)
    for age in ages:
        for name, limit in _AGE_BUCKETS:
            if age < limit.total_seconds():
                buckets[name] += 1
                break
        else:
            buckets["over_30d"] += 1
    return [MetricValue(scope=GLOBAL, value=median(ages) if ages else None, sample_size=len(ages), details=buckets)]


def nps(scores: list[int]) -> float | None:
    """% promoters (9-10) - % detractors (0-6), or None without answers."""
    if not scores:
        return None
    promoters = sum(1 for score in scores if score >= 9)
    detractors = sum(1 for score in scores if score <= 6)
    return round(100 * (promoters - detractors) / len(scores), 4)


def compute_nps(*, window: str, now: datetime) -> list[MetricValue]:
    start = now - WINDOWS[window]
    scores = [
        int(score)
        for score in NpsResponse.objects.filter(
            answered_at__gt=start, answered_at__lte=now, score__isnull=False
        ).values_list("score", flat=True)
        if score is not None
    ]
    details = {
        "promoters": sum(1 for s in scores if s >= 9),
        "passives": sum(1 for s in scores if 7 <= s <= 8),
        "detractors": sum(1 for s in scores if s <= 6),
    }
    return [MetricValue(scope=GLOBAL, value=nps(scores), sample_size=len(scores), details=details)]


SATISFACTION = MetricDefinition(
    key="support_satisfaction",
    title="Support satisfaction (CSAT)",
    unit="score",
    comparison=">",
    target=lambda: float(get_policy().targets.support_satisfaction),
    compute=compute_satisfaction,
    description="Mean CSAT (1-5) of the answers in the window; under the policy's minimum sample the figure is "
    "marked 'too few answers' and counts as at risk.",
)
FIRST_RESPONSE = MetricDefinition(
    key="support_first_response_attainment",
    title="First-response SLA attainment",
    unit="percent",
    comparison=">=",
    target=lambda: float(get_policy().support.min_first_response_attainment_percent),
    compute=compute_first_response_attainment,
    description="Of the tickets opened in the window that were answered or breached, the share not breached.",
)
RESOLUTION = MetricDefinition(
    key="support_resolution_attainment",
    title="Resolution SLA attainment",
    unit="percent",
    comparison=">=",
    target=lambda: float(get_policy().support.min_resolution_attainment_percent),
    compute=compute_resolution_attainment,
    description="Of the tickets opened in the window that were resolved or breached, the share not breached.",
)
MEDIAN_FIRST_RESPONSE = MetricDefinition(
    key="support_median_first_response",
    title="Median first response",
    unit="seconds",
    comparison="<",
    target=lambda: (
        get_policy().support.tiers[sorted(get_policy().support.tiers)[-1]].response.approximate().total_seconds()
    ),
    compute=compute_median_first_response,
    description="Median of (first public reply - opened) over first responses in the window.",
)
BACKLOG_AGE = MetricDefinition(
    key="support_backlog_age",
    title="Support backlog age (median)",
    unit="seconds",
    comparison="<",
    target=lambda: get_policy().support.max_backlog_age.approximate().total_seconds(),
    compute=compute_backlog_age,
    description="Median age of the open tickets now; details count them by age.",
)
NPS = MetricDefinition(
    key="support_nps",
    title="Net Promoter Score",
    unit="score",
    comparison=">=",
    target=lambda: float(get_policy().support.min_nps),
    compute=compute_nps,
    description="% promoters (9-10) - % detractors (0-6) over the answers in the window.",
)

for _definition in (SATISFACTION, FIRST_RESPONSE, RESOLUTION, MEDIAN_FIRST_RESPONSE, BACKLOG_AGE, NPS):
    metrics.register(_definition)
