"""Prometheus rules for the SLOs pulled from Prometheus (`manage.py export_prometheus_rules`).

One rule group per enabled SLO with source "prometheus":

- recording rules ``slo:sli_error:ratio_rate<window>``: the share of bad events over
  each window (5m, 30m, 1h, 6h, 1d, 3d, and any other window the policy's
  burn-rate alerts use), from the SLO's counter selectors (see
  monitoring.slos.prometheus_pull for how they are read)::

      1 - ((sum(rate(<good>[5m])) or vector(0)) / sum(rate(<total>[5m])))

  ``or vector(0)``: no good series at all (every request failed so far) is no
  good events, not no data. Without traffic the ratio is NaN and nothing fires.
  Labelled ``service`` (slug), ``slo`` (name) and ``slo_uuid``.

- alerting rules ``SLOErrorBudgetBurn``, one per row of the policy's
  multi-window, multi-burn-rate table (``monitoring.burn_rate_alerts``; by default
  the Google SRE workbook's: page at 14.4x over 1h and 5m, 6x over 6h and 30m;
  ticket at 1x over 3d and 6h). Each fires while the error ratio exceeds
  burn rate x error budget (1 - objective) over both its long and short
  window, e.g. for a 99.9 % objective::

      slo:sli_error:ratio_rate1h{slo_uuid="..."} > (14.4 * 0.001)
      and slo:sli_error:ratio_rate5m{slo_uuid="..."} > (14.4 * 0.001)

  Labels: ``severity`` (the row's kind: page or ticket), ``opsgov_severity``
  (the incident severity the policy gives the row, which opsgov's Alertmanager
  ingestion honours), ``burn_rate_alert`` (the row's key), and the SLO's
  ``service``, ``slo`` and ``slo_uuid``. Annotations: a summary, a description
  and ``runbook_url``, the SLO's page in opsgov.

The output is deterministic (no timestamp), so it can be committed and diffed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import yaml
from django.conf import settings
from django.urls import NoReverseMatch

from opsgov.policy import Policy

from ..models import SLO, SLISource
from ..promql import selector_errors

#: The error-ratio windows recorded for every SLO (the issue's burn-rate windows).
STANDARD_WINDOWS = (
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=3),
)
ALERT_NAME = "SLOErrorBudgetBurn"
RECORD_PREFIX = "slo:sli_error:ratio_rate"


class RuleExportError(Exception):
    """SLOs whose queries cannot become rules; `errors` holds one line each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


def prometheus_duration(length: timedelta) -> str:
    """A duration as Prometheus writes it, in the largest whole unit: 5m, 1h, 3d."""
    seconds = int(length.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def number(value: float | Decimal) -> str:
    """A threshold as plain text: 14.4, 6, 0.001."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    text = repr(float(value))
    return text.removesuffix(".0")


def error_budget(slo: SLO) -> Decimal:
    """1 - objective, exactly: 0.001 for 99.9 %."""
    return (Decimal(100) - Decimal(slo.objective_percent)) / Decimal(100)


def slo_page_url(slo: SLO) -> str:
    """The SLO's page in opsgov (its service's page where the SLO pages are not installed)."""
    try:
        path = slo.get_absolute_url()
    except NoReverseMatch:
        path = slo.service.get_absolute_url()
    return settings.OPSGOV_BASE_URL.rstrip("/") + path


def windows(policy: Policy) -> list[timedelta]:
    used = {window for window in STANDARD_WINDOWS}
    for alert in policy.monitoring.burn_rate_alerts.values():
        used.add(alert.long_window.as_timedelta())
        used.add(alert.short_window.as_timedelta())
    return sorted(used)


def error_ratio(slo: SLO, window: str) -> str:
    good, total = slo.good_query.strip(), slo.total_query.strip()
    return f"1 - ((sum(rate({good}[{window}])) or vector(0)) / sum(rate({total}[{window}])))"


def slo_group(slo: SLO, policy: Policy) -> dict[str, Any]:
    labels = {"service": slo.service.slug, "slo": slo.name, "slo_uuid": str(slo.uuid)}
    rules: list[dict[str, Any]] = []
    for length in windows(policy):
        window = prometheus_duration(length)
        rules.append({"record": f"{RECORD_PREFIX}{window}", "expr": error_ratio(slo, window), "labels": dict(labels)})
    budget = number(error_budget(slo))
    match = f'{{slo_uuid="{slo.uuid}"}}'
    for key, alert in policy.monitoring.burn_rate_alerts.items():
        long_window = prometheus_duration(alert.long_window.as_timedelta())
        short_window = prometheus_duration(alert.short_window.as_timedelta())
        threshold = f"({number(alert.burn_rate)} * {budget})"
        rules.append(
            {
                "alert": ALERT_NAME,
                "expr": (
                    f"{RECORD_PREFIX}{long_window}{match} > {threshold}"
                    f" and {RECORD_PREFIX}{short_window}{match} > {threshold}"
                ),
                "labels": {
                    "severity": alert.kind,
                    "opsgov_severity": policy.burn_rate_severity(alert),
                    "burn_rate_alert": key,
                    **labels,
                },
                "annotations": {
                    "summary": (
                        f"{slo.name} of {slo.service.name} burns its error budget "
                        f"{number(alert.burn_rate)}x too fast ({long_window} and {short_window})"
                    ),
                    "description": (
                        f"Error ratio over {long_window}: {{{{ $value | humanizePercentage }}}}, over "
                        f"{number(alert.burn_rate)} x the {number(error_budget(slo) * 100)} % error budget. "
                        f"At this rate the budget of a {slo.window_days}-day window lasts "
                        f"{_lasts(slo.window_days, alert.burn_rate)}."
                    ),
                    "runbook_url": slo_page_url(slo),
                },
            }
        )
    return {"name": f"opsgov-slo-{slo.service.slug}-{slo.uuid}", "rules": rules}


def _lasts(window_days: int, burn_rate: float) -> str:
    hours = window_days * 24 / burn_rate
    return f"{hours / 24:g} days" if hours % 24 == 0 else f"{hours:.3g} hours"


def exported_slos() -> list[SLO]:
    return list(
        SLO.objects.filter(enabled=True, source=SLISource.PROMETHEUS)
        .select_related("service")
        .order_by("service__slug", "name")
    )


def build_rules(slos: Iterable[SLO], policy: Policy) -> dict[str, Any]:
    """The rule file's content; RuleExportError naming every SLO whose queries are not counter selectors."""
    slos = list(slos)
    errors = [
        f"SLO {slo.uuid} ({slo.service.slug} · {slo.name}): {field}: {message}"
        for slo in slos
        for field, message in selector_errors(slo).items()
    ]
    if errors:
        raise RuleExportError(errors)
    return {"groups": [slo_group(slo, policy) for slo in slos]}


def render(rules: dict[str, Any]) -> str:
    groups = rules["groups"]
    count = sum(len(group["rules"]) for group in groups)
    header = (
        "# Prometheus recording and alerting rules for opsgov's SLOs "
        f"({len(groups)} SLO(s), {count} rules).\n"
        "# Written by `manage.py export_prometheus_rules`; edit the SLOs or the policy in opsgov, not this file.\n"
    )
    return header + yaml.safe_dump(rules, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096)
