"""Facts from a company's own website: title, description, about text, technologies and social links.

Every request goes through the SSRF guard (leadgen.netguard) with size and time limits, and robots.txt is honoured
for the user agent "LeadgenBot". Each fact keeps the URL and the text it came from (`SiteFacts.evidence`), so a
later qualification step can cite it and drop claims that have no evidence.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from leadgen.netguard import BlockedURL, FetchError, FetchResult, guarded_get

BOT_NAME = "LeadgenBot"
MAX_PAGE_BYTES = 1_500_000
PAGE_TIMEOUT = 10.0
TOTAL_TIMEOUT = 30.0
ROBOTS_MAX_BYTES = 500_000
ROBOTS_TIMEOUT = 5.0
TITLE_CHARS = 300
DESCRIPTION_CHARS = 1_000
ABOUT_TEXT_CHARS = 4_000
FALLBACK_ABOUT_PATHS = ("/about", "/about-us", "/company")
MAX_ABOUT_ATTEMPTS = 3
HTML_TYPES = frozenset({"", "text/html", "application/xhtml+xml"})

# (technology, substrings of the lower-cased HTML). Needles are specific enough that a blog post merely naming the
# product rarely matches: script hosts, generator tags, framework-only attributes.
TECHNOLOGY_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("WordPress", ("/wp-content/", "/wp-includes/", '<meta name="generator" content="wordpress')),
    ("Shopify", ("cdn.shopify.com", "shopify.theme", ".myshopify.com")),
    ("HubSpot", ("js.hs-scripts.com", "js.hsforms.net", "js.hs-analytics.net", "js.hs-banner.com")),
    (
        "Google Analytics",
        ("googletagmanager.com/gtag/js", "google-analytics.com/analytics.js", "gtag('config'"),
    ),
    ("Google Tag Manager", ("googletagmanager.com/gtm.js", "googletagmanager.com/ns.html")),
    ("Segment", ("cdn.segment.com/analytics.js", "cdn.segment.io")),
    ("Intercom", ("widget.intercom.io", "js.intercomcdn.com", "window.intercomsettings")),
    ("Drift", ("js.driftt.com", "drift.load(")),
    ("Stripe", ("js.stripe.com",)),
    ("Next.js", ("__next_data__", "/_next/static/")),
    ("React", ("data-reactroot", "react-dom.production", "__next_data__", "data-reactid")),
    ("Nuxt.js", ("window.__nuxt__", "/_nuxt/")),
    (
        "Vue.js",
        ("vue.global.prod.js", "vue.min.js", "vue.runtime", "data-v-app", "window.__nuxt__", "/_nuxt/"),
    ),
    ("Angular", ("ng-version=", "ng-app=", "angular.min.js")),
    ("Webflow", ("data-wf-page", "data-wf-site", "webflow.js", "assets.website-files.com")),
    ("Wix", ("static.wixstatic.com", "static.parastorage.com", '<meta name="generator" content="wix.com')),
    ("Squarespace", ("static1.squarespace.com", "squarespace-cdn.com", "<!-- this is squarespace")),
    ("Salesforce Pardot", ("pi.pardot.com", "cdn.pardot.com", "piaid =", "piaid=")),
    ("Marketo", ("munchkin.marketo.net", "munchkin.init(", "mktoforms2")),
    ("Hotjar", ("static.hotjar.com", "hotjar.com/c/hotjar-")),
    ("Zendesk", ("static.zdassets.com", "zendesk.com/embeddable", "zesettings")),
    ("Cloudflare", ("cdnjs.cloudflare.com", "/cdn-cgi/")),
)
# (technology, response header, substring of its lower-cased value or "" for presence)
HEADER_SIGNATURES: tuple[tuple[str, str, str], ...] = (
    ("Cloudflare", "cf-ray", ""),
    ("Vercel", "x-vercel-id", ""),
    ("Netlify", "x-nf-request-id", ""),
    ("Shopify", "x-shopid", ""),
    ("WordPress", "x-powered-by", "wordpress"),
    ("Wix", "x-wix-request-id", ""),
)

SOCIAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "linkedin",
        re.compile(
            r"^https?://([a-z]{2,3}\.)?(www\.)?linkedin\.com/(company|school|showcase)/[^/?#\s]+", re.I
        ),
    ),
    (
        "twitter",
        re.compile(
            r"^https?://(www\.|mobile\.)?(twitter|x)\.com/(?!intent\b|share\b|home\b|hashtag/|search\b|i/)"
            r"[A-Za-z0-9_]{1,15}(?=/?$|[?#])",
            re.I,
        ),
    ),
    (
        "facebook",
        re.compile(
            r"^https?://(www\.|m\.|[a-z]{2}-[a-z]{2}\.)?facebook\.com/(?!sharer|share\b|dialog/|plugins/|tr\b)[^/?#\s]+",
            re.I,
        ),
    ),
    (
        "github",
        re.compile(
            r"^https?://(www\.)?github\.com/(?!features\b|about\b|pricing\b|login\b|sponsors\b|marketplace\b)"
            r"[A-Za-z0-9-]+(?=/?$|[/?#])",
            re.I,
        ),
    ),
    ("youtube", re.compile(r"^https?://(www\.|m\.)?youtube\.com/(channel/|c/|user/|@)[^/?#\s]+", re.I)),
)

_SPACE = re.compile(r"\s+")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.I)


@dataclass(frozen=True)
class Evidence:
    """A fact's source: the page it was read from and the text (or HTML signature) that supports it."""

    url: str
    kind: str  # title | description | about | technology | social
    text: str


@dataclass
class SiteFacts:
    domain: str
    title: str = ""
    description: str = ""
    about_text: str = ""
    technologies: list[str] = field(default_factory=list)
    social_links: dict[str, str] = field(default_factory=dict)
    pages_fetched: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    homepage_url: str = ""
    about_url: str = ""

    def evidence_for(self, kind: str) -> list[Evidence]:
        return [item for item in self.evidence if item.kind == kind]


# -- HTML ------------------------------------------------------------------------------------------------------------


class _PageParser(HTMLParser):
    """Title, metas, links and visible text of one page, with the stdlib parser (tolerant of broken HTML)."""

    INVISIBLE = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})
    CHROME = frozenset({"nav", "footer"})
    BREAKS = frozenset(
        [
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "section",
            "article",
            "tr",
            "td",
            "header",
            "main",
            "blockquote",
            "dd",
            "dt",
            "table",
            "form",
            "aside",
        ]
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title_parts: list[str] = []
        self.metas: dict[str, str] = {}
        self.links: list[tuple[str, str]] = []
        self.text_parts: list[str] = []
        self.main_parts: list[str] = []
        self._in_title = False
        self._invisible = 0
        self._chrome = 0
        self._main = 0
        self._link_href: str | None = None
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name.lower(): (value or "") for name, value in attrs}
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            key = (attributes.get("name") or attributes.get("property") or "").lower()
            if key and key not in self.metas:
                self.metas[key] = attributes.get("content", "")
        elif tag == "a":
            self._link_href = attributes.get("href", "")
            self._link_text = []
        if tag in self.INVISIBLE:
            self._invisible += 1
        elif tag in self.CHROME:
            self._chrome += 1
        elif tag in ("main", "article") or attributes.get("role") == "main":
            self._main += 1
        if tag in self.BREAKS:
            self._text("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "a" and self._link_href is not None:
            self.links.append((self._link_href, _collapse(" ".join(self._link_text))))
            self._link_href = None
        if tag in self.INVISIBLE and self._invisible:
            self._invisible -= 1
        elif tag in self.CHROME and self._chrome:
            self._chrome -= 1
        elif tag in ("main", "article") and self._main:
            self._main -= 1
        if tag in self.BREAKS:
            self._text("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._invisible:
            return
        if self._link_href is not None:
            self._link_text.append(data)
        if not self._chrome:
            self._text(data)

    def _text(self, data: str) -> None:
        self.text_parts.append(data)
        if self._main:
            self.main_parts.append(data)

    @property
    def title(self) -> str:
        return _collapse(" ".join(self.title_parts))

    def visible_text(self) -> str:
        main = _collapse_paragraphs("".join(self.main_parts))
        return main if len(main) >= 200 else _collapse_paragraphs("".join(self.text_parts))


def _collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _collapse_paragraphs(text: str) -> str:
    lines = (_collapse(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + "…"


@dataclass
class _Page:
    url: str
    html: str
    headers: dict[str, str]
    parser: _PageParser


def _decode(result: FetchResult) -> str:
    charset = result.charset
    if charset is None:
        match = _META_CHARSET.search(result.body[:4096])
        charset = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return result.body.decode(charset, errors="replace")
    except LookupError:
        return result.body.decode("utf-8", errors="replace")


def detect_technologies(html: str, headers: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(technology, the signature that matched) for one page, in table order."""
    lowered = html.lower()
    found: dict[str, str] = {}
    for name, needles in TECHNOLOGY_SIGNATURES:
        for needle in needles:
            position = lowered.find(needle)
            if position >= 0 and name not in found:
                found[name] = _collapse(html[max(0, position - 40) : position + len(needle) + 40])
                break
    for name, header, needle in HEADER_SIGNATURES:
        value = (headers or {}).get(header)
        if value is not None and needle in value.lower() and name not in found:
            found[name] = f"{header}: {value}"
    return list(found.items())


def social_links(links: list[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for href, _text in links:
        href = href.strip()
        if href.startswith("//"):
            href = "https:" + href
        for network, pattern in SOCIAL_PATTERNS:
            match = pattern.match(href)
            if match and network not in found:
                found[network] = match.group(0)
    return found


# -- fetching --------------------------------------------------------------------------------------------------------


class _Unreachable(Exception):
    pass


class _Disallowed(Exception):
    pass


class _SiteFetcher:
    def __init__(
        self, facts: SiteFacts, *, max_bytes: int, page_timeout: float, total_timeout: float
    ) -> None:
        self.facts = facts
        self.max_bytes = max_bytes
        self.page_timeout = page_timeout
        self.deadline = time.monotonic() + total_timeout
        self.robots: dict[str, RobotFileParser] = {}

    def _budget(self, limit: float) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Unreachable("time budget for the site is spent")
        return min(limit, remaining)

    def _robots_for(self, origin: str) -> RobotFileParser:
        if origin in self.robots:
            return self.robots[origin]
        parser = RobotFileParser(origin + "/robots.txt")
        try:
            result = guarded_get(
                origin + "/robots.txt", max_bytes=ROBOTS_MAX_BYTES, timeout=self._budget(ROBOTS_TIMEOUT)
            )
        except BlockedURL:
            raise
        except FetchError as exc:
            raise _Unreachable(str(exc)) from exc
        # RFC 9309: a missing robots.txt (4xx) allows everything; a server error means "assume disallowed".
        if result.status >= 500:
            parser.parse(["User-agent: *", "Disallow: /"])
        elif result.status >= 400:
            parser.parse([])
        else:
            parser.parse(result.body.decode("utf-8", errors="replace").splitlines())
        self.robots[origin] = parser
        return parser

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        return self._robots_for(f"{parts.scheme}://{parts.netloc}").can_fetch(BOT_NAME, url)

    def page(self, url: str) -> _Page:
        """Fetch one HTML page; raises _Unreachable (could not connect), _Disallowed, BlockedURL or ValueError."""
        if not self._allowed(url):
            raise _Disallowed(f"robots.txt disallows {url}")
        try:
            result = guarded_get(url, max_bytes=self.max_bytes, timeout=self._budget(self.page_timeout))
        except BlockedURL:
            raise
        except FetchError as exc:
            raise _Unreachable(str(exc)) from exc
        # A redirect may land on another origin, whose robots.txt was not asked before the request.
        if urlsplit(result.final_url)[:2] != urlsplit(url)[:2] and not self._allowed(result.final_url):
            raise _Disallowed(f"robots.txt disallows {result.final_url}")
        if not 200 <= result.status < 300:
            raise ValueError(f"{result.final_url} answered HTTP {result.status}")
        if result.content_type not in HTML_TYPES:
            raise ValueError(f"{result.final_url} is {result.content_type}, not HTML")
        if result.truncated:
            self.facts.errors.append(f"{result.final_url}: cut at {self.max_bytes} bytes")
        html = _decode(result)
        parser = _PageParser()
        parser.feed(html)
        parser.close()
        self.facts.pages_fetched.append(result.final_url)
        return _Page(url=result.final_url, html=html, headers=result.headers, parser=parser)


def normalize_domain(domain: str) -> str:
    """`https://www.Acme.com/about` → `www.acme.com`; keeps an explicit port."""
    text = domain.strip()
    if "://" not in text:
        text = "//" + text
    parts = urlsplit(text)
    if not parts.hostname:
        raise ValueError(f"no host in {domain!r}")
    host = parts.hostname.rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def _about_candidates(homepage: _Page) -> list[str]:
    base = urlsplit(homepage.url)
    home_host = (base.hostname or "").removeprefix("www.")
    scored: list[tuple[int, str]] = []
    for href, text in homepage.parser.links:
        href = href.strip()
        if not href or href.startswith(("#", "mailto:", "tel:", "javascript:")):
            continue
        absolute = urljoin(homepage.url, href)
        parts = urlsplit(absolute)
        if parts.scheme not in ("http", "https") or (parts.hostname or "").removeprefix("www.") != home_host:
            continue
        path = parts.path.lower()
        if path.endswith((".pdf", ".jpg", ".png", ".zip")):
            continue
        label = text.lower()
        if "about" in path or "about" in label:
            rank = 0
        elif path.rstrip("/") in ("/company", "/who-we-are", "/our-story"):
            rank = 1
        else:
            continue
        scored.append(
            (rank * 1000 + len(path), urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")))
        )
    candidates = [url for _score, url in sorted(scored)]
    origin = f"{base.scheme}://{base.netloc}"
    candidates += [origin + path for path in FALLBACK_ABOUT_PATHS]
    unique: list[str] = []
    for url in candidates:
        if url not in unique and url.rstrip("/") != homepage.url.rstrip("/"):
            unique.append(url)
    return unique


def fetch_company_site(
    domain: str,
    *,
    max_bytes: int = MAX_PAGE_BYTES,
    page_timeout: float = PAGE_TIMEOUT,
    total_timeout: float = TOTAL_TIMEOUT,
) -> SiteFacts:
    """Homepage (https, then http) and an about page of `domain`. Never raises for network trouble: see `errors`."""
    try:
        host = normalize_domain(domain)
    except ValueError as exc:
        return SiteFacts(domain=domain, errors=[str(exc)])
    facts = SiteFacts(domain=host)
    fetcher = _SiteFetcher(facts, max_bytes=max_bytes, page_timeout=page_timeout, total_timeout=total_timeout)
    homepage: _Page | None = None
    for scheme in ("https", "http"):
        try:
            homepage = fetcher.page(f"{scheme}://{host}/")
            break
        except _Unreachable as exc:
            facts.errors.append(str(exc))
        except BlockedURL as exc:
            facts.errors.append(f"blocked: {exc.reason}")
            return facts
        except (_Disallowed, ValueError) as exc:
            facts.errors.append(str(exc))
            return facts
    if homepage is None:
        return facts
    facts.homepage_url = homepage.url
    _read_homepage(facts, homepage)

    about: _Page | None = None
    for url in _about_candidates(homepage)[:MAX_ABOUT_ATTEMPTS]:
        try:
            about = fetcher.page(url)
            break
        except BlockedURL as exc:
            facts.errors.append(f"blocked: {exc.reason}")
        except (_Unreachable, _Disallowed, ValueError) as exc:
            facts.errors.append(str(exc))
    source = about or homepage
    facts.about_url = about.url if about else ""
    about_text = _cap(source.parser.visible_text(), ABOUT_TEXT_CHARS)
    if about_text:
        facts.about_text = about_text
        facts.evidence.append(Evidence(url=source.url, kind="about", text=about_text))
    if about is not None:
        _add_technologies(facts, about)
        _add_social(facts, about)
    return facts


def _read_homepage(facts: SiteFacts, page: _Page) -> None:
    parser = page.parser
    title = parser.title or _collapse(parser.metas.get("og:title", ""))
    if title:
        facts.title = _cap(title, TITLE_CHARS)
        facts.evidence.append(Evidence(url=page.url, kind="title", text=facts.title))
    description = parser.metas.get("description") or parser.metas.get("og:description") or ""
    description = _collapse(description)
    if description:
        facts.description = _cap(description, DESCRIPTION_CHARS)
        facts.evidence.append(Evidence(url=page.url, kind="description", text=facts.description))
    _add_technologies(facts, page)
    _add_social(facts, page)


def _add_technologies(facts: SiteFacts, page: _Page) -> None:
    for name, snippet in detect_technologies(page.html, page.headers):
        if name not in facts.technologies:
            facts.technologies.append(name)
            facts.evidence.append(Evidence(url=page.url, kind="technology", text=f"{name}: {snippet}"))


def _add_social(facts: SiteFacts, page: _Page) -> None:
    for network, link in social_links(page.parser.links).items():
        if network not in facts.social_links:
            facts.social_links[network] = link
            facts.evidence.append(Evidence(url=page.url, kind="social", text=link))
