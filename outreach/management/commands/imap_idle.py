"""`manage.py imap_idle`: hold an IMAP IDLE session per mailbox and queue a sync the moment new mail arrives.

Beat polls every mailbox once a minute anyway (`outreach.inbound.tasks.mailboxes_sync_due`); this runner only makes
replies show up within seconds on servers that support IDLE. It is safe to run beside beat: the sync itself is
what the Celery task does, under the same per-mailbox lock. One thread per mailbox; the list of mailboxes is read
again every `--refresh` seconds (new ones are watched, removed or unconfigured ones stop). A server without IDLE is
left to polling; a connection error is retried with exponential backoff (up to 15 minutes). SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection

from leadgen.tasks import task_send
from outreach.inbound.imap import mailbox_idle
from outreach.inbound.tasks import AUTH_ERROR_PREFIX
from outreach.models import Mailbox, MailboxStatus

log = logging.getLogger(__name__)
MAX_BACKOFF = 900.0


def _watch(mailbox_id: int, stop: threading.Event, done: threading.Event, no_idle: set[int]) -> None:
    """One mailbox's IDLE loop; ends when the mailbox is gone, unconfigured, has no IDLE, or `stop` is set."""
    failures = 0
    while not (stop.is_set() or done.is_set()):
        mailbox = Mailbox.objects.unscoped().filter(pk=mailbox_id).exclude(imap_host="").first()
        connection.close()  # the thread then waits on IMAP for minutes: it holds no database connection meanwhile
        if mailbox is None:
            return

        def queue_sync(org_id: int = mailbox.org_id) -> None:
            task_send("outreach.inbound.tasks.mailbox_sync_task", org_id, mailbox_id)

        try:
            ended = mailbox_idle(mailbox=mailbox, on_new=queue_sync, stop=done)
        except Exception as exc:  # the server went away or refused us: back off, then reconnect
            failures += 1
            wait = min(30.0 * 2 ** (failures - 1), MAX_BACKOFF)
            log.warning("IDLE on mailbox %s failed (%s); retrying in %.0f s", mailbox_id, exc, wait)
            done.wait(wait)
            continue
        if ended == "unsupported":
            log.info("mailbox %s: the server has no IDLE; beat's polling reads it", mailbox_id)
            no_idle.add(mailbox_id)
            return
        failures = 0


def _wanted() -> set[int]:
    try:
        return set(
            Mailbox.objects.unscoped()
            .exclude(imap_host="")
            .exclude(status=MailboxStatus.PAUSED, imap_sync_error__startswith=AUTH_ERROR_PREFIX)
            .values_list("pk", flat=True)
        )
    finally:
        connection.close()


class Command(BaseCommand):
    help = "Watch every mailbox's INBOX with IMAP IDLE and queue a sync when new mail arrives."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--refresh", type=float, default=60.0, help="seconds between re-reading the mailboxes"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        watchers: dict[int, tuple[threading.Thread, threading.Event]] = {}
        no_idle: set[int] = set()  # servers without IDLE are not asked again until the runner restarts
        while not stop.is_set():
            wanted = _wanted()
            for pk in set(watchers) - wanted:
                watchers.pop(pk)[1].set()
            for pk in wanted - no_idle:
                thread, _ = watchers.get(pk, (None, None))
                if thread is None or not thread.is_alive():
                    done = threading.Event()
                    thread = threading.Thread(
                        target=_watch, args=(pk, stop, done, no_idle), daemon=True, name=f"idle-{pk}"
                    )
                    thread.start()
                    watchers[pk] = (thread, done)
            stop.wait(options["refresh"])
        for _, done in watchers.values():
            done.set()
        self.stdout.write("imap_idle stopped")
