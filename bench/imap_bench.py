"""IMAP sync: the first sync of a 10,000-message INBOX and a sync with nothing new, against a real Dovecot.

Run (embedded PostgreSQL and Redis):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/imap_bench.py [--messages N] [--sent N]

Creates and migrates its own database, `leadgen_bench_imap`, starts Debian's Dovecot on a loopback port (the test
fixture, `outreach/tests/dovecot.py`), and seeds one organisation with a mailbox reading it and `sent` sent
messages to as many prospects. It then APPENDs `messages` real-format mails over IMAP, as a mail client would:
5% answer our messages (Gmail, Outlook/Exchange with comma-separated References, Apple Mail, a German reply with
broken headers matched by sender and subject), 0.5% are out-of-office replies, 0.5% Postfix DSNs of our sends,
and the rest is the user's own mail (newsletters and internal threads from other senders, a third already read).

Measured: `outreach.inbound.imap.mailbox_sync` as the beat task runs it, once from empty (headers of everything,
bodies of what may match, every match stored and acted on: stage, engagement, notifications, intent by the offline
rules, suppression, the bounce path), then five syncs with nothing new. Every message's flags are read before and
after to show the sync changed none. Writes bench/results/imap.json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _db import prepare_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "imap.json"
DB_NAME = "leadgen_bench_imap"
FIXTURES = ROOT / "outreach" / "tests" / "inbound" / "fixtures" / "sync"
MAILBOX = "sam@sender.test"
REPLY_SHAPES = (
    "gmail_interested.eml",
    "outlook_referral.eml",
    "apple_unsubscribe.eml",
    "broken_headers_de.eml",
)
FILLER = "Notes from the weekly meeting follow below, with the numbers we discussed and next steps.\n" * 30


def _mail(template: str, *, n: int, fills: dict[str, str]) -> bytes:
    text = (FIXTURES / template).read_text()
    for key, value in fills.items():
        text = text.replace(f"@@{key}@@", value)
    text = re.sub(r"(?im)^(Message-I[Dd]: ).*$", rf"\g<1><bench-{n}@bench.test>", text, count=1)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def _own_mail(n: int, rng: random.Random) -> bytes:
    """The user's own mail: a newsletter or an internal thread, from senders we never wrote to."""
    if rng.random() < 0.5:
        return _mail("unrelated_newsletter.eml", n=n, fills={"MAILBOX": MAILBOX})
    body = (
        f"From: Colleague {n % 97} <colleague{n % 97}@sender.test>\r\nTo: {MAILBOX}\r\n"
        f"Subject: Re: Planning item {n % 500}\r\nDate: Tue, 1 Dec 2026 08:00:00 +0000\r\n"
        f"Message-ID: <bench-{n}@bench.test>\r\nIn-Reply-To: <internal-{n % 500}@sender.test>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{FILLER}"
    )
    return body.replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode()


def seed(sent: int) -> tuple[Any, list[Any]]:
    from django.utils import timezone

    from accounts.models import Membership, Organization, Role, User
    from outreach.models import Mailbox, Message, MessageStatus
    from prospects.models import Prospect

    org = Organization.objects.create(name="Bench org", slug="bench-org")
    owner = User.objects.create_user(email="owner@bench.test", password="x")
    Membership.objects.unscoped().create(org=org, user=owner, role=Role.OWNER)
    mailbox = Mailbox.objects.unscoped().create(
        org=org, name="Bench", from_email=MAILBOX, smtp_host="127.0.0.1", imap_security="none"
    )
    prospects = Prospect.objects.unscoped().bulk_create(
        Prospect(org=org, first_name="P", last_name=str(i), email=f"p{i}@prospect{i % 40}.test",
                 email_normalized=f"p{i}@prospect{i % 40}.test", stage="contacted")
        for i in range(sent)
    )  # fmt: skip
    now = timezone.now()
    messages = Message.objects.unscoped().bulk_create(
        Message(org=org, mailbox=mailbox, prospect=p, send_key=f"bench:{p.pk}", to_email=p.email,
                subject=f"Quick question {i}", body_text="Hello", status=MessageStatus.SENT,
                message_id=f"<sent-{i}@sender.test>", sent_at=now)
        for i, p in enumerate(prospects)
    )  # fmt: skip
    return mailbox, messages


def mails(total: int, messages: list[Any], rng: random.Random) -> list[bytes]:
    """`total` real-format mails: 5% replies, 0.5% out-of-office, 0.5% DSNs, the rest the user's own."""
    out: list[bytes] = []
    cursor = 0
    for n in range(total):
        roll = n % 200
        if roll < 12 and cursor < len(messages):
            message = messages[cursor]
            cursor += 1
            fills = {
                "MAILBOX": MAILBOX,
                "MESSAGE_ID": message.message_id,
                "PROSPECT": message.to_email,
                "BOUNCED": message.to_email,
                "SUBJECT": message.subject,
            }
            shape = (
                REPLY_SHAPES[roll % 4]
                if roll < 10
                else ("exchange_out_of_office.eml" if roll == 10 else "postfix_dsn_5_1_1.eml")
            )
            out.append(_mail(shape, n=n, fills=fills))
        else:
            out.append(_own_mail(n, rng))
    return out


def _warm_up() -> None:
    """What a running worker has done long before (its pool processes warm the send path the same way): import the
    inbound modules and build the URL map, so the first sync is not charged with one-time imports."""
    from django.urls import reverse

    import outreach.inbound.intent  # noqa: F401
    import prospects.routing.services  # noqa: F401

    reverse("inbox_thread", args=[1])


def _backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend process (same machine)."""
    import psutil
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _seen_count(flags: dict[int, set[str]]) -> int:
    return sum("\\Seen" in f for f in flags.values())


def measure(args: argparse.Namespace) -> dict[str, object]:
    from outreach.inbound.imap import mailbox_sync
    from outreach.models import Event, Reply
    from outreach.tests.dovecot import dovecot_server

    rng = random.Random(7)
    mailbox, messages = seed(args.sent)
    batch = mails(args.messages, messages, rng)
    with dovecot_server() as server:
        mailbox.imap_host, mailbox.imap_port = server.host, server.port
        mailbox.imap_username, mailbox.imap_password = server.username, server.password
        mailbox.save()
        started = time.perf_counter()
        # A third of the user's own mail is already read; nothing of ours is (replies arrive unread).
        own = [b"colleague" in m or b"newsletter" in m for m in batch]
        seen = [i % 3 == 0 and own[i] for i in range(len(batch))]
        server.append([m for m, s in zip(batch, seen, strict=True) if s], flags="\\Seen")
        server.append([m for m, s in zip(batch, seen, strict=True) if not s])
        append_seconds = time.perf_counter() - started
        before = server.flags()
        _warm_up()
        backend = _backend_cpu()
        cpu_started = time.process_time()
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        first = mailbox_sync(mailbox=mailbox)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
        sync_cpu = time.process_time() - cpu_started
        backend_cpu = _backend_cpu() - backend
        idle_runs = [mailbox_sync(mailbox=mailbox) for _ in range(5)]
        after = server.flags()
    idle = sorted(run.seconds for run in idle_runs)
    return {
        "messages_in_inbox": len(before),
        "append_seconds": round(append_seconds, 1),
        "first_sync_seconds": first.seconds,
        # CPU the sync itself used in this process and in its PostgreSQL backend: what the wall time would be
        # near on an idle machine (the round trips are serial), whatever else shares the cores.
        "first_sync_cpu_seconds_app": round(sync_cpu, 1),
        "first_sync_cpu_seconds_postgres": round(backend_cpu, 1),
        "first_sync_new_uids": first.new_uids,
        "first_sync_bodies_downloaded": first.bodies,
        "replies_stored": first.stored,
        "reply_rows": Reply.objects.unscoped().count(),
        "events": Event.objects.unscoped().count(),
        "nothing_new_sync_seconds_p50": round(statistics.median(idle), 4),
        "nothing_new_sync_seconds_max": idle[-1],
        "nothing_new_stored": sum(run.stored for run in idle_runs),
        "flags_unchanged": before == after,
        "seen_before_after": [_seen_count(before), _seen_count(after)],
        "target": "first sync < 60 s, nothing new < 1 s",
        "met": first.seconds < 60 and idle[-1] < 1,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--sent", type=int, default=1_000)
    parser.add_argument("--profile", action="store_true", help="print where the first sync spends its time")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = prepare_database(DB_NAME)
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadgen.settings.test"
    os.environ["OUTREACH_ALLOW_LOOPBACK"] = "true"  # the bench's Dovecot listens on 127.0.0.1
    import django

    django.setup()
    result = {"sent_messages": args.sent, **measure(args)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
