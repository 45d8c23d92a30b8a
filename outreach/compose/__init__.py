"""Composing emails: user-written templates rendered safely (`templates`) and grounded AI drafts (`drafts`).

The public interface other apps use:

- `template_render(template, context, *, html=False, allow_empty=()) -> Rendered(text, missing)`
- `template_context(*, prospect, mailbox, hooks, sender=None) -> dict`
- `template_problems(template, *, sample) -> list[str]` (the step editor's messages)
- `draft_compose(*, prospect, subject_template, body_template, sender_context, mode, locale=None, hooks=None)
  -> Draft`
- `outreach_settings_get(*, org_id)`, `outreach_settings_update(*, org_id, ...)`, `draft_month_spend()`,
  `campaign_dropped_claims(*, campaign_ids) -> {campaign_id: count}`
"""

from __future__ import annotations

from .drafts import Draft, draft_compose, draft_month_spend, prospect_kept_hooks
from .locales import LOCALES, locale_for
from .org_settings import outreach_settings_get, outreach_settings_update
from .rules import RuleContext, rules_broken
from .selectors import campaign_dropped_claims
from .templates import (
    Rendered,
    TemplateRenderError,
    sender_context,
    template_compile,
    template_context,
    template_problems,
    template_render,
)

__all__ = [
    "LOCALES",
    "Draft",
    "Rendered",
    "RuleContext",
    "TemplateRenderError",
    "campaign_dropped_claims",
    "draft_compose",
    "draft_month_spend",
    "locale_for",
    "outreach_settings_get",
    "outreach_settings_update",
    "prospect_kept_hooks",
    "rules_broken",
    "sender_context",
    "template_compile",
    "template_context",
    "template_problems",
    "template_render",
]
