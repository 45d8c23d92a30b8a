"""Template rendering: variables, defaults, missing values, readable errors, and what a template cannot reach."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from outreach.compose.templates import (
    Rendered,
    TemplateRenderError,
    template_context,
    template_problems,
    template_render,
)
from prospects.tests.factories import CompanyFactory, ProspectFactory

HOOKS = [
    {
        "text": "400 engineering teams use their platform.",
        "evidence": {"source": "website_about", "quote": "used by 400 engineering teams"},
    }
]
MAILBOX = SimpleNamespace(
    from_name="Grace Hopper", from_email="grace@sender.test", signature="Grace\nSender Inc"
)


def _context(**person: Any) -> dict[str, Any]:
    values = {"first_name": "Ada", "last_name": "Lovelace", "title": "VP Engineering", "location": ""}
    values.update(person)
    company = SimpleNamespace(
        name="Cloudstack",
        domain="cloudstack.test",
        website="https://cloudstack.test",
        industry="Computer Software",
        employee_count=250,
        funding_stage="Series B",
        technologies=["Kubernetes"],
        location="Berlin, Germany",
    )
    prospect = SimpleNamespace(
        email="ada@cloudstack.test",
        seniority="vp",
        department="engineering",
        company=company,
        company_name="Cloudstack",
        company_domain="cloudstack.test",
        **values,
    )
    return template_context(prospect=prospect, mailbox=MAILBOX, hooks=HOOKS)


def test_variables_render_from_plain_data() -> None:
    rendered = template_render(
        "Hi {{ first_name }}, {{ company.name }} in {{ company.city }} ({{ company.country }}). "
        "{{ hook }} {{ hooks.0.quote }} — {{ sender.name }} <{{ sender.email }}>",
        _context(),
    )
    assert rendered == Rendered(
        text="Hi Ada, Cloudstack in Berlin (Germany). 400 engineering teams use their platform. "
        "used by 400 engineering teams — Grace Hopper <grace@sender.test>",
        missing=[],
    )


def test_empty_variable_without_default_is_missing_and_a_default_is_honoured() -> None:
    context = _context(first_name="", title="")
    rendered = template_render(
        "Hi {{ first_name|default:'there' }}, {{ prospect.title }} {{ title|default_if_none:'' }}", context
    )
    assert rendered.text == "Hi there,  " and rendered.missing == ["prospect.title"]
    # An unknown variable (a typo) is empty too, so it holds the prospect instead of sending a gap.
    assert template_render("Hi {{ frist_name }}", context).missing == ["frist_name"]


def test_a_variable_inside_a_false_condition_is_not_missing() -> None:
    rendered = template_render("{% if title %}As {{ title }}, {% endif %}hello", _context(title=""))
    assert rendered == Rendered(text="hello", missing=[])


def test_allow_empty_exempts_the_ai_slot() -> None:
    assert template_render("{{ opening_line }}", _context(), allow_empty=("opening_line",)).missing == []


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{% load static %}x", "Line 1: {% load %} is not available in email templates"),
        ("a\n{% include 'base.html' %}", "Line 2: {% include %} is not available"),
        ("{% extends 'base.html' %}", "{% extends %} is not available"),
        ("{% debug %}", "{% debug %} is not available"),
        ("{% csrf_token %}", "{% csrf_token %} is not available"),
        ("{% url 'home' %}", "{% url %} is not available"),
        ("{{ first_name|safe }}", "The filter |safe is not available"),
        ("{% if first_name %}open", "Line 1: Unclosed tag on line 1: 'if'"),
        ("{{ first_name.__class__ }}", "may not begin with underscores"),
    ],
)
def test_forbidden_and_broken_templates_raise_a_readable_error(template: str, message: str) -> None:
    with pytest.raises(TemplateRenderError, match=message.replace("|", r"\|").replace("{", r"\{")):
        template_render(template, _context())


def test_data_holding_template_syntax_never_comes_out_unrendered() -> None:
    with pytest.raises(TemplateRenderError, match="still contains"):
        template_render("Hi {{ first_name }}", _context(first_name="{{ sender.email }}"))


@pytest.mark.django_db
def test_a_template_reaches_nothing_beyond_the_variables_offered(tenant: Any, other_tenant: Any) -> None:
    company = CompanyFactory(org=tenant.org, name="Cloudstack", domain="cloudstack.test")
    prospect = ProspectFactory(org=tenant.org, company=company, first_name="Ada", title="CTO")
    CompanyFactory(org=other_tenant.org, name="Globex Secret Plans")
    context = template_context(prospect=prospect, mailbox=MAILBOX, hooks=HOOKS)
    walks = (
        "{{ prospect.org }}{{ prospect.org.name }}{{ prospect.org_id }}{{ company.org.name }}"
        "{{ prospect.company.org }}{{ company.objects }}{{ prospect.pk }}{{ prospect.id }}"
        "{{ sender.password }}{{ hooks.model }}{{ prospect.save }}{{ prospect.delete }}{{ settings.SECRET_KEY }}"
        "{{ request.user }}{{ user.email }}{{ csrf_token }}{{ perms }}"
    )
    rendered = template_render(walks, context)
    assert rendered.text == ""
    assert "prospect.org" in rendered.missing and "settings.SECRET_KEY" in rendered.missing
    # Methods of the plain values cannot change the data either: the context is frozen.
    text = template_render("{{ hooks.clear }}{{ prospect.clear }}{{ prospect.pop }}|{{ hook }}", context).text
    assert text.endswith("|400 engineering teams use their platform.")
    assert context["hooks"] and context["prospect"]["first_name"] == "Ada"


def test_a_model_instance_in_the_context_is_refused() -> None:
    class Model:
        pass

    with pytest.raises(TypeError, match="plain data only"):
        template_render("{{ x }}", {"x": Model()})


def test_html_templates_escape_values_and_text_templates_do_not() -> None:
    context = _context(first_name="<b>Ada & co</b>")
    assert template_render("{{ first_name }}", context).text == "<b>Ada & co</b>"
    assert template_render("{{ first_name }}", context, html=True).text == "&lt;b&gt;Ada &amp; co&lt;/b&gt;"


def test_problems_for_the_step_editor() -> None:
    sample = _context()
    assert (
        template_problems("Hi {{ first_name }} {% for h in hooks %}{{ h.text }}{% endfor %}", sample=sample)
        == []
    )
    assert template_problems("Hi {{ frist_name }} {{ company.nme }}", sample=sample) == [
        "{{ frist_name }} is not a variable offered to email templates.",
        "{{ company.nme }} is not a variable offered to email templates.",
    ]
    assert template_problems("{% load i18n %}", sample=sample)[0].startswith("Line 1: {% load %}")
