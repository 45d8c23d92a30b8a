"""`{% stage_options stage %}`: the board's "Move to" <option>s with `stage` selected.

A board holds hundreds of cards but only a column's worth of distinct menus: each is rendered once per page render
(from the `stage-options` partial of prospects/board.html) and reused for every card of its column.
"""

from __future__ import annotations

from django import template
from django.template.context import Context
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from prospects.models import Stage

register = template.Library()


@register.simple_tag(takes_context=True)
def stage_options(context: Context, stage: str) -> SafeString:
    if "stage_options" not in context.render_context:
        context.render_context["stage_options"] = {}
    rendered: dict[str, SafeString] = context.render_context["stage_options"]  # type: ignore[assignment]
    if stage not in rendered:
        rendered[stage] = render_to_string(
            "prospects/board.html#stage-options", {"choices": Stage.choices, "selected": stage}
        )
    return rendered[stage]
