"""The messages posted to an organisation's Slack incoming webhook: a prospect qualified, a prospect replied."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from django.conf import settings
from django.urls import reverse

from leadgen import netguard
from prospects.models import (
    PipelineSettings,
    Prospect,
)

log = logging.getLogger(__name__)


class SlackAttemptFailed(Exception):
    pass


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters; user text must not create links or mentions.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(prospect: Prospect) -> dict[str, Any]:
    name = _slack_escape(prospect.full_name or prospect.email or f"Prospect {prospect.pk}")
    company = _slack_escape(prospect.company_name)
    title = _slack_escape(prospect.title)
    link = settings.SITE_URL + reverse("prospect_detail", args=[prospect.pk])
    headline = f"{name}{f' at {company}' if company else ''} qualified with score {prospect.score}"
    reasoning = ""
    breakdown = prospect.score_breakdown or {}
    if isinstance(breakdown, dict) and isinstance(breakdown.get("reasoning"), str):
        reasoning = _slack_escape(breakdown["reasoning"])[:500]
    fields = [f"*Score:* {prospect.score}", f"*Tier:* {prospect.tier or '–'}"]
    if title:
        fields.append(f"*Title:* {title}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{link}|{headline}>*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if reasoning:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": reasoning}]})
    return {"text": headline, "blocks": blocks}


def slack_prospect_notify(*, prospect_id: int) -> bool:
    """Post to the org's Slack incoming webhook; SlackAttemptFailed on errors worth retrying."""
    prospect = Prospect.objects.filter(pk=prospect_id).first()
    if prospect is None:
        return False
    return _slack_post(slack_message(prospect), org_id=prospect.org_id)


def slack_reply_message(*, who: str, subject: str, snippet: str, intent: str, link: str) -> dict[str, Any]:
    """Who replied and to what, the reply's first lines and what it was read as. Outreach passes plain text
    (prospects never reads its tables)."""
    headline = f"{_slack_escape(who)} replied: {_slack_escape(subject or '(no subject)')}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{link}|{headline}>*"}},
    ]
    if snippet:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(snippet)[:500]}})
    if intent:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(intent)}]})
    return {"text": headline, "blocks": blocks}


def slack_reply_notify(*, org_id: int, who: str, subject: str, snippet: str, intent: str, link: str) -> bool:
    """Post a reply to the org's Slack incoming webhook; SlackAttemptFailed on errors worth retrying."""
    message = slack_reply_message(who=who, subject=subject, snippet=snippet, intent=intent, link=link)
    return _slack_post(message, org_id=org_id)


def _slack_post(message: dict[str, Any], *, org_id: int) -> bool:
    pipeline_settings = PipelineSettings.objects.filter().first()
    url = pipeline_settings.slack_webhook_url if pipeline_settings else ""
    if not url:
        return False
    body = json.dumps(message)
    try:
        status_code = netguard.guarded_post(url, body=body, headers={"content-type": "application/json"})
    except netguard.BlockedURL as exc:
        log.warning("Slack webhook of org %s blocked: %s", org_id, exc.reason)
        return False
    except (netguard.FetchError, httpx.HTTPError) as exc:
        raise SlackAttemptFailed(str(exc) or type(exc).__name__) from exc
    if status_code == 429 or status_code >= 500:
        raise SlackAttemptFailed(f"HTTP {status_code}")
    if status_code >= 400:
        log.warning("Slack webhook of org %s answered %s", org_id, status_code)
        return False
    return True
