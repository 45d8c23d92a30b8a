"""Forms of Settings → Meetings and of the public booking page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from leadgen import netguard
from outreach.models import Mailbox

from .busy import feed_url
from .models import BookingProfile, MeetingType
from .slots import is_zone, zone_names

WEEKDAYS = [
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
    (7, "Sunday"),
]


def zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in zone_names()]


class ProfileForm(forms.ModelForm):  # type: ignore[type-arg]
    # Declared so the class builds without an org in scope; the org's mailboxes are set per request.
    mailbox = forms.ModelChoiceField(
        queryset=Mailbox.objects.unscoped().none(), required=False, label="Send invitations from"
    )
    timezone = forms.ChoiceField(label="Your timezone", choices=zone_choices)
    busy_feed_url = forms.CharField(
        label="Your calendar's ICS address (optional)",
        required=False,
        max_length=1000,
        help_text="Times that are busy in this calendar are not offered. Google Calendar: Settings → your calendar → "
        "“Secret address in iCal format”. Outlook: Calendar → Share → Publish → ICS.",
    )

    class Meta:
        model = BookingProfile
        fields = [
            "timezone",
            "buffer_before_minutes",
            "buffer_after_minutes",
            "min_notice_minutes",
            "horizon_days",
            "mailbox",
            "busy_feed_url",
        ]
        labels = {
            "buffer_before_minutes": "Free minutes before each meeting",
            "buffer_after_minutes": "Free minutes after each meeting",
            "min_notice_minutes": "Earliest booking, in minutes from now",
            "horizon_days": "Bookable up to this many days ahead",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mailbox_field = self.fields["mailbox"]
        assert isinstance(mailbox_field, forms.ModelChoiceField)
        mailbox_field.queryset = Mailbox.objects.order_by("name")
        mailbox_field.empty_label = "The site's own address (replies come to you)"
        self.fields["horizon_days"].validators.append(_between(1, 365))
        self.fields["min_notice_minutes"].validators.append(_between(0, 60 * 24 * 60))

    def clean_busy_feed_url(self) -> str:
        url = (self.cleaned_data.get("busy_feed_url") or "").strip()
        if not url:
            return ""
        target = feed_url(url)
        if not target.lower().startswith(("https://", "http://")):
            raise ValidationError("Enter the calendar's address, starting with https:// or webcal://.")
        netguard.url_validate(target)
        return url


def _between(low: int, high: int) -> Any:
    def check(value: int) -> None:
        if value is not None and not low <= value <= high:
            raise ValidationError(f"Enter a number from {low} to {high}.")

    return check


class WeeklyHoursForm(forms.Form):
    """One range per weekday (the model allows several; the page offers one, which is what most people need)."""

    def __init__(
        self, *args: Any, initial_hours: dict[int, tuple[dt.time, dt.time]] | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        hours = initial_hours or {}
        for day, label in WEEKDAYS:
            start, end = hours.get(day, (dt.time(9), dt.time(17)))
            self.fields[f"day{day}_on"] = forms.BooleanField(
                label=label, required=False, initial=day in hours
            )
            self.fields[f"day{day}_start"] = forms.TimeField(
                label=f"{label} from",
                initial=start,
                required=False,
                widget=forms.TimeInput(attrs={"type": "time"}),
            )
            self.fields[f"day{day}_end"] = forms.TimeField(
                label=f"{label} until",
                initial=end,
                required=False,
                widget=forms.TimeInput(attrs={"type": "time"}),
            )

    def days(self) -> list[tuple[str, forms.BoundField, forms.BoundField, forms.BoundField]]:
        return [
            (label, self[f"day{d}_on"], self[f"day{d}_start"], self[f"day{d}_end"]) for d, label in WEEKDAYS
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for day, label in WEEKDAYS:
            if not data.get(f"day{day}_on"):
                continue
            start, end = data.get(f"day{day}_start"), data.get(f"day{day}_end")
            if start is None or end is None or end <= start:
                self.add_error(f"day{day}_end", f"{label}: the end must be after the start.")
        return data

    def hours(self) -> dict[int, tuple[dt.time, dt.time]]:
        data = self.cleaned_data
        return {
            d: (data[f"day{d}_start"], data[f"day{d}_end"]) for d, _ in WEEKDAYS if data.get(f"day{d}_on")
        }


class OverrideForm(forms.Form):
    date = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    day_off = forms.BooleanField(label="Not available that day", required=False, initial=True)
    start = forms.TimeField(
        label="Or available from", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    end = forms.TimeField(label="until", required=False, widget=forms.TimeInput(attrs={"type": "time"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("day_off"):
            start, end = data.get("start"), data.get("end")
            if start is None or end is None or end <= start:
                raise ValidationError(
                    "Tick “Not available that day”, or give hours whose end is after the start."
                )
        return data


class MeetingTypeForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = MeetingType
        fields = ["name", "slug", "duration_minutes", "location", "description", "is_active"]
        labels = {
            "slug": "Link name",
            "duration_minutes": "Length in minutes",
            "location": "Where (an address, a phone number or a video link)",
            "description": "What the visitor reads on the booking page",
            "is_active": "Bookable",
        }
        help_texts = {"slug": "The last part of the booking link, such as intro-call."}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, profile: BookingProfile, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile = profile
        self.fields["slug"].required = False
        self.fields["duration_minutes"].validators.append(_between(5, 480))

    def clean_slug(self) -> str:
        slug = slugify(self.cleaned_data.get("slug") or self.cleaned_data.get("name") or "")[:60] or "meeting"
        taken = MeetingType.objects.filter(profile=self.profile, slug=slug).exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError("You already have a meeting type with this link name.")
        return slug


class BookingForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=200)
    email = forms.EmailField(label="Your email")
    company = forms.CharField(label="Company", max_length=200, required=False)
    note = forms.CharField(
        label="Anything we should know? (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def visitor_zone(value: str | None) -> str:
    """The visitor's timezone if it is a real IANA name, else ""."""
    return value if value and is_zone(value) else ""
