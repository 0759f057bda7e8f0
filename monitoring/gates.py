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

from collections import defaultdict
from datetime import datetime

from django.db.models import Max
from django.urls import reverse

from opsgov.humanize import ago as _ago
from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateResult, gates, on_call
from opsgov.roles import DEVOPS_LEAD, SRE_LEAD

from .catalog import selectors as catalog
from .models import SLO

_ORDER = {GateStatus.FAIL: 2, GateStatus.AT_RISK: 1, GateStatus.PASS: 0}


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
        fresh_within = get_policy().monitoring.sli_fresh_within.as_timedelta()
        by_slug = {service.slug: service for service in services}
        rows: list[Evidence] = []
        problems: dict[tuple[str, str], int] = defaultdict(int)  # (noun, what) -> count

        # 1. SLOs with fresh SLI data (one grouped query).
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
                problems[("service", "without an SLO")] += 1
                rows.append(
                    Evidence(f"{service.name}: no SLO", GateStatus.FAIL, "No enabled SLO.", url, service.slug, key)
                )
            elif (newest := newest_sli[service.pk]) is None or now - newest > fresh_within:
                problems[("service", "with stale SLI data")] += 1
                detail = "No SLI data ever received." if newest is None else f"Newest SLI data {_ago(newest, now)}."
                rows.append(
                    Evidence(
                        f"{service.name}: SLI data stale",
                        GateStatus.FAIL,
                        f"{detail} The policy asks for data within {get_policy().monitoring.sli_fresh_within}.",
                        url,
                        service.slug,
                        key,
                    )
                )
            else:
                rows.append(
                    Evidence(
                        f"{service.name}: SLO data fresh",
                        GateStatus.PASS,
                        f"Newest SLI data {_ago(newest, now)}.",
                        url,
                        service.slug,
                        key,
                    )
                )

        # 2. Alert rules, each with a runbook.
        lacking = {finding.service: finding for finding in catalog.service_findings()}
        for service in services:
            finding = lacking.get(service.slug)
            key = f"alert-rules:{service.slug}"
            if finding is not None:
                problems[("service", "without a runbook-carrying alert rule")] += 1
                rows.append(
                    Evidence(
                        f"{service.name}: alert rules", GateStatus.FAIL, finding.detail, finding.url, service.slug, key
                    )
                )
            else:
                rows.append(
                    Evidence(
                        f"{service.name}: alert rules",
                        GateStatus.PASS,
                        "Has alert rules that carry a runbook.",
                        f"{reverse('monitoring:alert-rule-list')}?service={service.slug}",
                        service.slug,
                        key,
                    )
                )
        for finding in catalog.rules_without_runbook_findings():
            if finding.service and finding.service not in by_slug:
                continue  # a rule of a deprecated service
            problems[("alert rule", "without a runbook")] += 1
            rows.append(
                Evidence(
                    f"Rule {finding.label}: no runbook",
                    GateStatus.FAIL,
                    finding.detail,
                    finding.url,
                    finding.service,
                    f"rule-runbook:{finding.service}:{finding.label}" if finding.service else "",
                )
            )

        # 3. Runbooks reviewed on time.
        for finding in catalog.overdue_runbook_findings(today=catalog.policy_today(now)):
            if finding.service and finding.service not in by_slug:
                continue
            problems[("runbook", "overdue for review")] += 1
            rows.append(
                Evidence(
                    f"Runbook {finding.label}: review overdue",
                    GateStatus.AT_RISK,
                    finding.detail,
                    finding.url,
                    finding.service,
                    f"runbook-review:{finding.service}:{finding.label}" if finding.service else "",
                )
            )

        # 4. Someone on call now.
        responders = on_call.responders(service_ids=[service.pk for service in services], now=now)
        if responders is not None:
            for service in services:
                names = responders.get(service.pk, [])
                key = f"on-call:{service.slug}"
                if names:
                    rows.append(
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
                    problems[("service", "with nobody on call now")] += 1
                    rows.append(
                        Evidence(
                            f"{service.name}: nobody on call now",
                            GateStatus.FAIL,
                            "Its escalation path reaches nobody at this moment.",
                            service.get_absolute_url(),
                            service.slug,
                            key,
                        )
                    )

        status = max((row.status for row in rows), key=lambda status: _ORDER[GateStatus(status)])
        if status == GateStatus.PASS:
            reason = (
                f"All {len(services)} active services have fresh SLOs, runbook-backed alert rules and on-call cover."
            )
        else:
            reason = "; ".join(
                f"{count} {noun}{'' if count == 1 else 's'} {what}" for (noun, what), count in problems.items()
            )
            reason += "."
        return GateResult(status=GateStatus(status), reason=reason, evidence=rows)
