"""Settings → Integrations forms: one per CRM. Secret fields are write-only (blank keeps the stored value)."""

from __future__ import annotations

from typing import Any

from django import forms

from prospects.crm.connections import DEFAULT_MAPPING, MAPPABLE_FIELDS
from prospects.crm.models import CrmKind, PushTrigger

KEEP = "Leave blank to keep the one saved."


def _secret(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=5000,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=help_text,
    )


class _CrmForm(forms.Form):
    kind = ""
    push_trigger = forms.ChoiceField(label="Send prospects to the CRM", choices=PushTrigger.choices)

    def __init__(self, *args: Any, stored: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stored = stored or set()
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.PasswordInput) and name in self.stored:
                field.help_text = f"Saved. {KEEP}"
        for name, label in MAPPABLE_FIELDS:
            self.fields[f"map_{name}"] = forms.CharField(
                label=label,
                required=False,
                max_length=100,
                widget=forms.TextInput(attrs={"placeholder": "not sent"}),
            )
            self.initial.setdefault(f"map_{name}", DEFAULT_MAPPING[self.kind][name])

    def mapping_fields(self) -> list[forms.BoundField]:
        return [self[f"map_{name}"] for name, _ in MAPPABLE_FIELDS]

    def setting_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith("map_")]

    def mapping(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(f"map_{name}", "") for name, _ in MAPPABLE_FIELDS}


class HubSpotForm(_CrmForm):
    kind = CrmKind.HUBSPOT
    token = _secret("Private app access token", "HubSpot → Settings → Integrations → Private apps.")
    client_secret = _secret(
        "App client secret (for webhooks)", "Only needed if HubSpot sends us deal changes by webhook."
    )
    field_order = ["token", "client_secret", "push_trigger"]


class SalesforceForm(_CrmForm):
    kind = CrmKind.SALESFORCE
    auth_flow = forms.ChoiceField(
        label="Sign-in method",
        choices=[("password", "Username and password"), ("jwt", "Certificate (JWT bearer flow)")],
        initial="password",
    )
    username = forms.CharField(label="Salesforce username", max_length=200, required=False)
    login_url = forms.URLField(
        label="Login address",
        required=False,
        assume_scheme="https",
        help_text="Blank for login.salesforce.com; use test.salesforce.com for a sandbox, or your My Domain.",
    )
    client_id = _secret("Connected app consumer key")
    client_secret = _secret("Connected app consumer secret")
    password = _secret("Password")
    security_token = _secret("Security token", "Added to the password when your org asks for one.")
    private_key = forms.CharField(
        label="Private key (PEM, for the certificate method)",
        required=False,
        max_length=10000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    contact_external_id = forms.CharField(
        label="Contact field holding the email (external id)", max_length=100, initial="Email__c"
    )
    account_external_id = forms.CharField(
        label="Account field holding the domain (external id)", max_length=100, initial="Domain__c"
    )
    disqualified_status = forms.CharField(
        label="Lead status that means disqualified", max_length=100, initial="Closed - Not Converted"
    )
    field_order = [
        "auth_flow",
        "username",
        "login_url",
        "client_id",
        "client_secret",
        "password",
        "security_token",
        "private_key",
        "contact_external_id",
        "account_external_id",
        "disqualified_status",
        "push_trigger",
    ]


FORMS: dict[str, type[_CrmForm]] = {CrmKind.HUBSPOT: HubSpotForm, CrmKind.SALESFORCE: SalesforceForm}
