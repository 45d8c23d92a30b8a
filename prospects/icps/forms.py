"""The ICP editor's form: list criteria as comma-separated inputs, example customers as repeated id fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from prospects.models import ICP
from prospects.plain_words import SENIORITY_CHOICES, seniority_code
from prospects.scoring.criteria import LIST_KEYS

LIST_HELP = "Comma-separated"


class IdListField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        try:
            return list(dict.fromkeys(int(v) for v in value if str(v).strip()))
        except (TypeError, ValueError):
            raise ValidationError("Invalid id.") from None


class SeniorityPickerField(forms.MultipleChoiceField):
    """Tick boxes with plain labels ("C-level"), stored as codes (c_suite); "vp, C-level" typed as one value (an
    old bookmark, a script) is read as the codes it names."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value: Any) -> list[str]:
        values = super().to_python(value)
        found: list[str] = []
        for item in values:
            for part in str(item).split(","):
                if part.strip():
                    found.append(seniority_code(part) or part.strip())
        return list(dict.fromkeys(found))

    def valid_value(self, value: Any) -> bool:
        # A stored value from before the picker ("Head of Sales") survives a save; criteria_clean bounds it.
        return super().valid_value(value) or 0 < len(str(value)) <= 60


class ICPForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The persona in plain words: who they are, what they do, why they buy.",
    )
    industries = forms.CharField(required=False, max_length=2000, help_text=LIST_HELP)
    employee_min = forms.IntegerField(required=False, min_value=0, label="Employees from")
    employee_max = forms.IntegerField(required=False, min_value=0, label="Employees to")
    locations = forms.CharField(required=False, max_length=2000, help_text=LIST_HELP)
    seniorities = SeniorityPickerField(
        required=False, choices=SENIORITY_CHOICES, help_text="Leave all unticked to accept any seniority."
    )
    title_keywords = forms.CharField(
        required=False, max_length=2000, label="Title keywords", help_text=LIST_HELP
    )
    technologies = forms.CharField(required=False, max_length=2000, help_text=LIST_HELP)
    funding_stages = forms.CharField(
        required=False, max_length=2000, label="Funding stages", help_text=LIST_HELP
    )
    exclusions = forms.CharField(
        required=False, max_length=2000, help_text="Comma-separated words, domains or industries to rule out"
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active (used for qualification)")
    example_prospect_ids = IdListField(required=False)
    example_company_ids = IdListField(required=False)

    @classmethod
    def for_icp(cls, icp: ICP) -> ICPForm:
        criteria = icp.criteria or {}
        initial: dict[str, Any] = {
            "name": icp.name,
            "description": icp.description,
            "is_active": icp.is_active,
            "employee_min": criteria.get("employee_min"),
            "employee_max": criteria.get("employee_max"),
            "example_prospect_ids": icp.example_prospect_ids,
            "example_company_ids": icp.example_company_ids,
        }
        for key in LIST_KEYS:
            initial[key] = ", ".join(criteria.get(key) or [])
        stored = [seniority_code(s) or s for s in criteria.get("seniorities") or []]
        initial["seniorities"] = stored
        form = cls(initial=initial)
        known = {code for code, _ in SENIORITY_CHOICES}
        if extra := [s for s in stored if s not in known]:  # a value from before the picker stays selectable
            field = form.fields["seniorities"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [*SENIORITY_CHOICES, *((s, s) for s in extra)]
        return form

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        criteria: dict[str, Any] = {key: data.get(key) or "" for key in LIST_KEYS}
        criteria["employee_min"] = data.get("employee_min")
        criteria["employee_max"] = data.get("employee_max")
        return {
            "name": data.get("name") or "",
            "description": data.get("description") or "",
            "criteria": criteria,
            "is_active": data.get("is_active", True),
            "example_prospect_ids": data.get("example_prospect_ids") or [],
            "example_company_ids": data.get("example_company_ids") or [],
        }
