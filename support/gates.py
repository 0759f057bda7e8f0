"""Quality gate of step 7: "Support process established", computed from the support records.

Checks (evidence rows with stable keys, waivable where they name a service or a record):

- ``tiers``: every priority used by a ticket in the last 30 days has targets in the policy.
- ``first-response`` / ``resolution``: SLA attainment over 30 days at or above the policy minimums
  (support_first_response_attainment / support_resolution_attainment, computed here, not read from a snapshot).
- ``csat``: mean CSAT over 30 days above the target with at least ``csat_min_sample`` answers; fewer answers
  are at risk, never a pass.
- ``survey:<T-n>``: every ticket resolved in the last 30 days got its rating link.
- ``breach-notice:<T-n>``: every breach was notified (a recipient, and the notice not failed).
- ``article-review:<slug>``: knowledge-base reviews on time (overdue is at risk).
- ``mailbox``: when SUPPORT_IMAP_URL is set, fetched successfully within ``mailbox_stale_after``.

One method per criterion adds its rows to a GateReport (opsgov.registry); the reason of a gate that does not
pass counts the checks not passing and names the first. Without any ticket the gate has no evidence.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse

from opsgov.models import GateStatus, OutboxStatus
from opsgov.policy import get_policy
from opsgov.registry import Evidence, Gate, GateReport, GateResult, gates
from opsgov.roles import PRODUCT_OWNER, SUPPORT_TEAM

from . import metrics
from .models import Article, CsatSurvey, MailboxState, MailKind, OutgoingEmail, SlaBreach, Ticket, TicketStatus

WINDOW = "30d"


@gates.register
class SupportGate(Gate):
    key = "support"
    step = 7
    title = "Support process established"
    owner_roles = (SUPPORT_TEAM, PRODUCT_OWNER)
    description = (
        "Tiers with targets, first-response and resolution attainment at the policy minimums, satisfaction on "
        "target with enough answers, surveys sent, breaches notified, articles reviewed, the mailbox fetched."
    )

    def evaluate(self, *, now: datetime) -> GateResult:
        if not Ticket.objects.exists():
            return GateResult(status=GateStatus.NO_EVIDENCE, reason="No evidence: there are no support tickets yet.")
        report = GateReport()
        self._tiers(report, now)
        self._attainment(report, now)
        self._csat(report, now)
        self._surveys(report, now)
        self._breach_notices(report)
        self._articles(report, now)
        self._mailbox(report, now)
        return report.result("Support process established: every check passes.", first_row=True)

    def _tiers(self, report: GateReport, now: datetime) -> None:
        used = set(
            Ticket.objects.filter(opened_at__gte=now - timedelta(days=30)).values_list("priority", flat=True).distinct()
        )
        missing = sorted(used - set(get_policy().support.tiers))
        report.add(
            Evidence(
                key="tiers",
                label="Every tier in use has targets",
                status=GateStatus.FAIL if missing else GateStatus.PASS,
                detail=f"no targets for {', '.join(missing)}"
                if missing
                else f"{', '.join(sorted(used)) or 'none'} used",
                url=reverse("policy"),
            )
        )

    def _attainment(self, report: GateReport, now: datetime) -> None:
        policy = get_policy().support
        for key, label, compute, minimum in (
            (
                "first-response",
                "First-response attainment",
                metrics.compute_first_response_attainment,
                policy.min_first_response_attainment_percent,
            ),
            (
                "resolution",
                "Resolution attainment",
                metrics.compute_resolution_attainment,
                policy.min_resolution_attainment_percent,
            ),
        ):
            value = next(v for v in compute(window=WINDOW, now=now) if v.scope == metrics.GLOBAL)
            if value.value is None:
                status, detail = GateStatus.NO_EVIDENCE, "no ticket answered or breached in 30 days"
            else:
                status = GateStatus.PASS if value.value >= minimum else GateStatus.FAIL
                detail = f"{value.value:.1f} % of {value.sample_size} (minimum {minimum:g} %)"
            report.add(
                Evidence(
                    key=key,
                    label=f"{label} over 30 days",
                    status=status,
                    detail=detail,
                    url=reverse("support-queue") + "?queue=breaching",
                )
            )

    def _csat(self, report: GateReport, now: datetime) -> None:
        value = next(v for v in metrics.compute_satisfaction(window=WINDOW, now=now) if v.scope == metrics.GLOBAL)
        target = get_policy().targets.support_satisfaction
        if value.value is None:
            status, detail = GateStatus.AT_RISK, "no rating answered in 30 days"
        elif value.details.get("too_few_answers"):
            status = GateStatus.AT_RISK
            detail = (
                f"{value.value:.2f} / 5 from {value.sample_size} answers: too few answers "
                f"(minimum {value.details['min_sample']})"
            )
        else:
            status = GateStatus.PASS if value.value > target else GateStatus.AT_RISK
            detail = f"{value.value:.2f} / 5 from {value.sample_size} answers (target > {target:g})"
        report.add(
            Evidence(
                key="csat",
                label="Satisfaction (CSAT) over 30 days",
                status=status,
                detail=detail,
                url=reverse("home") + "#metric-support_satisfaction",
            )
        )

    def _surveys(self, report: GateReport, now: datetime) -> None:
        resolved = Ticket.objects.filter(
            resolved_at__gte=now - timedelta(days=30), status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED]
        )
        missing = list(resolved.exclude(pk__in=CsatSurvey.objects.values("ticket_id")).order_by("number")[:20])
        report.extend(
            Evidence(
                key=f"survey:{t.public_id}",
                label=f"No rating link sent for {t.public_id}",
                status=GateStatus.FAIL,
                detail=t.subject,
                url=t.get_absolute_url(),
                service=t.service.slug if t.service else "",
            )
            for t in missing
        )
        if not missing:
            report.add(
                Evidence(
                    key="surveys",
                    label="Rating links sent for resolved tickets",
                    status=GateStatus.PASS,
                    detail=f"{resolved.count()} resolved in 30 days",
                    url=reverse("support-queue"),
                )
            )

    def _breach_notices(self, report: GateReport) -> None:
        failed_tickets = set(
            OutgoingEmail.objects.filter(kind=MailKind.BREACH, status=OutboxStatus.FAILED).values_list(
                "ticket_id", flat=True
            )
        )
        unnotified = SlaBreach.objects.filter(notified_to="") | SlaBreach.objects.filter(ticket_id__in=failed_tickets)
        rows = [
            Evidence(
                key=f"breach-notice:{b.ticket.public_id}:{b.clock}",
                label=f"Breach of {b.ticket.public_id} not notified",
                status=GateStatus.FAIL,
                detail=f"{b.clock} due {b.due_at:%Y-%m-%d %H:%M}",
                url=b.ticket.get_absolute_url(),
            )
            for b in unnotified.select_related("ticket")[:20]
        ]
        report.extend(rows)
        if not rows:
            report.add(
                Evidence(
                    key="breach-notices",
                    label="Every breach notified the team lead",
                    status=GateStatus.PASS,
                    detail=f"{SlaBreach.objects.count()} breach(es) recorded",
                    url=reverse("support-queue"),
                )
            )

    def _articles(self, report: GateReport, now: datetime) -> None:
        overdue = list(Article.objects.filter(review_due_at__lt=now).order_by("review_due_at")[:20])
        rows = [
            Evidence(
                key=f"article-review:{a.slug}",
                label=f"Review of '{a.title}' overdue",
                status=GateStatus.AT_RISK,
                detail=f"due {a.review_due_at:%Y-%m-%d}",
                url=reverse("admin:support_article_change", args=[a.pk]),
            )
            for a in overdue
        ]
        report.extend(rows)
        if not rows:
            report.add(
                Evidence(
                    key="article-reviews",
                    label="Knowledge-base reviews on time",
                    status=GateStatus.PASS,
                    detail=f"{Article.objects.count()} article(s)",
                    url=reverse("admin:support_article_changelist"),
                )
            )

    def _mailbox(self, report: GateReport, now: datetime) -> None:
        if not settings.SUPPORT_IMAP_URL:
            return
        state = MailboxState.objects.filter(name="support").first()
        stale = get_policy().support.mailbox_stale_after.approximate()
        last = state.last_success_at if state else None
        ok = last is not None and now - last <= stale
        detail = f"last fetched {last:%Y-%m-%d %H:%M} UTC" if last else "never fetched"
        if state and state.last_error:
            detail += f"; last error: {state.last_error[:200]}"
        report.add(
            Evidence(
                key="mailbox",
                label="Support mailbox fetched recently",
                status=GateStatus.PASS if ok else GateStatus.FAIL,
                detail=detail,
                url=reverse("admin:support_inboundmessage_changelist"),
            )
        )
