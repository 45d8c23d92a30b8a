"""Settings → Email writing: the form over the organisation's OutreachSettings."""

from __future__ import annotations

from typing import Any

from django import forms

from outreach.models import DraftLocale, OutreachSettings

from .org_settings import BANNED_PHRASE_MAX, VALUE_PROPOSITION_MAX


class OutreachSettingsForm(forms.Form):
    value_proposition = forms.CharField(
        label="What you offer, in a sentence or two",
        required=False,
        max_length=VALUE_PROPOSITION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="AI drafts build their pitch on this, and on nothing else about your company.",
    )
    banned_phrases = forms.CharField(
        label="Phrases drafts never use (one per line)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="A draft containing one is written again once, then the plain template is sent instead.",
    )
    default_locale = forms.ChoiceField(
        label="Language of drafts when the prospect's country does not tell",
        choices=DraftLocale.choices,
    )
    tracking_domain = forms.CharField(
        label="Your own tracking domain (optional)",
        required=False,
        max_length=255,
        help_text="Open and click links then point at this host instead of ours. Add a CNAME record for it first.",
    )

    @classmethod
    def for_settings(cls, row: OutreachSettings, data: Any = None) -> OutreachSettingsForm:
        initial = {
            "value_proposition": row.value_proposition,
            "banned_phrases": "\n".join(row.banned_phrases or []),
            "default_locale": row.default_locale,
            "tracking_domain": row.tracking_domain,
        }
        return cls(data, initial=initial)

    def clean_banned_phrases(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["banned_phrases"].splitlines()]
        too_long = [line for line in lines if len(line) > BANNED_PHRASE_MAX]
        if too_long:
            raise forms.ValidationError(f"Keep each phrase under {BANNED_PHRASE_MAX} characters.")
        return [line for line in lines if line]
