"""HTML pages of security operations: the dashboard, the findings list, the assets list."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.contrib.auth.decorators import permission_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from opsgov.listing import OneOfSelect, filter_data, list_context, paginate
from opsgov.policy import get_policy

from .filters import AssetFilterSet, FindingFilterSet
from .models import SEVERITY_ORDER, Asset, Finding, FindingStatus, Scan
from .selectors import finding_list, overdue

AGE_BUCKETS = ((timedelta(days=7), "< 7 days"), (timedelta(days=30), "7-30 days"), (timedelta(days=90), "30-90 days"))


@permission_required("security.view_finding", raise_exception=True)
def dashboard_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    open_findings = Finding.objects.filter(status=FindingStatus.OPEN)
    by_severity = Counter(dict(open_findings.values_list("severity").annotate(n=Count("id")).order_by()))
    late = Counter(dict(overdue(Finding.objects.all(), now).values_list("severity").annotate(n=Count("id")).order_by()))
    ages: dict[str, Counter[str]] = {label: Counter() for _, label in AGE_BUCKETS}
    ages["> 90 days"] = Counter()
    for severity, first_seen in open_findings.values_list("severity", "first_seen_at"):
        age = now - first_seen
        label = next((label for limit, label in AGE_BUCKETS if age < limit), "> 90 days")
        ages[label][severity] += 1
    widespread = (
        open_findings.values("package_name", "package_version")
        .annotate(assets=Count("asset", distinct=True), findings=Count("id"))
        .order_by("-assets", "-findings", "package_name")[:10]
    )
    context = {
        "severities": [
            {
                "key": severity,
                "label": severity.label,
                "open": by_severity.get(severity, 0),
                "overdue": late.get(severity, 0),
            }
            for severity in SEVERITY_ORDER
        ],
        "ages": [
            {"label": label, "counts": [counts.get(s, 0) for s in SEVERITY_ORDER]} for label, counts in ages.items()
        ],
        "severity_labels": [severity.label for severity in SEVERITY_ORDER],
        "widespread": widespread,
        "recent_scans": Scan.objects.select_related("asset").order_by("-imported_at", "-id")[:10],
        "sla": get_policy().security.vulnerability_sla,
    }
    return render(request, "security/dashboard.html", context)


@permission_required("security.view_finding", raise_exception=True)
def finding_list_view(request: HttpRequest) -> HttpResponse:
    data = filter_data(request)
    now = timezone.now()
    filterset = FindingFilterSet(data, queryset=finding_list(now))
    fields = filterset.form.fields
    fields["service"].widget = OneOfSelect(choices=[("", "Any"), *iter(fields["service"].choices)])
    page = paginate(request, filterset.qs)
    context = list_context(data, filterset, page)
    context["now"] = now
    context["overdue_count"] = overdue(Finding.objects.all(), now).count()
    return render(request, "security/finding_list.html", context)


@permission_required("security.view_asset", raise_exception=True)
def asset_list_view(request: HttpRequest) -> HttpResponse:
    data = filter_data(request)
    queryset = Asset.objects.select_related("service", "owner").annotate(
        open_findings=Count("findings", filter=Q(findings__status=FindingStatus.OPEN))
    )
    filterset = AssetFilterSet(data, queryset=queryset.order_by("name", "id"))
    fields = filterset.form.fields
    fields["service"].widget = OneOfSelect(choices=[("", "Any"), *iter(fields["service"].choices)])
    page = paginate(request, filterset.qs)
    context = list_context(data, filterset, page)
    context["fresh_within"] = get_policy().security.scan_fresh_within
    return render(request, "security/asset_list.html", context)
