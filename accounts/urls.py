from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("settings/", views.settings_index, name="settings"),
    path("settings/organization/", views.settings_organization, name="settings_organization"),
    path("settings/members/", views.member_list, name="member_list"),
    path("settings/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("settings/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("settings/invitations/", views.invitation_list, name="invitation_list"),
    path(
        "settings/invitations/<int:invitation_id>/resend/", views.invitation_resend, name="invitation_resend"
    ),
    path(
        "settings/invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"
    ),
    path("settings/api-keys/", views.apikey_list, name="apikey_list"),
    path("settings/api-keys/<int:apikey_id>/revoke/", views.apikey_revoke, name="apikey_revoke"),
    path("settings/audit/", views.audit_list, name="audit_list"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("orgs/switch/", views.org_switch, name="org_switch"),
]
