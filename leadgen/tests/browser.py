"""Fixtures for browser tests: Debian's chromium driven by Playwright against pytest-django's live_server.

Load them from a test module with::

    pytest_plugins = ["leadgen.tests.browser"]

and mark the tests ``@pytest.mark.browser``. Provided fixtures:

* ``chromium`` - a headless Debian ``/usr/bin/chromium`` (never a Playwright-downloaded browser); the test is
  skipped when that binary is absent.
* ``new_page`` - a factory returning a page in a *fresh* browser context (own cookies, so one per person).
  When the test fails, every page it opened is saved as a PNG under ``test-results/``.
* ``smtp_sink`` - a real SMTP server (aiosmtpd) on a free 127.0.0.1 port, with Django's SMTP backend pointed
  at it for the test; ``smtp_sink.newest(address)`` waits for the newest mail to that address.
* ``live_site`` - the live server's base URL, also set as ``SITE_URL`` so links in emails point at it.

The Playwright instance is started and stopped per test, so its asyncio loop never outlives a browser test.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

# Playwright's sync API keeps an asyncio loop running in the test thread; Django's ORM would otherwise refuse
# to run there (SynchronousOnlyOperation), e.g. in pytest-django's database setup and teardown.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"
DEFAULT_TIMEOUT_MS = 15_000
# Assertions wait as long as actions do: a busy machine makes pages slower, never a test wrong.
expect.set_options(timeout=DEFAULT_TIMEOUT_MS)

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Keep each phase's report on the item so fixtures can tell, at teardown, whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(item: pytest.Item) -> bool:
    reports = item.stash.get(_REPORTS, {})
    return any(reports[when].failed for when in ("setup", "call") if when in reports)


# --- chromium ----------------------------------------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid).strip("-")[:150]


@pytest.fixture
def new_page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """Open a page in a new browser context; screenshots of all of them are kept if the test fails."""
    contexts: list[BrowserContext] = []
    pages: list[tuple[str, Page]] = []

    def open_page(name: str | None = None, **context_args: Any) -> Page:
        context = chromium.new_context(**context_args)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        pages.append((name or f"page{len(pages) + 1}", page))
        return page

    yield open_page

    if _failed(request.node):
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        for name, page in pages:
            if page.is_closed():
                continue
            path = RESULTS_DIR / f"{_safe_name(request.node.nodeid)}-{_safe_name(name)}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
            except Exception as exc:  # a screenshot must never hide the real failure
                print(f"screenshot of {name} failed: {exc}")
            else:
                print(f"screenshot of {name} ({page.url}): {path}")
    for context in contexts:
        context.close()


# --- live server -------------------------------------------------------------------------------------------


@pytest.fixture
def live_site(live_server: Any, settings: Any) -> str:
    """The live server's base URL; also SITE_URL, which the app uses for links it emails."""
    url = str(live_server.url).rstrip("/")
    settings.SITE_URL = url
    return url


# --- SMTP sink ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaughtMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain", "html"))
        return body.get_content() if body is not None else ""

    def urls(self) -> list[str]:
        return re.findall(r"https?://[^\s<>\"']+", self.text)

    def url(self, contains: str = "") -> str:
        """The first link in the body whose text contains `contains`."""
        for url in self.urls():
            if contains in url:
                return url
        raise AssertionError(f"no URL containing {contains!r} in mail {self.subject!r}:\n{self.text}")


@dataclass
class SmtpSink:
    """aiosmtpd handler keeping every message it receives in memory."""

    host: str = "127.0.0.1"
    port: int = 0
    _mails: list[CaughtMail] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        message = message_from_bytes(data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        mail = CaughtMail(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(address.lower() for address in envelope.rcpt_tos),
            message=message,
        )
        with self._lock:
            self._mails.append(mail)
        return "250 Message accepted for delivery"

    @property
    def mails(self) -> list[CaughtMail]:
        with self._lock:
            return list(self._mails)

    def mails_to(self, address: str) -> list[CaughtMail]:
        return [mail for mail in self.mails if address.lower() in mail.rcpt_tos]

    def newest(self, address: str, *, subject_contains: str = "", timeout: float = 10.0) -> CaughtMail:
        """The newest mail to `address` with `subject_contains` in its subject; waits for one to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [mail for mail in self.mails_to(address) if subject_contains in mail.subject]
            if matching:
                return matching[-1]
            if time.monotonic() > deadline:
                seen = [(mail.rcpt_tos, mail.subject) for mail in self.mails]
                raise AssertionError(f"no mail to {address} ({subject_contains!r}) in {timeout}s; got {seen}")
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[SmtpSink]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    sink = SmtpSink(port=_free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = sink.host
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    try:
        yield sink
    finally:
        controller.stop()
