from __future__ import annotations

from django.urls import path

from . import views
from .compose import views as compose_views
from .inbound import esp
from .sending import views as sending_views
from .tracking import views as tracking_views

urlpatterns: list = [
    # Public, recipient-facing: keyed by a signed token, never by an id.
    path("u/<str:unsubscribe_token>/", views.unsubscribe, name="outreach_unsubscribe"),
    path("t/o/<str:tracking_token>.gif", tracking_views.pixel, name="tracking_pixel"),
    path("t/c/<path:tracking_token>", tracking_views.click, name="tracking_click"),
    # The mailbox's ESP: keyed by an HMAC token naming the mailbox, and signed the way the ESP signs.
    path("hooks/esp/<str:webhook_token>/<str:hook_kind>/", esp.esp_webhook, name="esp_webhook"),
    path("settings/email-writing/", compose_views.outreach_settings, name="outreach_settings"),
    path("settings/mailboxes/", views.mailbox_list, name="mailbox_list"),
    path("settings/mailboxes/new/", views.mailbox_new, name="mailbox_new"),
    path("settings/mailboxes/<int:mailbox_id>/", views.mailbox_detail, name="mailbox_detail"),
    path("settings/mailboxes/<int:mailbox_id>/test/", views.mailbox_test, name="mailbox_test"),
    path("settings/mailboxes/<int:mailbox_id>/sync/", views.mailbox_sync, name="mailbox_sync"),
    path("settings/mailboxes/<int:mailbox_id>/pause/", views.mailbox_pause, name="mailbox_pause"),
    path("settings/mailboxes/<int:mailbox_id>/resume/", views.mailbox_resume, name="mailbox_resume"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:message_id>/", views.message_detail, name="message_detail"),
    path("outbox/<int:message_id>/settle/", sending_views.message_settle, name="message_settle"),
    path("prospects/<int:prospect_id>/messages/", views.prospect_messages, name="prospect_messages"),
]
