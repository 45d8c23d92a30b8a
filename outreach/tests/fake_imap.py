"""A tiny IMAP4rev1 responder on 127.0.0.1 for "Test connection": greeting, CAPABILITY, LOGIN, LOGOUT, and the
server's own NO text on a bad login. Debian's dovecot-imapd is not installed here; this speaks enough of RFC 3501
for imaplib's login."""

from __future__ import annotations

import contextlib
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from .smtp_peer import free_port


@dataclass
class FakeImap:
    host: str
    port: int


def _handler(username: str, password: str) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self) -> None:
            self.reply("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Fake IMAP ready")
            for raw in self.rfile:
                tag, _, rest = raw.decode().strip().partition(" ")
                command, _, args = rest.partition(" ")
                command = command.upper()
                if command == "CAPABILITY":
                    self.reply("* CAPABILITY IMAP4rev1 AUTH=PLAIN")
                    self.reply(f"{tag} OK CAPABILITY completed")
                elif command == "LOGIN":
                    given = [part.strip('"') for part in args.split(" ", 1)]
                    if given == [username, password]:
                        self.reply(f"{tag} OK [CAPABILITY IMAP4rev1] Logged in")
                    else:
                        self.reply(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")
                elif command == "LOGOUT":
                    self.reply("* BYE Logging out")
                    self.reply(f"{tag} OK Logout completed")
                    return
                else:
                    self.reply(f"{tag} BAD Unknown command")

    return Handler


@contextlib.contextmanager
def fake_imap(*, username: str, password: str) -> Iterator[FakeImap]:
    port = free_port()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), _handler(username, password))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeImap("127.0.0.1", port)
    finally:
        server.shutdown()
        server.server_close()
