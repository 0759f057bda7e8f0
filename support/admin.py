"""Admin of support: records read-only (changes go through the pages and the API, which validate and log),
each list exportable as CSV; knowledge-base articles and categories are edited here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from opsgov.admin_export import ReadOnlyCsvAdmin

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
