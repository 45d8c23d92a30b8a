"""The ICP editor's form: list criteria as comma-separated inputs, example customers as repeated id fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from prospects.models import ICP
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
    seniorities = forms.CharField(
        required=False, max_length=2000, help_text="Comma-separated, e.g. c_suite, vp, director"
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
        return cls(initial=initial)

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
