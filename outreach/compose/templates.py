"""Email templates written by tenant users: Django template syntax on a locked-down engine over plain data.

The engine loads no library but `template_library` (no `{% load %}`, `{% include %}`, `{% extends %}`,
`{% debug %}`, `{% csrf_token %}`, `{% url %}`), reads no file, and renders a context of frozen dicts, tuples and
strings only: a model instance in the context would let `{{ prospect.org.… }}` walk relations to other data, and a
mutable dict or list would let `{{ hooks.clear }}` change it mid-render.

A variable that renders empty without a `default`/`default_if_none` filter is reported in `Rendered.missing` (the
caller holds that prospect and says why); a result that still contains `{{` or `{%` (template syntax arriving
inside a prospect's data) raises, so nothing is ever sent with an unrendered placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import Node, VariableNode
from django.template.defaulttags import ForNode, WithNode

from .template_library import FILTERS, TAGS

MAX_TEMPLATE_CHARS = 20_000
DEFAULT_FILTERS = frozenset({"default", "default_if_none"})
_MISSING_ATTR = "outreach_compose_missing"


class TemplateRenderError(ValueError):
    """A template that cannot be rendered, with a message written for the person editing the step."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Rendered:
    text: str
    missing: list[str] = field(default_factory=list)


class _EmailEngine(Engine):
    # Engine always prepends these (defaulttags, defaultfilters, loader_tags); an email template gets none of them.
    default_builtins: ClassVar[list[str]] = []


def _engine(*, html: bool) -> Engine:
    return _EmailEngine(
        dirs=[],
        loaders=[],
        libraries={},
        builtins=["outreach.compose.template_library"],
        autoescape=html,
        debug=True,  # line numbers in syntax errors
        string_if_invalid="",
    )


_ENGINES = {False: _engine(html=False), True: _engine(html=True)}


class _ReportingVariableNode(VariableNode):
    """A `{{ variable }}` that notes itself when it renders empty and has no default."""

    def render(self, context: Context) -> str:
        output = super().render(context)
        missing = getattr(context, _MISSING_ATTR, None)
        if missing is not None and not output.strip() and not _has_default(self):
            missing.append(_variable_name(self))
        return output


def _has_default(node: VariableNode) -> bool:
    return any(
        getattr(func, "_filter_name", "") in DEFAULT_FILTERS for func, _args in node.filter_expression.filters
    )


def _variable_name(node: VariableNode) -> str:
    var = node.filter_expression.var
    return str(getattr(var, "var", var))


# --- compiling --------------------------------------------------------------------------------------------------

_INVALID_TAG = re.compile(r"Invalid block tag on line (\d+): '([^']+)'")
_INVALID_FILTER = re.compile(r"Invalid filter: '([^']+)'")


def _readable(exc: TemplateSyntaxError) -> TemplateRenderError:
    message = str(exc)
    debug = getattr(exc, "template_debug", None) or {}
    line = debug.get("line")
    tag = _INVALID_TAG.search(message)
    if tag:
        line = int(tag.group(1))
        message = (
            f"{{% {tag.group(2)} %}} is not available in email templates; "
            f"the tags you can use are {', '.join(TAGS)}."
        )
    bad_filter = _INVALID_FILTER.search(message)
    if bad_filter:
        message = (
            f"The filter |{bad_filter.group(1)} is not available in email templates; "
            f"the filters you can use are {', '.join(FILTERS)}."
        )
    return TemplateRenderError(f"Line {line}: {message}" if line else message, line=line)


def template_compile(template: str, *, html: bool = False) -> Template:
    """The compiled template, or TemplateRenderError with a message for the step editor."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateRenderError(f"The template is longer than {MAX_TEMPLATE_CHARS:,} characters.")
    try:
        compiled = _ENGINES[html].from_string(template)
    except TemplateSyntaxError as exc:
        raise _readable(exc) from None
    for node in compiled.nodelist.get_nodes_by_type(VariableNode):
        # Same object, one overridden method: the parser builds plain VariableNodes and offers no hook.
        node.__class__ = _ReportingVariableNode
    return compiled


# --- rendering --------------------------------------------------------------------------------------------------

_PLAIN = (str, int, float, bool, Decimal, type(None))


def freeze(value: Any) -> Any:
    """Plain data made read-only for a template; anything else (a model, a queryset) is refused."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(key): freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    if isinstance(value, _PLAIN):
        return value
    raise TypeError(f"a template context holds plain data only, not {type(value).__name__}")


def template_render(
    template: str, context: Mapping[str, Any], *, html: bool = False, allow_empty: Collection[str] = ()
) -> Rendered:
    """Render a user's template; `missing` lists variables that came out empty without a default.

    Raises TemplateRenderError for a syntax error or a result still holding template syntax.
    """
    compiled = template_compile(template, html=html)
    missing: list[str] = []
    django_context = Context(dict(freeze(context)), autoescape=html)
    setattr(django_context, _MISSING_ATTR, missing)
    # Plain text unless it was rendered with autoescape: a page showing a text template's result escapes it then.
    text = compiled.render(django_context) if html else str.__str__(compiled.render(django_context))
    for opener in ("{{", "{%"):
        if opener in text:
            raise TemplateRenderError(
                f"The rendered text still contains “{opener}”: a value put into the template holds template "
                "syntax, so the message was not made."
            )
    reported = [name for name in dict.fromkeys(missing) if name not in allow_empty]
    return Rendered(text=text, missing=reported)


# --- checking (the step editor) ---------------------------------------------------------------------------------


def _walk(nodes: Any, bound: frozenset[str]) -> Iterator[tuple[VariableNode, frozenset[str]]]:
    for node in nodes:
        inner = bound
        if isinstance(node, ForNode):
            inner = bound | set(node.loopvars) | {"forloop"}
        elif isinstance(node, WithNode):
            inner = bound | set(node.extra_context)
        if isinstance(node, VariableNode):
            yield node, bound
        for attr in getattr(node, "child_nodelists", ()):
            yield from _walk(getattr(node, attr, None) or (), inner)


def _known(path: str, sample: Any) -> bool:
    current = sample
    for bit in path.split("."):
        if isinstance(current, Mapping) and bit in current:
            current = current[bit]
        elif isinstance(current, list | tuple) and bit.isdigit():
            return True  # an index into a list that may be longer in real data
        else:
            return isinstance(current, str) and bit in dir(str)
    return True


def template_problems(template: str, *, sample: Mapping[str, Any], html: bool = False) -> list[str]:
    """What the step editor shows: a syntax error, or each variable the context does not offer."""
    try:
        compiled = template_compile(template, html=html)
    except TemplateRenderError as exc:
        return [str(exc)]
    problems: list[str] = []
    node: Node
    for node, bound in _walk(compiled.nodelist, frozenset()):
        name = _variable_name(node)  # type: ignore[arg-type]
        if not name or name.startswith(('"', "'")) or name.split(".")[0] in bound:
            continue
        if not _known(name, sample):
            problems.append(f"{{{{ {name} }}}} is not a variable offered to email templates.")
    return list(dict.fromkeys(problems))


# --- the variables offered --------------------------------------------------------------------------------------


class MailboxLike(Protocol):
    from_name: str
    from_email: str
    signature: str


def sender_context(*, mailbox: MailboxLike | None, org_name: str = "") -> dict[str, str]:
    name = (mailbox.from_name if mailbox else "") or ""
    return {
        "name": name,
        "first_name": name.split()[0] if name.split() else "",
        "email": (mailbox.from_email if mailbox else "") or "",
        "signature": (getattr(mailbox, "signature", "") if mailbox else "") or "",
        "company": org_name,
    }


def place(location: str) -> tuple[str, str]:
    """(city, country) from a stored location such as "Berlin, Germany" or "Paris, Île-de-France, FR"."""
    from .locales import country_locale

    parts = [part.strip() for part in (location or "").split(",") if part.strip()]
    if not parts:
        return "", ""
    if len(parts) == 1:
        return ("", parts[0]) if country_locale(parts[0]) else (parts[0], "")
    return parts[0], parts[-1]


def _company(prospect: Any) -> dict[str, Any]:
    company = prospect.company
    location = (company.location if company else "") or ""
    city, country = place(location)
    return {
        "name": (company.name if company else "") or prospect.company_name or "",
        "domain": (company.domain if company else "") or prospect.company_domain or "",
        "website": (company.website if company else "") or "",
        "industry": (company.industry if company else "") or "",
        "employee_count": str(company.employee_count) if company and company.employee_count else "",
        "funding_stage": (company.funding_stage if company else "") or "",
        "technologies": list(company.technologies or []) if company else [],
        "location": location,
        "city": city,
        "country": country,
    }


def _person(prospect: Any) -> dict[str, str]:
    city, country = place(prospect.location or "")
    first, last = (prospect.first_name or "").strip(), (prospect.last_name or "").strip()
    return {
        "first_name": first,
        "last_name": last,
        "full_name": " ".join(part for part in (first, last) if part),
        "title": prospect.title or "",
        "email": prospect.email or "",
        "seniority": prospect.seniority or "",
        "department": prospect.department or "",
        "location": prospect.location or "",
        "city": city,
        "country": country,
    }


def template_hooks(hooks: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Kept hooks as template data; each gets the id drafts cite it by (h1, h2, …)."""
    out = []
    for index, hook in enumerate(hooks, start=1):
        evidence = hook.get("evidence") or {}
        out.append(
            {
                "id": f"h{index}",
                "text": str(hook.get("text") or ""),
                "source": str(evidence.get("source") or ""),
                "quote": str(evidence.get("quote") or ""),
            }
        )
    return out


def template_context(
    *,
    prospect: Any,
    mailbox: MailboxLike | None,
    hooks: list[dict[str, Any]],
    sender: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything a template may print, as plain dicts and strings (never a model instance).

    `hooks` are the prospect's kept hooks (`Qualification.hooks` shape); `sender` overrides the mailbox's values.
    """
    person = _person(prospect)
    company = _company(prospect)
    sender_values = {**sender_context(mailbox=mailbox), **dict(sender or {})}
    offered = template_hooks(hooks)
    return {
        "prospect": person,
        "company": company,
        "sender": sender_values,
        "hook": offered[0]["text"] if offered else "",
        "hooks": offered,
        "first_name": person["first_name"],
        "last_name": person["last_name"],
        "full_name": person["full_name"],
        "title": person["title"],
        "company_name": company["name"],
        "booking_link": "",  # the meetings issue fills it
        "opening_line": "",  # an AI draft fills it
    }


__all__ = [
    "MailboxLike",
    "Rendered",
    "TemplateRenderError",
    "freeze",
    "place",
    "sender_context",
    "template_compile",
    "template_context",
    "template_hooks",
    "template_problems",
    "template_render",
]
