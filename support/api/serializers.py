"""Serializers of the support API (strict: unknown fields are 400 with their path)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from opsgov.api.fields import AwareDateTimeField
from opsgov.api.strict import StrictModelSerializer, StrictSerializer
from opsgov.models import Service, Team
from opsgov.policy import get_policy

from ..models import (
    Article,
    ArticleCategory,
    Channel,
    Contact,
    CsatSurvey,
    NpsCampaign,
    Ticket,
    TicketMessage,
    TicketStatus,
)


class ContactSerializer(StrictModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "email", "name", "organisation", "bounced_at", "bounce_reason", "created_at"]
        read_only_fields = ["bounced_at", "bounce_reason", "created_at"]


class TicketSerializer(StrictModelSerializer):
    public_id = serializers.CharField(read_only=True)
    requester = ContactSerializer(read_only=True)
    service: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    assignee: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    opened_at = AwareDateTimeField(read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "number",
            "public_id",
            "subject",
            "description",
            "requester",
            "priority",
            "service",
            "team",
            "category",
            "tags",
            "channel",
            "assignee",
            "status",
            "opened_at",
            "first_response_at",
            "resolved_at",
            "closed_at",
            "response_due_at",
            "resolution_due_at",
            "response_at_risk_at",
            "resolution_at_risk_at",
            "response_breached",
            "resolution_breached",
            "incident_key",
        ]
        read_only_fields = fields


class TicketCreateSerializer(StrictSerializer):
    subject = serializers.CharField(max_length=300)
    description = serializers.CharField(max_length=50000)
    requester_email = serializers.EmailField()
    requester_name = serializers.CharField(max_length=200, required=False, default="")
    organisation = serializers.CharField(max_length=200, required=False, default="")
    priority = serializers.ChoiceField(choices=[])
    service: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Service.objects.all(), required=False
    )
    category = serializers.CharField(max_length=100, required=False, default="")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), max_length=20, required=False, default=list
    )
    channel = serializers.ChoiceField(choices=[Channel.API, Channel.PHONE], default=Channel.API)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["priority"].choices = list(get_policy().support.tiers)  # type: ignore[attr-defined]


class TicketMessageSerializer(StrictModelSerializer):
    author: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = TicketMessage
        fields = ["id", "kind", "author", "body", "at", "message_id"]
        read_only_fields = fields


class BodySerializer(StrictSerializer):
    body = serializers.CharField(max_length=50000)


class AssignSerializer(StrictSerializer):
    assignee: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True), allow_null=True
    )
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False
    )


class StatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=TicketStatus.choices)
    priority = serializers.ChoiceField(choices=[], required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["priority"].choices = list(get_policy().support.tiers)  # type: ignore[attr-defined]


class CsatSurveySerializer(StrictModelSerializer):
    ticket: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="number", read_only=True)
    agent: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    service: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = CsatSurvey
        fields = [
            "id",
            "ticket",
            "priority",
            "agent",
            "team",
            "service",
            "sent_at",
            "expires_at",
            "rating",
            "comment",
            "answered_at",
        ]
        read_only_fields = fields


class ArticleSerializer(StrictModelSerializer):
    category: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", queryset=ArticleCategory.objects.all()
    )
    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    review_due_at = AwareDateTimeField()

    class Meta:
        model = Article
        fields = [
            "id",
            "slug",
            "title",
            "body",
            "category",
            "visibility",
            "owner",
            "review_due_at",
            "reviewed_at",
            "helpful_yes",
            "helpful_no",
        ]
        read_only_fields = ["reviewed_at", "helpful_yes", "helpful_no"]


class NpsCampaignSerializer(StrictModelSerializer):
    sent_at = AwareDateTimeField(read_only=True, allow_null=True, help_text="Null until the campaign is first sent.")
    surveys = serializers.IntegerField(read_only=True, help_text="Surveys sent in this campaign.")
    answers = serializers.IntegerField(read_only=True, help_text="Surveys answered.")

    class Meta:
        model = NpsCampaign
        fields = ["id", "name", "sent_at", "surveys", "answers", "created_at"]
        read_only_fields = ["created_at"]


class NpsSendSerializer(StrictSerializer):
    dry_run = serializers.BooleanField(default=False, help_text="Only count who would be surveyed.")
    contacts = serializers.ListField(
        child=serializers.EmailField(),
        required=False,
        max_length=10000,
        help_text="Only these contacts (e-mail addresses); every contact when left out.",
    )

    def validate_contacts(self, value: list[str]) -> list[int]:
        emails = [email.lower() for email in value]
        found = dict(Contact.objects.filter(email__in=emails).values_list("email", "pk"))
        unknown = [email for email in emails if email not in found]
        if unknown:
            raise serializers.ValidationError(f"no contact with the address {', '.join(unknown[:10])}")
        return list(found.values())


class NpsSendResultSerializer(serializers.Serializer[Any]):
    dry_run = serializers.BooleanField()
    sent = serializers.IntegerField(help_text="Surveys queued in the outbox (0 on a dry run).")
    eligible = serializers.IntegerField()
    bounced = serializers.IntegerField()
    recent = serializers.IntegerField(help_text="Left out: surveyed within support.nps_min_interval.")
    already = serializers.IntegerField(help_text="Left out: already surveyed in this campaign.")
