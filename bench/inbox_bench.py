"""The inbox over 100,000 replies in one organisation (plus another organisation's 20,000): server time p50/p95
and SQL queries per page, for the pages and endpoints a rep and an integration use.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/inbox_bench.py [--replies N] [--runs K]

What it does:

1. Re-creates and migrates its own database, `leadgen_bench_inbox`.
2. Seeds with bulk inserts: per organisation one user, 3 mailboxes, N/2 prospects, a sent message to each and two
   replies per prospect on average (human replies with a spread of intents and read/unread; 10% auto-replies and
   bounces), received over the last 90 days; one conversation of 12 mails for the thread page.
3. Requests go through Django's whole stack in this process with the test Client (session, auth, org middleware,
   selectors, templates), logged in as the big organisation's owner; "server time" is the handler time without a
   network hop. Each page is requested K times after one warm-up request; p50/p95 in ms and the queries of one
   request are reported. Page 20 follows the "Older" cursor 19 times first (keyset: it costs what page 1 does).
4. Writes bench/results/inbox.json with the load average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._db import prepare_database  # noqa: E402

DB_NAME = "leadgen_bench_inbox"
RESULTS = ROOT / "bench" / "results" / "inbox.json"
INTENTS = ["interested", "not_now", "not_interested", "referral", "other", ""]


def _setup(replies: int) -> None:
    os.environ["DATABASE_URL"] = prepare_database(DB_NAME)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.test")
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test Client's host


def _seed_org(name: str, replies: int) -> tuple[Any, Any]:
    """One organisation's people, messages and replies; returns (owner, thread reply)."""
    from accounts.models import Membership, Organization, Role, User
    from outreach.models import Mailbox, Message, Reply
    from prospects.models import Prospect

    now = datetime.now(dt.UTC)
    org = Organization.objects.create(name=name, slug=name.lower())
    owner = User.objects.create_user(email=f"owner@{org.slug}.test", password="x")
    Membership.objects.unscoped().create(org=org, user=owner, role=Role.OWNER)
    boxes = [
        Mailbox.objects.unscoped().create(org=org, name=f"Box {i}", from_email=f"rep{i}@{org.slug}.test")
        for i in range(3)
    ]
    people = replies // 2
    Prospect.objects.unscoped().bulk_create(
        [
            Prospect(
                org=org,
                first_name=f"First{i}",
                last_name=f"Last{i}",
                email=f"p{i}@{org.slug}.example",
                email_normalized=f"p{i}@{org.slug}.example",
            )
            for i in range(people)
        ],
        batch_size=5000,
    )
    prospects = list(Prospect.objects.unscoped().filter(org=org).order_by("id").values_list("id", "email"))
    Message.objects.unscoped().bulk_create(
        [
            Message(
                org=org,
                send_key=f"bench:{pk}",
                mailbox=boxes[i % 3],
                prospect_id=pk,
                to_email=email,
                subject=f"An idea for company {i}",
                body_text="Hello,\n\nA short note.\n",
                status="sent",
                message_id=f"<m{pk}@{org.slug}.test>",
                sent_at=now - dt.timedelta(days=90),
                campaign_id=None,
            )
            for i, (pk, email) in enumerate(prospects)
        ],
        batch_size=5000,
    )
    sent = list(
        Message.objects.unscoped()
        .filter(org=org)
        .order_by("id")
        .values_list("id", "prospect_id", "mailbox_id", "to_email", "message_id")
    )
    rows = []
    for n in range(replies):
        mid, pid, box, email, msgid = sent[n % len(sent)]
        kind = "auto_reply" if n % 20 == 0 else "bounce" if n % 20 == 1 else "reply"
        rows.append(
            Reply(
                org=org,
                mailbox_id=box,
                message_id=mid,
                prospect_id=pid,
                kind=kind,
                intent=INTENTS[n % len(INTENTS)] if kind == "reply" else "",
                from_email=email,
                subject="Re: An idea",
                rfc_message_id=f"<r{n}@{org.slug}.example>",
                in_reply_to=msgid,
                references=msgid,
                body_text="Thanks, tell me more.\n\n> Hello",
                body_clean="Thanks, tell me more.",
                received_at=now - dt.timedelta(minutes=n * 90 * 24 * 60 // replies),
                read_at=now if n % 3 else None,
            )
        )
    Reply.objects.unscoped().bulk_create(rows, batch_size=5000)
    return owner, _thread(org, boxes[0], now)


def _thread(org: Any, box: Any, now: datetime) -> Any:
    """A 12-mail conversation: 6 of ours, each answered."""
    from outreach.models import Message, Reply
    from prospects.models import Prospect

    person = Prospect.objects.unscoped().create(org=org, first_name="Ada", email=f"ada@{org.slug}.example")
    previous = None
    reply = None
    for i in range(6):
        refs = f"<t0@{org.slug}.test> {previous.message_id}" if previous else ""
        previous = Message.objects.unscoped().create(
            org=org,
            send_key=f"thread:{i}",
            mailbox=box,
            prospect=person,
            to_email=person.email,
            subject="Thread",
            body_text="Step",
            status="sent",
            message_id=f"<t{i}@{org.slug}.test>",
            references=refs,
            sent_at=now - dt.timedelta(hours=20 - 2 * i),
        )
        reply = Reply.objects.unscoped().create(
            org=org,
            mailbox=box,
            message=previous,
            prospect=person,
            kind="reply",
            from_email=person.email,
            subject="Re: Thread",
            rfc_message_id=f"<tr{i}@{org.slug}.example>",
            body_text="ok",
            body_clean="ok",
            received_at=now - dt.timedelta(hours=19 - 2 * i),
        )
    return reply


def _timed(request: Callable[[], Any], runs: int) -> dict[str, Any]:
    from django.db import connection

    request()
    executed: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = request()
    assert response.status_code == 200, response.status_code
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        request()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
        "queries": len(executed),
    }


def _page_20_url(client: Any) -> str:
    url = "/inbox/"
    for _ in range(19):
        body = client.get(url).content.decode()
        cursor = re.search(r'href="/inbox/\?cursor=([^"]+)" id="older"', body)
        assert cursor, "fewer than 20 pages"
        url = f"/inbox/?cursor={cursor.group(1)}"
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    load_before = os.getloadavg()
    _setup(args.replies)
    from django.test import Client

    from accounts.services import apikey_create

    started = time.perf_counter()
    _seed_org("Other", args.replies // 5)
    owner, thread_reply = _seed_org("Bench", args.replies)
    seed_s = time.perf_counter() - started
    client = Client()
    client.force_login(owner)
    _, secret = apikey_create(org=thread_reply.org, name="bench", created_by=owner)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    pages: dict[str, Callable[[], Any]] = {
        "inbox page 1": lambda: client.get("/inbox/"),
        "inbox filtered (interested, unread, one mailbox)": lambda: client.get(
            "/inbox/",
            {"intent": "interested", "unread": "on", "mailbox": thread_reply.mailbox_id},
            HTTP_HX_REQUEST="true",
        ),
        "auto-replies and bounces tab": lambda: client.get("/inbox/", {"tab": "automatic"}),
        "thread of 12 mails": lambda: client.get(f"/inbox/{thread_reply.pk}/"),
        "nav unread count": lambda: client.get("/inbox/unread/"),
        "GET /api/v1/replies (50)": lambda: api.get("/api/v1/replies"),
        "GET /api/v1/replies/{id} (thread of 12)": lambda: api.get(f"/api/v1/replies/{thread_reply.pk}"),
    }
    page_20 = _page_20_url(client)
    pages["inbox page 20 (keyset)"] = lambda: client.get(page_20)
    results = {name: _timed(request, args.runs) for name, request in pages.items()}
    document = {
        "bench": "inbox",
        "date": datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "replies_in_org": args.replies,
        "replies_other_org": args.replies // 5,
        "seed_seconds": round(seed_s, 1),
        "runs_per_page": args.runs,
        "pages": results,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
