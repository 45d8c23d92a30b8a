"""Tracking at send time: links rewritten to the click redirect, the pixel added, the original URLs kept.

Per-message switches live in `Message.meta` (`track_opens`, `track_clicks`, `plain`), set by whoever made the
message (campaigns' dispatch copies its campaign's settings); a message without them is sent untracked. Links are
numbered in order of first appearance (one index per distinct URL) and stored in `Message.meta["links"]` before
the mail leaves, so the redirect goes only to a URL stored at send time.

Never rewritten: `mailto:`/`tel:` and any other non-http link, and links to this app itself (the unsubscribe
page, booking pages: they must work without us in between and a scanner must never "click" them).

A message written as plain text (campaign steps are) gets an HTML part built from its text when opens or clicks
are tracked, carrying the tracked links and the pixel; its text part carries the tracked URLs too. With `plain`
("first email as plain text") no HTML part is made, so there is no pixel, but links in the text are still tracked.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse
from django.utils.html import escape, linebreaks

from outreach.models import Message, OutreachSettings

from . import buffer
from .tokens import token_make

TEXT_URL = re.compile(r"https?://[^\s<>\"'\[\]{}|\\^`]+", re.I)
HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.I | re.S)
TRAILING = ".,;:!?)"
# Mail is read and clicked for months; an evicted entry is read again from the message.
LINKS_CACHE_SECONDS = 60 * 24 * 3600


@dataclass
class Tracked:
    text: str
    html: str  # "" when the mail has no HTML part
    links: list[str] = field(default_factory=list)
    pixel: str = ""  # the <img> tag, added after the footer; "" without open tracking or an HTML part


def tracking_base(*, org_id: int) -> str:
    """https://<the org's tracking domain>, else SITE_URL."""
    domain = (
        OutreachSettings.objects.unscoped()
        .filter(org_id=org_id)
        .values_list("tracking_domain", flat=True)
        .first()
    )
    domain = (domain or "").strip().strip("/")
    return f"https://{domain}" if domain else settings.SITE_URL


def pixel_url(*, base: str, org_id: int, message_id: int) -> str:
    token = token_make(kind="o", org_id=org_id, message_id=message_id)
    return base + reverse("tracking_pixel", args=[token])


def click_url(*, base: str, org_id: int, message_id: int, link_index: int) -> str:
    token = token_make(kind="c", org_id=org_id, message_id=message_id, link_index=link_index)
    return base + reverse("tracking_click", args=[token])


def _trackable(url: str, own_hosts: set[str]) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and (parts.hostname or "").lower() not in own_hosts


class _Rewriter:
    def __init__(self, message: Message, base: str) -> None:
        self.message, self.base = message, base
        self.links: list[str] = []
        self.own_hosts = {h for h in (urlsplit(settings.SITE_URL).hostname, urlsplit(base).hostname) if h}

    def tracked(self, url: str) -> str:
        if not _trackable(url, self.own_hosts):
            return url
        if url not in self.links:
            self.links.append(url)
        index = self.links.index(url)
        return click_url(
            base=self.base, org_id=self.message.org_id, message_id=self.message.pk, link_index=index
        )

    def text(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            url = match.group(0)
            tail = ""
            while url and url[-1] in TRAILING:
                url, tail = url[:-1], url[-1] + tail
            return self.tracked(url) + tail

        return TEXT_URL.sub(one, text)

    def html(self, markup: str) -> str:
        def one(match: re.Match[str]) -> str:
            url = html.unescape(match.group(3)).strip()
            return f"{match.group(1)}{match.group(2)}{escape(self.tracked(url))}{match.group(2)}"

        return HREF.sub(one, markup)

    def html_from_text(self, text: str) -> str:
        """Escaped paragraphs with each URL a link: the text shows the real address, the link goes through us."""
        pieces: list[str] = []
        last = 0
        for match in TEXT_URL.finditer(text):
            url = match.group(0).rstrip(TRAILING)
            pieces.append(escape(text[last : match.start()]))
            pieces.append(f'<a href="{escape(self.tracked(url))}">{escape(url)}</a>')
            last = match.start() + len(url)
        pieces.append(escape(text[last:]))
        # linebreaks() escapes nothing when told the text is already safe.
        return linebreaks("".join(pieces), autoescape=False)


def message_tracked(*, message: Message, base: str | None = None) -> Tracked | None:
    """The bodies as they leave with tracking, or None when the message tracks nothing."""
    meta = message.meta or {}
    opens, clicks, plain = (
        bool(meta.get("track_opens")),
        bool(meta.get("track_clicks")),
        bool(meta.get("plain")),
    )
    if not (opens or clicks):
        return None
    base = base or tracking_base(org_id=message.org_id)
    rewriter = _Rewriter(message, base)
    text = rewriter.text(message.body_text) if clicks else message.body_text
    markup = ""
    if not plain:
        if message.body_html.strip():
            markup = rewriter.html(message.body_html) if clicks else message.body_html
        elif clicks:
            markup = rewriter.html_from_text(message.body_text)
        else:
            markup = linebreaks(escape(message.body_text), autoescape=False)
    pixel = pixel_tag(base=base, message=message) if opens and markup else ""
    return Tracked(text=text, html=markup, links=rewriter.links, pixel=pixel)


def pixel_tag(*, base: str, message: Message) -> str:
    url = pixel_url(base=base, org_id=message.org_id, message_id=message.pk)
    return f'<img src="{escape(url)}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">'


def message_prepare(*, message: Message) -> Tracked | None:
    """`message_tracked`, with the links stored on the message (committed) and cached before the mail is built
    and sent."""
    tracked = message_tracked(message=message)
    if tracked is not None and tracked.links:
        if (message.meta or {}).get("links") != tracked.links:
            message.meta = {**(message.meta or {}), "links": tracked.links}
            Message.objects.unscoped().filter(pk=message.pk).update(meta=message.meta)
        links_cache(org_id=message.org_id, message_id=message.pk, links=tracked.links)
    return tracked


def cache_key(org_id: int, message_id: int) -> str:
    return buffer.key(f"tracking:links:{org_id}:{message_id}")


def links_cache(*, org_id: int, message_id: int, links: list[str]) -> None:
    """The message's links in a Redis hash, so a click is answered without the database (the row stays the
    source: a cache miss reads it)."""
    client = buffer.redis_client()
    pipe = client.pipeline(transaction=False)
    pipe.hset(cache_key(org_id, message_id), mapping={str(i): url for i, url in enumerate(links)})
    pipe.expire(cache_key(org_id, message_id), LINKS_CACHE_SECONDS)
    pipe.execute()


def usable(value: object) -> str | None:
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None


def link_url(*, org_id: int, message_id: int, link_index: int) -> str | None:
    """The URL stored at send time for this link: from the cache, else one read by primary key of the one JSON
    element (and the cache filled again)."""
    cached = buffer.redis_client().hget(cache_key(org_id, message_id), str(int(link_index)))
    if cached is not None:
        return usable(cached.decode() if isinstance(cached, bytes) else cached)
    row = (
        Message.objects.unscoped()
        .filter(pk=message_id, org_id=org_id)
        .values_list("meta__links", flat=True)
        .first()
    )
    stored = row if isinstance(row, list) else []
    if stored:
        links_cache(org_id=org_id, message_id=message_id, links=[str(u) for u in stored])
    return usable(stored[link_index]) if 0 <= link_index < len(stored) else None
