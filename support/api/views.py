"""Support API: tickets with their actions (reply, note, assign, status), contacts, CSAT surveys, articles.

Writes go through support.services; its ValidationErrors are 400 with field paths (opsgov.api.exceptions).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.pagination import CursorPagination, PageNumberPagination
from opsgov.api.parsers import JSONParser
from opsgov.api.permissions import RoleModelPermissions
from opsgov.evidence import NoEvidenceDeleteMixin
from opsgov.filters import FilterSet

from .. import nps, services
from ..models import Article, Contact, CsatSurvey, NpsCampaign, Ticket, TicketStatus
from .serializers import (
    ArticleSerializer,
    AssignSerializer,
    BodySerializer,
    ContactSerializer,
    CsatSurveySerializer,
    NpsCampaignSerializer,
    NpsSendResultSerializer,
    NpsSendSerializer,
    StatusSerializer,
    TicketCreateSerializer,
    TicketMessageSerializer,
    TicketSerializer,
)


class ChangePermission(RoleModelPermissions):
    """POST actions on an existing ticket need the change permission."""

    perms_map = {**RoleModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class TicketFilterSet(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=TicketStatus.choices)
    priority = django_filters.CharFilter()
    assignee = django_filters.CharFilter(field_name="assignee__username")
    service = django_filters.CharFilter(field_name="service__slug")
    q = django_filters.CharFilter(method="search", max_length=200)

    class Meta:
        model = Ticket
        fields = ["status", "priority", "assignee", "service", "channel"]

    def search(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        return queryset.filter(Q(subject__icontains=value) | Q(requester__email__icontains=value))


class TicketPagination(CursorPagination):
    ordering = ("-opened_at", "-id")


class TicketViewSet(NoEvidenceDeleteMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Support tickets: list, read, open (API or phone), and the actions that work them."""

    queryset = Ticket.objects.select_related("requester", "service", "team", "assignee")
    serializer_class = TicketSerializer
    permission_classes = [RoleModelPermissions]
    filter_backends = [DjangoFilterBackend]
    filterset_class = TicketFilterSet
    pagination_class = TicketPagination
    lookup_field = "number"
    lookup_value_regex = "[0-9]{1,9}"

    def get_permissions(self) -> Any:
        if self.action in ("reply", "note", "assign", "set_status"):
            return [ChangePermission()]
        return super().get_permissions()

    @extend_schema(request=TicketCreateSerializer, responses={201: TicketSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = TicketCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.create_ticket(actor=request.user, **data.validated_data)
        return Response(TicketSerializer(ticket).data, status=status.HTTP_201_CREATED)

    def _ticket_answer(self, ticket: Ticket) -> Response:
        ticket.refresh_from_db()
        return Response(TicketSerializer(ticket).data)

    @extend_schema(request=BodySerializer, responses={201: TicketMessageSerializer})
    @action(detail=True, methods=["post"])
    def reply(self, request: Request, number: str) -> Response:
        body = BodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = services.reply(ticket=self.get_object(), body=body.validated_data["body"], actor=request.user)
        return Response(TicketMessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=BodySerializer, responses={201: TicketMessageSerializer})
    @action(detail=True, methods=["post"])
    def note(self, request: Request, number: str) -> Response:
        body = BodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = services.add_note(ticket=self.get_object(), body=body.validated_data["body"], actor=request.user)
        return Response(TicketMessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AssignSerializer, responses={200: TicketSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, number: str) -> Response:
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.assign(
            ticket=self.get_object(),
            assignee=data.validated_data["assignee"],
            team=data.validated_data.get("team"),
            actor=request.user,
        )
        return self._ticket_answer(ticket)

    @extend_schema(request=StatusSerializer, responses={200: TicketSerializer})
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, number: str) -> Response:
        data = StatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = self.get_object()
        if data.validated_data.get("priority"):
            ticket = services.change_priority(
                ticket=ticket, priority=data.validated_data["priority"], actor=request.user
            )
        ticket = services.set_status(ticket=ticket, status=data.validated_data["status"], actor=request.user)
        return self._ticket_answer(ticket)

    @extend_schema(responses={200: TicketMessageSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def messages(self, request: Request, number: str) -> Response:
        ticket = self.get_object()
        return Response(TicketMessageSerializer(ticket.messages.select_related("author"), many=True).data)


class ContactViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Contact.objects.order_by("email")
    serializer_class = ContactSerializer
    permission_classes = [RoleModelPermissions]
    pagination_class = PageNumberPagination
    http_method_names = ["get", "post", "put", "patch", "head", "options"]


class CsatSurveyViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = CsatSurvey.objects.select_related("ticket", "agent", "team", "service").order_by("-sent_at", "-id")
    serializer_class = CsatSurveySerializer
    permission_classes = [RoleModelPermissions]
    pagination_class = PageNumberPagination


class ArticleViewSet(viewsets.ModelViewSet):
    queryset = Article.objects.select_related("category", "owner").order_by("title", "id")
    serializer_class = ArticleSerializer
    permission_classes = [RoleModelPermissions]
    pagination_class = PageNumberPagination
    lookup_field = "slug"


class NpsCampaignViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """NPS campaigns (the Product Owner's): create one, then ``send`` it (or a dry run of it)."""

    queryset = NpsCampaign.objects.annotate(
        surveys=Count("responses"), answers=Count("responses", filter=Q(responses__score__isnull=False))
    ).order_by("-created_at", "-id")
    serializer_class = NpsCampaignSerializer
    permission_classes = [RoleModelPermissions]
    pagination_class = PageNumberPagination

    def get_permissions(self) -> Any:
        if self.action == "send":
            return [ChangePermission()]
        return super().get_permissions()

    def perform_create(self, serializer: Any) -> None:
        campaign = serializer.save()
        campaign.surveys = campaign.answers = 0  # a new campaign has sent nothing yet: the list's annotations

    # JSON only: up to 10,000 contacts are one array, not 10,000 form fields (past DATA_UPLOAD_MAX_NUMBER_FIELDS).
    @extend_schema(request=NpsSendSerializer, responses={200: NpsSendResultSerializer})
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def send(self, request: Request, pk: str) -> Response:
        """Survey the campaign's contacts through the outbox; each contact at most once per policy period."""
        data = NpsSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = self.get_object()
        contacts = data.validated_data.get("contacts")
        if data.validated_data["dry_run"]:
            plan, sent = nps.plan_campaign(campaign=campaign, contacts=contacts, now=timezone.now()), 0
        else:
            plan, sent = nps.run_campaign(campaign=campaign, contacts=contacts)
        return Response({"dry_run": data.validated_data["dry_run"], "sent": sent, **plan.as_dict()})
