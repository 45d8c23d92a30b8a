from __future__ import annotations

from django.urls import path

from . import views

urlpatterns: list = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/unread/", views.badge, name="inbox_badge"),
    path("inbox/<int:reply_id>/", views.thread, name="inbox_thread"),
    path("inbox/<int:reply_id>/answer/", views.answer, name="inbox_answer"),
    path("inbox/<int:reply_id>/outcome/", views.outcome, name="inbox_outcome"),
    path("inbox/<int:reply_id>/unread/", views.mark_unread, name="inbox_mark_unread"),
    path("prospects/<int:prospect_id>/engagement/", views.prospect_engagement, name="prospect_engagement"),
]
