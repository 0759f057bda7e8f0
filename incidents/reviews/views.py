"""HTML pages of post-incident reviews and the improvement backlog.

Reads go through incidents.reviews.selectors, writes through incidents.reviews.services.
Every page needs a login (LoginRequiredMiddleware); changing anything needs
the matching model permission, approving the Tech Lead role. A refused action
is shown as a message (post/redirect/get); a submission missing sections
re-renders the review with the errors next to them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from opsgov.errors import DomainError
from opsgov.listing import OneOfSelect, filter_data, list_context, paginate

from ..models import ActionItem, ActionStatus, Incident, PostIncidentReview, ReviewStatus
from . import services
from .forms import ActionItemForm, CloseForm, ReviewForm, action_item_formset
from .selectors import (
    ActionItemFilterSet,
    ReviewFilterSet,
    action_item_list,
    backlog_summary,
    overdue_reviews,
    policy_today,
    review_action_items,
    review_correction,
    review_detail,
    review_editors,
    review_list,
    review_revisions,
    with_revisions,
)

ADD_REVIEW = "incidents.add_postincidentreview"
CHANGE_REVIEW = "incidents.change_postincidentreview"
ADD_ITEM = "incidents.add_actionitem"
CHANGE_ITEM = "incidents.change_actionitem"


def _require(request: HttpRequest, permission: str, what: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"Your roles do not allow {what}.")


def _filter_bar(filterset: Any, *, single: tuple[str, ...] = (), checkboxes: tuple[str, ...] = ()) -> None:
    """Widgets that suit a filter bar: drop-downs for one-of filters, checkboxes, a yes/no overdue choice."""
    fields = filterset.form.fields
    for name in single:
        fields[name].widget = OneOfSelect(choices=[("", "Any"), *iter(fields[name].choices)])
    for name in checkboxes:
        fields[name].widget = forms.CheckboxSelectMultiple(choices=fields[name].choices)
    fields["overdue"].widget = forms.Select(choices=[("", "Any"), ("true", "Overdue"), ("false", "Not overdue")])


# --- Reviews --------------------------------------------------------------------------------


def review_list_view(request: HttpRequest) -> HttpResponse:
    data = filter_data(request)
    filterset = ReviewFilterSet(data, queryset=review_list())
    _filter_bar(filterset, single=("service",), checkboxes=("status",))
    page = paginate(request, filterset.qs)
    context = list_context(data, filterset, page)
    context["overdue_count"] = overdue_reviews().count()
    return render(request, "incidents/reviews/review_list.html", context)


def _detail_context(
    request: HttpRequest,
    review: PostIncidentReview,
    *,
    form: ReviewForm | None = None,
    formset: Any = None,
    submit_errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    items = list(review_action_items(review))
    can_change = request.user.has_perm(CHANGE_REVIEW)
    editable = review.status != ReviewStatus.PUBLISHED and can_change
    user = request.user
    editors = review_editors(review)
    current_editors = editors.get(review.revision, [])
    contributed = review.author_id == user.pk or user.get_username() in current_editors
    correction = review_correction(review)
    history = [
        {"revision": revision, "editors": editors.get(revision.number, []), "sections": _sections(revision)}
        for revision in review_revisions(review)
        if revision.status == ReviewStatus.PUBLISHED
    ]
    return {
        "review": review,
        "incident": review.incident,
        "items": items,
        "editable": editable,
        "form": form or (ReviewForm.for_review(review) if editable else None),
        "formset": formset or (action_item_formset(review, items) if editable else None),
        "sections": _sections(review),
        "submit_errors": submit_errors or {},
        "can_submit": editable and review.status == ReviewStatus.DRAFT,
        "can_approve": review.status == ReviewStatus.IN_REVIEW and services.is_tech_lead(user) and not contributed,
        "contributed": contributed,
        "content_editors": current_editors,
        "correction": correction,
        "can_start_correction": review.status == ReviewStatus.PUBLISHED and correction is None and can_change,
        "history": history,
        "is_overdue": review.is_overdue(),
    }


def _sections(text: Any) -> list[tuple[str, str]]:
    return [(label, getattr(text, name)) for name, label in services.SECTIONS]


def _review(pk: int) -> PostIncidentReview:
    return get_object_or_404(with_revisions(review_detail()), pk=pk)


def review_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The review: read it, or (with the change permission, until published) edit it with its action items."""
    review = _review(pk)
    if request.method != "POST":
        return render(request, "incidents/reviews/review_detail.html", _detail_context(request, review))
    _require(request, CHANGE_REVIEW, "changing reviews")
    if review.status == ReviewStatus.PUBLISHED:
        messages.error(request, services.ReviewFinalError(review).message)
        return redirect(review)
    items = list(review_action_items(review))
    form = ReviewForm.for_review(review, request.POST)
    formset = action_item_formset(review, items, request.POST)
    if not (form.is_valid() and formset.is_valid()):
        context = _detail_context(request, review, form=form, formset=formset)
        return render(request, "incidents/reviews/review_detail.html", context, status=400)
    try:
        _save(request, review, form, formset, {item.pk: item for item in items})
    except (DomainError, ValidationError) as exc:
        form.add_error(None, exc.message if isinstance(exc, DomainError) else " ".join(exc.messages))
        context = _detail_context(request, review, form=form, formset=formset)
        return render(request, "incidents/reviews/review_detail.html", context, status=400)
    if request.POST.get("intent") == "submit":
        return _submit(request, review)
    messages.success(request, "Review saved.")
    return redirect(review)


@transaction.atomic
def _save(
    request: HttpRequest, review: PostIncidentReview, form: ReviewForm, formset: Any, items: dict[int, ActionItem]
) -> None:
    """Save the sections and every changed row of the inline action items, all or nothing."""
    services.review_update(review=review, data=dict(form.cleaned_data), actor=request.user)
    for row in formset.forms:
        data = row.cleaned_data
        if not data:
            continue  # an untouched extra row
        item = items.get(data["id"]) if data.get("id") else None
        if data.get("id") and item is None:
            raise DomainError("An action item of the list is no longer on this review; reload the page.")
        fields = {name: data[name] for name in ("title", "owner", "due_date", "priority")}
        status = data["status"]
        if item is None:
            _require(request, ADD_ITEM, "adding action items")
            item = services.action_item_create(review=review, **fields, actor=request.user)
            if status in services.CLOSED_STATUSES:
                services.action_item_close(item=item, resolution=status)
            elif status != ActionStatus.OPEN:
                services.action_item_update(item=item, data={"status": status})
            continue
        if not row.has_changed():
            continue
        _require(request, CHANGE_ITEM, "changing action items")
        was_closed = item.status in services.CLOSED_STATUSES
        if was_closed and status not in services.CLOSED_STATUSES:
            item = services.action_item_reopen(item=item)
        if status in services.CLOSED_STATUSES:
            services.action_item_update(item=item, data=fields, actor=request.user)
            if not was_closed:
                services.action_item_close(item=item, resolution=status)
        else:
            services.action_item_update(item=item, data={**fields, "status": status}, actor=request.user)


def _submit(request: HttpRequest, review: PostIncidentReview) -> HttpResponse:
    try:
        services.review_submit(review=review, actor=request.user)
    except ValidationError as exc:
        review = _review(review.pk)
        context = _detail_context(request, review, submit_errors=exc.message_dict)
        return render(request, "incidents/reviews/review_detail.html", context, status=400)
    except DomainError as exc:
        messages.error(request, f"Could not submit the review: {exc.message}")
        return redirect(review)
    messages.success(request, "Review submitted; a Tech Lead can now approve it.")
    return redirect(review)


@require_POST
def review_submit_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, CHANGE_REVIEW, "submitting reviews")
    return _submit(request, get_object_or_404(review_detail(), pk=pk))


@require_POST
def review_approve_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    if not services.is_tech_lead(request.user):
        raise PermissionDenied("Only a Tech Lead can approve a post-incident review.")
    review = get_object_or_404(review_detail(), pk=pk)
    try:
        services.review_approve(review=review, actor=request.user)
    except (PermissionDenied, DomainError, ValidationError) as exc:
        messages.error(request, f"Could not approve the review: {_reason(exc)}")
    else:
        messages.success(request, "Review approved and published.")
    return redirect(review)


@require_POST
def review_return_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    if not services.is_tech_lead(request.user):
        raise PermissionDenied("Only a Tech Lead can send a review back.")
    review = get_object_or_404(review_detail(), pk=pk)
    try:
        services.review_return_to_draft(review=review, actor=request.user)
    except DomainError as exc:
        messages.error(request, f"Could not send the review back: {exc.message}")
    else:
        messages.success(request, "Review sent back to draft.")
    return redirect(review)


# --- Corrections ----------------------------------------------------------------------------


def _correction_context(
    request: HttpRequest, review: PostIncidentReview, correction: Any, *, form: ReviewForm | None = None, **extra: Any
) -> dict[str, Any]:
    user = request.user
    editors = review_editors(review).get(correction.number, [])
    contributed = correction.author_id == user.pk or user.get_username() in editors
    editable = request.user.has_perm(CHANGE_REVIEW)
    return {
        "review": review,
        "incident": review.incident,
        "correction": correction,
        "editors": editors,
        "editable": editable,
        "form": form or (ReviewForm.for_review(correction) if editable else None),
        "sections": _sections(correction),
        "contributed": contributed,
        "can_submit": editable and correction.status == ReviewStatus.DRAFT,
        "can_approve": correction.status == ReviewStatus.IN_REVIEW and services.is_tech_lead(user) and not contributed,
        "submit_errors": {},
        **extra,
    }


def review_correction_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The correction under way of a published review: read it, or edit it (change permission)."""
    review = _review(pk)
    correction = review_correction(review)
    if correction is None:
        messages.info(request, "This review has no correction under way.")
        return redirect(review)
    template = "incidents/reviews/review_correction.html"
    if request.method != "POST":
        return render(request, template, _correction_context(request, review, correction))
    _require(request, CHANGE_REVIEW, "correcting reviews")
    form = ReviewForm.for_review(correction, request.POST)
    if not form.is_valid():
        return render(request, template, _correction_context(request, review, correction, form=form), status=400)
    try:
        services.review_correction_update(review=review, data=dict(form.cleaned_data), actor=request.user)
    except DomainError as exc:
        messages.error(request, f"Could not save the correction: {exc.message}")
        return redirect("review-detail", pk=review.pk)
    if request.POST.get("intent") == "submit":
        try:
            services.review_correction_submit(review=review, actor=request.user)
        except ValidationError as exc:
            review = _review(pk)
            correction = review_correction(review)
            context = _correction_context(request, review, correction, submit_errors=exc.message_dict)
            return render(request, template, context, status=400)
        except DomainError as exc:
            messages.error(request, f"Could not submit the correction: {exc.message}")
            return redirect("review-correction", pk=review.pk)
        messages.success(request, "Correction submitted; a Tech Lead who did not edit it can now approve it.")
        return redirect("review-correction", pk=review.pk)
    messages.success(request, "Correction saved.")
    return redirect("review-correction", pk=review.pk)


@require_POST
def review_correction_start_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    _require(request, CHANGE_REVIEW, "correcting reviews")
    review = get_object_or_404(review_detail(), pk=pk)
    try:
        services.review_correction_start(
            review=review, actor=request.user, reason=request.POST.get("reason", "")[:2000]
        )
    except DomainError as exc:
        messages.error(request, f"Could not start a correction: {exc.message}")
        return redirect(review)
    messages.success(request, "Correction started: the published text stays in place until it is approved.")
    return redirect("review-correction", pk=review.pk)


@require_POST
def review_correction_approve_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    if not services.is_tech_lead(request.user):
        raise PermissionDenied("Only a Tech Lead can approve a correction.")
    review = get_object_or_404(review_detail(), pk=pk)
    try:
        services.review_correction_approve(review=review, actor=request.user)
    except (PermissionDenied, DomainError, ValidationError) as exc:
        messages.error(request, f"Could not approve the correction: {_reason(exc)}")
        return redirect("review-correction", pk=review.pk)
    messages.success(request, "Correction approved and published.")
    return redirect(review)


@require_POST
def review_correction_return_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    if not services.is_tech_lead(request.user):
        raise PermissionDenied("Only a Tech Lead can send a correction back.")
    review = get_object_or_404(review_detail(), pk=pk)
    try:
        services.review_correction_return_to_draft(review=review, actor=request.user)
    except DomainError as exc:
        messages.error(request, f"Could not send the correction back: {exc.message}")
    else:
        messages.success(request, "Correction sent back to draft.")
    return redirect("review-correction", pk=review.pk)


def _reason(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


@require_POST
def review_start_view(request: HttpRequest, number: int) -> HttpResponseRedirect:
    """Start a review of an incident by hand, or go to the one it has."""
    _require(request, ADD_REVIEW, "starting reviews")
    incident = get_object_or_404(Incident, pk=number)
    existing = PostIncidentReview.objects.filter(incident=incident).first()
    if existing is not None:
        return redirect(existing)
    review = services.review_start(incident=incident, actor=request.user)
    messages.success(request, f"Review of {incident.public_id} started.")
    return redirect(review)


def review_export_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The review as a Markdown file (post-mortem structure, action items as a table)."""
    review = get_object_or_404(review_detail(), pk=pk)
    response = HttpResponse(services.review_markdown(review), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="review-{review.incident.public_id}.md"'
    return response


# --- Backlog -------------------------------------------------------------------------------


def action_item_list_view(request: HttpRequest) -> HttpResponse:
    data = filter_data(request)
    filterset = ActionItemFilterSet(data, queryset=action_item_list(), request=request)
    _filter_bar(filterset, single=("service", "owner"), checkboxes=("status", "priority"))
    for name in ("review", "incident"):
        filterset.form.fields[name].widget = forms.HiddenInput()
    page = paginate(request, filterset.qs)
    context = list_context(data, filterset, page)
    context["summary"] = backlog_summary()
    context["today"] = policy_today()
    context["can_add"] = request.user.has_perm(ADD_ITEM)
    return render(request, "incidents/reviews/action_item_list.html", context)


def action_item_create_view(request: HttpRequest) -> HttpResponse:
    _require(request, ADD_ITEM, "adding action items")
    form = ActionItemForm(request.POST or None, initial={"incident": request.GET.get("incident")})
    if request.method == "POST" and form.is_valid():
        try:
            item = services.action_item_create(**form.cleaned_data, actor=request.user)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "Action item added to the backlog.")
            return redirect(item)
    return render(request, "incidents/reviews/action_item_form.html", {"form": form})


def action_item_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One item: read it, edit it (change permission), close or reopen it."""
    item = get_object_or_404(action_item_list(), pk=pk)
    can_change = request.user.has_perm(CHANGE_ITEM)
    form = ActionItemForm.for_item(item, request.POST if request.method == "POST" else None) if can_change else None
    if request.method == "POST":
        _require(request, CHANGE_ITEM, "changing action items")
        assert form is not None
        if form.is_valid():
            try:
                services.action_item_update(item=item, data=dict(form.cleaned_data), actor=request.user)
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Action item saved.")
                return redirect(item)
    context = {
        "item": item,
        "form": form,
        "close_form": CloseForm(),
        "can_change": can_change,
        "is_closed": item.status in services.CLOSED_STATUSES,
    }
    status = 400 if form is not None and form.is_bound and form.errors else 200
    return render(request, "incidents/reviews/action_item_detail.html", context, status=status)


@require_POST
def action_item_close_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    _require(request, CHANGE_ITEM, "closing action items")
    item = get_object_or_404(ActionItem, pk=pk)
    form = CloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose done or won't do.")
        return redirect(item)
    try:
        item = services.action_item_close(item=item, resolution=form.cleaned_data["resolution"])
    except DomainError as exc:
        messages.error(request, f"Could not close the item: {exc.message}")
    else:
        messages.success(request, f"Action item closed ({item.get_status_display().lower()}).")
    return redirect(item)


@require_POST
def action_item_reopen_view(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    _require(request, CHANGE_ITEM, "reopening action items")
    item = get_object_or_404(ActionItem, pk=pk)
    try:
        services.action_item_reopen(item=item)
    except DomainError as exc:
        messages.error(request, f"Could not reopen the item: {exc.message}")
    else:
        messages.success(request, "Action item reopened.")
    return redirect(item)
