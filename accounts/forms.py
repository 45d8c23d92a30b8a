from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms

from .models import Organization, Role


class SignupExtraForm(forms.Form):
    """Added to allauth's sign-up form (ACCOUNT_SIGNUP_FORM_CLASS)."""

    organization_name = forms.CharField(
        max_length=200,
        required=False,
        label="Organisation name",
        help_text="Leave empty when you were invited; you can rename it later.",
    )

    def signup(self, request: Any, user: Any) -> None:
        """The organisation is created by AccountAdapter.save_user, inside the same transaction as the user."""


def _timezones() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class OrganizationForm(forms.ModelForm):
    timezone = forms.ChoiceField(choices=_timezones)

    class Meta:
        model = Organization
        fields = ["name", "timezone", "postal_address", "api_rate_limit_per_minute"]
        widgets = {"postal_address": forms.Textarea(attrs={"rows": 3})}


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses this key, e.g. 'Zapier' or 'website form'.")
