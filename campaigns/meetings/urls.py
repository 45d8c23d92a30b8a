from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    # Public, no login: the host's slug and the type's slug; a booked meeting is reached by a signed token.
    path("book/<slug:host_slug>/<slug:type_slug>/", views.book, name="meeting_book"),
    path("booking/<str:manage_token>/", views.meeting_manage, name="meeting_manage"),
    path("booking/<str:manage_token>/cancel/", views.meeting_cancel, name="meeting_cancel"),
    path("booking/<str:manage_token>/reschedule/", views.meeting_reschedule, name="meeting_reschedule"),
    path("settings/meetings/", views.meetings_settings, name="meetings_settings"),
    path("settings/meetings/types/new/", views.meeting_type_edit, name="meeting_type_new"),
    path("settings/meetings/types/<int:meeting_type_id>/", views.meeting_type_edit, name="meeting_type_edit"),
    path(
        "settings/meetings/days/<int:date_override_id>/delete/",
        views.date_override_delete,
        name="date_override_delete",
    ),
    path("settings/meetings/<int:meeting_id>/cancel/", views.meeting_host_cancel, name="meeting_host_cancel"),
    path("prospects/<int:prospect_id>/meetings/", views.prospect_meetings, name="prospect_meetings"),
]
