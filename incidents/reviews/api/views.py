"""Reviews and improvement backlog API: serializers and viewsets.

Thin: querysets and filtersets from incidents.reviews.selectors, every write
through incidents.reviews.services, whose DomainError / ValidationError the API
exception handler answers with 400 and the field path and whose
PermissionDenied becomes 403.

* ``/api/v1/reviews/`` — list (filters status, overdue, service, q), read,
  start one by hand (POST ``{"incident": <number>}``), PATCH the sections;
  POST ``submit/``, ``approve/`` (Tech Leads), ``return-to-draft/`` (Tech Leads);
  GET ``markdown/`` for the export. Four eyes: approval answers 403 to the
  author and to anyone who changed the text of the submitted revision. A
  published review answers 409 to every change.
* ``/api/v1/reviews/{id}/correction/`` — a published review is corrected with a
  new revision: POST starts it (``{"reason": ...}``), GET reads it, PATCH changes
  its sections; POST ``correction/submit/``, ``correction/approve/`` and
  ``correction/return-to-draft/`` as for a first revision. GET ``revisions/``
  lists every revision with its text and editors.
* ``/api/v1/action-items/`` — the backlog: CRUD, filters status, priority,
  owner, overdue, service, review, incident and q (the same FilterSet as the
  page), POST ``close/`` (``{"resolution": "done" | "wont_do"}``) and ``reopen/``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, OpenApiTypes, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from opsgov.api.permissions import RoleModelPermissions
from opsgov.api.strict import StrictModelSerializer, StrictSerializer
from opsgov.evidence import NoEvidenceDeleteMixin

from ...models import ActionItem, ActionStatus, Incident, PostIncidentReview, ReviewRevision, ReviewStatus
from .. import services
from ..selectors import (
    ActionItemFilterSet,
    ReviewFilterSet,
    action_item_list,
    review_action_items,
    review_correction,
    review_editors,
    review_list,
    review_revisions,
    with_action_items,
    with_revisions,
)

User = get_user_model()


class ChangePermission(RoleModelPermissions):
    """For POST actions that change an existing record (submit, close, reopen): the change permission."""

    perms_map = {**RoleModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class ViewPermission(RoleModelPermissions):
    """For approval: reading the review is enough here; the service then requires the Tech Lead role."""

    perms_map = {**RoleModelPermissions.perms_map, "POST": ["%(app_label)s.view_%(model_name)s"]}


class IsTechLead(BasePermission):
    """Tech Leads (group membership) and superusers; anonymous requests get 401, others 403."""

    message = "Only a Tech Lead can do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return services.is_tech_lead(request.user)


class ReviewConflict(exceptions.APIException):
    """A change to a published review (409): publishing is final; a correction is a new revision."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "review_published"
    default_detail = "The review is published; it can no longer change."


# --- Serializers -------------------------------------------------------------------------


@extend_schema_field(
    {"type": "string", "enum": ReviewStatus.values, "description": "draft, in_review or published."},
    component_name="ReviewStatus",  # its own component: "status" is also the incidents' field name
)
class ReviewStatusField(serializers.CharField):
    """A review's status."""


@extend_schema_field(
    {"type": "string", "enum": ActionStatus.values, "description": "open, in_progress, done or wont_do."},
    component_name="ActionItemStatus",
)
class ActionStatusField(serializers.ChoiceField):
    """An action item's status."""


def _username_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True, **kwargs)


class ActionItemSerializer(StrictModelSerializer):
    """An improvement in the backlog. `incident` is the incident number; `overdue` uses the policy's time zone."""

    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="Username of the person who owns the item.",
    )
    review = serializers.PrimaryKeyRelatedField(
        queryset=PostIncidentReview.objects.select_related("incident"), allow_null=True, required=False
    )
    incident = serializers.PrimaryKeyRelatedField(
        queryset=Incident.objects.all(), allow_null=True, required=False, help_text='The N of "INC-N".'
    )
    service = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    status = ActionStatusField(
        choices=ActionStatus.choices,
        required=False,
        help_text="open or in_progress here; close with the close action, reopen with reopen.",
    )

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "title",
            "description",
            "owner",
            "due_date",
            "priority",
            "status",
            "closed_at",
            "overdue",
            "review",
            "incident",
            "service",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "closed_at", "overdue", "service", "created_at", "updated_at"]

    def get_service(self, item: ActionItem) -> str | None:
        if item.incident is not None:
            return item.incident.service.slug
        return item.service.slug if item.service is not None else None  # an SLO ticket's follow-up

    def get_overdue(self, item: ActionItem) -> bool:
        return bool(getattr(item, "overdue", False))


class ActionItemCloseSerializer(StrictSerializer):
    resolution = serializers.ChoiceField(
        choices=[(ActionStatus.DONE, "Done"), (ActionStatus.WONT_DO, "Won't do")], default=ActionStatus.DONE
    )


class ReviewRevisionSerializer(StrictModelSerializer):
    """One revision of a review's text: a published one (history) or the correction under way."""

    status = ReviewStatusField(read_only=True)
    author = _username_field()
    approved_by = _username_field()
    editors = serializers.SerializerMethodField(help_text="Who changed this revision's text (none may approve it).")

    class Meta:
        model = ReviewRevision
        fields = [
            "number",
            "status",
            "reason",
            "author",
            "editors",
            *services.EDITABLE_FIELDS,
            "submitted_at",
            "approved_by",
            "approved_at",
            "published_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_editors(self, revision: ReviewRevision) -> list[str]:
        return review_editors(revision.review).get(revision.number, [])


class ReviewRevisionSummarySerializer(ReviewRevisionSerializer):
    """A revision without its text (the history in a review)."""

    class Meta(ReviewRevisionSerializer.Meta):
        fields = [name for name in ReviewRevisionSerializer.Meta.fields if name not in services.EDITABLE_FIELDS]
        read_only_fields = fields


class ReviewSerializer(StrictModelSerializer):
    """A review with its sections and action items; status, approval and due time are read-only."""

    incident = serializers.IntegerField(source="incident_id", read_only=True, help_text='The N of "INC-N".')
    incident_id = serializers.CharField(source="incident.public_id", read_only=True, help_text='"INC-N"')
    service = serializers.CharField(source="incident.service.slug", read_only=True)
    severity = serializers.CharField(source="incident.severity", read_only=True)
    author = _username_field()
    approved_by = _username_field()
    status = ReviewStatusField(read_only=True)
    overdue = serializers.SerializerMethodField()
    action_items = serializers.SerializerMethodField()
    revision = serializers.IntegerField(read_only=True, help_text="Which revision the sections hold.")
    content_editors = serializers.SerializerMethodField(
        help_text="Who changed the text of the revision being written (or of the published one); "
        "none of them, nor the author, may approve it."
    )
    correction = serializers.SerializerMethodField(help_text="The correction under way, if any.")
    revisions = serializers.SerializerMethodField(help_text="Every revision, oldest first, without its text.")

    class Meta:
        model = PostIncidentReview
        fields = [
            "id",
            "incident",
            "incident_id",
            "service",
            "severity",
            "status",
            "due_at",
            "overdue",
            "author",
            "revision",
            "content_editors",
            *services.EDITABLE_FIELDS,
            "action_items",
            "submitted_at",
            "approved_by",
            "approved_at",
            "published_at",
            "correction",
            "revisions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_content_editors(self, review: PostIncidentReview) -> list[str]:
        return review_editors(review).get(review.revision, [])

    @extend_schema_field(ReviewRevisionSerializer(allow_null=True))
    def get_correction(self, review: PostIncidentReview) -> dict[str, Any] | None:
        correction = review_correction(review)
        if correction is None:
            return None
        correction.review = review  # the prefetched edits
        return dict(ReviewRevisionSerializer(correction).data)

    @extend_schema_field(ReviewRevisionSummarySerializer(many=True))
    def get_revisions(self, review: PostIncidentReview) -> list[dict[str, Any]]:
        rows = review_revisions(review)
        for row in rows:
            row.review = review
        return list(ReviewRevisionSummarySerializer(rows, many=True).data)

    def get_overdue(self, review: PostIncidentReview) -> bool:
        annotated = getattr(review, "overdue", None)
        return bool(review.is_overdue() if annotated is None else annotated)

    @extend_schema_field(ActionItemSerializer(many=True))
    def get_action_items(self, review: PostIncidentReview) -> list[dict[str, Any]]:
        items = getattr(review, "prefetched_items", None)
        if items is None:
            items = review_action_items(review).select_related("incident__service")
        return list(ActionItemSerializer(items, many=True).data)


class CorrectionStartSerializer(StrictSerializer):
    reason = serializers.CharField(
        allow_blank=True, required=False, default="", max_length=2000, help_text="Why the review needs a correction."
    )


class ReviewStartSerializer(StrictSerializer):
    incident = serializers.PrimaryKeyRelatedField(queryset=Incident.objects.all(), help_text='The N of "INC-N".')


class ReviewUpdateSerializer(StrictSerializer):
    """The written sections; send any of them."""

    summary = serializers.CharField(allow_blank=True, required=False)
    impact = serializers.CharField(allow_blank=True, required=False)
    timeline = serializers.CharField(allow_blank=True, required=False)
    root_causes = serializers.CharField(allow_blank=True, required=False)
    contributing_factors = serializers.CharField(allow_blank=True, required=False)
    what_went_well = serializers.CharField(allow_blank=True, required=False)
    what_went_wrong = serializers.CharField(allow_blank=True, required=False)


# --- Viewsets -------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List post-incident reviews (newest first)"),
    retrieve=extend_schema(summary="A review with its sections and action items"),
)
class ReviewViewSet(NoEvidenceDeleteMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Post-incident reviews. Required ones are created when an incident is resolved; never deleted."""

    queryset = PostIncidentReview.objects.all()  # the model for permissions; rows from get_queryset()
    serializer_class = ReviewSerializer
    filterset_class = ReviewFilterSet
    ordering_fields = ["created_at", "due_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[PostIncidentReview]:
        return with_revisions(with_action_items(review_list()))

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, services.ReviewFinalError):
            start = reverse("api-review-correction", kwargs={"pk": self.kwargs.get("pk")})
            exc = ReviewConflict(f"{exc.message} A correction is a new revision: POST {start} to start one.")
        return super().handle_exception(exc)

    def _answer(self, review: PostIncidentReview, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=review.pk)
        return Response(ReviewSerializer(fresh, context=self.get_serializer_context()).data, status=status_code)

    @extend_schema(
        summary="Start a review by hand for any incident",
        request=ReviewStartSerializer,
        responses={201: ReviewSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = ReviewStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        review = services.review_start(incident=serializer.validated_data["incident"], actor=request.user)
        return self._answer(review, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change sections of a draft or in-review review (409 once published); the editor is recorded",
        request=ReviewUpdateSerializer,
        responses={200: ReviewSerializer},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        serializer = ReviewUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        review = services.review_update(
            review=self.get_object(), data=dict(serializer.validated_data), actor=request.user
        )
        return self._answer(review)

    @extend_schema(
        summary="Submit a draft for approval (needs summary, impact, root causes and an action item)",
        request=None,
        responses={200: ReviewSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def submit(self, request: Request, pk: str) -> Response:
        return self._answer(services.review_submit(review=self.get_object(), actor=request.user))

    @extend_schema(
        summary="Approve and publish (Tech Leads who neither wrote nor edited this revision)",
        request=None,
        responses={200: ReviewSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[IsTechLead, ViewPermission])
    def approve(self, request: Request, pk: str) -> Response:
        return self._answer(services.review_approve(review=self.get_object(), actor=request.user))

    @extend_schema(
        summary="Send a review in review back to draft (Tech Leads)", request=None, responses={200: ReviewSerializer}
    )
    @action(detail=True, methods=["post"], url_path="return-to-draft", permission_classes=[IsTechLead, ViewPermission])
    def return_to_draft(self, request: Request, pk: str) -> Response:
        return self._answer(services.review_return_to_draft(review=self.get_object(), actor=request.user))

    def _answer_correction(self, review: PostIncidentReview, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=review.pk)
        correction = review_correction(fresh)
        if correction is None:
            raise exceptions.NotFound("This review has no correction under way.")
        correction.review = fresh
        return Response(ReviewRevisionSerializer(correction).data, status=status_code)

    @extend_schema(
        methods=["GET"], summary="The correction under way (404 when none)", responses={200: ReviewRevisionSerializer}
    )
    @extend_schema(
        methods=["POST"],
        summary="Start a correction of a published review: a new revision, reviewed again",
        request=CorrectionStartSerializer,
        responses={201: ReviewRevisionSerializer},
    )
    @extend_schema(
        methods=["PATCH"],
        summary="Change sections of the correction under way; the editor is recorded",
        request=ReviewUpdateSerializer,
        responses={200: ReviewRevisionSerializer},
    )
    @action(detail=True, methods=["get", "post", "patch"], permission_classes=[ChangePermission])
    def correction(self, request: Request, pk: str) -> Response:
        review = self.get_object()
        if request.method == "GET":
            return self._answer_correction(review)
        if request.method == "POST":
            start = CorrectionStartSerializer(data=request.data)
            start.is_valid(raise_exception=True)
            services.review_correction_start(review=review, actor=request.user, reason=start.validated_data["reason"])
            return self._answer_correction(review, status.HTTP_201_CREATED)
        update = ReviewUpdateSerializer(data=request.data, partial=True)
        update.is_valid(raise_exception=True)
        services.review_correction_update(review=review, data=dict(update.validated_data), actor=request.user)
        return self._answer_correction(review)

    @extend_schema(
        summary="Submit the correction for approval", request=None, responses={200: ReviewRevisionSerializer}
    )
    @action(detail=True, methods=["post"], url_path="correction/submit", permission_classes=[ChangePermission])
    def correction_submit(self, request: Request, pk: str) -> Response:
        review = self.get_object()
        services.review_correction_submit(review=review, actor=request.user)
        return self._answer_correction(review)

    @extend_schema(
        summary="Approve the correction (Tech Leads who neither started nor edited it); it becomes the text",
        request=None,
        responses={200: ReviewSerializer},
    )
    @action(
        detail=True, methods=["post"], url_path="correction/approve", permission_classes=[IsTechLead, ViewPermission]
    )
    def correction_approve(self, request: Request, pk: str) -> Response:
        return self._answer(services.review_correction_approve(review=self.get_object(), actor=request.user))

    @extend_schema(
        summary="Send the correction in review back to draft (Tech Leads)",
        request=None,
        responses={200: ReviewRevisionSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="correction/return-to-draft",
        permission_classes=[IsTechLead, ViewPermission],
    )
    def correction_return_to_draft(self, request: Request, pk: str) -> Response:
        review = self.get_object()
        services.review_correction_return_to_draft(review=review, actor=request.user)
        return self._answer_correction(review)

    @extend_schema(
        summary="Every revision of the review with its text and editors, oldest first",
        responses={200: ReviewRevisionSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def revisions(self, request: Request, pk: str) -> Response:
        review = self.get_object()
        rows = review_revisions(review)
        for row in rows:
            row.review = review
        return Response(ReviewRevisionSerializer(rows, many=True).data)

    @extend_schema(
        summary="The review as Markdown (post-mortem structure, action items as a table)",
        responses={(200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR)},
    )
    @action(detail=True, methods=["get"])
    def markdown(self, request: Request, pk: str) -> HttpResponse:
        review = self.get_object()
        response = HttpResponse(services.review_markdown(review), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="review-{review.incident.public_id}.md"'
        return response


@extend_schema_view(
    list=extend_schema(summary="List the improvement backlog (by due date)"),
    retrieve=extend_schema(summary="An action item"),
    create=extend_schema(summary="Add an action item (to a review, an incident, or on its own)"),
    update=extend_schema(summary="Change an action item"),
    partial_update=extend_schema(summary="Change some fields of an action item"),
)
class ActionItemViewSet(NoEvidenceDeleteMixin, viewsets.ModelViewSet):
    """The improvement backlog. Close with ``close/`` and reopen with ``reopen/``; items are evidence and never
    deleted (close one added by mistake as won't do)."""

    queryset = ActionItem.objects.all()  # the model for permissions; rows from get_queryset()
    serializer_class = ActionItemSerializer
    filterset_class = ActionItemFilterSet
    ordering_fields = ["due_date", "priority", "created_at", "closed_at"]
    ordering = ["due_date", "id"]

    def get_queryset(self) -> QuerySet[ActionItem]:
        return action_item_list()

    def _answer(self, item: ActionItem, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = action_item_list().get(pk=item.pk)
        return Response(ActionItemSerializer(fresh, context=self.get_serializer_context()).data, status=status_code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = services.action_item_create(**serializer.validated_data, actor=request.user)
        return self._answer(item, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        item = self.get_object()
        serializer = self.get_serializer(item, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        for field in ("review", "incident"):
            if field in data and data[field] != getattr(item, field):
                raise serializers.ValidationError({field: ["An item stays with its review and incident."]})
            data.pop(field, None)
        return self._answer(services.action_item_update(item=item, data=data, actor=request.user))

    @extend_schema(
        summary="Close as done or won't do", request=ActionItemCloseSerializer, responses={200: ActionItemSerializer}
    )
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def close(self, request: Request, pk: str) -> Response:
        serializer = ActionItemCloseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = services.action_item_close(item=self.get_object(), resolution=serializer.validated_data["resolution"])
        return self._answer(item)

    @extend_schema(summary="Reopen a closed item", request=None, responses={200: ActionItemSerializer})
    @action(detail=True, methods=["post"], permission_classes=[ChangePermission])
    def reopen(self, request: Request, pk: str) -> Response:
        return self._answer(services.action_item_reopen(item=self.get_object()))
