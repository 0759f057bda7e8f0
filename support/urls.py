"""HTML pages of support (mounted under /support/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.queue_view, name="support-queue"),
    path("bulk/", views.bulk_view, name="support-bulk"),
    path("clocks/", views.clocks_view, name="support-clocks"),
    path("request/", views.request_view, name="support-request"),
    path("rate/<str:token>/", views.rate_view, name="support-rate"),
    path("tickets/<int:number>/", views.ticket_detail_view, name="support-ticket-detail"),
    path("tickets/<int:number>/message/", views.ticket_message_view, name="support-ticket-message"),
    path("tickets/<int:number>/update/", views.ticket_update_view, name="support-ticket-update"),
    path("tickets/<int:number>/articles/", views.ticket_article_view, name="support-ticket-article"),
    path("csat/", views.csat_view, name="support-csat"),
    path("attachments/<int:pk>/", views.attachment_view, name="support-attachment"),
    path("nps/<str:token>/", views.nps_view, name="support-nps"),
    path("kb/", views.article_list_view, name="support-article-list"),
    path("kb/<slug:slug>/", views.article_detail_view, name="support-article-detail"),
    path("kb/<slug:slug>/vote/", views.article_vote_view, name="support-article-vote"),
]
