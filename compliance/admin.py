"""The compliance officer's workplace: frameworks, controls and their evidence, audits, findings, exceptions.

Every list has filters, search and (where dated) a date hierarchy; controls, audits and findings show
their parts inline. Writes go through compliance.services (four eyes, SLA, expiry), so the admin and
the API follow the same rules. Nothing here can be deleted, by anyone: retire a control, revoke an
exception, close a finding. Who may change what is the role's model permissions (opsgov.roles: the
Compliance Officer changes compliance records and reads the rest).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from opsgov.admin_export import CsvExportMixin
from opsgov.evidence import EvidenceAdminMixin
from opsgov.evidence_providers import providers

from . import builtin, oscal, regulatory, services
from .importers import ImportProblem, import_document
from .models import (
    Audit,
    ChangeStatus,
    ComplianceException,
    Control,
    EvidenceBinding,
    EvidenceFile,
    Finding,
    FindingStatus,
    Framework,
    RegulatoryChange,
    RegulatoryTask,
    RemediationStep,
    Requirement,
    TestResult,
)
from .package import audit_package
from .pdf import status_pdf_response
from .reports import status_csv, status_html
from .selectors import audit_controls, calendar, control_evidence, external_audits


class ComplianceAdmin(CsvExportMixin, EvidenceAdminMixin, admin.ModelAdmin):
    """No delete for anyone; "Export selected as CSV" on every list.

    External auditors (users named on an audit, without a role, until the audit's
    `access_expires_at`) read only what `guest_scope` gives them: their audits, and the controls,
    evidence files and findings in those audits' scope; nothing once their access expired.
    """

    actions = ["export_csv"]

    def guest_scope(self, queryset: QuerySet[Any], audits: QuerySet[Audit]) -> QuerySet[Any] | None:
        """What an external auditor of `audits` may read of this model (None: nothing)."""
        return None

    def _guest_audits(self, request: HttpRequest) -> QuerySet[Audit] | None:
        user = request.user
        opts = self.model._meta
        if not user.is_active or user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            return None
        audits = external_audits(user, now=timezone.now())
        return audits if audits.exists() else None

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if super().has_view_permission(request, obj):
            return True
        audits = self._guest_audits(request)
        if audits is None or self.guest_scope(self.model._default_manager.all(), audits) is None:
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or self.has_view_permission(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        audits = self._guest_audits(request)
        if audits is None:
            return queryset
        scoped = self.guest_scope(queryset, audits)
        return scoped if scoped is not None else queryset.none()


# --- Frameworks ---------------------------------------------------------------------------


class RequirementInline(admin.TabularInline):
    model = Requirement
    fields = ("ref_id", "title", "assessable", "depth", "parent")
    readonly_fields = ("ref_id", "title", "assessable", "depth", "parent")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ResultsImportForm(forms.Form):
    document = forms.FileField(help_text="An OSCAL 1.1 assessment-results document (.json).")
    audit = forms.ModelChoiceField(queryset=Audit.objects.all(), required=False, help_text="Optional.")


class ImportForm(forms.Form):
    document = forms.FileField(help_text="An OSCAL catalog (.json) or a requirement library (.yaml).")
    slug = forms.SlugField(required=False, help_text="Optional; derived from the document's title otherwise.")


@admin.register(Framework)
class FrameworkAdmin(ComplianceAdmin):
    list_display = ["title", "slug", "version", "source", "is_active", "created_at"]
    list_filter = ["source", "is_active"]
    search_fields = ["title", "slug", "source_uuid"]
    date_hierarchy = "created_at"
    readonly_fields = ["slug", "version", "source", "source_uuid", "document_sha256", "status_links"]
    fields = ["title", "slug", "version", "source", "source_uuid", "document_sha256", "is_active", "status_links"]
    inlines = [RequirementInline]
    change_list_template = "admin/compliance/framework/change_list.html"
    actions = ["export_csv", "install_builtin"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # frameworks are imported (or installed), never typed in

    def get_urls(self) -> list[Any]:
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="compliance_framework_import"),
            path(
                "<int:pk>/status.<str:fmt>",
                self.admin_site.admin_view(self.status_view),
                name="compliance_framework_status",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Status report")
    def status_links(self, obj: Framework) -> str:
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">HTML</a> · <a href="{}">CSV</a> · <a href="{}">PDF</a>',
            reverse("admin:compliance_framework_status", args=[obj.pk, "html"]),
            reverse("admin:compliance_framework_status", args=[obj.pk, "csv"]),
            reverse("admin:compliance_framework_status", args=[obj.pk, "pdf"]),
        )

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("compliance.add_requirement"):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["document"]
            try:
                result = import_document(upload.read(), filename=upload.name, slug=form.cleaned_data["slug"] or "")
            except ImportProblem as problem:
                for message in problem.message_dict["document"]:
                    form.add_error("document", message)
            else:
                verb = "Imported" if result.created else "Already imported, nothing changed:"
                self.message_user(
                    request, f"{verb} {result.framework} ({result.requirements} requirements).", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:compliance_framework_change", args=[result.framework.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Import a framework",
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/compliance/framework/import.html", context)

    def status_view(self, request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        framework = get_object_or_404(Framework, pk=pk)
        if fmt == "csv":
            return status_csv(framework)
        if fmt == "html":
            return status_html(request, framework)
        if fmt == "pdf":
            return status_pdf_response(framework)
        raise PermissionDenied

    @admin.action(description="Install the built-in opsgov framework (bound to the gates)", permissions=["change"])
    def install_builtin(self, request: HttpRequest, queryset: QuerySet[Framework]) -> None:
        result = builtin.install_builtin(bind_gates=True)
        self.message_user(request, f"{result.framework}: {'installed' if result.created else 'already installed'}.")


@admin.register(Requirement)
class RequirementAdmin(ComplianceAdmin):
    list_display = ["ref_id", "title", "framework", "assessable", "depth"]
    list_filter = ["framework", "assessable"]
    search_fields = ["ref_id", "title", "urn", "description"]
    list_select_related = ["framework"]
    readonly_fields = ["framework", "parent", "ref_id", "urn", "depth", "position"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- Controls and evidence ----------------------------------------------------------------


class BindingForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=())

    class Meta:
        model = EvidenceBinding
        fields = ["provider", "scope", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = providers.choices()  # type: ignore[attr-defined]
        self.fields["scope"].help_text = " | ".join(
            f"{provider.key}: {provider.scope_help}" for provider in providers.all() if provider.scope_help
        )


class EvidenceBindingInline(admin.TabularInline):
    model = EvidenceBinding
    form = BindingForm
    extra = 1
    verbose_name = "live evidence binding"


class EvidenceFileInline(admin.TabularInline):
    model = EvidenceFile
    fields = ("title", "revision", "effective_date", "expires_on", "state", "sha256")
    readonly_fields = ("title", "revision", "effective_date", "expires_on", "state", "sha256")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Control)
class ControlAdmin(ComplianceAdmin):
    list_display = ["ref_id", "title", "owner", "test_frequency", "status", "is_key"]
    list_filter = ["status", "test_frequency", "is_key", "requirements__framework"]
    search_fields = ["ref_id", "title", "description"]
    date_hierarchy = "created_at"
    filter_horizontal = ["requirements", "services"]
    readonly_fields = ["live_evidence"]
    inlines = [EvidenceBindingInline, EvidenceFileInline]
    list_select_related = ["owner"]

    def guest_scope(self, queryset: QuerySet[Any], audits: QuerySet[Audit]) -> QuerySet[Any] | None:
        return queryset.filter(pk__in=audit_controls(audits).values("pk"))

    def get_urls(self) -> list[Any]:
        return [
            path("calendar/", self.admin_site.admin_view(self.calendar_view), name="compliance_control_calendar"),
            *super().get_urls(),
        ]

    def calendar_view(self, request: HttpRequest) -> HttpResponse:
        """The audit calendar of the controls this user may see (an external auditor: the audit's scope)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        entries = calendar(self.get_queryset(request).select_related("owner"), now=timezone.now())
        context = {
            **self.admin_site.each_context(request),
            "title": "Audit calendar",
            "entries": entries,
            "overdue": sum(1 for entry in entries if entry.state == "overdue"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/compliance/control/calendar.html", context)

    @admin.display(description="Evidence now")
    def live_evidence(self, obj: Control) -> str:
        if obj.pk is None:
            return "-"
        [item] = control_evidence([obj], now=timezone.now())
        rows = [
            (
                binding.provider,
                binding.scope or "(any)",
                str(reading.freshness),
                reading.record.label if reading.record else "no record",
                f"{reading.record.recorded_at:%Y-%m-%d %H:%M} UTC" if reading.record else "",
                reading.record.url if reading.record else "#",
            )
            for binding, reading in item.readings
        ]
        rows += [
            ("file", row.original_name, "current", row.title, f"effective {row.effective_date}", "#")
            for row in item.files
        ]
        if not rows:
            return "No evidence bound or approved."
        header = format_html("<p><strong>{}</strong></p>", "Current" if item.is_current else "Not current")
        body = format_html_join(
            "",
            '<li class="evidence-{}"><code>{}</code> {} — <strong>{}</strong>: <a href="{}">{}</a> {}</li>',
            ((state, key, scope, state, url, label, when) for key, scope, state, label, when, url in rows),
        )
        return format_html("{}<ul>{}</ul>", header, body)


class EvidenceUploadForm(forms.ModelForm):
    upload = forms.FileField(label="File")

    class Meta:
        model = EvidenceFile
        fields = ["control", "title", "effective_date", "expires_on", "previous"]


@admin.register(EvidenceFile)
class EvidenceFileAdmin(ComplianceAdmin):
    list_display = [
        "title",
        "control",
        "revision",
        "effective_date",
        "expires_on",
        "state",
        "uploaded_by",
        "created_at",
    ]
    list_filter = ["state", "control", "effective_date"]
    search_fields = ["title", "original_name", "sha256", "control__ref_id"]
    date_hierarchy = "effective_date"
    list_select_related = ["control", "uploaded_by"]
    actions = ["export_csv", "submit_for_review", "approve", "reject"]
    readonly_fields = [
        "sha256",
        "size",
        "original_name",
        "state",
        "revision",
        "uploaded_by",
        "reviewed_by",
        "reviewed_at",
    ]

    def guest_scope(self, queryset: QuerySet[Any], audits: QuerySet[Audit]) -> QuerySet[Any] | None:
        return queryset.filter(control__in=audit_controls(audits).values("pk"))

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = EvidenceUploadForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["control", "title", "upload", "effective_date", "expires_on", "previous"]
        return ["control", "title", "effective_date", "expires_on", "review_note", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return ["control", "effective_date", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: EvidenceFile, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        try:
            saved = services.evidence_upload(
                control=form.cleaned_data["control"],
                upload=form.cleaned_data["upload"],
                title=form.cleaned_data["title"],
                effective_date=form.cleaned_data["effective_date"],
                expires_on=form.cleaned_data.get("expires_on"),
                previous=form.cleaned_data.get("previous"),
                uploaded_by=request.user,
            )
        except ValidationError as error:
            raise PermissionDenied("; ".join(error.messages)) from error
        obj.pk = saved.pk
        obj._state.adding = False

    def _each(self, request: HttpRequest, queryset: QuerySet[EvidenceFile], action: Any, done: str) -> None:
        count = 0
        for evidence in queryset:
            try:
                action(evidence)
                count += 1
            except (ValidationError, PermissionDenied) as error:
                self.message_user(
                    request, f"{evidence}: {'; '.join(getattr(error, 'messages', [str(error)]))}", messages.ERROR
                )
        if count:
            self.message_user(request, f"{count} file(s) {done}.", messages.SUCCESS)

    @admin.action(description="Submit selected files for review", permissions=["change"])
    def submit_for_review(self, request: HttpRequest, queryset: QuerySet[EvidenceFile]) -> None:
        self._each(request, queryset, lambda ev: services.evidence_submit(evidence=ev, actor=request.user), "submitted")

    @admin.action(description="Approve selected evidence (not your own uploads)", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[EvidenceFile]) -> None:
        self._each(
            request,
            queryset,
            lambda ev: services.evidence_review(evidence=ev, actor=request.user, approve=True),
            "approved",
        )

    @admin.action(description="Reject selected evidence", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[EvidenceFile]) -> None:
        self._each(
            request,
            queryset,
            lambda ev: services.evidence_review(evidence=ev, actor=request.user, approve=False),
            "rejected",
        )


# --- Audits and findings --------------------------------------------------------------------


class TestResultInline(admin.TabularInline):
    model = TestResult
    fields = ["control", "method", "sample", "result", "notes", "tested_by", "tested_at"]
    readonly_fields = ["tested_by", "tested_at"]
    extra = 1
    can_delete = False


class FindingInline(admin.TabularInline):
    model = Finding
    fields = ["title", "severity", "control", "owner", "status", "due_at"]
    readonly_fields = ["status", "due_at"]
    extra = 1
    can_delete = False
    show_change_link = True


@admin.register(Audit)
class AuditAdmin(ComplianceAdmin):
    list_display = ["title", "kind", "framework", "period_start", "period_end", "lead_auditor", "status"]
    list_filter = ["kind", "status", "framework"]
    search_fields = ["title"]
    date_hierarchy = "period_end"
    filter_horizontal = ["requirements", "services", "external_auditors"]
    inlines = [TestResultInline, FindingInline]
    readonly_fields = ["completed_at", "exports"]
    actions = ["export_csv", "export_package", "export_oscal", "complete"]

    def guest_scope(self, queryset: QuerySet[Any], audits: QuerySet[Audit]) -> QuerySet[Any] | None:
        return queryset.filter(pk__in=audits.values("pk"))

    @admin.display(description="Exports")
    def exports(self, obj: Audit) -> str:
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Evidence package (ZIP)</a> · <a href="{}">OSCAL assessment results</a>',
            reverse("admin:compliance_audit_package", args=[obj.pk]),
            reverse("admin:compliance_audit_oscal", args=[obj.pk]),
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/package.zip", self.admin_site.admin_view(self.package_view), name="compliance_audit_package"
            ),
            path("<int:pk>/oscal.json", self.admin_site.admin_view(self.oscal_view), name="compliance_audit_oscal"),
            *super().get_urls(),
        ]

    def _package(self, audit: Audit) -> StreamingHttpResponse:
        response = StreamingHttpResponse(audit_package(audit), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="evidence-package-audit-{audit.pk}.zip"'
        return response

    def package_view(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self._package(get_object_or_404(self.get_queryset(request), pk=pk))

    def oscal_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        audit = get_object_or_404(self.get_queryset(request), pk=pk)
        response = HttpResponse(oscal.export_json(audit), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="assessment-results-audit-{pk}.json"'
        return response

    @admin.action(description="Export the evidence package (ZIP) of the selected audit")
    def export_package(self, request: HttpRequest, queryset: QuerySet[Audit]) -> StreamingHttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one audit.", messages.WARNING)
            return None
        return self._package(queryset.get())

    @admin.action(description="Export OSCAL assessment results of the selected audit")
    def export_oscal(self, request: HttpRequest, queryset: QuerySet[Audit]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one audit.", messages.WARNING)
            return None
        return self.oscal_view(request, queryset.get().pk)

    @admin.action(description="Mark selected audits completed", permissions=["change"])
    def complete(self, request: HttpRequest, queryset: QuerySet[Audit]) -> None:
        for audit in queryset:
            services.audit_complete(audit=audit)
        self.message_user(request, "Audits completed.", messages.SUCCESS)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, TestResult):
                services.test_result_record(
                    audit=form.instance,
                    control=instance.control,
                    method=instance.method,
                    result=instance.result,
                    sample=instance.sample,
                    notes=instance.notes,
                    tested_by=request.user,
                )
            elif isinstance(instance, Finding) and instance.pk is None:
                services.finding_record(
                    title=instance.title,
                    severity=instance.severity,
                    audit=form.instance,
                    control=instance.control,
                    owner=instance.owner,
                )
            else:
                instance.save()
        formset.save_m2m()


class RemediationStepInline(admin.TabularInline):
    model = RemediationStep
    fields = ["description", "owner", "due_on", "done_at"]
    extra = 1
    can_delete = False


class FindingForm(forms.ModelForm):
    class Meta:
        model = Finding
        fields = ["audit", "control", "title", "description", "severity", "owner"]


@admin.register(Finding)
class FindingAdmin(ComplianceAdmin):
    list_display = ["title", "severity", "status", "owner", "due_at", "audit", "escalated_at"]
    list_filter = ["severity", "status", "audit"]
    search_fields = ["title", "description"]
    date_hierarchy = "due_at"
    inlines = [RemediationStepInline]
    list_select_related = ["owner", "audit"]
    autocomplete_fields = ["control"]
    readonly_fields = [
        "status",
        "identified_at",
        "due_at",
        "remediated_by",
        "remediated_at",
        "verified_by",
        "verified_at",
        "closed_at",
        "escalated_at",
        "oscal_uuid",
    ]
    actions = [
        "export_csv",
        *[f"to_{status}" for status in ("planned", "in_progress", "remediated", "verified", "closed")],
    ]

    def guest_scope(self, queryset: QuerySet[Any], audits: QuerySet[Audit]) -> QuerySet[Any] | None:
        return queryset.filter(audit__in=audits.values("pk"))

    def get_urls(self) -> list[Any]:
        return [
            path(
                "import-oscal/",
                self.admin_site.admin_view(self.import_oscal_view),
                name="compliance_finding_import_oscal",
            ),
            *super().get_urls(),
        ]

    def import_oscal_view(self, request: HttpRequest) -> HttpResponse:
        """Upload OSCAL assessment results: validated by trestle (a problem names its path in the document,
        nothing is imported), then each not-satisfied finding becomes a finding, once per OSCAL uuid."""
        if not request.user.has_perm("compliance.add_finding"):
            raise PermissionDenied
        form = ResultsImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = oscal.import_assessment_results(
                    form.cleaned_data["document"].read(), audit=form.cleaned_data["audit"]
                )
            except ImportProblem as problem:
                for message in problem.message_dict["document"]:
                    form.add_error("document", message)
            else:
                self.message_user(
                    request,
                    f"Imported {len(result.created)} finding(s); {result.unchanged} imported before, unchanged.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:compliance_finding_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Import OSCAL assessment results",
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/compliance/finding/import_oscal.html", context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = FindingForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Finding, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        saved = services.finding_record(
            title=obj.title,
            severity=obj.severity,
            audit=obj.audit,
            control=obj.control,
            description=obj.description,
            owner=obj.owner,
        )
        obj.pk = saved.pk
        obj._state.adding = False

    def _advance(self, request: HttpRequest, queryset: QuerySet[Finding], to: str) -> None:
        for finding in queryset:
            try:
                services.finding_advance(finding=finding, to=to, actor=request.user)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(
                    request, f"{finding}: {'; '.join(getattr(error, 'messages', [str(error)]))}", messages.ERROR
                )
            else:
                self.message_user(request, f"{finding}: {FindingStatus(to).label.lower()}.", messages.SUCCESS)

    @admin.action(description="Remediation planned", permissions=["change"])
    def to_planned(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._advance(request, queryset, FindingStatus.PLANNED)

    @admin.action(description="Remediation in progress", permissions=["change"])
    def to_in_progress(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._advance(request, queryset, FindingStatus.IN_PROGRESS)

    @admin.action(description="Remediated (by me)", permissions=["change"])
    def to_remediated(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._advance(request, queryset, FindingStatus.REMEDIATED)

    @admin.action(description="Verify remediation (someone else remediated)", permissions=["change"])
    def to_verified(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._advance(request, queryset, FindingStatus.VERIFIED)

    @admin.action(description="Close", permissions=["change"])
    def to_closed(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._advance(request, queryset, FindingStatus.CLOSED)


class ExceptionForm(forms.ModelForm):
    class Meta:
        model = ComplianceException
        fields = [
            "title",
            "control",
            "requirement",
            "service",
            "reason",
            "compensating_control",
            "approver",
            "expires_at",
        ]
        labels = {"reason": "Justification"}

    def __init__(self, *args: Any, request_user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_user = request_user

    def _post_clean(self) -> None:
        """The request is validated and written by compliance.services.exception_request in clean()."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            self.instance = services.exception_request(
                title=data.get("title", ""),
                justification=data.get("reason", ""),
                compensating_control=data.get("compensating_control", ""),
                approver=data.get("approver"),
                expires_at=data.get("expires_at"),  # type: ignore[arg-type]
                requested_by=self.request_user,
                control=data.get("control"),
                requirement=data.get("requirement"),
                service=data.get("service"),
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                self.add_error(field if field in self.fields else None, problems)
        return data


@admin.register(ComplianceException)
class ComplianceExceptionAdmin(ComplianceAdmin):
    list_display = [
        "title",
        "control",
        "requirement",
        "service",
        "approver",
        "approver_role",
        "approved_at",
        "expires_at",
        "state_now",
    ]
    list_filter = ["approver_role", "approved_at", "expires_at", "revoked_at"]
    search_fields = ["title", "reason", "compensating_control"]
    date_hierarchy = "expires_at"
    list_select_related = ["control", "requirement", "service", "approver"]
    actions = ["export_csv", "approve", "revoke"]

    @admin.display(description="State")
    def state_now(self, obj: ComplianceException) -> str:
        return obj.state.label

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [field.name for field in ComplianceException._meta.fields]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is not None:
            return super().get_form(request, obj, change, **kwargs)
        kwargs["form"] = ExceptionForm
        form_class = super().get_form(request, obj, change, **kwargs)

        class WithUser(form_class):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **inner: Any) -> None:
                super().__init__(*args, request_user=request.user, **inner)

        return WithUser

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        if change:
            return  # read-only once requested: approve or revoke instead
        # Saved by services.exception_request in the form's clean().

    @admin.action(description="Approve selected exceptions (you must be the named approver)", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[ComplianceException]) -> None:
        for exception in queryset:
            try:
                services.exception_approve(exception=exception, actor=request.user)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(
                    request, f"{exception}: {'; '.join(getattr(error, 'messages', [str(error)]))}", messages.ERROR
                )
            else:
                self.message_user(request, f"{exception}: approved.", messages.SUCCESS)

    @admin.action(description="Revoke selected exceptions", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ComplianceException]) -> None:
        for exception in queryset:
            try:
                services.exception_revoke(exception=exception, actor=request.user)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(
                    request, f"{exception}: {'; '.join(getattr(error, 'messages', [str(error)]))}", messages.ERROR
                )


# --- Regulatory changes ----------------------------------------------------------------------


class RegulatoryTaskInline(admin.TabularInline):
    model = RegulatoryTask
    fields = ["description", "owner", "due_on", "done_at", "reminded_at"]
    readonly_fields = ["reminded_at"]
    extra = 1
    can_delete = False


@admin.register(RegulatoryChange)
class RegulatoryChangeAdmin(ComplianceAdmin):
    list_display = ["title", "source", "effective_date", "status", "open_tasks", "overdue_tasks"]
    list_filter = ["status", "effective_date"]
    search_fields = ["title", "source", "summary", "impact_assessment"]
    date_hierarchy = "effective_date"
    filter_horizontal = ["affected_controls"]
    inlines = [RegulatoryTaskInline]
    actions = ["export_csv", "mark_implemented", "mark_not_applicable"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).annotate(**regulatory.task_counts(timezone.now().date()))

    @admin.display(description="Open tasks", ordering="open_tasks")
    def open_tasks(self, obj: Any) -> int:
        return int(getattr(obj, "open_tasks", 0))

    @admin.display(description="Overdue tasks", ordering="overdue_tasks")
    def overdue_tasks(self, obj: Any) -> int:
        return int(getattr(obj, "overdue_tasks", 0))

    def _move(self, request: HttpRequest, queryset: QuerySet[RegulatoryChange], to: str) -> None:
        for change in queryset:
            try:
                regulatory.change_set_status(change=change, status=to, actor=request.user)
            except ValidationError as error:
                self.message_user(request, f"{change}: {'; '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{change}: {ChangeStatus(to).label.lower()}.", messages.SUCCESS)

    @admin.action(description="Mark implemented (every task done)", permissions=["change"])
    def mark_implemented(self, request: HttpRequest, queryset: QuerySet[RegulatoryChange]) -> None:
        self._move(request, queryset, ChangeStatus.IMPLEMENTED)

    @admin.action(description="Mark not applicable", permissions=["change"])
    def mark_not_applicable(self, request: HttpRequest, queryset: QuerySet[RegulatoryChange]) -> None:
        self._move(request, queryset, ChangeStatus.NOT_APPLICABLE)
