"""IMAP sync of one mailbox's INBOX, read-only: the user's mail is never marked read, moved or deleted.

The folder is opened with EXAMINE (read-only SELECT) and every fetch is BODY.PEEK, so the server sets no \\Seen
flag. The folder's UIDVALIDITY and the highest UID seen under it are kept on the Mailbox: a sync asks STATUS
first and stops there when UIDNEXT says nothing arrived (one round trip), else fetches only UIDs above the last
one. A changed UIDVALIDITY means the server renumbered the folder, so it is read again from the start; the Reply
rows are unique per Message-ID, so nothing is stored twice.

New mail is read in two passes per chunk: the threading and sender headers of every message (a few hundred bytes
each), then the whole message only for mail that may match what we sent (`matching.candidates`). Progress is saved
after each chunk, so an interrupted sync resumes where it stopped.

One sync per mailbox at a time: a Redis lock (`cache.add`) with a TTL longer than a sync may take.

Errors are stored on the mailbox (`imap_sync_error`, shown on its page): a refused login pauses the mailbox and
tells the admins (as a refused SMTP login does) and is not retried; network trouble raises `ImapUnavailable` for the
task to retry with backoff.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import imaplib
import logging
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone
from imap_tools import BaseMailBox
from imap_tools.errors import ImapToolsError, MailboxLoginError

from ..mailboxes import IMAP_TIMEOUT, GuardedIMAP, GuardedIMAPSSL, mailbox_pause_and_notify
from ..models import Mailbox, Security
from ..sending import transport
from .matching import HEADER_FIELDS, candidates
from .services import IngestContext, reply_ingest_result

log = logging.getLogger(__name__)

FOLDER = "INBOX"
HEADER_CHUNK = 500
BODY_CHUNK = 25
LOCK_TTL = 15 * 60
_UID = re.compile(rb"UID (\d+)")


class ImapUnavailable(Exception):
    """The server could not be reached or broke off: worth trying again later."""


class ImapAuthFailed(Exception):
    """The server refused the login: the mailbox is paused until someone fixes its settings."""


@dataclass
class SyncResult:
    new_uids: int = 0  # messages above the last UID seen
    bodies: int = 0  # of those, downloaded because they may match
    stored: int = 0  # new Replies
    reread: bool = False  # the folder's UIDVALIDITY changed
    skipped: str = ""  # why nothing was done: "locked", "not configured"
    seconds: float = 0.0


class _GuardedMailBox(BaseMailBox):  # type: ignore[misc]
    """imap-tools over our SSRF-guarded imaplib clients (tenant-supplied hosts are vetted like SMTP's)."""

    def __init__(self, *, host: str, port: int, security: str, timeout: float = IMAP_TIMEOUT) -> None:
        self._host, self._port, self._security, self._timeout = host, port, security, timeout
        super().__init__()

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        if self._security == Security.TLS:
            return GuardedIMAPSSL(
                self._host, self._port, ssl_context=ssl.create_default_context(), timeout=self._timeout
            )
        client = GuardedIMAP(self._host, self._port, timeout=self._timeout)
        if self._security == Security.STARTTLS:
            client.starttls(ssl_context=ssl.create_default_context())
        return client


def imap_open(mailbox: Mailbox) -> BaseMailBox:
    """A logged-in imap-tools client for the mailbox, no folder selected yet."""
    box = _GuardedMailBox(host=mailbox.imap_host, port=mailbox.imap_port, security=mailbox.imap_security)
    try:
        box.login(mailbox.imap_username, mailbox.imap_password, initial_folder=None)
    except BaseException:
        box.client.shutdown()
        raise
    return box


def _parse_fetch(data: Sequence[object]) -> Iterator[tuple[int, bytes]]:
    """(uid, literal) pairs of a UID FETCH answer, wherever the server put the UID (before or after the literal)."""
    pending: tuple[int | None, bytes] | None = None
    for item in data:
        if isinstance(item, tuple):
            if pending is not None and pending[0] is not None:
                yield pending[0], pending[1]
            found = _UID.search(item[0])
            pending = (int(found.group(1)) if found else None, item[1])
        elif isinstance(item, bytes) and pending is not None:
            uid = pending[0]
            if uid is None and (found := _UID.search(item)):
                uid = int(found.group(1))
            if uid is not None:
                yield uid, pending[1]
            pending = None
    if pending is not None and pending[0] is not None:
        yield pending[0], pending[1]


def _fetch(box: BaseMailBox, uids: Sequence[int], parts: str) -> list[tuple[int, bytes]]:
    typ, data = box.client.uid("FETCH", ",".join(str(uid) for uid in uids), parts)
    if typ != "OK":
        raise ImapUnavailable(f"FETCH answered {typ}: {data!r}"[:300])
    return list(_parse_fetch(data))


def _new_uids(box: BaseMailBox, last_uid: int) -> list[int]:
    typ, data = box.client.uid("SEARCH", f"UID {last_uid + 1}:*")
    if typ != "OK":
        raise ImapUnavailable(f"SEARCH answered {typ}")
    # "n:*" always includes the highest UID, even when it is not above n.
    return sorted(uid for uid in (int(x) for x in (data[0] or b"").split()) if uid > last_uid)


def _status(box: BaseMailBox) -> tuple[int, int]:
    status = box.folder.status(FOLDER, ["UIDVALIDITY", "UIDNEXT"])
    return int(status["UIDVALIDITY"]), int(status["UIDNEXT"])


def _chunk_sync(
    box: BaseMailBox, mailbox: Mailbox, uids: Sequence[int], result: SyncResult, context: IngestContext
) -> None:
    fields = " ".join(HEADER_FIELDS)
    headers = [
        (uid, email.message_from_bytes(raw, policy=email.policy.compat32))
        for uid, raw in _fetch(box, uids, f"(UID BODY.PEEK[HEADER.FIELDS ({fields})])")
    ]
    wanted = candidates(mailbox=mailbox, headers=headers)
    for start in range(0, len(wanted), BODY_CHUNK):
        for uid, raw in _fetch(box, wanted[start : start + BODY_CHUNK], "(UID BODY.PEEK[])"):
            result.bodies += 1
            try:
                ingested = reply_ingest_result(
                    mailbox=mailbox, raw=raw, source="imap", imap_uid=uid, context=context
                )
                if ingested.created:
                    result.stored += 1
            except (
                Exception
            ):  # one unreadable mail must not stop the mailbox's sync; it is logged with its UID
                log.exception("mailbox %s: could not ingest UID %s", mailbox.pk, uid)


def _sync(mailbox: Mailbox, result: SyncResult) -> None:
    box = imap_open(mailbox)
    try:
        uidvalidity, uidnext = _status(box)
        last_uid = mailbox.imap_last_uid
        if mailbox.imap_uidvalidity != uidvalidity:
            result.reread = mailbox.imap_uidvalidity is not None
            last_uid = 0
        if uidnext > last_uid + 1:
            box.folder.set(FOLDER, readonly=True)  # EXAMINE: nothing this session does can change a flag
            uids = _new_uids(box, last_uid)
            context = IngestContext(mailbox.org_id)
            result.new_uids = len(uids)
            for start in range(0, len(uids), HEADER_CHUNK):
                chunk = uids[start : start + HEADER_CHUNK]
                _chunk_sync(box, mailbox, chunk, result, context)
                last_uid = chunk[-1]
                _progress_save(mailbox, uidvalidity=uidvalidity, last_uid=last_uid)
        _progress_save(mailbox, uidvalidity=uidvalidity, last_uid=last_uid, done=True)
    finally:
        try:
            box.logout()
        except (imaplib.IMAP4.error, OSError):
            box.client.shutdown()


def _progress_save(mailbox: Mailbox, *, uidvalidity: int, last_uid: int, done: bool = False) -> None:
    changes: dict[str, object] = {"imap_uidvalidity": uidvalidity, "imap_last_uid": last_uid}
    if done:
        changes.update(imap_synced_at=timezone.now(), imap_sync_error="")
    Mailbox.objects.unscoped().filter(pk=mailbox.pk).update(**changes)
    for name, value in changes.items():
        setattr(mailbox, name, value)


def _error_save(mailbox: Mailbox, error: str) -> None:
    Mailbox.objects.unscoped().filter(pk=mailbox.pk).update(imap_sync_error=error[:2000])
    mailbox.imap_sync_error = error[:2000]


def _server_words(exc: BaseException) -> str:
    text = str(exc)
    found = re.search(r"b'(.*?)'|b\"(.*?)\"", text)
    return (found.group(1) or found.group(2)) if found else text


def mailbox_sync(*, mailbox: Mailbox) -> SyncResult:
    """Sync the mailbox's INBOX once (see the module docstring); raises ImapUnavailable for a retry later and
    ImapAuthFailed when the login was refused (the mailbox is then paused)."""
    result = SyncResult()
    if not (mailbox.imap_host and mailbox.imap_username):
        result.skipped = "not configured"
        return result
    key, token = f"outreach:imap-sync:{mailbox.pk}", uuid.uuid4().hex
    if not cache.add(key, token, timeout=LOCK_TTL):
        result.skipped = "locked"
        return result
    started = time.monotonic()
    try:
        _sync(mailbox, result)
    except MailboxLoginError as exc:
        error = f"The IMAP server refused the login: {_server_words(exc)}"
        _error_save(mailbox, error)
        mailbox_pause_and_notify(mailbox=mailbox, reason=f"{error}. Check the IMAP username and password.")
        raise ImapAuthFailed(error) from exc
    except transport.HostRefused as exc:
        _error_save(mailbox, exc.detail)
        raise ImapUnavailable(exc.detail) from exc
    except ImapUnavailable as exc:
        _error_save(mailbox, f"The IMAP server answered: {exc}")
        raise
    except (
        transport.NotDelivered,
        ImapToolsError,
        imaplib.IMAP4.error,
        OSError,
        ssl.SSLError,
    ) as exc:
        error = f"Could not read {mailbox.imap_host}:{mailbox.imap_port}: {exc}"
        _error_save(mailbox, error)
        raise ImapUnavailable(error) from exc
    finally:
        if cache.get(key) == token:
            cache.delete(key)
        result.seconds = round(time.monotonic() - started, 3)
    return result


# --- IDLE (RFC 2177) ---------------------------------------------------------------------------------------------

# RFC 2177 asks clients to re-issue IDLE at least every 29 minutes; a shorter slice also bounds how long a stop waits.
IDLE_SLICE = 60.0


def _capabilities(box: BaseMailBox) -> set[str]:
    """What the server says it can do after login (some servers announce more once authenticated)."""
    typ, data = box.client.capability()
    words = data[0].split() if typ == "OK" and data and isinstance(data[0], bytes) else []
    return {word.decode(errors="replace").upper() for word in words}


def mailbox_idle(
    *, mailbox: Mailbox, on_new: Callable[[], None], stop: threading.Event, slice_seconds: float = IDLE_SLICE
) -> str:
    """Hold an IDLE session on the INBOX (read-only) and call `on_new` when the server announces new mail, once
    at the start to catch up, until `stop` is set. Returns "unsupported" at once when the server has no IDLE (beat's
    polling covers that mailbox), else "stopped". Connection errors propagate for the runner to back off."""
    box = imap_open(mailbox)
    try:
        if "IDLE" not in _capabilities(box):
            return "unsupported"
        box.folder.set(FOLDER, readonly=True)
        on_new()
        while not stop.is_set():
            responses = box.idle.wait(timeout=slice_seconds)
            if any(b"EXISTS" in line for line in responses):
                on_new()
        return "stopped"
    finally:
        try:
            box.logout()
        except (imaplib.IMAP4.error, OSError):
            box.client.shutdown()
