"""A real IMAP server for tests and benches: Debian's Dovecot, started as its own process on a free loopback port.

Everything lives in a temporary directory: its own config file (no system config is read), a passwd-file user with
a plaintext password, the Maildir, logs and sockets. `ssl = no` and plaintext login are allowed because it only
listens on 127.0.0.1.

As root, Dovecot's master stays root while its internal processes run as the `dovecot` user and the login processes
as `dovenull` (the Debian package creates both), and the mail belongs to an unprivileged uid (`nobody`): Dovecot
refuses to serve mail as root. As any other user, every process runs as that user and the chroots are off.

`make dovecot` installs the package when it is missing and we may; without it `dovecot_binary()` is None and the
fixtures skip with the reason.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from outreach.tests.procs import free_port

SKIP_REASON = "Dovecot is not installed (run `make dovecot` as root or with passwordless sudo)"
USERNAME = "sam@sender.test"
PASSWORD = "imap-pass-1"
APPEND_BATCH = 200


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (path for path in ("/usr/sbin/dovecot",) if os.access(path, os.X_OK)), None
    )


def _doveadm_binary() -> str:
    return shutil.which("doveadm") or "/usr/bin/doveadm"


def _identity() -> tuple[str, str, int, int]:
    """(internal user, login user, mail uid, mail gid) for how we run."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return "dovecot", "dovenull", nobody.pw_uid, nobody.pw_gid
    me = pwd.getpwuid(os.geteuid())
    return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid


def _config(root: Path, port: int) -> str:
    internal, login, uid, _ = _identity()
    unprivileged = os.geteuid() != 0
    no_chroot = "  chroot =\n" if unprivileged else ""
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused login answers at once (the default waits 2 s, which only slows the tests).
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {internal if unprivileged else "dovecot"}
default_login_user = {login}
first_valid_uid = {min(uid, 100)}
mail_location = maildir:{root}/mail/%n
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{no_chroot}}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service anvil {{
{no_chroot}}}
service imap {{
  process_limit = 64
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
"""


@dataclass
class Dovecot:
    """A running Dovecot: where it listens and the one user's credentials."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    username: str = USERNAME
    password: str = PASSWORD
    _clients: list[imaplib.IMAP4] = field(default_factory=list)

    def client(self) -> imaplib.IMAP4:
        """A logged-in plain imaplib client, as the mailbox's owner would use (for appending and checking)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=30)
        client.login(self.username, self.password)
        return client

    def append(self, raws: Iterable[bytes], *, folder: str = "INBOX", flags: str = "") -> int:
        """APPEND real-format messages as a mail client would, many per command (RFC 3502 MULTIAPPEND with
        RFC 7888 non-synchronising literals, both of which Dovecot has): one APPEND per message costs a round
        trip and an index transaction each. Returns how many."""
        client = self.client()
        count = 0
        try:
            batch: list[bytes] = []
            for raw in raws:
                batch.append(raw)
                if len(batch) == APPEND_BATCH:
                    count += _multiappend(client, folder, batch, flags)
                    batch = []
            if batch:
                count += _multiappend(client, folder, batch, flags)
        finally:
            client.logout()
        return count

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """{uid: flags} of every message in the folder, read with EXAMINE so reading changes nothing."""
        client = self.client()
        try:
            client.select(folder, readonly=True)
            _, data = client.uid("FETCH", "1:*", "(UID FLAGS)")
            out: dict[int, set[str]] = {}
            for line in data:
                if not isinstance(line, bytes):
                    continue
                parts = imaplib.ParseFlags(line)
                uid = int(line.split(b"UID ", 1)[1].split()[0].rstrip(b")"))
                out[uid] = {flag.decode() for flag in parts}
            return out
        finally:
            client.logout()

    def uidvalidity(self, folder: str = "INBOX") -> int:
        client = self.client()
        try:
            _, data = client.status(folder, "(UIDVALIDITY)")
            return int(data[0].split(b"UIDVALIDITY ", 1)[1].rstrip(b")"))  # type: ignore[union-attr]
        finally:
            client.logout()

    def uidvalidity_change(self, folder: str = "INBOX") -> int:
        """Give the folder a new UIDVALIDITY, as a server does after rebuilding its index; returns it."""
        new = self.uidvalidity(folder) + 1000
        subprocess.run(
            [
                _doveadm_binary(),
                "-c",
                str(self.root / "dovecot.conf"),
                "mailbox",
                "update",
                "-u",
                self.username,
                "--uid-validity",
                str(new),
                folder,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return new

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "dovecot.log").read_text(errors="replace")
        return ""


def _multiappend(client: imaplib.IMAP4, folder: str, raws: list[bytes], flags: str) -> int:
    tag = client._new_tag()  # type: ignore[attr-defined]
    flag_part = f" ({flags})".encode() if flags else b""
    parts = [tag, b" APPEND ", folder.encode()]
    for raw in raws:
        parts += [flag_part, b" {%d+}\r\n" % len(raw), raw]
    parts.append(b"\r\n")
    client.send(b"".join(parts))
    typ, data = client._command_complete("APPEND", tag)  # type: ignore[attr-defined]
    if typ != "OK":
        raise RuntimeError(f"APPEND failed: {data!r}")
    return len(raws)


def _wait_listening(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (
                (root / "dovecot.log").read_text(errors="replace") if (root / "dovecot.log").exists() else ""
            )
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"dovecot exited with {process.returncode}: {stderr}\n{log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            if sock.recv(200).startswith(b"* OK"):
                return
        time.sleep(0.05)
    raise RuntimeError("dovecot did not start listening within 20 s")


@contextlib.contextmanager
def dovecot_server(*, username: str = USERNAME, password: str = PASSWORD) -> Iterator[Dovecot]:
    """Start Dovecot in a fresh temporary directory and stop it (and remove the directory) afterwards."""
    binary = dovecot_binary()
    if binary is None:
        raise RuntimeError(SKIP_REASON)
    _, _, uid, gid = _identity()
    root = Path(tempfile.mkdtemp(prefix="leadgen-dovecot-"))
    try:
        root.chmod(0o755)  # the mail user and Dovecot's own users must reach their files
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir()
        os.chown(root / "mail", uid, gid)
        port = free_port()
        (root / "dovecot.conf").write_text(_config(root, port))
        (root / "users").write_text(f"{username}:{{PLAIN}}{password}:{uid}:{gid}::{root}/mail/home::\n")
        process = subprocess.Popen(
            [binary, "-F", "-c", str(root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_listening(port, process, root)
            yield Dovecot(root=root, port=port, process=process, username=username, password=password)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A fresh Dovecot for one test (it starts in a fraction of a second); skipped when it is not installed."""
    if dovecot_binary() is None:
        pytest.skip(SKIP_REASON)
    with dovecot_server() as server:
        yield server
