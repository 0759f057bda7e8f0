"""HTML pages of security operations: the dashboard, findings, assets, the alert queue, access reviews, training,
assessments."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from opsgov.admin_export import csv_response
from opsgov.listing import OneOfSelect, filter_data, list_context, page_context, paginate
from opsgov.models import Lifecycle, Service
from opsgov.policy import get_policy

from . import access_reviews, alerts, training
from .filters import AssetFilterSet, FindingFilterSet, SecurityAlertFilterSet
from .models import (
    SEVERITY_ORDER,
    AccessDecision,
    AccessReviewCampaign,
    AlertStatus,
    Assessment,
    Asset,
    CampaignStatus,
    Course,
    Disposition,
    Finding,
    FindingStatus,
    ReviewedAccount,
    Scan,
    SecurityAlert,
)
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


# --- Access reviews, training and assessments (security.access_reviews, .training, .assessments) ----------


def _errors(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{field}: {message}" for field, messages in exc.message_dict.items() for message in messages]
    return list(exc.messages)


class CampaignForm(forms.Form):
    title = forms.CharField(max_length=200)
    due_at = forms.DateTimeField(required=False, help_text="Default: the policy's security.access_review_due_within.")


class DecisionForm(forms.Form):
    row = forms.IntegerField()
    decision = forms.ChoiceField(choices=AccessDecision.choices)
    remove_entitlements = forms.CharField(
        required=False, help_text="For a change: entitlements to remove, ';' between."
    )
    comment = forms.CharField(required=False, max_length=2000)


#: Largest CSV file the pages accept (account lists, training exports).
MAX_CSV_UPLOAD = 10_000_000


class CsvForm(forms.Form):
    file = forms.FileField(required=False)
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))

    def csv_text(self) -> str:
        upload = self.cleaned_data.get("file")
        if upload is not None:
            if upload.size > MAX_CSV_UPLOAD:
                raise ValidationError({"file": [f"larger than {MAX_CSV_UPLOAD // 1_000_000} MB; split it"]})
            try:
                return str(upload.read().decode("utf-8"))
            except UnicodeDecodeError:
                raise ValidationError({"file": ["not UTF-8 text"]}) from None
        return str(self.cleaned_data.get("text") or "")


class CompletionForm(forms.Form):
    course = forms.SlugField()
    user = forms.CharField(help_text="Username or e-mail.")
    completed_at = forms.DateTimeField()
    note = forms.CharField(required=False, max_length=300)


@permission_required("security.view_accessreviewcampaign", raise_exception=True)
def access_review_list_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = CampaignForm()
    status = 200
    if request.method == "POST":
        if not request.user.has_perm("security.add_accessreviewcampaign"):
            raise PermissionDenied
        form = CampaignForm(request.POST)
        if form.is_valid():
            try:
                campaign = access_reviews.open_campaign(
                    title=form.cleaned_data["title"], due_at=form.cleaned_data["due_at"], actor=request.user
                )
            except ValidationError as exc:
                form.add_error(None, _errors(exc))
            else:
                messages.success(request, f"Campaign {campaign.title} opened.")
                return redirect("security:access-review-detail", campaign.pk)
        status = 400
    context = {
        "campaigns": access_reviews.campaigns().order_by("-opened_at", "-id")[:100],
        "last": access_reviews.last_completed(now),
        "next_due": access_reviews.next_due_at(now),
        "every": get_policy().security.access_review_every,
        "form": form,
        "can_open": request.user.has_perm("security.add_accessreviewcampaign"),
    }
    return render(request, "security/access_review_list.html", context, status=status)


def _campaign_page(
    request: HttpRequest, campaign: AccessReviewCampaign, *, errors: list[str] | None = None, status: int = 200
) -> HttpResponse:
    rows = campaign.accounts.select_related("decided_by", "user").order_by("decision", "system", "account")
    if request.GET.get("undecided") == "true":
        rows = rows.filter(decision="")
    counted = access_reviews.campaigns().get(pk=campaign.pk)
    context = page_context(request, paginate(request, rows)) | {
        "campaign": counted,
        "errors": errors or [],
        "decisions": AccessDecision.choices,
        "can_decide": campaign.status == CampaignStatus.OPEN
        and request.user.has_perm("security.change_reviewedaccount"),
        "can_import": campaign.status == CampaignStatus.OPEN and request.user.has_perm("security.add_reviewedaccount"),
        "can_close": campaign.status == CampaignStatus.OPEN
        and request.user.has_perm("security.change_accessreviewcampaign"),
        "csv_columns": ",".join(access_reviews.CSV_COLUMNS),
        "now": timezone.now(),
    }
    return render(request, "security/access_review_detail.html", context, status=status)


@permission_required("security.view_accessreviewcampaign", raise_exception=True)
def access_review_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(AccessReviewCampaign, pk=pk)
    if request.method != "POST":
        return _campaign_page(request, campaign)
    action = request.POST.get("action", "")
    try:
        if action == "decide":
            if not request.user.has_perm("security.change_reviewedaccount"):
                raise PermissionDenied
            decision = DecisionForm(request.POST)
            if not decision.is_valid():
                return _campaign_page(request, campaign, errors=_errors(ValidationError(decision.errors)), status=400)
            data = decision.cleaned_data
            row = get_object_or_404(ReviewedAccount, pk=data["row"], campaign=campaign)
            access_reviews.decide(
                row=row,
                decision=data["decision"],
                remove_entitlements=[part.strip() for part in data["remove_entitlements"].split(";")],
                comment=data["comment"],
                actor=request.user,
            )
            messages.success(request, f"{row.system}:{row.account}: {data['decision']}.")
        elif action == "import":
            if not request.user.has_perm("security.add_reviewedaccount"):
                raise PermissionDenied
            upload = CsvForm(request.POST, request.FILES)
            upload.is_valid()
            added = access_reviews.import_accounts(campaign=campaign, text=upload.csv_text())
            messages.success(request, f"{added} account(s) imported.")
        elif action == "close":
            if not request.user.has_perm("security.change_accessreviewcampaign"):
                raise PermissionDenied
            access_reviews.close_campaign(campaign=campaign, actor=request.user)
            messages.success(request, "Campaign closed; decisions about opsgov accounts applied.")
        else:
            return _campaign_page(request, campaign, errors=[f"action: unknown {action!r}"], status=400)
    except ValidationError as exc:
        return _campaign_page(request, campaign, errors=_errors(exc), status=400)
    return redirect("security:access-review-detail", campaign.pk)


@permission_required("security.view_accessreviewcampaign", raise_exception=True)
def access_review_report_view(request: HttpRequest, pk: int) -> HttpResponse | StreamingHttpResponse:
    """The auditors' report: HTML, or CSV with ?format=csv."""
    campaign = get_object_or_404(access_reviews.campaigns(), pk=pk)
    if request.GET.get("format") == "csv":
        return csv_response(
            f"access-review-{campaign.pk}.csv", access_reviews.REPORT_COLUMNS, access_reviews.report_rows(campaign)
        )
    context = {
        "campaign": campaign,
        "columns": access_reviews.REPORT_COLUMNS,
        "rows": list(access_reviews.report_rows(campaign)),
    }
    return render(request, "security/access_review_report.html", context)


@permission_required("security.view_trainingrecord", raise_exception=True)
def training_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        if not request.user.has_perm("security.add_trainingrecord"):
            raise PermissionDenied
        try:
            if request.POST.get("action") == "import":
                upload = CsvForm(request.POST, request.FILES)
                upload.is_valid()
                result = training.import_records(text=upload.csv_text(), actor=request.user)
                messages.success(request, f"{result.created} completion(s) recorded, {result.skipped} already known.")
                return redirect("security:training")
            form = CompletionForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form.errors)
            data = form.cleaned_data
            course = Course.objects.filter(slug=data["course"]).first()
            user = (
                get_user_model()
                .objects.filter(Q(username__iexact=data["user"]) | Q(email__iexact=data["user"]))
                .order_by("pk")
                .first()
            )
            if course is None or user is None:
                raise ValidationError({"course" if course is None else "user": ["not found"]})
            training.record_completion(
                course=course, user=user, completed_at=data["completed_at"], note=data["note"], actor=request.user
            )
            messages.success(request, f"{user.get_username()} completed {course.title}.")
            return redirect("security:training")
        except ValidationError as exc:
            errors, status = _errors(exc), 400
    courses = list(Course.objects.filter(active=True).order_by("title"))
    rows = training.assignments(now=now)
    tally: dict[int, list[int]] = {course.pk: [0, 0, 0] for course in courses}
    for row in rows:
        counts = tally.get(row.course.pk)
        if counts is not None:
            counts[0] += 1
            counts[1] += row.completed
            counts[2] += row.is_overdue(now)
    per_course = [
        {"course": course, "assigned": assigned, "completed": completed, "overdue": late_count}
        for course in courses
        for assigned, completed, late_count in [tally[course.pk]]
    ]
    total = training.Completion(
        assigned=len(rows),
        completed=sum(row.completed for row in rows),
        overdue=sum(row.is_overdue(now) for row in rows),
    )
    late = sorted((row for row in rows if row.is_overdue(now)), key=lambda row: (row.due_at, row.course.title))
    course_filter = request.GET.get("course", "")
    if course_filter:
        late = [row for row in late if row.course.slug == course_filter]
    context = {
        "courses": per_course,
        "total": total,
        "target": get_policy().security.training_target_percent,
        "overdue": late[:500],
        "errors": errors,
        "can_record": request.user.has_perm("security.add_trainingrecord"),
        "csv_columns": ",".join(training.CSV_COLUMNS),
    }
    return render(request, "security/training.html", context, status=status)


@permission_required("security.view_assessment", raise_exception=True)
def assessment_list_view(request: HttpRequest) -> HttpResponse:
    assessments = Assessment.objects.select_related("asset", "asset__service").annotate(
        findings=Count("items"),
        open_findings=Count("items", filter=Q(items__finding__status=FindingStatus.OPEN)),
    )
    page = paginate(request, assessments.order_by("-started_on", "-id"))
    return render(request, "security/assessment_list.html", page_context(request, page))


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
