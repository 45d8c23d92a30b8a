"""Campaign pages: list, builder (settings, step editor, live preview), enrollments, review queue, add to campaign."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import OrgRequest, member_required
from leadgen.tenancy import get_for_org
from outreach.compose.templates import TemplateRenderError, template_context, template_render
from outreach.models import Mailbox, Message, MessageStatus
from outreach.services import MessageStateError, message_edit, message_reject
from prospects.models import Prospect

from . import selectors, services
from .enrollment import enrollment_create_many, enrollment_resume, enrollment_stop
from .forms import CampaignNewForm, CampaignSettingsForm, default_variant, steps_from_post
from .models import Campaign, CampaignStatus, DelayUnit, Enrollment, EnrollmentState, StopReason, Thread
from .review import review_approve

NAV = {"nav": "campaigns"}
LIFECYCLE = {
    "launch": services.campaign_launch,
    "pause": services.campaign_pause,
    "resume": services.campaign_resume,
    "archive": services.campaign_archive,
}
MAX_ADD_IDS = 1000


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _campaign(campaign_id: int) -> Campaign:
    return get_for_org(Campaign, pk=campaign_id)


# --- list --------------------------------------------------------------------------------------------------------


@member_required
@require_GET
def campaign_list(request: OrgRequest) -> HttpResponse:
    show_archived = request.GET.get("archived") == "1"
    context = {
        **NAV,
        "campaigns": list(selectors.campaigns_with_stats(include_archived=show_archived)),
        "show_archived": show_archived,
        "to_review": len(selectors.review_queue(limit=1000)),
        "form": CampaignNewForm(),
    }
    return render(request, "campaigns/list.html", context)


@member_required
@require_POST
def campaign_new(request: OrgRequest) -> HttpResponse:
    form = CampaignNewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the campaign a name.")
        return redirect("campaign_list")
    steps = [services.StepData(variants=[default_variant(0, step_number=1)])]
    campaign = services.campaign_create(
        org=request.org,
        owner=request.user,
        data={"name": form.cleaned_data["name"], "timezone": request.org.timezone or "UTC"},
        steps=steps,
        mailbox_ids=list(Mailbox.objects.values_list("pk", flat=True)[:1]),
    )
    return redirect("campaign_detail", campaign_id=campaign.pk)


# --- builder -----------------------------------------------------------------------------------------------------


def _editor_steps(campaign: Campaign) -> list[services.StepData]:
    return [
        services.StepData(
            delay_amount=step.delay_amount,
            delay_unit=step.delay_unit,
            thread=step.thread,
            ai_personalise=step.ai_personalise,
            ai_mode=step.ai_mode,
            variants=[services.VariantData(v.name, v.subject, v.body, v.weight) for v in step.variants.all()],
        )
        for step in selectors.campaign_steps(campaign=campaign)
    ]


def _edit_steps(steps: list[services.StepData], action: str) -> list[services.StepData]:
    """The step editor's add/remove buttons, applied to the posted (unsaved) steps."""
    if action == "add_step":
        steps.append(
            services.StepData(
                delay_amount=3,
                delay_unit=DelayUnit.BUSINESS_DAYS,
                thread=Thread.REPLY,
                variants=[default_variant(0, step_number=len(steps) + 1)],
            )
        )
    elif action.startswith("add_variant:"):
        index = int(action.split(":", 1)[1])
        if 0 <= index < len(steps) and len(steps[index].variants) < services.MAX_VARIANTS:
            steps[index].variants.append(default_variant(len(steps[index].variants), step_number=index + 1))
    elif action.startswith("remove_step:"):
        index = int(action.split(":", 1)[1])
        if 0 <= index < len(steps) and len(steps) > 1:
            steps.pop(index)
    return steps


def _builder_context(
    campaign: Campaign, form: CampaignSettingsForm, steps: list[services.StepData]
) -> dict[str, Any]:
    return {
        **NAV,
        "campaign": campaign,
        "form": form,
        "steps": steps,
        "delay_units": DelayUnit.choices,
        "threads": Thread.choices,
        "counts": selectors.enrollment_counts(campaign=campaign),
        "preview_prospects": list(Prospect.objects.exclude(email="").order_by("-created_at")[:50]),
        "launch_problems": services.launch_problems(campaign)
        if campaign.status == CampaignStatus.DRAFT
        else [],
        "outbox_url": reverse("outbox") + f"?campaign={campaign.pk}",
    }


@member_required
def campaign_detail(request: OrgRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    if request.method != "POST":
        form = CampaignSettingsForm(instance=campaign, initial={"mailboxes": campaign.mailboxes.all()})
        return render(
            request, "campaigns/detail.html", _builder_context(campaign, form, _editor_steps(campaign))
        )
    form = CampaignSettingsForm(request.POST, instance=Campaign.objects.get(pk=campaign.pk))
    steps = steps_from_post(request.POST)
    action = request.POST.get("action", "save")
    if action != "save":
        return render(
            request, "campaigns/detail.html", _builder_context(campaign, form, _edit_steps(steps, action))
        )
    if form.is_valid():
        try:
            services.campaign_update(
                campaign=campaign,
                data=form.service_data(),
                steps=steps,
                mailbox_ids=[m.pk for m in form.cleaned_data["mailboxes"]],
                icp_id=form.cleaned_data["icp"].pk if form.cleaned_data["icp"] else None,
            )
        except ValidationError as exc:
            messages.error(request, _errors(exc))
            return render(request, "campaigns/detail.html", _builder_context(campaign, form, steps))
        messages.success(request, "Saved.")
        return redirect("campaign_detail", campaign_id=campaign.pk)
    return render(request, "campaigns/detail.html", _builder_context(campaign, form, steps))


@member_required
@require_POST
def campaign_status(request: OrgRequest, campaign_id: int, action: str) -> HttpResponse:
    campaign = _campaign(campaign_id)
    change = LIFECYCLE.get(action)
    if change is None:
        return HttpResponse(status=404)
    try:
        change(campaign=campaign)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Campaign {campaign.get_status_display().lower()}.")
    return redirect("campaign_detail", campaign_id=campaign.pk)


@member_required
@require_POST
def campaign_preview(request: OrgRequest, campaign_id: int) -> HttpResponse:
    """The live preview: the posted subject and body rendered for the chosen prospect (HTMX)."""
    campaign = _campaign(campaign_id)
    prospect = Prospect.objects.select_related("company").filter(pk=request.POST.get("prospect") or 0).first()
    context: dict[str, Any] = {"prospect": prospect}
    if prospect is not None:
        mailbox = campaign.mailboxes.order_by("id").first()
        from .scheduler.dispatch import kept_hooks

        data = template_context(
            prospect=prospect, mailbox=mailbox, hooks=kept_hooks(prospect, campaign.icp_id)
        )
        # The button posts the whole editor and names its variant ("step-<i>-variant-<j>").
        prefix = request.POST.get("variant", "step-0-variant-0")
        from .meetings.links import booking_link_for

        # The link the prospect would get (its token names no message: a preview sends nothing).
        data["booking_link"] = booking_link_for(
            user_id=campaign.owner_id, org_id=campaign.org_id, prospect_id=prospect.pk, send_key=""
        )
        try:
            subject = template_render(request.POST.get(f"{prefix}-subject", ""), data)
            body = template_render(request.POST.get(f"{prefix}-body", ""), data)
        except TemplateRenderError as exc:
            context["error"] = str(exc)
        else:
            context |= {
                "subject": subject.text,
                "body": body.text,
                "missing": list(dict.fromkeys(subject.missing + body.missing)),
            }
    return render(request, "campaigns/detail.html#preview", context)


# --- enrollments -------------------------------------------------------------------------------------------------


def _reason(enrollment: Enrollment) -> str:
    if enrollment.state == EnrollmentState.STOPPED and enrollment.stop_reason:
        return str(StopReason(enrollment.stop_reason).label)
    return enrollment.hold_reason


@member_required
@require_GET
def enrollment_list(request: OrgRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    state = request.GET.get("state", "")
    state = state if state in EnrollmentState.values else ""
    cursor = request.GET.get("cursor", "")
    rows, next_cursor = selectors.enrollment_page(
        campaign=campaign, state=state, cursor=int(cursor) if cursor.isdigit() else None
    )
    for row in rows:
        row.reason_text = _reason(row)  # type: ignore[attr-defined]
    counts = selectors.enrollment_counts(campaign=campaign)
    context = {
        **NAV,
        "campaign": campaign,
        "rows": rows,
        "state": state,
        "states": [(value, label, counts.get(value, 0)) for value, label in EnrollmentState.choices],
        "next_cursor": next_cursor,
    }
    return render(request, "campaigns/enrollments.html", context)


@member_required
@require_POST
def enrollment_action(request: OrgRequest, campaign_id: int, enrollment_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    enrollment = get_for_org(Enrollment.objects.filter(campaign=campaign), pk=enrollment_id)
    if request.POST.get("action") == "resume":
        enrollment_resume(enrollment=enrollment)
        messages.success(request, "Resumed.")
    elif request.POST.get("action") == "stop":
        enrollment_stop(enrollment=enrollment, reason=StopReason.REMOVED)
        messages.success(request, "Removed from the campaign.")
    return redirect("campaign_enrollments", campaign_id=campaign.pk)


# --- a prospect's campaigns (the prospect page loads this with HTMX) ------------------------------------------------


PENDING = (MessageStatus.DRAFT, MessageStatus.APPROVED, MessageStatus.QUEUED, MessageStatus.SENDING)


@member_required
@require_GET
def prospect_campaigns(request: OrgRequest, prospect_id: int) -> HttpResponse:
    """Every campaign the prospect is in: state, step, the next email in the recipient's own time, why it stopped."""
    prospect = get_for_org(Prospect, pk=prospect_id)
    rows = selectors.prospect_campaigns(prospect=prospect)
    for row in rows:
        row.reason_text = _reason(row)  # type: ignore[attr-defined]
        pending = row.current_message
        waiting = pending is not None and pending.status in PENDING
        upcoming = row.next_send_at or (pending.scheduled_at if waiting and pending else None)
        active = row.state == EnrollmentState.ACTIVE and row.campaign.status == CampaignStatus.ACTIVE
        row.next_at = upcoming if active else None  # type: ignore[attr-defined]
        row.in_review = active and waiting and pending.status == MessageStatus.DRAFT  # type: ignore[attr-defined,union-attr]
    return render(request, "campaigns/_prospect_campaigns.html", {"prospect": prospect, "rows": rows})


# --- add to campaign (from the prospect list) --------------------------------------------------------------------


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()][:MAX_ADD_IDS]


@member_required
@require_POST
def campaign_add(request: OrgRequest) -> HttpResponse:
    """The prospect list's "Add to campaign": choose a campaign for the selected ids, then see a result per id."""
    ids = _ids(request.POST.getlist("ids"))
    campaigns = Campaign.objects.exclude(status=CampaignStatus.ARCHIVED).order_by("-created_at")
    context: dict[str, Any] = {**NAV, "ids": ids, "campaigns": campaigns}
    chosen = request.POST.get("campaign")
    if chosen and ids:
        campaign = get_for_org(campaigns, pk=chosen)
        outcomes = enrollment_create_many(campaign=campaign, prospect_ids=ids, actor=request.user)
        names = dict(Prospect.objects.filter(pk__in=ids).values_list("pk", "email"))
        context |= {"campaign": campaign, "outcomes": [(o, names.get(o.prospect_id, "")) for o in outcomes]}
        context["enrolled"] = sum(o.status == "enrolled" for o in outcomes)
    return render(request, "campaigns/add.html", context)


# --- review queue ------------------------------------------------------------------------------------------------


def _review_context(campaign: Campaign | None) -> dict[str, Any]:
    drafts = selectors.review_queue(campaign=campaign)
    names = selectors.campaign_names(m.campaign_id for m in drafts if m.campaign_id)
    for draft in drafts:
        draft.campaign_name = names.get(draft.campaign_id or 0, "")  # type: ignore[attr-defined]
    return {**NAV, "campaign": campaign, "drafts": drafts}


@member_required
@require_GET
def review_queue(request: OrgRequest, campaign_id: int | None = None) -> HttpResponse:
    campaign = _campaign(campaign_id) if campaign_id else None
    return render(request, "campaigns/review.html", _review_context(campaign))


def _draft(message_id: str | int) -> Message:
    return get_for_org(Message.objects.filter(campaign_id__isnull=False), pk=message_id)


@member_required
@require_POST
def review_act(request: OrgRequest) -> HttpResponse:
    """Approve, reject or save an edit: one draft (its own buttons) or every ticked draft (the bulk bar)."""
    action = request.POST.get("action", "")
    single = request.POST.get("message")
    ids = [single] if single else request.POST.getlist("ids")
    done = 0
    for message_id in ids:
        message = _draft(message_id)
        try:
            if single and "subject" in request.POST:
                message = message_edit(
                    message=message,
                    actor=request.user,
                    subject=request.POST["subject"],
                    body_text=request.POST.get("body", message.body_text),
                )
            if action == "approve":
                review_approve(message=message, actor=request.user)
            elif action == "reject":
                message_reject(message=message, actor=request.user)
            done += 1
        except (ValidationError, MessageStateError) as exc:
            messages.error(request, _errors(exc))
    verb = {"approve": "Approved", "reject": "Rejected"}.get(action, "Saved")
    if done:
        messages.success(request, f"{verb} {done} email{'s' if done != 1 else ''}.")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/campaigns/") else reverse("review_queue"))
