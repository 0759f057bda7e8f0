"""HTML pages of backups & DR (mounted under /backups/, namespace "backups"): the overview matrix
(service x data type), the jobs, one job with its run history and checks, restore tests, drills and plans.
Read-only pages: writes go through the API (backups.api) and the admin.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.safestring import SafeString

from opsgov.listing import page_context, paginate
from opsgov.models import GateStatus, Lifecycle, Service
from opsgov.policy import get_policy
from opsgov.rendering import render_markdown

from . import selectors
from .gates import required_data_types
from .models import ApprovalKind, BackupJob, DRDrill, DRDrillApproval, DRPlan, RestoreTest

_WORDS = {
    GateStatus.PASS: "OK",
    GateStatus.AT_RISK: "At risk",
    GateStatus.FAIL: "Failing",
}


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_perm("backups.view_backupjob"):
        raise PermissionDenied("Your roles do not allow viewing backups.")


def _by_service(request: HttpRequest, queryset: QuerySet[Any], field: str) -> QuerySet[Any]:
    slug = request.GET.get("service", "").strip()
    return queryset.filter(**{field: slug}) if slug else queryset


def overview_view(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    now = timezone.now()
    services = list(Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("name"))
    data_types = list(get_policy().backups.data_types.items())
    required = required_data_types(services)
    jobs = list(BackupJob.objects.filter(service__in=services, active=True).select_related("service"))
    facts = selectors.job_facts(jobs)
    cells: dict[tuple[int, str], list[GateStatus]] = defaultdict(list)
    for job in jobs:
        worst = GateStatus.PASS
        for check in selectors.job_checks(job, now=now, facts=facts[job.pk]):
            if check.status == GateStatus.FAIL or (check.status == GateStatus.AT_RISK and worst == GateStatus.PASS):
                worst = check.status
        cells[(job.service_id, job.data_type)].append(worst)
    rows = []
    for service in services:
        row = []
        for key, _ in data_types:
            if key not in required[service.pk]:
                row.append({"status": "na", "words": "Not required"})
            elif not cells.get((service.pk, key)):
                row.append({"status": "fail", "words": "No job"})
            else:
                statuses = cells[(service.pk, key)]
                worst = GateStatus.FAIL if GateStatus.FAIL in statuses else max(statuses, key=lambda s: s != "pass")
                row.append({"status": str(worst), "words": _WORDS.get(GateStatus(worst), str(worst))})
        rows.append({"service": service, "cells": row})
    return render(request, "backups/overview.html", {"rows": rows, "data_types": data_types})


def job_list_view(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    jobs = _by_service(request, BackupJob.objects.select_related("service", "owner"), "service__slug")
    return render(request, "backups/job_list.html", page_context(request, paginate(request, jobs)))


def job_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_view(request)
    job = get_object_or_404(BackupJob.objects.select_related("service", "owner"), pk=pk)
    now = timezone.now()
    runs = list(job.runs.order_by("-recorded_at", "-pk")[:90])
    chart = [
        {
            "status": run.status,
            "x": index * 5,
            "y": 0 if run.status == "succeeded" else 60,
            "height": 100 if run.status == "succeeded" else 40,
            "title": f"{run.get_status_display()} · {run.finished_at or run.slot or run.recorded_at:%Y-%m-%d %H:%M}",
        }
        for index, run in enumerate(reversed(runs))
    ]
    thirty = selectors.success_counts(start=now - timedelta(days=30), end=now, job_ids=[job.pk])
    rate = thirty.get(job.pk, selectors.Rate(0, 0))
    context = {
        "job": job,
        "checks": selectors.job_checks(job, now=now),
        "runs": runs,
        "chart": chart,
        "chart_width": max(5, len(chart) * 5),
        "rate": rate,
        "points": job.restore_points.filter(present=True)[:20],
        "integrity": job.integrity_checks.all()[:10],
    }
    return render(request, "backups/job_detail.html", context)


def restore_list_view(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    tests = _by_service(request, RestoreTest.objects.select_related("job__service"), "job__service__slug")
    return render(request, "backups/restore_list.html", page_context(request, paginate(request, tests)))


def drill_list_view(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    drills = _by_service(
        request,
        DRDrill.objects.select_related("service", "owner").prefetch_related("approvals__approver"),
        "service__slug",
    )
    page = paginate(request, drills)
    for drill in page.object_list:
        drill.validations = [(kind, drill.approval_of(kind)) for kind in ApprovalKind]
    return render(request, "backups/drill_list.html", page_context(request, page))


def drill_markdown_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_view(request)
    drill = get_object_or_404(
        DRDrill.objects.select_related("service", "owner").prefetch_related("approvals__approver"), pk=pk
    )
    response = HttpResponse(drill_markdown(drill), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="dr-drill-{drill.pk}.md"'
    return response


def _validation_line(kind: ApprovalKind, approval: DRDrillApproval | None) -> str:
    if approval is None:
        return f"- {kind.label}: awaiting"
    note = f": {approval.note}" if approval.note else ""
    return (
        f"- {kind.label}: {approval.approver.get_username()} ({approval.role}), "
        f"{approval.approved_at:%Y-%m-%d %H:%M} UTC{note}"
    )


def drill_markdown(drill: DRDrill) -> str:
    def minutes(seconds: float | None) -> str:
        return "not measured" if seconds is None else f"{seconds / 60:.0f} min"

    lines = [
        f"# DR drill: {drill.scenario}",
        "",
        f"- Service: {drill.service.name}",
        f"- Held: {drill.held_at:%Y-%m-%d %H:%M} UTC",
        f"- RTO: {minutes(drill.rto_achieved_seconds)} (target {minutes(drill.rto_target_seconds)})",
        f"- RPO: {minutes(drill.rpo_achieved_seconds)} (target {minutes(drill.rpo_target_seconds)})",
        f"- Targets met: {'yes' if drill.met_targets else 'no'}",
        f"- Owner (SRE Lead): {drill.owner.get_username() if drill.owner else 'not named'}",
        "",
        "## Validations",
        "",
        *[_validation_line(kind, drill.approval_of(kind)) for kind in ApprovalKind],
        "",
        "## Participants",
        "",
        *[f"- {p.get('role', '')}: {p.get('name', '')}" for p in drill.participants if isinstance(p, dict)],
        "",
        "## Timeline",
        "",
        *[f"- {t.get('at', '')}: {t.get('what', '')}" for t in drill.timeline if isinstance(t, dict)],
        "",
        "## Issues found",
        "",
        *[f"- {i.get('title', i) if isinstance(i, dict) else i}" for i in drill.issues],
        "",
    ]
    return "\n".join(lines)


def render_plan(text: str) -> SafeString:
    """A DR plan's Markdown as sanitised HTML (opsgov.rendering, as runbooks)."""
    return render_markdown(text)


def plan_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_view(request)
    plan = get_object_or_404(DRPlan.objects.select_related("service", "owner"), pk=pk)
    return render(request, "backups/plan_detail.html", {"plan": plan, "body": render_plan(plan.body)})


def plan_list_view(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    plans = _by_service(request, DRPlan.objects.select_related("service", "owner"), "service__slug")
    page = paginate(request, plans.order_by("service__name"))
    return render(request, "backups/plan_list.html", page_context(request, page))
