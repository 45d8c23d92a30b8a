"""The outbox's answer to an `unknown` message: ask the ESP, or say it was delivered, or send it again."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.access import OrgRequest, member_required
from leadgen.tenancy import get_for_org

from ..models import Message, MessageStatus
from .reconcile import LOOKUPS, esp_lookup, message_unknown_settle


@member_required
@require_POST
def message_settle(request: OrgRequest, message_id: int) -> HttpResponse:
    message = get_for_org(Message.objects.select_related("mailbox"), pk=message_id)
    action = request.POST.get("action", "")
    if message.status != MessageStatus.UNKNOWN:
        messages.info(request, "This email is no longer in doubt; nothing was changed.")
        return redirect("message_detail", message_id=message.pk)
    if action == "ask" and message.mailbox.esp in LOOKUPS:
        found = esp_lookup(message=message)
        if found.left is None:
            messages.info(request, f"Not settled: {found.evidence}.")
        else:
            message_unknown_settle(
                message=message, left=found.left, evidence=found.evidence, actor=request.user
            )
            messages.success(request, "Settled from the provider's records: " + found.evidence + ".")
    elif action in ("delivered", "resend"):
        left = action == "delivered"
        evidence = "marked as delivered" if left else "marked as never delivered"
        message_unknown_settle(message=message, left=left, evidence=evidence, actor=request.user)
        messages.success(
            request,
            "Marked as sent; the sequence goes on with its next step."
            if left
            else "Queued again with the same Message-ID; it goes out at the next sending slot.",
        )
    else:
        messages.error(request, "Choose what happened to this email.")
    return redirect("message_detail", message_id=message.pk)
