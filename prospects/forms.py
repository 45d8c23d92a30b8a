from __future__ import annotations

import json
from typing import Any

from django import forms

from accounts.models import Membership
from prospects.fields import TEXT_FIELDS
from prospects.models import LawfulBasis, OutcomeResult, Prospect, Stage
from prospects.plain_words import SENIORITY_CHOICES, seniority_code


def member_choices() -> list[tuple[str, str]]:
    return [
        (str(m.user_id), m.user.email)
        for m in Membership.objects.select_related("user").order_by("user__email")
    ]


class ProspectForm(forms.ModelForm):
    """The profile fields a user edits on the prospect page; the service validates and records the change."""

    tags = forms.CharField(required=False, help_text="Comma-separated", max_length=2000)
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    class Meta:
        model = Prospect
        fields = [*TEXT_FIELDS, "lawful_basis", "do_not_contact"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner, lawful_basis = self.fields["owner"], self.fields["lawful_basis"]
        assert isinstance(owner, forms.ChoiceField) and isinstance(lawful_basis, forms.ChoiceField)
        owner.choices = [("", "Nobody"), *member_choices()]
        lawful_basis.choices = LawfulBasis.choices
        if self.instance.pk and not self.is_bound:
            self.initial["tags"] = ", ".join(self.instance.tags)
            self.initial["owner"] = self.instance.owner_id or ""
        if "seniority" in self.fields:
            self.fields["seniority"] = seniority_field(self.instance.seniority)

    def _post_clean(self) -> None:
        # The service, not the model form, validates and writes (dedup, normalisation, timeline).
        pass

    def service_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: self.cleaned_data[name] for name in TEXT_FIELDS}
        data["tags"] = self.cleaned_data["tags"]
        data["lawful_basis"] = self.cleaned_data["lawful_basis"] or ""
        data["do_not_contact"] = self.cleaned_data["do_not_contact"]
        data["owner_id"] = self.cleaned_data["owner"]
        return data


class NoteForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=20000,
        label="Note",
        error_messages={"required": "A note cannot be empty."},
    )


class StageForm(forms.Form):
    stage = forms.ChoiceField(choices=Stage.choices)


class OutcomeForm(forms.Form):
    result = forms.ChoiceField(choices=OutcomeResult.choices)
    reason = forms.CharField(required=False, max_length=500)


BULK_ACTIONS = [
    ("stage", "Change stage"),
    ("owner", "Change owner"),
    ("add_tags", "Add tags"),
    ("remove_tags", "Remove tags"),
    ("delete", "Delete"),
]


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=BULK_ACTIONS)
    ids = forms.TypedMultipleChoiceField(
        coerce=int, required=True, error_messages={"required": "Select prospects first."}
    )
    stage = forms.ChoiceField(choices=[("", "—"), *Stage.choices], required=False)
    owner = forms.CharField(required=False)
    tags = forms.CharField(required=False, max_length=2000)
    query = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any integers are accepted here; the service only touches the current organisation's rows.
        self.fields["ids"].valid_value = lambda value: True  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "stage" and not data.get("stage"):
            self.add_error("stage", "Choose a stage.")
        if action in ("add_tags", "remove_tags") and not (data.get("tags") or "").strip():
            self.add_error("tags", "Enter at least one tag.")
        if action == "owner":
            owner = (data.get("owner") or "").strip()
            if owner not in ("", "none") and not owner.isdigit():
                self.add_error("owner", "Choose an owner.")
        return data


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=100)
    query = forms.CharField(required=False, max_length=2000)


def seniority_field(current: str = "") -> forms.ChoiceField:
    """Seniority as a picker of plain labels ("C-level", stored as c_suite); a stored value outside the vocabulary
    stays selectable, so editing a prospect never loses it."""
    choices = [("", "—"), *SENIORITY_CHOICES]
    if current and seniority_code(current) is None:
        choices.append((current, current))
    return forms.ChoiceField(choices=choices, required=False, label="Seniority")


class ProspectAddForm(ProspectForm):
    """ "Add prospect": one person and their company (by name or website); the service dedups and checks suppression."""

    class Meta(ProspectForm.Meta):
        fields = [
            "first_name",
            "last_name",
            "email",
            "title",
            "seniority",
            "linkedin_url",
            "phone",
            "location",
            "company_name",
            "company_domain",
            "lawful_basis",
        ]
        labels = {"linkedin_url": "LinkedIn URL", "company_domain": "Company website or domain"}

    def service_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: self.cleaned_data[name] for name in self._meta.fields or ()}
        data["lawful_basis"] = data["lawful_basis"] or ""
        data["tags"] = self.cleaned_data["tags"]
        data["owner_id"] = self.cleaned_data["owner"]
        return data


def custom_value_text(value: Any) -> str:
    """How a custom field's value reads and is edited: text as it is, anything else (an API may store numbers,
    lists) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class CustomFieldsForm(forms.Form):
    """A prospect's custom fields as rows of name and value (`key` and `value`, repeated). A blank value removes
    its field; a value left as shown keeps its stored type. The limits are the service's (prospects.fields)."""

    BLANK_ROWS = 3

    def __init__(self, data: Any = None, *, prospect: Prospect) -> None:
        super().__init__(data)
        self.prospect = prospect

    def rows(self) -> list[tuple[str, str]]:
        if self.is_bound:
            return list(zip(self.data.getlist("key"), self.data.getlist("value"), strict=False))  # type: ignore[attr-defined]
        stored = [(key, custom_value_text(value)) for key, value in self.prospect.custom_fields.items()]
        return [*stored, *[("", "")] * self.BLANK_ROWS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        stored = self.prospect.custom_fields
        fields: dict[str, Any] = {}
        for raw_key, raw_value in self.rows():
            key, value = " ".join(raw_key.split()), raw_value.strip()
            if not key and not value:
                continue
            if not key:
                self.add_error(None, f"Give the value “{value[:40]}” a name.")
            elif key in fields:
                self.add_error(None, f"Two fields are named “{key}”.")
            elif value:
                kept = key in stored and custom_value_text(stored[key]) == value
                fields[key] = stored[key] if kept else value
        cleaned["fields"] = fields
        return cleaned
