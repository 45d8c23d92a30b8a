"""Inbox pages: the list with its filters (HTMX), a thread, answering, outcome buttons, the nav's unread count,
and the prospect page's engagement panel (loaded by HTMX: prospects cannot import outreach)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import OrgRequest, member_required
from accounts.models import Membership
from leadgen.tenancy import get_for_org
from outreach.models import Mailbox, Reply, ReplyKind

from . import selectors, services
from .forms import AnswerForm, InboxFilterForm


def _filter_form(request: OrgRequest) -> InboxFilterForm:
    mailboxes = [(m.pk, m.from_email) for m in Mailbox.objects.order_by("from_email", "id")]
    owners = [
        (m.user_id, m.user.get_full_name() or m.user.email)
        for m in Membership.objects.select_related("user").order_by("user__email")
    ]
    return InboxFilterForm(
        request.GET or None,
        campaigns=selectors.campaign_choices(),
        mailboxes=mailboxes,
        owners=owners,
    )


@member_required
def inbox(request: OrgRequest) -> HttpResponse:
    form = _filter_form(request)
    filters = form.filters()
    try:
        rows, next_cursor = selectors.reply_page(filters=filters, cursor=request.GET.get("cursor") or None)
    except selectors.InvalidCursor:
        rows, next_cursor = selectors.reply_page(filters=filters)
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "form": form,
        "filters": filters,
        "rows": rows,
        "next_cursor": next_cursor,
        "query": query.urlencode(),
        "paged": bool(request.GET.get("cursor")),
        "nav": "inbox",
    }
    template = "outreach/inbox/inbox.html#reply-list" if request.htmx else "outreach/inbox/inbox.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _thread_context(reply: Reply, form: AnswerForm | None = None) -> dict[str, object]:
    number = selectors.inbox_replies_sent(reply=reply) + 1
    return {
        "reply": reply,
        "thread": selectors.thread_for(reply=reply),
        "form": form or AnswerForm(initial={"number": number}),
        "can_answer": reply.kind == ReplyKind.REPLY and bool(reply.from_email),
        "outcomes": [(key, label) for key, (label, _, _) in services.OUTCOMES.items()],
        "nav": "inbox",
    }


@member_required
def thread(request: OrgRequest, reply_id: int) -> HttpResponse:
    reply = get_for_org(Reply.objects.select_related("prospect", "mailbox", "message"), pk=reply_id)
    services.reply_mark_read(reply=reply, user=request.user)
    return render(request, "outreach/inbox/thread.html", _thread_context(reply))


@member_required
@require_POST
def answer(request: OrgRequest, reply_id: int) -> HttpResponse:
    reply = get_for_org(Reply.objects.select_related("prospect", "mailbox", "message"), pk=reply_id)
    form = AnswerForm(request.POST)
    if form.is_valid():
        try:
            message, created = services.inbox_reply_send(
                reply=reply,
                user=request.user,
                body=form.cleaned_data["body"],
                number=form.cleaned_data["number"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if created:
                flash.success(request, f"Your answer to {message.to_email} is on its way.")
            else:
                flash.info(request, "This answer was already sent; it was not sent twice.")
            return redirect("inbox_thread", reply_id=reply.pk)
    return render(request, "outreach/inbox/thread.html", _thread_context(reply, form), status=400)


@member_required
@require_POST
def outcome(request: OrgRequest, reply_id: int) -> HttpResponse:
    reply = get_for_org(Reply.objects.select_related("prospect"), pk=reply_id)
    try:
        label = services.inbox_outcome_record(
            reply=reply, outcome=request.POST.get("outcome", ""), user=request.user
        )
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
        return redirect("inbox_thread", reply_id=reply.pk)
    name = reply.prospect.full_name if reply.prospect else reply.from_email
    flash.success(request, f"Recorded for {name}: {label}.")
    return redirect("inbox_thread", reply_id=reply.pk)


@member_required
@require_POST
def mark_unread(request: OrgRequest, reply_id: int) -> HttpResponse:
    reply = get_for_org(Reply, pk=reply_id)
    services.reply_mark_unread(reply=reply)
    return redirect("inbox")


@member_required
def badge(request: OrgRequest) -> HttpResponse:
    """The nav's unread count, fetched by HTMX after the page so pages pay no query for it."""
    return render(request, "outreach/inbox/_badge.html", {"unread": selectors.unread_count()})


@member_required
def prospect_engagement(request: OrgRequest, prospect_id: int) -> HttpResponse:
    from prospects.models import Prospect

    prospect = get_for_org(Prospect, pk=prospect_id)
    engagement = selectors.prospect_engagement(prospect_id=prospect.pk)
    return render(
        request, "outreach/inbox/_prospect_engagement.html", {"prospect": prospect, "engagement": engagement}
    )
