"""Admin of support: records read-only (changes go through the pages and the API, which validate and log),
each list exportable as CSV; knowledge-base articles and categories are edited here."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from opsgov.evidence import EvidenceAdminMixin

from .models import (
    Article,
    ArticleCategory,
    Contact,
    CsatSurvey,
    FollowUp,
    InboundMessage,
    NpsCampaign,
    NpsResponse,
    OutgoingEmail,
    SlaBreach,
    Ticket,
    TicketEvent,
)


class _Echo:
    def write(self, value: str) -> str:
        return value


class ReadOnlyCsvAdmin(EvidenceAdminMixin, admin.ModelAdmin):
    """Read-only, with the selected rows exportable as CSV (the columns of list_display)."""

    actions = ["export_csv"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> StreamingHttpResponse:
        columns = [c for c in self.list_display if isinstance(c, str)]

        def rows() -> Iterator[list[str]]:
            yield columns
            for obj in queryset.iterator():
                yield [str(getattr(obj, c)() if callable(getattr(obj, c)) else getattr(obj, c)) for c in columns]

        writer = csv.writer(_Echo())
        response = StreamingHttpResponse((writer.writerow(row) for row in rows()), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{self.model._meta.model_name}.csv"'
        return response


class TicketEventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    can_delete = False
    readonly_fields = fields = ("at", "kind", "actor", "message")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Ticket)
class TicketAdmin(ReadOnlyCsvAdmin):
    list_display = [
        "public_id",
        "subject",
        "priority",
        "status",
        "channel",
        "requester",
        "assignee",
        "opened_at",
        "first_response_at",
        "resolved_at",
        "response_breached",
        "resolution_breached",
    ]
    list_filter = ["status", "priority", "channel", "response_breached", "resolution_breached"]
    search_fields = ["subject", "requester__email"]
    date_hierarchy = "opened_at"
    list_select_related = ["requester", "assignee"]
    inlines = [TicketEventInline]


@admin.register(Contact)
class ContactAdmin(ReadOnlyCsvAdmin):
    list_display = ["email", "name", "organisation", "bounced_at", "last_nps_survey_at"]
    search_fields = ["email", "name", "organisation"]


@admin.register(SlaBreach)
class SlaBreachAdmin(ReadOnlyCsvAdmin):
    list_display = ["ticket", "clock", "due_at", "breached_at", "notified_to"]
    list_filter = ["clock"]


@admin.register(CsatSurvey)
class CsatSurveyAdmin(ReadOnlyCsvAdmin):
    list_display = ["ticket", "priority", "agent", "team", "service", "sent_at", "rating", "answered_at"]
    list_filter = ["rating", "priority"]


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyCsvAdmin):
    list_display = ["ticket", "team", "reason", "done_at", "created_at"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyCsvAdmin):
    list_display = ["message_id", "received_at", "sender", "subject", "outcome", "ticket", "detail"]
    list_filter = ["outcome"]
    search_fields = ["message_id", "sender", "subject"]


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(ReadOnlyCsvAdmin):
    list_display = ["kind", "to", "subject", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["kind", "status"]


@admin.register(NpsCampaign)
class NpsCampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "sent_at", "created_at"]


@admin.register(NpsResponse)
class NpsResponseAdmin(ReadOnlyCsvAdmin):
    list_display = ["campaign", "contact", "sent_at", "score", "answered_at", "categories"]


@admin.register(ArticleCategory)
class ArticleCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_training", "audience"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "category", "visibility", "owner", "review_due_at", "helpful_yes", "helpful_no"]
    list_filter = ["visibility", "category"]
    search_fields = ["title", "body"]
    prepopulated_fields = {"slug": ["title"]}
    raw_id_fields = ["tickets"]
