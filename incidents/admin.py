"""Admin for incidents (timeline read-only), integrations (token never shown) and raw events.

Evidence (incidents, raw events, reviews, action items) is never offered for deletion (opsgov.evidence).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from opsgov.evidence import EvidenceAdminMixin

from .ingest.selectors import unknown_routing_values
from .models import (
    ActionItem,
    DeadLetterNotice,
    EscalationLevel,
    EscalationPolicy,
    Incident,
    Integration,
    LayerMember,
    Notification,
    NotificationChannel,
    PostIncidentReview,
    RawEvent,
    ReviewRevision,
    ReviewStatus,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    ServiceEscalation,
    TimelineEvent,
)
from .reviews.services import ACTION_ITEM_CONTENT, EDITABLE_FIELDS, record_action_item_change, review_update


class TimelineInline(admin.TabularInline):
    model = TimelineEvent
    extra = 0
    can_delete = False
    fields = ["at", "kind", "actor", "message"]
    readonly_fields = ["at", "kind", "actor", "message"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "service", "severity", "status", "triggered_at", "acknowledged_at", "resolved_at"]
    list_filter = ["status", "severity", "service", "customer_impact", "during_maintenance"]
    search_fields = ["title", "summary", "dedup_key"]
    date_hierarchy = "triggered_at"
    list_select_related = ["service"]
    raw_id_fields = ["commander", "integration"]
    filter_horizontal = ["impacted_services"]
    inlines = [TimelineInline]
    # Status and its instants change only through the lifecycle (API, UI), which validates and logs them.
    readonly_fields = [
        "uuid",
        "status",
        "triggered_at",
        "acknowledged_at",
        "mitigated_at",
        "resolved_at",
        "cancelled_at",
        "integration",
        "dedup_key",
        "reopen_count",
        "during_maintenance",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "service", "routing_label", "enabled", "token_prefix", "auto_resolve", "updated_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["uuid", "token_prefix", "unknown_routing_values"]

    @admin.display(description="Unknown routing values (7 days)")
    def unknown_routing_values(self, obj: Integration) -> str:
        values = unknown_routing_values(obj) if obj.pk else []
        return ", ".join(f"{item.value} ({item.count})" for item in values) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token is shown once at creation: use `manage.py create_integration` or the API.
        return False


@admin.register(RawEvent)
class RawEventAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    list_display = [
        "received_at",
        "integration",
        "action",
        "dedup_key",
        "processed_at",
        "dead_lettered_at",
        "attempts",
        "incident",
    ]
    list_filter = ["action", "integration"]
    search_fields = ["dedup_key"]
    date_hierarchy = "received_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LayerMemberInline(admin.TabularInline):
    model = LayerMember
    extra = 0
    raw_id_fields = ["user"]


class ScheduleLayerInline(admin.StackedInline):
    model = ScheduleLayer
    extra = 0
    show_change_link = True


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "team"]
    search_fields = ["name", "slug"]
    inlines = [ScheduleLayerInline]


@admin.register(ScheduleLayer)
class ScheduleLayerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "rotation_kind", "priority", "rotation_start", "ends_at"]
    list_filter = ["rotation_kind", "schedule"]
    inlines = [LayerMemberInline]


@admin.register(ScheduleOverride)
class ScheduleOverrideAdmin(admin.ModelAdmin):
    list_display = ["schedule", "user", "starts_at", "ends_at", "reason"]
    list_filter = ["schedule"]
    raw_id_fields = ["user"]


class EscalationLevelInline(admin.TabularInline):
    model = EscalationLevel
    extra = 0
    filter_horizontal = ["users"]


class ServiceEscalationInline(admin.TabularInline):
    model = ServiceEscalation
    extra = 0


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    inlines = [EscalationLevelInline, ServiceEscalationInline]


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "enabled"]
    list_filter = ["kind", "enabled"]
    raw_id_fields = ["user"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "incident", "kind", "destination", "status", "attempts", "response_status"]
    # The outbox's columns (opsgov.models.OutboxMessage) in the order the page always showed them.
    fields = [
        *("incident", "kind", "recipient", "channel", "destination", "level", "reason", "status", "attempts"),
        *("next_attempt_at", "response_status", "last_error", "sent_at"),
    ]
    list_filter = ["kind", "status"]
    raw_id_fields = ["incident", "recipient", "channel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DeadLetterNotice)
class DeadLetterNoticeAdmin(admin.ModelAdmin):
    """The owners' e-mails about dead letters (incidents.ingest.dead_letters): read-only, as the outbox left them."""

    list_display = ["created_at", "integration", "events", "status", "attempts", "sent_at"]
    fields = [
        *("integration", "events", "recipients", "subject", "body"),
        *("status", "attempts", "next_attempt_at", "sent_at", "last_error"),
    ]
    list_filter = ["status"]
    raw_id_fields = ["integration"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _published(obj: Any) -> bool:
    return isinstance(obj, PostIncidentReview) and obj.status == ReviewStatus.PUBLISHED


class ActionItemInline(admin.TabularInline):
    """The review's action items; read-only under a published review (work them from the backlog)."""

    model = ActionItem
    extra = 0
    fields = ["title", "owner", "due_date", "priority", "status"]
    raw_id_fields = ["owner"]
    can_delete = False  # evidence (opsgov.evidence): close as won't do instead

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # evidence (opsgov.evidence): close as won't do instead


REVISION_FIELDS: tuple[str, ...] = (
    "number",
    "status",
    "reason",
    "author",
    "approved_by",
    "approved_at",
    "published_at",
    *EDITABLE_FIELDS,
)


class ReviewRevisionInline(admin.StackedInline):
    """The review's revisions: every published one and a correction under way. Read-only here."""

    model = ReviewRevision
    extra = 0
    can_delete = False
    fields = REVISION_FIELDS
    readonly_fields = REVISION_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PostIncidentReview)
class PostIncidentReviewAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    """Reviews in the admin: the text of an unpublished review only, through the workflow's service.

    A published review is read-only here as everywhere (no save button; a POST is
    refused): a correction is a new revision started from the review page or the
    API. Changes of text go through ``incidents.reviews.services.review_update`` so the
    editor is on the four-eyes record and cannot approve that revision.
    """

    list_display = ["__str__", "status", "revision", "due_at", "approved_by", "published_at"]
    list_filter = ["status"]
    # Who, which incident, approval and publication belong to the review workflow, which records who and when.
    readonly_fields = [
        "incident",
        "author",
        "status",
        "revision",
        "submitted_at",
        "approved_by",
        "approved_at",
        "published_at",
    ]
    inlines = [ActionItemInline, ReviewRevisionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Reviews start from their incident (page or API), which sets the author and due date.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _published(obj) and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        sections = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE_FIELDS}
        other = [name for name in form.changed_data if name not in EDITABLE_FIELDS]
        if other:  # the due date: not text, saved as it is (the audit log keeps the change)
            obj.save(update_fields=[*other, "updated_at"])
        if sections:
            review_update(review=obj, data=sections, actor=request.user)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is ActionItem and (formset.new_objects or formset.changed_objects or formset.deleted_objects):
            record_action_item_change(review_id=form.instance.pk, actor=request.user)


@admin.register(ActionItem)
class ActionItemAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    list_display = ["title", "owner", "due_date", "priority", "status", "closed_at"]
    list_filter = ["status", "priority"]
    search_fields = ["title", "description"]
    raw_id_fields = ["review", "incident", "owner"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "review" in form.changed_data or set(form.changed_data) & set(ACTION_ITEM_CONTENT):
            # What a review's item says is part of the review for four eyes (incidents.reviews.services).
            record_action_item_change(review_id=obj.review_id, actor=request.user)
