"""Forms of the campaign pages. The step editor posts indexed fields (`step-0-delay_amount`,
`step-0-variant-1-subject`, ...) parsed by `steps_from_post`, so steps and variants can be added in the page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

from outreach.models import Mailbox
from prospects.models import ICP
from prospects.timezones import is_valid_timezone

from .models import Campaign, StopRule
from .services import MAX_STEPS, MAX_VARIANTS, StepData, VariantData

WEEKDAYS = [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")]


class CampaignNewForm(forms.Form):
    name = forms.CharField(max_length=200)


class CampaignSettingsForm(forms.ModelForm):
    send_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple, label="Send days"
    )
    stop_on = forms.MultipleChoiceField(
        choices=StopRule.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Stop when the prospect",
    )
    mailboxes = forms.ModelMultipleChoiceField(
        queryset=Mailbox.objects.unscoped().none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Send from",
    )
    icp = forms.ModelChoiceField(queryset=ICP.objects.unscoped().none(), required=False, label="ICP")

    class Meta:
        model = Campaign
        fields = [
            "name",
            "icp",
            "mailboxes",
            "timezone",
            "send_days",
            "window_start",
            "window_end",
            "skip_holidays",
            "holiday_country",
            "daily_new_limit",
            "stop_on",
            "stop_company",
            "ooo_pause_days",
            "exclusive",
            "review_required",
            "track_opens",
            "track_clicks",
            "first_email_plain",
        ]
        labels = {
            "timezone": "Fallback timezone",
            "window_start": "Send from (recipient's time)",
            "window_end": "Send until",
            "skip_holidays": "Skip public holidays",
            "holiday_country": "Holidays of (when the recipient's country is unknown)",
            "daily_new_limit": "New prospects per day (0 = no limit)",
            "stop_company": "A reply stops everyone at the same company",
            "ooo_pause_days": "Out of office with no return date: wait (days)",
            "exclusive": "Skip prospects active in another campaign",
            "review_required": "Review every email before it is sent",
            "track_opens": "Count opens (adds an invisible image)",
            "track_clicks": "Count link clicks",
            "first_email_plain": "Send the first email as plain text (opens of it are not counted)",
        }
        widgets = {
            "window_start": forms.TimeInput(attrs={"type": "time"}),
            "window_end": forms.TimeInput(attrs={"type": "time"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mailboxes"].queryset = Mailbox.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["icp"].queryset = ICP.objects.order_by("name")  # type: ignore[attr-defined]
        # Optional in the form (an older page or a script posting without it keeps the stored value).
        self.fields["ooo_pause_days"].required = False

    def clean_timezone(self) -> str:
        value = str(self.cleaned_data["timezone"]).strip()
        if not is_valid_timezone(value):
            raise forms.ValidationError("Use an IANA timezone name such as Europe/Berlin.")
        return value

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        for key in ("mailboxes", "icp"):
            data.pop(key, None)
        if data.get("ooo_pause_days") is None:
            data.pop("ooo_pause_days", None)
        return data


def _int(data: QueryDict, key: str, default: int = 0) -> int:
    try:
        return max(0, int(data.get(key, default) or default))
    except ValueError:
        return default


def steps_from_post(data: QueryDict) -> list[StepData]:
    steps = []
    for s in range(MAX_STEPS):
        prefix = f"step-{s}-"
        if f"{prefix}present" not in data:
            continue
        variants = []
        for v in range(MAX_VARIANTS):
            vp = f"{prefix}variant-{v}-"
            if f"{vp}present" not in data or data.get(f"{vp}remove"):
                continue
            variants.append(
                VariantData(
                    name=data.get(f"{vp}name", "").strip(),
                    subject=data.get(f"{vp}subject", ""),
                    body=data.get(f"{vp}body", ""),
                    weight=_int(data, f"{vp}weight", 1),
                )
            )
        steps.append(
            StepData(
                delay_amount=_int(data, f"{prefix}delay_amount"),
                delay_unit=data.get(f"{prefix}delay_unit", "hours"),
                thread=data.get(f"{prefix}thread", "new"),
                ai_personalise=bool(data.get(f"{prefix}ai_personalise")),
                ai_mode=data.get(f"{prefix}ai_mode", "opening_line"),
                variants=variants,
            )
        )
    return steps


def default_variant(index: int, *, step_number: int) -> VariantData:
    if step_number == 1:
        return VariantData(
            name=chr(ord("A") + index),
            subject="Quick question, {{ first_name|default:'there' }}",
            body="Hi {{ first_name|default:'there' }},\n\n…\n\n{{ sender.first_name }}",
        )
    return VariantData(
        name=chr(ord("A") + index), subject="", body="Hi {{ first_name|default:'there' }},\n\n…"
    )
