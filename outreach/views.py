"""Pages: Settings → Mailboxes, the outbox, a prospect's messages (HTMX partial) and the public unsubscribe page."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import OrgRequest, admin_required, member_required
from leadgen.tenancy import get_for_org

from . import mailboxes, selectors, services
from . import unsubscribe as unsubscribing
from .forms import MailboxForm, OutboxFilter
from .models import Mailbox, Message
from .sending.reconcile import LOOKUPS
from .tracking.selectors import message_history

OUTBOX_PAGE_SIZE = 50


# --- Settings → Mailboxes ------------------------------------------------------------------------------------------


@admin_required
def mailbox_list(request: OrgRequest) -> HttpResponse:
    return render(
        request,
        "outreach/mailbox_list.html",
        {"mailboxes": selectors.mailboxes_list(), "section": "mailboxes", "nav": "settings"},
    )


@admin_required
def mailbox_new(request: OrgRequest) -> HttpResponse:
    form = MailboxForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        mailbox = services.mailbox_create(org=request.org, data=_form_data(form))
        flash.success(request, f"Mailbox {mailbox.from_email} added. Test its connection below.")
        return redirect("mailbox_detail", mailbox_id=mailbox.pk)
    return render(
        request, "outreach/mailbox_form.html", {"form": form, "section": "mailboxes", "nav": "settings"}
    )


@admin_required
def mailbox_detail(request: OrgRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_for_org(Mailbox, pk=mailbox_id)
    form = MailboxForm(request.POST or None, instance=mailbox)
    if request.method == "POST" and form.is_valid():
        services.mailbox_update(mailbox=mailbox, data=_form_data(form))
        flash.success(request, "Mailbox saved.")
        return redirect("mailbox_detail", mailbox_id=mailbox.pk)
    return render(
        request,
        "outreach/mailbox_form.html",
        {"form": form, "mailbox": mailbox, "section": "mailboxes", "nav": "settings"},
    )


def _form_data(form: MailboxForm) -> dict[str, object]:
    return {name: form.cleaned_data[name] for name in form.Meta.fields if name in form.cleaned_data}


@admin_required
@require_POST
def mailbox_test(request: OrgRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_for_org(Mailbox, pk=mailbox_id)
    checks = mailboxes.mailbox_test(mailbox=mailbox)
    return render(request, "outreach/mailbox_form.html#test-result", {"mailbox": mailbox, "checks": checks})


@admin_required
@require_POST
def mailbox_sync(request: OrgRequest, mailbox_id: int) -> HttpResponse:
    """The "Sync now" button: read the inbox for replies at once and show what was found (or why it failed)."""
    from .inbound.imap import ImapAuthFailed, ImapUnavailable
    from .inbound.imap import mailbox_sync as imap_sync

    mailbox = get_for_org(Mailbox, pk=mailbox_id)
    result = None
    if mailbox.imap_host:
        try:
            result = imap_sync(mailbox=mailbox)
        except (ImapAuthFailed, ImapUnavailable):
            mailbox.refresh_from_db()  # the error is stored on the mailbox and shown by the partial
    return render(request, "outreach/mailbox_form.html#imap-sync", {"mailbox": mailbox, "sync": result})


@admin_required
@require_POST
def mailbox_pause(request: OrgRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_for_org(Mailbox, pk=mailbox_id)
    services.mailbox_pause(mailbox=mailbox, reason=f"Paused by {request.user.email}.")
    flash.info(request, f"{mailbox.from_email} is paused: nothing is sent from it until you resume it.")
    return redirect("mailbox_list")


@admin_required
@require_POST
def mailbox_resume(request: OrgRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_for_org(Mailbox, pk=mailbox_id)
    services.mailbox_resume(mailbox=mailbox)
    flash.success(request, f"{mailbox.from_email} is sending again.")
    return redirect("mailbox_list")


# --- outbox and messages -------------------------------------------------------------------------------------------


@member_required
def outbox(request: OrgRequest) -> HttpResponse:
    filters = OutboxFilter(request.GET or None)
    status = campaign_id = None
    if filters.is_valid():
        status = filters.cleaned_data["status"] or None
        campaign_id = filters.cleaned_data["campaign"]
    page = Paginator(selectors.messages_filter(status=status, campaign_id=campaign_id), OUTBOX_PAGE_SIZE)
    context = {
        "filters": filters,
        "page": page.get_page(request.GET.get("page")),
        "campaign_id": campaign_id,
        "status": status or "",
        "nav": "campaigns",
    }
    template = "outreach/outbox.html#outbox-table" if request.htmx else "outreach/outbox.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@member_required
def message_detail(request: OrgRequest, message_id: int) -> HttpResponse:
    message = get_for_org(Message.objects.select_related("mailbox", "prospect"), pk=message_id)
    history = message_history(message=message)
    context = {
        "message": message,
        "history": history,
        "nav": "campaigns",
        "can_ask_provider": message.mailbox.esp in LOOKUPS,
    }
    return render(request, "outreach/message_detail.html", context)


@member_required
def prospect_messages(request: OrgRequest, prospect_id: int) -> HttpResponse:
    """The prospect page loads this with HTMX (prospects cannot import outreach)."""
    from prospects.models import Prospect

    prospect = get_for_org(Prospect, pk=prospect_id)
    rows = selectors.messages_filter(prospect_id=prospect.pk)[:50]
    return render(request, "outreach/_prospect_messages.html", {"prospect": prospect, "rows": rows})


# --- unsubscribe (public) ------------------------------------------------------------------------------------------


@login_not_required
@csrf_exempt  # RFC 8058 one-click POSTs come from mail providers, which cannot carry a CSRF token.
@xframe_options_deny
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, unsubscribe_token: str) -> HttpResponse:
    """GET shows a button and never unsubscribes (scanners follow links); a POST unsubscribes at once."""
    message = unsubscribing.message_for_token(unsubscribe_token)
    if message is None:
        return render(request, "outreach/unsubscribe.html", {"state": "invalid"}, status=404)
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click" and "via" not in request.POST
        unsubscribing.message_unsubscribe(message=message, method="one-click" if one_click else "page")
        return render(request, "outreach/unsubscribe.html", {"state": "done", "message": message})
    state = "done" if message.unsubscribed_at else "confirm"
    return render(
        request, "outreach/unsubscribe.html", {"state": state, "message": message, "token": unsubscribe_token}
    )
