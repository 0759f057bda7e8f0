"""Quality gate of step 1: "Monitoring and alerting active", computed from the monitoring records.

Per active service, four checks, each an evidence row with a stable key (so a
failing one can be waived for that service) and a link to where it is fixed:

- ``slo:<service>``: an enabled SLO whose newest SLI data is fresher than the
  policy's ``monitoring.sli_fresh_within``. No SLO fails; SLOs whose data is all
  stale (or never arrived) fail too: an SLO nobody feeds monitors nothing.
- ``alert-rules:<service>``: at least one alert rule carrying a runbook; and
  ``rule-runbook:<service>:<alert>`` for every alerting rule of the service
  without one (the gate asks that all rules carry a runbook).
- ``runbook-review:<service>:<runbook>``: every runbook of the service reviewed
  on time (``monitoring.runbook_review_every``); an overdue review is at risk.
- ``on-call:<service>``: someone on call now, asked through
  opsgov.registry.on_call (incidents answers: the first escalation level's
  on-call person or named users).

Rules and runbooks of no service are listed under no service (they cannot be
waived per service). Without active services the gate has no evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import Max
from django.urls import reverse

from opsgov.humanize import ago as _ago
from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateReport, GateResult, gates, on_call
from opsgov.roles import DEVOPS_LEAD, SRE_LEAD

from .catalog import selectors as catalog
from .models import SLO
from .models.catalog import policy_today


def _of_active_services(findings: Iterable[catalog.Finding], services: list[Service]) -> Iterator[catalog.Finding]:
    """The findings of `services` and of no service (a rule or runbook of a deprecated service is not)."""
    slugs = {service.slug for service in services}
    return (finding for finding in findings if not finding.service or finding.service in slugs)


@gates.register
class MonitoringGate(Gate):
    key = "monitoring"
    step = 1
    title = "Monitoring and alerting active"
    owner_roles = (SRE_LEAD,)
    approver_roles = (SRE_LEAD, DEVOPS_LEAD)
    description = (
        "Every active service has an SLO with fresh SLI data, alert rules that each carry a runbook, "
        "runbooks reviewed on time, and someone on call now."
    )

    def evaluate(self, *, now: datetime) -> GateResult:
        services = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("name"))
        if not services:
            return GateResult(status=GateStatus.NO_EVIDENCE, reason="No evidence: there are no active services.")
        report = GateReport()
        self._slo_data_fresh(report, services, now)
        self._alert_rules_carry_runbooks(report, services)
        self._every_rule_carries_a_runbook(report, services)
        self._runbooks_reviewed_on_time(report, services, now)
        self._someone_on_call(report, services, now)
        return report.result(
            f"All {len(services)} active services have fresh SLOs, runbook-backed alert rules and on-call cover."
        )

    def _slo_data_fresh(self, report: GateReport, services: list[Service], now: datetime) -> None:
        """``slo:<service>``: an enabled SLO with SLI data fresher than the policy asks (one grouped query)."""
        fresh_within = get_policy().monitoring.sli_fresh_within.as_timedelta()
        newest_sli = dict(
            SLO.objects.filter(enabled=True, service__in=services)
            .values("service_id")
            .annotate(newest=Max("last_sli_at"))
            .order_by()
            .values_list("service_id", "newest")
        )
        slo_list = reverse("monitoring:slo-list")
        for service in services:
            key = f"slo:{service.slug}"
            url = f"{slo_list}?service={service.slug}"
            if service.pk not in newest_sli:
                report.add(
                    Evidence(f"{service.name}: no SLO", GateStatus.FAIL, "No enabled SLO.", url, service.slug, key),
                    "without an SLO",
                    noun="service",
                )
            elif (newest := newest_sli[service.pk]) is None or now - newest > fresh_within:
                detail = "No SLI data ever received." if newest is None else f"Newest SLI data {_ago(newest, now)}."
                report.add(
                    Evidence(
                        f"{service.name}: SLI data stale",
                        GateStatus.FAIL,
                        f"{detail} The policy asks for data within {get_policy().monitoring.sli_fresh_within}.",
                        url,
                        service.slug,
                        key,
                    ),
                    "with stale SLI data",
                    noun="service",
                )
            else:
                report.add(
                    Evidence(
                        f"{service.name}: SLO data fresh",
                        GateStatus.PASS,
                        f"Newest SLI data {_ago(newest, now)}.",
                        url,
                        service.slug,
                        key,
                    )
                )

    def _alert_rules_carry_runbooks(self, report: GateReport, services: list[Service]) -> None:
        """``alert-rules:<service>``: at least one alert rule of the service carries a runbook."""
        lacking = {finding.service: finding for finding in catalog.service_findings()}
        rule_list = reverse("monitoring:alert-rule-list")
        for service in services:
            finding = lacking.get(service.slug)
            key = f"alert-rules:{service.slug}"
            if finding is not None:
                report.add(
                    Evidence(
                        f"{service.name}: alert rules", GateStatus.FAIL, finding.detail, finding.url, service.slug, key
                    ),
                    "without a runbook-carrying alert rule",
                    noun="service",
                )
            else:
                report.add(
                    Evidence(
                        f"{service.name}: alert rules",
                        GateStatus.PASS,
                        "Has alert rules that carry a runbook.",
                        f"{rule_list}?service={service.slug}",
                        service.slug,
                        key,
                    )
                )

    def _every_rule_carries_a_runbook(self, report: GateReport, services: list[Service]) -> None:
        """``rule-runbook:<service>:<alert>``: every alerting rule (of an active service, or of none) has one."""
        for finding in _of_active_services(catalog.rules_without_runbook_findings(), services):
            report.add(
                Evidence(
                    f"Rule {finding.label}: no runbook",
                    GateStatus.FAIL,
                    finding.detail,
                    finding.url,
                    finding.service,
                    f"rule-runbook:{finding.service}:{finding.label}" if finding.service else "",
                ),
                "without a runbook",
                noun="alert rule",
            )

    def _runbooks_reviewed_on_time(self, report: GateReport, services: list[Service], now: datetime) -> None:
        """``runbook-review:<service>:<runbook>``: every runbook reviewed on time; an overdue one is at risk."""
        overdue = catalog.overdue_runbook_findings(today=policy_today(now))
        for finding in _of_active_services(overdue, services):
            report.add(
                Evidence(
                    f"Runbook {finding.label}: review overdue",
                    GateStatus.AT_RISK,
                    finding.detail,
                    finding.url,
                    finding.service,
                    f"runbook-review:{finding.service}:{finding.label}" if finding.service else "",
                ),
                "overdue for review",
                noun="runbook",
            )

    def _someone_on_call(self, report: GateReport, services: list[Service], now: datetime) -> None:
        """``on-call:<service>``: someone on call now (no rows while no app answers opsgov.registry.on_call)."""
        responders = on_call.responders(service_ids=[service.pk for service in services], now=now)
        if responders is None:
            return
        for service in services:
            names = responders.get(service.pk, [])
            key = f"on-call:{service.slug}"
            if names:
                report.add(
                    Evidence(
                        f"{service.name}: on call now",
                        GateStatus.PASS,
                        ", ".join(names),
                        service.get_absolute_url(),
                        service.slug,
                        key,
                    )
                )
            else:
                report.add(
                    Evidence(
                        f"{service.name}: nobody on call now",
                        GateStatus.FAIL,
                        "Its escalation path reaches nobody at this moment.",
                        service.get_absolute_url(),
                        service.slug,
                        key,
                    ),
                    "with nobody on call now",
                    noun="service",
                )
