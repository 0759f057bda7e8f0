"""HTML routes of reviews and the improvement backlog (mounted under /incidents/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("reviews/", views.review_list_view, name="review-list"),
    path("reviews/<int:pk>/", views.review_detail_view, name="review-detail"),
    path("reviews/<int:pk>/export.md", views.review_export_view, name="review-export"),
    path("reviews/<int:pk>/submit/", views.review_submit_view, name="review-submit"),
    path("reviews/<int:pk>/approve/", views.review_approve_view, name="review-approve"),
    path("reviews/<int:pk>/return/", views.review_return_view, name="review-return"),
    path("reviews/<int:pk>/correction/", views.review_correction_view, name="review-correction"),
    path("reviews/<int:pk>/correction/start/", views.review_correction_start_view, name="review-correction-start"),
    path(
        "reviews/<int:pk>/correction/approve/", views.review_correction_approve_view, name="review-correction-approve"
    ),
    path("reviews/<int:pk>/correction/return/", views.review_correction_return_view, name="review-correction-return"),
    path("<int:number>/review/", views.review_start_view, name="review-start"),
    path("backlog/", views.action_item_list_view, name="action-item-list"),
    path("backlog/new/", views.action_item_create_view, name="action-item-create"),
    path("backlog/<int:pk>/", views.action_item_detail_view, name="action-item-detail"),
    path("backlog/<int:pk>/close/", views.action_item_close_view, name="action-item-close"),
    path("backlog/<int:pk>/reopen/", views.action_item_reopen_view, name="action-item-reopen"),
]
