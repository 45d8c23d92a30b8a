"""Sending throughput: N queued messages to a local SMTP peer through 2 Celery worker processes.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/send_bench.py [--messages 3000]
        [--workers 2] [--concurrency 1]

What it does:

1. Re-creates and migrates its own database, `leadgen_bench_send`.
2. Starts a real SMTP server (aiosmtpd, outreach/tests/smtp_peer.py) on 127.0.0.1 in this process; it records
   every message it accepts.
3. Seeds one organisation (with a postal address) and one mailbox on the peer with no gap and a daily limit above
   N, then N queued messages due now (one bulk insert).
4. Starts a Redis of its own, `celery worker -P prefork` processes on the `send` queue and a beat
   (outreach/tests/procs.py). Beat's dispatcher (every second) finds the due messages and enqueues them in chunks;
   each worker claims, checks, passes the pacing gate, sends over a reused SMTP connection and records each one.
5. Waits until every message is `sent` (or none moved for 30 s). Throughput = N / (last accepted by the peer - beat
   started), so dispatch latency is included. Duplicates = peer deliveries beyond one per Message-ID.
   Writes bench/results/send.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._db import prepare_database  # noqa: E402

DB_NAME = "leadgen_bench_send"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()

    url = prepare_database(DB_NAME)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadgen.settings.test"
    import django

    django.setup()
    from django.utils import timezone

    from accounts.models import Organization
    from outreach.models import Mailbox, Message, MessageStatus
    from outreach.services import message_id_make
    from outreach.tests.procs import send_stack
    from outreach.tests.smtp_peer import smtp_peer

    with smtp_peer() as peer:
        org = Organization.objects.create(
            name="Bench", slug="bench", postal_address="1 Bench Road, Testville"
        )
        mailbox = Mailbox.objects.unscoped().create(
            org=org,
            name="Bench",
            from_email="bench@bench.test",
            smtp_host=peer.host,
            smtp_port=peer.port,
            smtp_security="none",
            daily_limit=args.messages + 1,
            min_interval_seconds=0,
            jitter_seconds=0,
        )
        now = timezone.now()
        Message.objects.unscoped().bulk_create(
            [
                Message(
                    org=org,
                    mailbox=mailbox,
                    send_key=f"bench:{i}",
                    to_email=f"r{i}@example.test",
                    subject=f"Bench {i}",
                    body_text="Hello,\n\nA benchmark message.\n",
                    message_id=message_id_make(from_email=mailbox.from_email),
                    scheduled_at=now,
                    queued_at=now,
                    status=MessageStatus.QUEUED,
                )
                for i in range(args.messages)
            ],
            batch_size=1000,
        )
        env = {"OUTREACH_DISPATCH_BATCH": "5000", "OUTREACH_SEND_CHUNK": "25", "LOG_LEVEL": "WARNING"}
        with send_stack(
            database_url=url, workers=args.workers, concurrency=args.concurrency, beat=False, env=env
        ) as stack:
            import subprocess

            started = time.monotonic()
            stack.beat = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "leadgen",
                    "beat",
                    "-l",
                    "warning",
                    "-s",
                    str(stack.logs / "beat-schedule"),
                ],
                env=stack.env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            last_progress, last_count = time.monotonic(), -1
            while True:
                sent = Message.objects.unscoped().filter(org=org, status=MessageStatus.SENT).count()
                if sent == args.messages:
                    break
                if sent != last_count:
                    last_progress, last_count = time.monotonic(), sent
                elif time.monotonic() - last_progress > 30:
                    break
                time.sleep(0.25)
            time.sleep(1)
        received = list(peer.received)
    statuses = collections.Counter(
        Message.objects.unscoped().filter(org=org).values_list("status", flat=True)
    )
    ids = collections.Counter(r.message["Message-ID"] for r in received)
    duplicates = sum(n - 1 for n in ids.values() if n > 1)
    first, last = min(r.at for r in received), max(r.at for r in received)
    result = {
        "benchmark": "send",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "messages": args.messages,
        "workers": args.workers,
        "concurrency_per_worker": args.concurrency,
        "received_by_peer": len(received),
        "duplicates": duplicates,
        "statuses": dict(statuses),
        "seconds_from_beat_start": round(last - started, 2),
        "seconds_first_to_last_delivery": round(last - first, 2),
        "messages_per_second": round(len(received) / (last - started), 1),
        "messages_per_second_steady": round(len(received) / max(last - first, 1e-9), 1),
        "load_average": os.getloadavg(),
    }
    out = ROOT / "bench" / "results" / "send.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if duplicates == 0 and statuses.get("sent") == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
