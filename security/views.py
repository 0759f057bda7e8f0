"""HTML pages of security operations: the dashboard, the findings list, the assets list, the alert queue."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from opsgov.listing import OneOfSelect, filter_data, list_context, paginate
from opsgov.models import Lifecycle, Service
from opsgov.policy import get_policy

from . import alerts
from .filters import AssetFilterSet, FindingFilterSet, SecurityAlertFilterSet
from .models import SEVERITY_ORDER, AlertStatus, Asset, Disposition, Finding, FindingStatus, Scan, SecurityAlert
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


# --- The security alert queue ------------------------------------------------------------------

#: What each button of the queue does (the same services as the API's actions).
ALERT_ACTIONS = ("acknowledge", "triage", "close")


def _alert_queue(request: HttpRequest, *, errors: list[str] | None = None, status: int = 200) -> HttpResponse:
    data = filter_data(request)
    if "status" not in data and not request.GET.get("all"):
        data.setlist("status", [AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, AlertStatus.TRIAGED])
    queryset = SecurityAlert.objects.select_related("service", "acknowledged_by", "closed_by").order_by(
        "-received_at", "-id"
    )
    filterset = SecurityAlertFilterSet(data, queryset=queryset)
    fields = filterset.form.fields
    fields["service"].widget = OneOfSelect(choices=[("", "Any"), *iter(fields["service"].choices)])
    page = paginate(request, filterset.qs)
    context = list_context(data, filterset, page)
    context["errors"] = errors or []
    context["dispositions"] = Disposition.choices
    context["services"] = Service.objects.filter(lifecycle=Lifecycle.ACTIVE).order_by("name").only("slug", "name")
    context["unacknowledged"] = SecurityAlert.objects.filter(status=AlertStatus.NEW).count()
    context["can_change"] = request.user.has_perm("security.change_securityalert")
    return render(request, "security/alert_list.html", context, status=status)


@permission_required("security.view_securityalert", raise_exception=True)
def alert_list_view(request: HttpRequest) -> HttpResponse:
    return _alert_queue(request)


@require_POST
@permission_required("security.change_securityalert", raise_exception=True)
def alert_action_view(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Acknowledge, triage (notes, service) or close (disposition, notes, service) one alert, as the API does."""
    if action not in ALERT_ACTIONS:
        raise Http404("No such action.")
    alert = get_object_or_404(SecurityAlert, pk=pk)
    notes = request.POST.get("notes", "")[:10_000]
    service: Service | None = None
    slug = request.POST.get("service", "").strip()
    try:
        if slug:
            service = Service.objects.filter(slug=slug).first()
            if service is None:
                raise ValidationError({"service": f"No service has the slug {slug!r}."})
        if action == "acknowledge":
            alerts.acknowledge(alert=alert, actor=request.user)
        elif action == "triage":
            alerts.triage(alert=alert, actor=request.user, notes=notes, service=service)
        else:
            alerts.close(
                alert=alert,
                actor=request.user,
                disposition=request.POST.get("disposition", ""),
                notes=notes,
                service=service,
            )
    except ValidationError as exc:
        messages_ = (
            [f"{field}: {message}" for field, items in exc.message_dict.items() for message in items]
            if hasattr(exc, "error_dict")
            else list(exc.messages)
        )
        return _alert_queue(request, errors=[f"Alert #{alert.pk}: {text}" for text in messages_], status=400)
    done = {"acknowledge": "acknowledged", "triage": "triaged", "close": "closed"}[action]
    messages.success(request, f"Alert #{alert.pk} {done}.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    return redirect(back or reverse("security:alert-list"), permanent=False)
