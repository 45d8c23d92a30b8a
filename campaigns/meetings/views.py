"""Pages of the meetings wing.

Public (no login, recipient-facing): the booking page `/book/<profile slug>/<type slug>/` (days → times → form),
and the confirmation page with its reschedule and cancel pages, keyed by a signed token. They scope the request to
the host's organisation before any tenant query.

Logged in: Settings → Meetings (each member's own hours, rules, calendar feed, meeting types, upcoming meetings)
and the prospect page's list of that person's meetings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import OrgRequest, member_required
from leadgen import ratelimit
from leadgen.clientip import client_ip
from leadgen.tenancy import get_for_org, set_org_for_request
from prospects.models import Prospect

from . import selectors, services
from .forms import BookingForm, MeetingTypeForm, OverrideForm, ProfileForm, WeeklyHoursForm, visitor_zone
from .links import booking_url
from .models import BookingProfile, DateOverride, Meeting, MeetingType
from .slots import slots_by_day, zone_names, zone_or_utc
from .tokens import link_token_read, manage_token_make, manage_token_read

SLOT_FORMAT = "%Y%m%dT%H%MZ"
# Bookings a visitor's address may post per minute to one host: enough for any person, not for a script
# filling the prospect list.
BOOK_POSTS_PER_MINUTE = 10
TAKEN = "That time was just taken by someone else. Please pick another time."
GONE = "That time is no longer available. Please pick another time."


def _slot_param(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value or "", SLOT_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "campaigns/meetings/public_missing.html", status=404)


# --- the public booking page --------------------------------------------------------------------------------------


def _picker(
    request: HttpRequest,
    meeting_type: MeetingType,
    *,
    zone: str,
    keep: dict[str, str],
    ignore: Meeting | None = None,
) -> dict[str, Any]:
    """Days with free times, the chosen day's times and the chosen time, all in the visitor's zone."""
    slots = services.slots_for(meeting_type, ignore=ignore)
    days = slots_by_day(slots, zone)
    wanted = request.GET.get("day", "")
    chosen_day = next((d for d, _ in days if d.isoformat() == wanted), days[0][0] if days else None)
    slot = _slot_param(request.POST.get("slot") or request.GET.get("slot"))
    if slot is not None and slot not in slots:
        slot = None

    def url(**extra: str) -> str:
        return "?" + urlencode({**{k: v for k, v in keep.items() if v}, **extra})

    return {
        "days": [{"date": d, "count": len(times), "url": url(day=d.isoformat())} for d, times in days],
        "chosen_day": chosen_day,
        "times": [
            {
                "local": t,
                "url": url(day=chosen_day.isoformat(), slot=t.astimezone(dt.UTC).strftime(SLOT_FORMAT)),
            }
            for d, day_times in days
            if d == chosen_day
            for t in day_times
        ],
        "back_url": url(day=chosen_day.isoformat()) if chosen_day else url(),
        "zones": zone_names(),
        "slot": slot,
        "slot_local": slot.astimezone(zone_or_utc(zone)) if slot else None,
        "slot_value": slot.strftime(SLOT_FORMAT) if slot else "",
        "zone": zone,
    }


def _prefill(link_prospect: Prospect | None) -> dict[str, str]:
    if link_prospect is None:
        return {}
    return {
        "name": link_prospect.full_name,
        "email": link_prospect.email or "",
        "company": link_prospect.company_name or "",
    }


@login_not_required
@require_http_methods(["GET", "POST"])
def book(request: HttpRequest, host_slug: str, type_slug: str) -> HttpResponse:
    profile = selectors.public_profile(host_slug)
    if profile is None:
        return _not_found(request)
    set_org_for_request(profile.org_id)
    meeting_type = selectors.public_meeting_type(profile, type_slug)
    if meeting_type is None:
        return _not_found(request)
    params = request.POST if request.method == "POST" else request.GET
    zone = visitor_zone(params.get("tz")) or profile.timezone
    token = params.get("t", "")
    link = link_token_read(token)
    if link is not None and link.org_id != profile.org_id:
        link, token = None, ""
    link_prospect = Prospect.objects.filter(pk=link.prospect_id).first() if link else None
    form = BookingForm(request.POST or None, initial=_prefill(link_prospect))
    error, status = "", 200
    if request.method == "POST" and ratelimit.hit(
        f"meetings:book:{profile.pk}:{client_ip(request)}", limit=BOOK_POSTS_PER_MINUTE, window=60
    ):
        return render(request, "campaigns/meetings/public_busy.html", status=429)
    if request.method == "POST" and form.is_valid():
        slot = _slot_param(request.POST.get("slot"))
        visitor = services.Visitor(
            name=form.cleaned_data["name"],
            email=form.cleaned_data["email"],
            company=form.cleaned_data["company"],
            note=form.cleaned_data["note"],
            timezone=zone,
        )
        try:
            if slot is None:
                raise services.SlotUnavailable()
            meeting = services.meeting_book(
                meeting_type=meeting_type, starts_at=slot, visitor=visitor, link=link
            )
        except services.SlotTaken:
            error, status = TAKEN, 409
        except services.SlotUnavailable:
            error, status = GONE, 409
        else:
            token_out = manage_token_make(org_id=meeting.org_id, meeting_id=meeting.pk)
            return redirect(reverse("meeting_manage", args=[token_out]) + "?booked=1")
    picker = _picker(request, meeting_type, zone=zone, keep={"tz": params.get("tz", ""), "t": token})
    if error:
        picker["slot"] = None
    context = {
        "profile": profile,
        "meeting_type": meeting_type,
        "host_name": profile.user.get_full_name() or profile.org.name,
        "form": form,
        "token": token,
        "tz_param": params.get("tz", ""),
        "error": error,
        "mode": "book",
        **picker,
    }
    return render(request, "campaigns/meetings/book.html", context, status=status)


# --- confirmation, cancel, reschedule (public, signed token) ------------------------------------------------------


def _managed(manage_token: str) -> Meeting | None:
    target = manage_token_read(manage_token)
    if target is None:
        return None
    meeting = selectors.meeting_for_manage(org_id=target[0], meeting_id=target[1])
    if meeting is not None:
        set_org_for_request(meeting.org_id)
    return meeting


def _meeting_context(meeting: Meeting, manage_token: str) -> dict[str, Any]:
    zone = meeting.visitor_timezone
    profile = meeting.meeting_type.profile
    return {
        "meeting": meeting,
        "meeting_type": meeting.meeting_type,
        "host_name": profile.user.get_full_name() or meeting.org.name,
        "local_start": meeting.starts_at.astimezone(zone_or_utc(zone)),
        "local_end": meeting.ends_at.astimezone(zone_or_utc(zone)),
        "zone": zone,
        "manage_token": manage_token,
        "book_again": booking_url(meeting.meeting_type),
    }


@login_not_required
@require_GET
def meeting_manage(request: HttpRequest, manage_token: str) -> HttpResponse:
    meeting = _managed(manage_token)
    if meeting is None:
        return _not_found(request)
    context = _meeting_context(meeting, manage_token) | {
        "just_booked": request.GET.get("booked") == "1",
        "just_moved": request.GET.get("moved") == "1",
    }
    return render(request, "campaigns/meetings/manage.html", context)


@login_not_required
@require_http_methods(["GET", "POST"])
def meeting_cancel(request: HttpRequest, manage_token: str) -> HttpResponse:
    """GET asks (mail scanners follow links); POST cancels."""
    meeting = _managed(manage_token)
    if meeting is None:
        return _not_found(request)
    if request.method == "POST":
        services.meeting_cancel(meeting=meeting, by="visitor")
        meeting.refresh_from_db()
    context = _meeting_context(meeting, manage_token) | {"confirm_cancel": request.method == "GET"}
    return render(request, "campaigns/meetings/manage.html", context)


@login_not_required
@require_http_methods(["GET", "POST"])
def meeting_reschedule(request: HttpRequest, manage_token: str) -> HttpResponse:
    meeting = _managed(manage_token)
    if meeting is None:
        return _not_found(request)
    if not meeting.is_booked:
        return redirect("meeting_manage", manage_token=manage_token)
    params = request.POST if request.method == "POST" else request.GET
    zone = visitor_zone(params.get("tz")) or meeting.visitor_timezone
    error, status = "", 200
    if request.method == "POST":
        slot = _slot_param(request.POST.get("slot"))
        try:
            if slot is None:
                raise services.SlotUnavailable()
            services.meeting_reschedule(meeting=meeting, starts_at=slot)
        except services.SlotTaken:
            error, status = TAKEN, 409
        except services.SlotUnavailable:
            error, status = GONE, 409
        else:
            return redirect(reverse("meeting_manage", args=[manage_token]) + "?moved=1")
    picker = _picker(
        request, meeting.meeting_type, zone=zone, keep={"tz": params.get("tz", "")}, ignore=meeting
    )
    if error:
        picker["slot"] = None
    context = _meeting_context(meeting, manage_token) | picker
    context |= {"mode": "reschedule", "error": error, "tz_param": params.get("tz", ""), "token": ""}
    context["zone"] = zone
    return render(request, "campaigns/meetings/book.html", context, status=status)


# --- Settings → Meetings ------------------------------------------------------------------------------------------


def _own_profile(request: OrgRequest) -> BookingProfile:
    return services.profile_ensure(org=request.org, user=request.user)


def _hours_of(profile: BookingProfile) -> dict[int, tuple[dt.time, dt.time]]:
    return {row.weekday: (row.start, row.end) for row in profile.weekly_hours.all()}


@member_required
@require_http_methods(["GET", "POST"])
def meetings_settings(request: OrgRequest) -> HttpResponse:
    profile = _own_profile(request)
    action = request.POST.get("action", "")
    old_feed = profile.busy_feed_url
    profile_form = ProfileForm(request.POST if action == "profile" else None, instance=profile)
    hours_form = WeeklyHoursForm(
        request.POST if action == "hours" else None, initial_hours=_hours_of(profile)
    )
    override_form = OverrideForm(request.POST if action == "override" else None)
    if action == "profile" and profile_form.is_valid():
        profile = profile_form.save()
        if profile.busy_feed_url != old_feed:
            services.profile_feed_changed(profile=profile)
        messages.success(request, "Saved.")
        return redirect("meetings_settings")
    if action == "hours" and hours_form.is_valid():
        services.weekly_hours_save(profile=profile, hours=hours_form.hours())
        messages.success(request, "Weekly hours saved.")
        return redirect("meetings_settings")
    if action == "override" and override_form.is_valid():
        data = override_form.cleaned_data
        day_off = data["day_off"]
        services.date_override_add(
            profile=profile,
            date=data["date"],
            start=None if day_off else data["start"],
            end=None if day_off else data["end"],
        )
        messages.success(request, f"{data['date']:%a %d %b %Y} saved.")
        return redirect("meetings_settings")
    now = timezone.now()
    context = {
        "nav": "settings",
        "section": "meetings",
        "profile": profile,
        "profile_form": profile_form,
        "hours_form": hours_form,
        "override_form": override_form,
        "overrides": profile.overrides.filter(date__gte=now.date() - dt.timedelta(days=1)),
        "meeting_types": [(t, booking_url(t)) for t in profile.meeting_types.all()],
        "upcoming": list(selectors.upcoming_meetings(host_id=request.user.pk, now=now)),
        "zone": profile.timezone,
    }
    return render(request, "campaigns/meetings/settings.html", context, status=400 if action else 200)


def _own_type(request: OrgRequest, meeting_type_id: int) -> MeetingType:
    return get_for_org(MeetingType.objects.filter(profile__user=request.user), pk=meeting_type_id)


@member_required
@require_http_methods(["GET", "POST"])
def meeting_type_edit(request: OrgRequest, meeting_type_id: int | None = None) -> HttpResponse:
    profile = _own_profile(request)
    meeting_type = _own_type(request, meeting_type_id) if meeting_type_id else None
    form = MeetingTypeForm(request.POST or None, instance=meeting_type, profile=profile)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        saved.profile = profile
        saved.org_id = profile.org_id
        saved.save()
        messages.success(request, f"“{saved.name}” saved.")
        return redirect("meetings_settings")
    context = {"nav": "settings", "section": "meetings", "form": form, "meeting_type": meeting_type}
    return render(
        request, "campaigns/meetings/type_form.html", context, status=400 if request.method == "POST" else 200
    )


@member_required
@require_POST
def date_override_delete(request: OrgRequest, date_override_id: int) -> HttpResponse:
    override = get_for_org(DateOverride.objects.filter(profile__user=request.user), pk=date_override_id)
    override.delete()
    messages.success(request, f"{override.date:%a %d %b %Y} is back to your weekly hours.")
    return redirect("meetings_settings")


@member_required
@require_POST
def meeting_host_cancel(request: OrgRequest, meeting_id: int) -> HttpResponse:
    meeting = get_for_org(Meeting.objects.select_related("meeting_type"), pk=meeting_id, host=request.user)
    if services.meeting_cancel(meeting=meeting, by="host"):
        messages.success(request, f"Cancelled; {meeting.visitor_name} gets the cancellation by email.")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/") and not back.startswith("//") else "meetings_settings")


@member_required
@require_GET
def prospect_meetings(request: OrgRequest, prospect_id: int) -> HttpResponse:
    prospect = get_for_org(Prospect, pk=prospect_id)
    meetings = list(selectors.prospect_meetings(prospect_id=prospect.pk))
    return render(
        request,
        "campaigns/meetings/_prospect_meetings.html",
        {"prospect": prospect, "meetings": meetings, "now": timezone.now()},
    )
