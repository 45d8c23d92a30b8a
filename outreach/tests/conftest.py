from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from outreach.sending import transport

from .dovecot import dovecot  # noqa: F401 (a real IMAP server for every outreach test that asks)
from .smtp_peer import SmtpPeer, smtp_peer


@pytest.fixture(autouse=True)
def _outreach_settings(settings: Any) -> Iterator[None]:
    settings.OUTREACH_ALLOW_LOOPBACK = True
    settings.SITE_URL = "https://app.leadgen.test"
    settings.OUTREACH_UNSUBSCRIBE_MAILTO_DOMAIN = "unsub.leadgen.test"
    yield
    transport.smtp_pool_close()


@pytest.fixture
def peer() -> Iterator[SmtpPeer]:
    with smtp_peer() as server:
        yield server


@pytest.fixture
def auth_peer() -> Iterator[SmtpPeer]:
    with smtp_peer(username="sam", password="s3cret-pass") as server:
        yield server
