"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests and benches: records every message, optionally with AUTH,
a slow DATA phase, or a refusal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float = 0.0

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class PeerHandler:
    received: list[Received] = field(default_factory=list)
    data_delay: float = 0.0
    data_reply: str = "250 2.0.0 Ok: queued"
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_data: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            self.in_data += 1
            await asyncio.sleep(self.data_delay)
            self.in_data -= 1
        if self.data_reply.startswith("250"):
            with self.lock:
                self.received.append(
                    Received(
                        envelope.mail_from,
                        list(envelope.rcpt_tos),
                        envelope.original_content or envelope.content,
                        time.monotonic(),
                    )
                )
        return self.data_reply


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username.encode(), password.encode()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            self.username,
            self.password,
        )
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpPeer:
    host: str
    port: int
    handler: PeerHandler

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


@contextlib.contextmanager
def smtp_peer(*, username: str = "", password: str = "", data_delay: float = 0.0) -> Iterator[SmtpPeer]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = PeerHandler(data_delay=data_delay)
    port = free_port()
    kwargs: dict[str, Any] = {}
    if username:
        kwargs = {"authenticator": _Authenticator(username, password), "auth_require_tls": False}
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield SmtpPeer("127.0.0.1", port, handler)
    finally:
        controller.stop()
