"""The inbox's filter bar and answer form."""

from __future__ import annotations

from typing import Any

from django import forms

from outreach.models import ReplyIntent, ReplyKind

from .selectors import InboxFilters


class InboxFilterForm(forms.Form):
    tab = forms.ChoiceField(
        choices=[("replies", "Replies"), ("automatic", "Auto-replies and bounces")], required=False
    )
    intent = forms.ChoiceField(choices=[("", "Any intent"), *ReplyIntent.choices], required=False)
    kind = forms.ChoiceField(
        choices=[("", "Any"), (ReplyKind.AUTO_REPLY, "Auto-replies"), (ReplyKind.BOUNCE, "Bounces")],
        required=False,
    )
    campaign = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    mailbox = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    owner = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    unread = forms.BooleanField(required=False, label="Unread only")

    def __init__(
        self,
        *args: Any,
        campaigns: list[tuple[int, str]],
        mailboxes: list[tuple[int, str]],
        owners: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        for name, label, choices in (
            ("campaign", "Any campaign", campaigns),
            ("mailbox", "Any mailbox", mailboxes),
            ("owner", "Any owner", owners),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", label), *choices]

    def filters(self) -> InboxFilters:
        """What the form asks for; an invalid value (a stale link) falls back to 'any' rather than an error."""
        data = self.cleaned_data if self.is_valid() else {}
        tab = data.get("tab") or "replies"
        return InboxFilters(
            tab=tab,
            intent=data.get("intent") or "" if tab == "replies" else "",
            kind=data.get("kind") or "" if tab == "automatic" else "",
            campaign_id=data.get("campaign"),
            mailbox_id=data.get("mailbox"),
            owner_id=data.get("owner"),
            unread=bool(data.get("unread")),
        )


class AnswerForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), label="Your answer", max_length=20000, strip=True
    )
    # How many answers existed when the form was shown: the send key's counter (see services).
    number = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
