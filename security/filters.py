"""FilterSets of the security lists: the same ones drive the API lists and the pages."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from opsgov.filters import BooleanFilter, FilterSet, IntegerFilter, SearchFilterSet
from opsgov.models import Service

from .models import (
    AccessDecision,
    AccessReviewCampaign,
    AlertSource,
    AlertStatus,
    Assessment,
    AssessmentFinding,
    AssessmentKind,
    Asset,
    AssetKind,
    CampaignStatus,
    CompletionSource,
    Component,
    Course,
    Finding,
    FindingSource,
    FindingStatus,
    ReviewedAccount,
    SecurityAlert,
    Severity,
    TrainingRecord,
)
from .selectors import valid_acceptances


@extend_schema_field({"type": "array", "items": {"type": "string"}, "description": "Service slug(s)"})
class ServiceSlugFilter(django_filters.ModelMultipleChoiceFilter):
    """`?service=checkout&service=auth`; an unknown slug is a 400 naming the field."""


def _service_filter(field_name: str) -> ServiceSlugFilter:
    return ServiceSlugFilter(
        field_name=field_name, to_field_name="slug", queryset=Service.objects.order_by("name"), label="Service"
    )


class FindingFilterSet(SearchFilterSet):
    """Findings: service, asset (name), severity, status, source, overdue, accepted, and `q` (id, alias, package)."""

    search_fields = ("vulnerability_id", "package_name", "title", "asset__name")
    service = _service_filter("asset__service__slug")
    asset = django_filters.CharFilter(field_name="asset__name", label="Asset (name)")
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    status = django_filters.MultipleChoiceFilter(choices=FindingStatus.choices)
    source = django_filters.ChoiceFilter(choices=FindingSource.choices)
    vulnerability = django_filters.CharFilter(field_name="vulnerability_id", label="Vulnerability id (canonical)")
    package = django_filters.CharFilter(field_name="package_name", lookup_expr="iexact", label="Package name")
    overdue = BooleanFilter(method="filter_overdue", label="Past SLA without a valid acceptance")
    accepted = BooleanFilter(method="filter_accepted", label="Covered by a valid risk acceptance")

    class Meta:
        model = Finding
        fields = ["service", "asset", "severity", "status", "source", "vulnerability", "package"]

    def filter_overdue(self, queryset: QuerySet[Finding], name: str, value: bool | None) -> QuerySet[Finding]:
        if value is None:
            return queryset
        now = timezone.now()
        covered = Exists(valid_acceptances(now).filter(finding=OuterRef("pk")))
        late = queryset.filter(status=FindingStatus.OPEN, due_at__lt=now).exclude(covered)
        return late if value else queryset.exclude(pk__in=late.values("pk"))

    def filter_accepted(self, queryset: QuerySet[Finding], name: str, value: bool | None) -> QuerySet[Finding]:
        if value is None:
            return queryset
        covered = Exists(valid_acceptances(timezone.now()).filter(finding=OuterRef("pk")))
        return queryset.filter(covered) if value else queryset.exclude(covered)


class AssetFilterSet(SearchFilterSet):
    search_fields = ("name", "description")
    service = _service_filter("service__slug")
    kind = django_filters.ChoiceFilter(choices=AssetKind.choices)

    class Meta:
        model = Asset
        fields = ["service", "kind"]


class ComponentFilterSet(SearchFilterSet):
    """The inventory search: `?name=django&version=4.2.10` answers "which assets (services) run it"."""

    search_fields = ("name", "purl")
    name = django_filters.CharFilter(field_name="name", lookup_expr="iexact")
    version = django_filters.CharFilter(field_name="version")
    ecosystem = django_filters.CharFilter(field_name="ecosystem")
    asset = django_filters.CharFilter(field_name="asset__name", label="Asset (name)")
    service = _service_filter("asset__service__slug")

    class Meta:
        model = Component
        fields = ["name", "version", "ecosystem", "asset", "service"]


class AccessReviewFilterSet(FilterSet):
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices)

    class Meta:
        model = AccessReviewCampaign
        fields = ["status"]


class ReviewedAccountFilterSet(SearchFilterSet):
    """Rows of campaigns: campaign, system, decision, ``undecided``, and ``q`` (account, person)."""

    search_fields = ("account", "person")
    campaign = IntegerFilter(field_name="campaign_id", label="Campaign (id)")
    system = django_filters.CharFilter(field_name="system")
    decision = django_filters.ChoiceFilter(choices=AccessDecision.choices)
    undecided = BooleanFilter(field_name="decision", method="filter_undecided", label="Not decided yet")

    class Meta:
        model = ReviewedAccount
        fields = ["campaign", "system", "decision"]

    def filter_undecided(
        self, queryset: QuerySet[ReviewedAccount], name: str, value: bool | None
    ) -> QuerySet[ReviewedAccount]:
        if value is None:
            return queryset
        return queryset.filter(decision="") if value else queryset.exclude(decision="")


class CourseFilterSet(SearchFilterSet):
    search_fields = ("slug", "title")
    audience = django_filters.CharFilter(field_name="audience")
    active = BooleanFilter(field_name="active")

    class Meta:
        model = Course
        fields = ["audience", "active"]


class TrainingRecordFilterSet(FilterSet):
    course = django_filters.CharFilter(field_name="course__slug", label="Course (slug)")
    user = django_filters.CharFilter(field_name="user__username", label="User (username)")
    source = django_filters.ChoiceFilter(choices=CompletionSource.choices)

    class Meta:
        model = TrainingRecord
        fields = ["course", "user", "source"]


class AssessmentFilterSet(SearchFilterSet):
    search_fields = ("title", "performed_by", "asset__name")
    kind = django_filters.ChoiceFilter(choices=AssessmentKind.choices)
    asset = django_filters.CharFilter(field_name="asset__name", label="Asset (name)")
    service = _service_filter("asset__service__slug")

    class Meta:
        model = Assessment
        fields = ["kind", "asset", "service"]


class AssessmentFindingFilterSet(FilterSet):
    assessment = IntegerFilter(field_name="assessment_id", label="Assessment (id)")
    status = django_filters.MultipleChoiceFilter(field_name="finding__status", choices=FindingStatus.choices)

    class Meta:
        model = AssessmentFinding
        fields = ["assessment", "status"]


class SecurityAlertFilterSet(SearchFilterSet):
    """The alert queue: status (default: not closed), severity, source, and `q` (title, rule, host)."""

    search_fields = ("title", "rule", "hostname")
    status = django_filters.MultipleChoiceFilter(choices=AlertStatus.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    source = django_filters.ChoiceFilter(choices=AlertSource.choices)
    service = _service_filter("service__slug")

    class Meta:
        model = SecurityAlert
        fields = ["status", "severity", "source", "service"]
